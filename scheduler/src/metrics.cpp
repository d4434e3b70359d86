#include "slotwise/scheduler/metrics.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <set>
#include <tuple>

namespace slotwise::scheduler {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Labels;

// Request latency: from 0.5 ms (a reply in the batch it arrived in) to 10 s.
const Histogram::BucketBoundaries kRequestBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                     0.1,    0.25,  0.5,    1,     2.5,  5,     10};
// A synced write: from 0.1 ms (no sync, memory) to 2.5 s (a disk in trouble).
const Histogram::BucketBoundaries kCommitBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                    0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
const Histogram::BucketBoundaries kBatchBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};

std::string CodeLabel(v1::ErrorCode code) {
  return code == v1::ERROR_CODE_UNSPECIFIED ? std::string("OK") : v1::ErrorCode_Name(code);
}

// Gauges whose label sets follow the state (nodes, campaigns): Set() the
// ones there are now, then Sweep() takes out the ones not set since the
// last Sweep (a campaign no longer shown, a node gone).
struct GaugeSet {
  Family<Gauge>* family = nullptr;
  std::map<Labels, Gauge*> live;
  std::set<Labels> touched;

  void Set(const Labels& labels, double value) {
    auto it = live.find(labels);
    if (it == live.end()) it = live.emplace(labels, &family->Add(labels)).first;
    it->second->Set(value);
    touched.insert(labels);
  }
  void Sweep() {
    for (auto it = live.begin(); it != live.end();) {
      if (touched.contains(it->first)) {
        ++it;
      } else {
        family->Remove(it->second);
        it = live.erase(it);
      }
    }
    touched.clear();
  }
};

// A counter that shows a value counted elsewhere (the broker plugin's):
// raised by the difference; when the value falls (the broker restarted)
// the series starts again from zero, as a counter reset.
struct MirroredCounter {
  Family<Counter>* family = nullptr;
  Labels labels;
  Counter* counter = nullptr;
  double last = 0;

  void Show(double value) {
    if (counter == nullptr) counter = &family->Add(labels);
    if (value < last) {
      family->Remove(counter);
      counter = &family->Add(labels);
      last = 0;
    }
    counter->Increment(value - last);
    last = value;
  }
};

}  // namespace

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<const OperatorInbox> inbox;
  std::mutex mu;  // Refresh, Render, the broker's and the HTTP counters

  // Requests (scheduler thread only: the caches need no lock).
  Family<Counter>* operator_requests = nullptr;
  Family<Histogram>* operator_seconds = nullptr;
  Family<Counter>* terminal_requests = nullptr;
  Family<Histogram>* terminal_seconds = nullptr;
  Family<Counter>* presence = nullptr;
  std::map<std::tuple<std::string, std::string, v1::ErrorCode>, Counter*, std::less<>> operator_counts;
  std::map<std::pair<std::string, std::string>, Histogram*, std::less<>> operator_latency;
  std::map<std::pair<std::string, v1::ErrorCode>, Counter*, std::less<>> terminal_counts;
  std::map<std::string, Histogram*, std::less<>> terminal_latency;
  Histogram* commit_seconds = nullptr;
  Histogram* batch_items = nullptr;
  Counter* commit_failures = nullptr;
  Counter* presence_online = nullptr;
  Counter* presence_offline = nullptr;

  // Shards.
  std::vector<std::string> shard_uris;
  Family<Gauge>* shard_info = nullptr;
  GaugeSet shard_connected, outgoing_replies, notices_pending, inflight;
  Family<Counter>* published = nullptr;
  std::vector<Counter*> published_by_shard;

  // The broker plugin's stats, by shard.
  Family<Gauge>* broker_terminals = nullptr;
  Family<Gauge>* broker_stats_time = nullptr;
  Family<Counter>* broker_auth_refused = nullptr;
  Family<Counter>* broker_accepted = nullptr;
  Family<Counter>* broker_rejected = nullptr;
  Family<Counter>* broker_flood = nullptr;
  Counter* broker_stats_errors = nullptr;
  std::map<std::pair<std::size_t, std::string>, MirroredCounter> broker_counters;  // (shard, name[/reason])

  // The state (Refresh).
  GaugeSet node_booked, node_capacity, node_utilisation, node_reserved_rate, node_reserved_connections;
  GaugeSet node_per_slot, node_bandwidth, node_max_connections, node_up, node_active, node_state;
  GaugeSet campaign_terminals, campaign_state, campaigns;
  Gauge* terminals_known = nullptr;
  Gauge* terminals_online = nullptr;
  Gauge* audit_entries = nullptr;
  Gauge* current_slot = nullptr;
  Gauge* snapshot_time = nullptr;
  Gauge* refresh_seconds = nullptr;
  Gauge* inbox_items = nullptr;

  // HTTP responses, by status (HTTP threads, under mu).
  Family<Counter>* http_responses = nullptr;
  std::map<int, Counter*> http_counts;

  Family<Gauge>& NewGauge(const std::string& name, const std::string& help) {
    return prometheus::BuildGauge().Name(name).Help(help).Register(*registry);
  }
  Family<Counter>& NewCounter(const std::string& name, const std::string& help) {
    return prometheus::BuildCounter().Name(name).Help(help).Register(*registry);
  }
  Family<Histogram>& NewHistogram(const std::string& name, const std::string& help) {
    return prometheus::BuildHistogram().Name(name).Help(help).Register(*registry);
  }
  void Gauges(GaugeSet& set, const std::string& name, const std::string& help) { set.family = &NewGauge(name, help); }
};

