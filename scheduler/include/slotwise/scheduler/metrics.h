// Metrics (issue 13): the scheduler daemon's Prometheus exposition, served
// at GET /metrics of the HTTP API (http_server.h) in the text format 0.0.4.
// Every metric, its type, labels and meaning: scheduler/README.md "Metrics".
//
// Built on prometheus-cpp's core library (Debian prometheus-cpp-dev 1.0.1):
// a prometheus::Registry of Counter, Gauge and Histogram families, rendered
// by prometheus::TextSerializer inside our own httplib handler, so /metrics
// shares the API's port, TLS and logins (no civetweb Exposer: that would
// be a second HTTP server on a second port, plain HTTP, without our users).
//
// Where the values come from, and the threads:
//  * the scheduler thread (MqttServer's loop) counts requests, commits and
//    presence as they happen (Observe*), and after each tick (and after a
//    batch, at most 4 times a second) calls Refresh() with a ServiceGauges
//    snapshot it took itself (SchedulerService::Gauges(): no per-terminal
//    work) and SetShard() with its queues. A scrape never reads the
//    scheduler's state: it renders what the loop last handed over, so the
//    gauges are at most about a second old (slotwise_snapshot_timestamp_seconds);
//  * Paho's callback thread hands over the broker plugin's counters
//    (ObserveBrokerStats: the JSON of slotwise/v1/stats/broker, per shard);
//  * the HTTP threads count responses (ObserveHttp) and scrape (Render).
// Every member is thread-safe; Refresh and Render take one mutex, so a
// scrape sees one snapshot, never half of one.
//
// Cardinality is bounded: nodes x 2 slots, the campaigns ServiceGauges
// picked (open ones and the most recent final ones) x 9 outcomes, commands
// x 2 channels x error codes, shards.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "slotwise/scheduler/operator_inbox.h"
#include "slotwise/scheduler/service_gauges.h"
#include "slotwise/v1/common.pb.h"

namespace prometheus {
class Registry;
}

namespace slotwise::scheduler {

class Metrics {
 public:
  // `inbox`: the scheduler thread's queue, whose depth each scrape reads.
  explicit Metrics(std::shared_ptr<const OperatorInbox> inbox = nullptr);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // An operator command answered (MQTT or HTTP: both go through
  // SchedulerService::HandleOperatorAs): `seconds` from its arrival in the
  // inbox to its reply leaving (the batch's commit included). `code`:
  // ERROR_CODE_UNSPECIFIED for a success.
  void ObserveOperator(std::string_view command, std::string_view channel, v1::ErrorCode code, double seconds);
  // A terminal request (report, check, status) answered, the same way.
  void ObserveTerminal(std::string_view kind, v1::ErrorCode code, double seconds);
  void ObservePresence(bool online);
  // One group commit: how many inbox items it held, how long the store's
  // synced write took, whether it succeeded.
  void ObserveCommit(std::size_t items, double seconds, bool ok);
  // The broker shards, in MqttOptions::brokers order (labels shard="0".., uri).
  void SetShards(const std::vector<std::string>& uris);
  // One shard's queues (OutgoingQueue lanes, Paho's unacknowledged
  // publishes) and connection, from the scheduler thread.
  void SetShard(std::size_t shard, bool connected, std::size_t replies, std::size_t notices, std::size_t inflight);
  void CountPublished(std::size_t shard, std::size_t messages);
  // The scheduler's state (see the top); `took_seconds`: what taking it cost.
  void Refresh(const ServiceGauges& g, double took_seconds);
  // The broker plugin's stats JSON (broker-plugin/README.md "stats") from
  // `shard`; malformed JSON is counted (slotwise_broker_stats_errors_total)
  // and otherwise ignored. Its counters are exposed as counters with the
  // plugin's values (they restart with the broker, as counters may).
  void ObserveBrokerStats(std::size_t shard, std::string_view json);
  // An HTTP response sent (any resource), by status.
  void ObserveHttp(int status);

  // A scrape: every metric in the text exposition format 0.0.4.
  std::string Render();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace slotwise::scheduler
