// MqttServer: the scheduler daemon's MQTT side (MQTT v5 through the core
// adapter, slotwise/mqtt/client.h).
// Subscribes to the request topics of schemas/README.md, decodes each
// message, hands it to the SchedulerService and publishes the reply on the
// request's response topic with its correlation data, then whatever the
// service put in the outbox (retained notices).
//
// Replies go only where the requester may read (IsAllowedReplyTopic): the
// scheduler publishes with the service's rights, so a response topic taken
// as given would let any terminal make it write on another terminal's
// reply or notice, an operator's reply, the stats or the presence topics
// (the confused deputy). It never publishes on a topic it subscribes to
// (requests, presence), and it reads presence only from
// slotwise/v1/presence/+, which no client may write (broker plugin ACL).
//
// Group commit: the messages queued at one moment (up to max_batch) are
// handled in one SchedulerService batch and stored with one synced write;
// their replies leave only after that write returned.
//
// Outgoing (outgoing_queue.h): replies go before any notice; notices are
// coalesced per topic and fed to the client only while it holds fewer than
// `fanout_window` unacknowledged publishes, so a campaign's fan-out never
// holds up the answers to operators and terminals.
//
// Sharded brokers (several `brokers`): one connection and one
// OutgoingQueue (its own fan-out window) per shard; requests are answered
// on the shard they came from; a terminal's retained notices go to the
// shard its presence came from (ShardRoutes), are published again there
// when it shows up on another shard (and cleared on the one it left, if
// that one still runs). A terminal that lost a notice with a dead shard
// gets it back in the TerminalReply.notices of the inventory Report it
// sends on every connect.
//
// Threading: Run() blocks the calling thread, which is the only thread that
// touches the service. Paho's callback thread only queues messages (one
// Inbox for every shard) and flags (re)connects; nothing blocks inside a
// Paho callback.
//
// Logging (slotwise/log.h, component "scheduler"): connects at info, a lost
// broker at warn, refused operator requests at info, every state-changing
// operator request with the stamped operator and its client id at info
// ("operator 'alice' (client 'cli-1') requested schedule_campaign: done"),
// refused terminal requests at debug (a fleet sending bad input must not
// flood the log).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "slotwise/mqtt/client.h"
#include "slotwise/result.h"
#include "slotwise/scheduler/access.h"
#include "slotwise/scheduler/metrics.h"
#include "slotwise/scheduler/operator_inbox.h"
#include "slotwise/scheduler/service.h"

namespace slotwise::scheduler {

struct MqttOptions {
  // The brokers: tcp://host:port, or ssl:// / mqtts:// for TLS (see `tls`).
  // One, or every shard of a cell (docker/README.md "Sharded brokers"): the
  // scheduler connects to each, reads requests and presence from each,
  // answers a request on the shard it came from and publishes a terminal's
  // notices on the shard its presence came from (shard_routes.h; a notice
  // for a terminal no shard has reported yet waits for its presence).
  // Default: tcp://127.0.0.1:1883.
  std::vector<std::string> brokers = {"tcp://127.0.0.1:1883"};
  std::string client_id = "slotwise-scheduler";
  std::string username = "slotwise-scheduler";
  std::string password;
  // CA file, client certificate and key for a TLS broker; the broker's
  // certificate chain and host name are verified. Default: none set (a TLS
  // URI then uses the system's trust store).
  mqtt::TlsOptions tls;
  // Broker-side session kept while the scheduler is away, so requests
  // published meanwhile wait for it. Default: 1 hour.
  std::chrono::seconds session_expiry{3600};
  // Group commit: most requests handled before one synced write. Default: 256.
  std::size_t max_batch = 256;
  // Bulk fan-out (retained notices) goes out only while the client holds
  // fewer unacknowledged publishes than this (outgoing_queue.h); replies are
  // never held behind it. Default: 256.
  std::size_t fanout_window = 256;
  // How often SchedulerService::Tick() runs (no-shows, offline terminals).
  // Default: 1 s.
  std::chrono::milliseconds tick_interval{1000};
  // Trust a terminal request only when the broker plugin stamped it with
  // the user property `slotwise-terminal` = the terminal id of its topic
  // (schemas/README.md). Off only for a broker without the plugin (tests).
  // Default: true.
  bool require_terminal_stamp = true;
  // Trust an operator request only when the broker plugin stamped it with
  // `slotwise-operator` (the operator's username) and
  // `slotwise-operator-client` (its client id), each exactly once; it is
  // then answered only on slotwise/v1/op/reply/{that client id}. Unstamped:
  // OperatorReply.error UNAUTHENTICATED, nothing changes. Off only for a
  // broker without the plugin (tests). Default: true.
  bool require_operator_stamp = true;
  // Called on the scheduler thread at every tick, inside the tick's batch,
  // before SchedulerService::Tick() (the daemon feeds live load in here).
  std::function<void()> on_tick;
  // Issue 13: the queue the scheduler thread reads; other channels (the
  // HTTP API) push operator jobs into it. Default: the server's own.
  std::shared_ptr<OperatorInbox> inbox;
  // Issue 13: the role of each stamped operator: users file entries by
  // username (access.h); an operator not in it (or without a file) gets
  // `default_operator_role`. Default: no file, admin (the broker's operator
  // accounts keep every right they had).
  std::shared_ptr<const Users> users;
  Role default_operator_role = Role::kAdmin;
  // Issue 13: called on the scheduler thread after each durable batch that
  // changed something (the HTTP API's live events).
  std::function<void()> on_commit;
  // Issue 13: the Prometheus metrics (metrics.h) the loop keeps: request
  // counts and latencies, commits, queues, and the state after each tick.
  // nullptr = none. The broker plugin's stats topic is subscribed to on
  // every shard for them ("" = not). Default: none; slotwise/v1/stats/broker.
  std::shared_ptr<Metrics> metrics;
  std::string broker_stats_topic = "slotwise/v1/stats/broker";
  // The campaigns the metrics show: every open one (at most
  // metrics_open_campaigns, newest first) and the newest final ones.
  // Default: 200 and 10.
  std::size_t metrics_open_campaigns = 200;
  std::size_t metrics_recent_campaigns = 10;
  // Issue 13: called on the scheduler thread after on_commit (same batches);
  // what it adds to the Outbox (the live events on slotwise/v1/op/events/...)
  // goes to every broker shard, not retained, ahead of the bulk fan-out.
  std::function<void(Outbox&)> on_events;
};

// The reply rule of schemas/README.md "Request and response": true when a
// request on `request_topic` may be answered on `response_topic`:
//  * slotwise/v1/t/{tid}/report|check|status: only slotwise/v1/t/{tid}/reply;
//  * slotwise/v1/op/request: only slotwise/v1/op/reply/{cid}, one topic level
//    without '+', '#' or '/' (and, for a request the broker plugin stamped,
//    only the {cid} of its `slotwise-operator-client` stamp: checked when
//    the reply is sent);
//  * anything else: never.
// A request whose response topic fails the rule is handled as one that
// names none: processed, its answer dropped. Pure, safe from any thread.
bool IsAllowedReplyTopic(std::string_view request_topic, std::string_view response_topic);

class MqttServer {
 public:
  MqttServer(SchedulerService& service, MqttOptions options);

  // Serves until `stop` becomes true. Returns an error only when no broker
  // can be reached at start-up within `connect_timeout`; with several, it
  // serves once one is connected and keeps trying the others.
  Status Run(const std::atomic<bool>& stop, std::chrono::seconds connect_timeout);

 private:
  SchedulerService& service_;
  MqttOptions options_;
};

}  // namespace slotwise::scheduler