Metrics::Metrics(std::shared_ptr<const OperatorInbox> inbox) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.inbox = std::move(inbox);
  m.operator_requests = &m.NewCounter("slotwise_operator_requests_total",
                                      "Operator commands answered (MQTT and HTTP alike), by command, channel and "
                                      "result code (OK or the slotwise.v1.ErrorCode name).");
  m.operator_seconds = &m.NewHistogram("slotwise_operator_request_duration_seconds",
                                       "Operator command latency: from its arrival at the scheduler to its reply "
                                       "leaving, the group commit included.");
  m.terminal_requests = &m.NewCounter("slotwise_terminal_requests_total",
                                      "Terminal requests answered, by kind (report, check, status) and result code.");
  m.terminal_seconds = &m.NewHistogram("slotwise_terminal_request_duration_seconds",
                                       "Terminal request latency: from its arrival at the scheduler to its reply "
                                       "leaving, the group commit included.");
  m.presence = &m.NewCounter("slotwise_presence_events_total",
                             "Presence messages from the broker plugin, by online (true: connected, false: gone).");
  m.presence_online = &m.presence->Add({{"online", "true"}});
  m.presence_offline = &m.presence->Add({{"online", "false"}});
  m.commit_seconds = &m.NewHistogram("slotwise_store_commit_duration_seconds",
                                     "Duration of one group commit's synced write to the store.")
                          .Add({}, kCommitBuckets);
  m.batch_items = &m.NewHistogram("slotwise_store_commit_batch_items",
                                  "Inbox items (requests, presence, operator jobs) handled in one group commit.")
                       .Add({}, kBatchBuckets);
  m.commit_failures = &m.NewCounter("slotwise_store_commit_failures_total",
                                    "Group commits the store refused (every change of the batch was undone).")
                           .Add({});

  m.shard_info = &m.NewGauge("slotwise_broker_shard_info", "1 for each broker shard the scheduler uses, with its URI.");
  m.Gauges(m.shard_connected, "slotwise_broker_connected", "1 while the scheduler is connected to the broker shard.");
  m.Gauges(m.outgoing_replies, "slotwise_outgoing_replies",
           "Replies queued for the broker shard, not yet handed to the MQTT client.");
  m.Gauges(m.notices_pending, "slotwise_notices_pending",
           "Retained notices (and their clearing) queued for the broker shard, not yet handed to the MQTT client "
           "(the fan-out backlog).");
  m.Gauges(m.inflight, "slotwise_mqtt_inflight_messages",
           "Publishes handed to the MQTT client for the shard that the broker has not acknowledged yet.");
  m.published = &m.NewCounter("slotwise_mqtt_published_total",
                              "Messages (replies and notices) handed to the MQTT client, by broker shard.");

  m.broker_terminals = &m.NewGauge("slotwise_broker_terminals_connected",
                                   "Terminal ids online at the broker shard (the plugin's stats).");
  m.broker_stats_time = &m.NewGauge("slotwise_broker_stats_timestamp_seconds",
                                    "When the broker plugin published the stats shown (its at_ms), Unix seconds.");
  m.broker_auth_refused = &m.NewCounter("slotwise_broker_auth_refused_total",
                                        "CONNECTs the broker plugin refused since the broker started.");
  m.broker_accepted = &m.NewCounter("slotwise_broker_accepted_total",
                                    "Terminal upstream messages the broker plugin passed on (stamped).");
  m.broker_rejected = &m.NewCounter("slotwise_broker_rejected_total",
                                    "Messages the broker plugin dropped, by reason (MQTT v5 reason name).");
  m.broker_flood = &m.NewCounter("slotwise_broker_flood_disconnects_total",
                                 "Terminals the broker plugin disconnected for flooding.");
  m.broker_stats_errors = &m.NewCounter("slotwise_broker_stats_errors_total",
                                        "Broker stats messages that were not the plugin's JSON (ignored).")
                               .Add({});

  m.Gauges(m.node_booked, "slotwise_node_booked_starts",
           "Downloads booked to start on the node in the slot (current: the slot that holds now; next: the one "
           "after).");
  m.Gauges(m.node_capacity, "slotwise_node_capacity_starts",
           "Downloads the node takes in the slot now: per_slot lowered by live load near now, 0 when not ACTIVE "
           "or unreachable.");
  m.Gauges(m.node_utilisation, "slotwise_node_utilisation_ratio",
           "booked / capacity starts of the node in the slot (capacity 0: 1 if anything is booked, else 0).");
  m.Gauges(m.node_reserved_rate, "slotwise_node_reserved_bytes_per_second",
           "Highest rate reserved by bookings on the node in any time bucket of the slot (nodes with a bandwidth).");
  m.Gauges(m.node_reserved_connections, "slotwise_node_reserved_connections",
           "Highest number of downloads reserved on the node in any time bucket of the slot (nodes with a "
           "connection limit).");
  m.Gauges(m.node_per_slot, "slotwise_node_per_slot_starts", "The node's registered starts per slot.");
  m.Gauges(m.node_bandwidth, "slotwise_node_bandwidth_bytes_per_second",
           "The node's registered upstream bandwidth (0: not limited).");
  m.Gauges(m.node_max_connections, "slotwise_node_max_connections",
           "The node's registered connection limit (0: not limited).");
  m.Gauges(m.node_up, "slotwise_node_up",
           "1 when the node's status URL answered its last poll (or it has none), 0 when unreachable.");
  m.Gauges(m.node_active, "slotwise_node_active_connections",
           "Active connections of the node at its last poll (nodes with a status URL).");
  m.Gauges(m.node_state, "slotwise_node_state", "1 for the node's registered state (ACTIVE, DRAINING, DOWN), else 0.");
  m.Gauges(m.campaign_terminals, "slotwise_campaign_terminals",
           "Terminals of the campaign by outcome (open campaigns and the most recent final ones).");
  m.Gauges(m.campaign_state, "slotwise_campaign_state",
           "1 for the campaign's state (DRAFT, SCHEDULED, PAUSED, DONE, CANCELLED), else 0 (the campaigns shown).");
  m.Gauges(m.campaigns, "slotwise_campaigns", "Campaigns the scheduler holds, by state (all of them).");
  m.terminals_known = &m.NewGauge("slotwise_terminals_known", "Terminals that ever reported to the scheduler.").Add({});
  m.terminals_online = &m.NewGauge("slotwise_terminals_online",
                                   "Terminals online now, as the broker plugin's presence told the scheduler.")
                            .Add({});
  m.audit_entries = &m.NewGauge("slotwise_audit_entries", "Entries in the audit trail.").Add({});
  m.current_slot = &m.NewGauge("slotwise_current_slot", "The slot number that holds now (Unix ms / slot length).")
                        .Add({});
  m.snapshot_time = &m.NewGauge("slotwise_snapshot_timestamp_seconds",
                                "When the scheduler thread last handed its state to the metrics, Unix seconds.")
                         .Add({});
  m.refresh_seconds = &m.NewGauge("slotwise_snapshot_duration_seconds",
                                  "What taking the last state snapshot cost the scheduler thread.")
                           .Add({});
  m.inbox_items = &m.NewGauge("slotwise_inbox_items",
                              "Items (requests, presence, HTTP operator jobs) waiting for the scheduler thread.")
                       .Add({});
  m.http_responses = &m.NewCounter("slotwise_http_responses_total", "HTTP API responses, by status.");
}

