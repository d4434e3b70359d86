// Metrics (issue 13): what a scrape renders from the scheduler thread's
// snapshots and the broker plugin's stats.
#include <doctest/doctest.h>

#include <string>

#include "slotwise/scheduler/metrics.h"

namespace slotwise::scheduler {
namespace {

bool Has(const std::string& text, const std::string& line) { return text.find("\n" + line + "\n") != std::string::npos; }

ServiceGauges OneNodeOneCampaign(const std::string& campaign) {
  ServiceGauges g;
  g.now_ms = 1'800'000'000'000;
  NodeGauges n;
  n.id = "n1";
  n.cluster = "c1";
  n.state = v1::ACTIVE;
  n.per_slot = 4;
  n.current = {3, 4, 8000, 2};
  n.next = {0, 0, 0, 0};
  g.nodes.push_back(n);
  CampaignGauges c;
  c.id = campaign;
  c.state = v1::SCHEDULED;
  c.outcomes[v1::TerminalProgress::SUCCEEDED] = 5;
  c.outcomes[v1::TerminalProgress::OUTCOME_PENDING] = 2;
  g.campaigns.push_back(c);
  g.campaigns_by_state[v1::SCHEDULED] = 1;
  g.terminals_online = 6;
  return g;
}

}  // namespace

TEST_CASE("metrics: a snapshot's nodes and campaigns are rendered, and a campaign no longer shown goes") {
  Metrics m;
  m.Refresh(OneNodeOneCampaign("big"), 0.001);
  std::string text = m.Render();
  CHECK(Has(text, "slotwise_node_booked_starts{cluster=\"c1\",node=\"n1\",slot=\"current\"} 3"));
  CHECK(Has(text, "slotwise_node_capacity_starts{cluster=\"c1\",node=\"n1\",slot=\"current\"} 4"));
  CHECK(Has(text, "slotwise_node_utilisation_ratio{cluster=\"c1\",node=\"n1\",slot=\"current\"} 0.75"));
  CHECK(Has(text, "slotwise_node_utilisation_ratio{cluster=\"c1\",node=\"n1\",slot=\"next\"} 0"));
  CHECK(Has(text, "slotwise_node_reserved_bytes_per_second{cluster=\"c1\",node=\"n1\",slot=\"current\"} 1000"));
  CHECK(Has(text, "slotwise_node_state{cluster=\"c1\",node=\"n1\",state=\"ACTIVE\"} 1"));
  CHECK(Has(text, "slotwise_node_state{cluster=\"c1\",node=\"n1\",state=\"DOWN\"} 0"));
  CHECK(Has(text, "slotwise_campaign_terminals{campaign=\"big\",outcome=\"SUCCEEDED\"} 5"));
  CHECK(Has(text, "slotwise_campaign_terminals{campaign=\"big\",outcome=\"OUTCOME_PENDING\"} 2"));
  CHECK(Has(text, "slotwise_campaign_state{campaign=\"big\",state=\"SCHEDULED\"} 1"));
  CHECK(Has(text, "slotwise_campaigns{state=\"SCHEDULED\"} 1"));
  CHECK(Has(text, "slotwise_terminals_online 6"));
  m.Refresh(OneNodeOneCampaign("other"), 0.001);
  text = m.Render();
  CHECK(text.find("campaign=\"big\"") == std::string::npos);
  CHECK(Has(text, "slotwise_campaign_terminals{campaign=\"other\",outcome=\"SUCCEEDED\"} 5"));
}

TEST_CASE("metrics: requests are counted by command, channel and code, with their latency") {
  Metrics m;
  m.ObserveOperator("create_campaign", "http", v1::ERROR_CODE_UNSPECIFIED, 0.002);
  m.ObserveOperator("create_campaign", "http", v1::PERMISSION_DENIED, 0.001);
  m.ObserveOperator("create_campaign", "mqtt", v1::ERROR_CODE_UNSPECIFIED, 0.003);
  m.ObserveTerminal("check", v1::ERROR_CODE_UNSPECIFIED, 0.0004);
  const std::string text = m.Render();
  CHECK(Has(text, "slotwise_operator_requests_total{channel=\"http\",code=\"OK\",command=\"create_campaign\"} 1"));
  CHECK(Has(text,
            "slotwise_operator_requests_total{channel=\"http\",code=\"PERMISSION_DENIED\",command=\"create_campaign\"} 1"));
  CHECK(Has(text, "slotwise_operator_request_duration_seconds_count{channel=\"http\",command=\"create_campaign\"} 2"));
  CHECK(Has(text, "slotwise_operator_request_duration_seconds_bucket{channel=\"mqtt\",command=\"create_campaign\",le=\"0.0025\"} 0"));
  CHECK(Has(text, "slotwise_operator_request_duration_seconds_bucket{channel=\"mqtt\",command=\"create_campaign\",le=\"0.005\"} 1"));
  CHECK(Has(text, "slotwise_terminal_requests_total{code=\"OK\",kind=\"check\"} 1"));
  CHECK(Has(text, "slotwise_terminal_request_duration_seconds_bucket{kind=\"check\",le=\"0.0005\"} 1"));
}

TEST_CASE("metrics: the broker plugin's counters show its values, and start again when the broker restarts") {
  Metrics m;
  m.SetShards({"tcp://127.0.0.1:1883"});
  m.ObserveBrokerStats(0, R"({"at_ms":1764012345678,"terminals_connected":24,"auth_refused":3,"accepted":1200,)"
                          R"("rejected":{"payload_format_invalid":2,"packet_too_large":1,"not_authorized":4,)"
                          R"("message_rate_too_high":17},"rate_limited":17,"flood_disconnects":1})");
  std::string text = m.Render();
  CHECK(Has(text, "slotwise_broker_accepted_total{shard=\"0\"} 1200"));
  CHECK(Has(text, "slotwise_broker_terminals_connected{shard=\"0\"} 24"));
  CHECK(Has(text, "slotwise_broker_rejected_total{reason=\"message_rate_too_high\",shard=\"0\"} 17"));
  CHECK(Has(text, "slotwise_broker_auth_refused_total{shard=\"0\"} 3"));
  CHECK(Has(text, "slotwise_broker_flood_disconnects_total{shard=\"0\"} 1"));
  CHECK(text.find("slotwise_broker_stats_timestamp_seconds{shard=\"0\"} 1764012345.67") != std::string::npos);
  CHECK(Has(text, "slotwise_broker_shard_info{shard=\"0\",uri=\"tcp://127.0.0.1:1883\"} 1"));
  m.ObserveBrokerStats(0, R"({"accepted":1250})");
  CHECK(Has(m.Render(), "slotwise_broker_accepted_total{shard=\"0\"} 1250"));
  m.ObserveBrokerStats(0, R"({"accepted":7})");  // the broker restarted
  CHECK(Has(m.Render(), "slotwise_broker_accepted_total{shard=\"0\"} 7"));
  m.ObserveBrokerStats(0, "not json");
  text = m.Render();
  CHECK(Has(text, "slotwise_broker_stats_errors_total 1"));
  CHECK(Has(text, "slotwise_broker_accepted_total{shard=\"0\"} 7"));
}

}  // namespace slotwise::scheduler