Metrics::~Metrics() = default;

void Metrics::ObserveOperator(std::string_view command, std::string_view channel, v1::ErrorCode code,
                              double seconds) {
  Impl& m = *impl_;
  auto key = std::make_tuple(std::string(command), std::string(channel), code);
  auto c = m.operator_counts.find(key);
  if (c == m.operator_counts.end()) {
    c = m.operator_counts
            .emplace(key, &m.operator_requests->Add(
                              {{"command", std::get<0>(key)}, {"channel", std::get<1>(key)}, {"code", CodeLabel(code)}}))
            .first;
  }
  c->second->Increment();
  auto hkey = std::make_pair(std::get<0>(key), std::get<1>(key));
  auto h = m.operator_latency.find(hkey);
  if (h == m.operator_latency.end()) {
    h = m.operator_latency
            .emplace(hkey, &m.operator_seconds->Add({{"command", hkey.first}, {"channel", hkey.second}},
                                                    kRequestBuckets))
            .first;
  }
  h->second->Observe(seconds);
}

void Metrics::ObserveTerminal(std::string_view kind, v1::ErrorCode code, double seconds) {
  Impl& m = *impl_;
  auto key = std::make_pair(std::string(kind), code);
  auto c = m.terminal_counts.find(key);
  if (c == m.terminal_counts.end()) {
    c = m.terminal_counts.emplace(key, &m.terminal_requests->Add({{"kind", key.first}, {"code", CodeLabel(code)}}))
            .first;
  }
  c->second->Increment();
  auto h = m.terminal_latency.find(kind);
  if (h == m.terminal_latency.end()) {
    h = m.terminal_latency.emplace(key.first, &m.terminal_seconds->Add({{"kind", key.first}}, kRequestBuckets)).first;
  }
  h->second->Observe(seconds);
}

void Metrics::ObservePresence(bool online) { (online ? impl_->presence_online : impl_->presence_offline)->Increment(); }

void Metrics::ObserveCommit(std::size_t items, double seconds, bool ok) {
  impl_->commit_seconds->Observe(seconds);
  impl_->batch_items->Observe(static_cast<double>(items));
  if (!ok) impl_->commit_failures->Increment();
}

void Metrics::SetShards(const std::vector<std::string>& uris) {
  Impl& m = *impl_;
  std::lock_guard lock(m.mu);
  m.shard_uris = uris;
  m.published_by_shard.clear();
  for (std::size_t i = 0; i < uris.size(); ++i) {
    const std::string shard = std::to_string(i);
    m.shard_info->Add({{"shard", shard}, {"uri", uris[i]}}).Set(1);
    m.published_by_shard.push_back(&m.published->Add({{"shard", shard}}));
  }
}

void Metrics::SetShard(std::size_t shard, bool connected, std::size_t replies, std::size_t notices,
                       std::size_t inflight) {
  Impl& m = *impl_;
  std::lock_guard lock(m.mu);
  const Labels l = {{"shard", std::to_string(shard)}};
  m.shard_connected.Set(l, connected ? 1 : 0);
  m.outgoing_replies.Set(l, static_cast<double>(replies));
  m.notices_pending.Set(l, static_cast<double>(notices));
  m.inflight.Set(l, static_cast<double>(inflight));
}

void Metrics::CountPublished(std::size_t shard, std::size_t messages) {
  Impl& m = *impl_;
  if (messages == 0) return;
  std::lock_guard lock(m.mu);
  if (shard < m.published_by_shard.size()) m.published_by_shard[shard]->Increment(static_cast<double>(messages));
}

void Metrics::Refresh(const ServiceGauges& g, double took_seconds) {
  Impl& m = *impl_;
  std::lock_guard lock(m.mu);
  for (const NodeGauges& n : g.nodes) {
    const Labels base = {{"node", n.id}, {"cluster", n.cluster}};
    for (const auto& [slot, s] : {std::pair<const char*, const NodeSlotGauges&>{"current", n.current},
                                  std::pair<const char*, const NodeSlotGauges&>{"next", n.next}}) {
      Labels l = base;
      l["slot"] = slot;
      m.node_booked.Set(l, s.booked);
      m.node_capacity.Set(l, s.capacity);
      m.node_utilisation.Set(l, s.capacity > 0 ? static_cast<double>(s.booked) / s.capacity : (s.booked > 0 ? 1 : 0));
      m.node_reserved_rate.Set(l, static_cast<double>(s.reserved_bps) / 8.0);
      m.node_reserved_connections.Set(l, s.reserved_connections);
    }
    m.node_per_slot.Set(base, n.per_slot);
    m.node_bandwidth.Set(base, static_cast<double>(n.bandwidth_bps) / 8.0);
    m.node_max_connections.Set(base, n.max_connections);
    m.node_up.Set(base, n.reachable ? 1 : 0);
    if (n.polled) m.node_active.Set(base, n.active_connections);
    for (const v1::NodeState s : {v1::ACTIVE, v1::DRAINING, v1::DOWN}) {
      Labels l = base;
      l["state"] = v1::NodeState_Name(s);
      m.node_state.Set(l, n.state == s ? 1 : 0);
    }
  }
  for (const CampaignGauges& c : g.campaigns) {
    for (int o = 0; o < v1::TerminalProgress::Outcome_ARRAYSIZE; ++o) {
      if (!v1::TerminalProgress::Outcome_IsValid(o)) continue;
      m.campaign_terminals.Set(
          {{"campaign", c.id}, {"outcome", v1::TerminalProgress::Outcome_Name(static_cast<v1::TerminalProgress::Outcome>(o))}},
          static_cast<double>(c.outcomes[static_cast<std::size_t>(o)]));
    }
    for (const v1::CampaignState s : {v1::DRAFT, v1::SCHEDULED, v1::PAUSED, v1::DONE, v1::CANCELLED}) {
      m.campaign_state.Set({{"campaign", c.id}, {"state", v1::CampaignState_Name(s)}}, c.state == s ? 1 : 0);
    }
  }
  for (const v1::CampaignState s : {v1::DRAFT, v1::SCHEDULED, v1::PAUSED, v1::DONE, v1::CANCELLED}) {
    m.campaigns.Set({{"state", v1::CampaignState_Name(s)}},
                    static_cast<double>(g.campaigns_by_state[static_cast<std::size_t>(s)]));
  }
  for (GaugeSet* set : {&m.node_booked, &m.node_capacity, &m.node_utilisation, &m.node_reserved_rate,
                        &m.node_reserved_connections, &m.node_per_slot, &m.node_bandwidth, &m.node_max_connections,
                        &m.node_up, &m.node_active, &m.node_state, &m.campaign_terminals, &m.campaign_state,
                        &m.campaigns}) {
    set->Sweep();
  }
  m.terminals_known->Set(static_cast<double>(g.terminals_known));
  m.terminals_online->Set(static_cast<double>(g.terminals_online));
  m.audit_entries->Set(static_cast<double>(g.audit_entries));
  m.current_slot->Set(static_cast<double>(g.current_slot));
  m.snapshot_time->Set(static_cast<double>(g.now_ms) / 1000.0);
  m.refresh_seconds->Set(took_seconds);
}

void Metrics::ObserveBrokerStats(std::size_t shard, std::string_view json) {
  Impl& m = *impl_;
  google::protobuf::Struct stats;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(std::string(json), &stats, opts).ok()) {
    m.broker_stats_errors->Increment();
    return;
  }
  const auto& f = stats.fields();
  auto number = [&f](const char* name) -> std::optional<double> {
    auto it = f.find(name);
    if (it == f.end() || !it->second.has_number_value()) return std::nullopt;
    return it->second.number_value();
  };
  const std::string s = std::to_string(shard);
  std::lock_guard lock(m.mu);
  auto show = [&](Family<Counter>* family, const std::string& key, Labels labels, double value) {
    auto& c = m.broker_counters[{shard, key}];
    if (c.family == nullptr) {
      c.family = family;
      c.labels = std::move(labels);
    }
    c.Show(value);
  };
  if (auto v = number("terminals_connected")) m.broker_terminals->Add({{"shard", s}}).Set(*v);
  if (auto v = number("at_ms")) m.broker_stats_time->Add({{"shard", s}}).Set(*v / 1000.0);
  if (auto v = number("auth_refused")) show(m.broker_auth_refused, "auth_refused", {{"shard", s}}, *v);
  if (auto v = number("accepted")) show(m.broker_accepted, "accepted", {{"shard", s}}, *v);
  if (auto v = number("flood_disconnects")) show(m.broker_flood, "flood_disconnects", {{"shard", s}}, *v);
  if (auto r = f.find("rejected"); r != f.end() && r->second.has_struct_value()) {
    for (const auto& [reason, value] : r->second.struct_value().fields()) {
      if (!value.has_number_value() || reason.empty() || reason.size() > 64) continue;
      show(m.broker_rejected, "rejected/" + reason, {{"shard", s}, {"reason", reason}}, value.number_value());
    }
  }
}

void Metrics::ObserveHttp(int status) {
  Impl& m = *impl_;
  std::lock_guard lock(m.mu);
  auto it = m.http_counts.find(status);
  if (it == m.http_counts.end()) {
    it = m.http_counts.emplace(status, &m.http_responses->Add({{"status", std::to_string(status)}})).first;
  }
  it->second->Increment();
}

std::string Metrics::Render() {
  Impl& m = *impl_;
  std::lock_guard lock(m.mu);
  if (m.inbox) m.inbox_items->Set(static_cast<double>(m.inbox->size()));
  return prometheus::TextSerializer().Serialize(m.registry->Collect());
}

}  // namespace slotwise::scheduler
