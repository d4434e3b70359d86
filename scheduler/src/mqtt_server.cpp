#include "slotwise/scheduler/mqtt_server.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "slotwise/log.h"
#include "slotwise/mqtt/client.h"
#include "slotwise/scheduler/metrics.h"
#include "slotwise/scheduler/operator_inbox.h"
#include "slotwise/scheduler/outgoing_queue.h"
#include "slotwise/scheduler/shard_routes.h"
#include "slotwise/topics.h"

namespace slotwise::scheduler {
namespace {

constexpr int kQos = 1;
constexpr std::string_view kLog = "scheduler";
// The user property the broker plugin adds to every terminal request.
constexpr std::string_view kTerminalStamp = "slotwise-terminal";
// The user properties it adds to every operator request: the operator's
// username and its connection's client id.
constexpr std::string_view kOperatorStamp = "slotwise-operator";
constexpr std::string_view kOperatorClientStamp = "slotwise-operator-client";

// The operator the broker plugin vouched for: exactly one of each stamp.
struct StampedOperator {
  std::string username;
  std::string client_id;
};

std::optional<StampedOperator> OperatorOf(const mqtt::Message& msg) {
  auto names = mqtt::UserPropertyValues(msg, kOperatorStamp);
  auto clients = mqtt::UserPropertyValues(msg, kOperatorClientStamp);
  if (names.size() != 1 || clients.size() != 1) return std::nullopt;  // none, or two: trust neither
  return StampedOperator{std::move(names.front()), std::move(clients.front())};
}

// An operator request may be answered on `response_topic` only when that is
// slotwise/v1/op/reply/{the stamped client id}; an unstamped one (refused,
// or from a broker without the plugin) by the topic's shape alone.
bool IsStampedOperatorsReplyTopic(const mqtt::Message& request) {
  if (request.topic != topics::kOperatorRequest) return true;
  if (mqtt::UserPropertyValues(request, kOperatorClientStamp).empty()) return true;
  const auto op = OperatorOf(request);
  const auto cid = topics::ParseOperatorReplyTopic(request.response_topic);
  return op && cid && *cid == op->client_id;
}

template <class Msg>
bool Decode(const mqtt::Message& msg, Msg& out) {
  return out.ParseFromString(msg.payload);
}

// The topics the scheduler consumes (Session::Subscribe): it never publishes
// on them, so nothing it sends can come back to it as a request or as
// presence.
bool IsSchedulerInput(std::string_view topic) {
  if (topic == topics::kOperatorRequest || topic.starts_with(topics::kPresencePrefix)) return true;
  const auto t = topics::ParseTerminalTopic(topic);
  return t && topics::IsUpstream(t->leaf);
}

// A client-chosen string for a log line: control characters become '?'.
std::string Printable(std::string_view text) {
  std::string out(text.substr(0, 200));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

// Paho's own queue of outgoing messages (replies and the bulk window
// together stay far below it).
constexpr int kPahoBufferedMessages = 10'000;

// One broker shard: its client, what is waiting to go to it, and its
// connection state (flags set on Paho's callback thread).
struct Shard {
  std::size_t index = 0;  // in MqttOptions::brokers (the metrics' shard label)
  std::string uri;
  std::unique_ptr<mqtt::Client> client;
  OutgoingQueue outgoing;
  std::atomic<bool> connected{false};  // a (re)connect to handle
  std::atomic<bool> lost{false};       // a lost connection to handle
  // The first connect (ConnectAsync; Paho reconnects by itself after it).
  std::atomic<bool> connecting{false};  // under way
  std::atomic<bool> up{false};          // succeeded
  bool ever_connected = false;          // seen by the scheduler thread
  std::chrono::steady_clock::time_point next_attempt{};
  std::chrono::milliseconds backoff{200};
  std::mutex mu;
  std::optional<Error> last_error;  // of the last failed first connect, under mu
};

class Session {
 public:
  Session(SchedulerService& service, const MqttOptions& options, std::vector<std::unique_ptr<Shard>> shards)
      : service_(service),
        on_tick_(options.on_tick),
        require_stamp_(options.require_terminal_stamp),
        require_operator_stamp_(options.require_operator_stamp),
        bulk_window_(options.fanout_window),
        inbox_(options.inbox),
        users_(options.users),
        default_role_(options.default_operator_role),
        on_commit_(options.on_commit),
        metrics_(options.metrics),
        metrics_recent_(options.metrics_recent_campaigns),
        metrics_open_(options.metrics_open_campaigns),
        stats_topic_(options.broker_stats_topic),
        on_events_(options.on_events),
        shards_(std::move(shards)) {}

  std::vector<std::unique_ptr<Shard>>& shards() { return shards_; }
  // Something to send to a connected shard (a dead shard's queue waits for
  // its return without keeping the loop busy).
  bool HasBacklog() const {
    for (const auto& s : shards_) {
      if (!s->outgoing.empty() && s->client->IsConnected()) return true;
    }
    return !gone_offline_.empty();
  }
  bool sharded() const { return shards_.size() > 1; }

  // Queues a reply on the shard its request came from and sends what the
  // client takes now.
  void Reply(std::size_t shard, mqtt::Message message) {
    if (!Sendable(message)) return;
    shards_[shard]->outgoing.PushReply(std::move(message));
    Flush(*shards_[shard]);
  }

  // Sends replies first, then bulk messages while the client holds fewer
  // than the window of unacknowledged publishes (OutgoingQueue), per shard.
  void Flush(Shard& shard) {
    if (shard.outgoing.empty()) return;
    auto& client = *shard.client;
    const std::size_t pending = shard.outgoing.bulk() > 0 ? client.PendingDeliveries() : 0;
    const std::size_t room = pending < bulk_window_ ? bulk_window_ - pending : 0;
    const std::size_t sent =
        shard.outgoing.Drain([&client](const mqtt::Message& m) { return client.Publish(m); }, room,
                             [](const mqtt::Message& m, const std::string& error) {
                               log::Error(kLog) << "dropped a message for " << m.topic << ": " << error;
                             });
    if (metrics_) metrics_->CountPublished(shard.index, sent);
  }
  void FlushAll() {
    for (auto& s : shards_) Flush(*s);
  }

  // The shard a publication goes to: a terminal's topic to the shard the
  // terminal is on (ShardRoutes); nullopt for a terminal no shard has
  // reported yet (it gets its notices when it shows up: OnPresence), and
  // for everything else every shard (kAll). One shard: always that one.
  static constexpr std::size_t kAll = static_cast<std::size_t>(-1);
  std::optional<std::size_t> ShardFor(std::string_view topic) const {
    if (!sharded()) return 0;
    const auto t = topics::ParseTerminalTopic(topic);
    if (!t) return kAll;
    return routes_.ShardOf(t->terminal_id);
  }

  void PushBulk(std::size_t shard, const Publication& p) {
    mqtt::Message m;
    m.topic = p.topic;
    m.payload = p.payload;
    m.retained = p.retain;
    if (Sendable(m)) shards_[shard]->outgoing.PushBulk(std::move(m));
  }

  // Queues the service's publications (retained notices) in the bulk lane
  // of the shard each belongs on; with `only`, just those that belong on
  // that shard (a reconnect to it).
  void PublishAll(const Outbox& out, std::optional<std::size_t> only = std::nullopt) {
    for (const auto& p : out) {
      const auto shard = ShardFor(p.topic);
      if (!shard) continue;
      if (*shard == kAll) {
        for (std::size_t i = 0; i < shards_.size(); ++i) {
          if (!only || *only == i) PushBulk(i, p);
        }
      } else if (!only || *only == *shard) {
        PushBulk(*shard, p);
      }
    }
    FlushAll();
  }

  // A reply waiting for its batch to be durable.
  struct PendingReply {
    std::size_t shard;
    mqtt::Message request;
    std::string payload;     // serialized reply
    std::string on_failure;  // serialized error reply, if the commit fails
    // An operator job from another channel (the HTTP API) instead.
    std::function<void(const v1::OperatorReply&)> done;
    v1::OperatorReply reply;
    // For the metrics: the command (or report/check/status), its channel
    // ("" for a terminal's), its result and when it arrived.
    std::string kind;
    std::string channel;
    v1::ErrorCode code = v1::ERROR_CODE_UNSPECIFIED;
    std::chrono::steady_clock::time_point received{};
  };
  // Publications of a batch for one named shard (clears on a shard a
  // terminal left), sent after the batch is durable like the Outbox.
  using Directed = std::vector<std::pair<std::size_t, Publication>>;

  // Sends `payload` to the requester's response topic, if it named one the
  // requester may read (IsAllowedReplyTopic); any other is ignored.
  void Answer(std::size_t shard, const mqtt::Message& request, const std::string& payload) {
    if (request.response_topic.empty()) return;
    if (!IsAllowedReplyTopic(request.topic, request.response_topic) || !IsStampedOperatorsReplyTopic(request)) {
      // Debug: the broker plugin refuses such requests, so only a broker
      // without it (or a will sent at broker shutdown) gets here.
      log::Debug(kLog) << "not answering a request on " << request.topic << " on its response topic '"
                       << Printable(request.response_topic) << "': not the requester's own reply topic";
      return;
    }
    if (auto reply = mqtt::MakeResponse(request, payload)) Reply(shard, std::move(*reply));
  }

  // Handles one message inside the current batch; its reply and
  // publications wait in `replies` and `out` until the batch is durable.
  void Dispatch(InboxItem item, std::vector<PendingReply>& replies, Outbox& out, Directed& directed) {
    if (auto* job = std::get_if<OperatorJob>(&item)) {
      PendingReply r;
      r.reply = service_.HandleOperatorAs(job->caller, job->request, out);
      r.done = std::move(job->done);
      r.kind = CommandName(job->request);
      r.channel = job->caller.channel;
      r.code = r.reply.has_error() ? r.reply.error().code() : v1::ERROR_CODE_UNSPECIFIED;
      r.received = job->received;
      replies.push_back(std::move(r));
      return;
    }
    ReceivedMessage received = std::move(std::get<ReceivedMessage>(item));
    mqtt::Message& msg = received.message;
    const std::string& topic = msg.topic;
    if (topic == topics::kOperatorRequest) {
      PendingReply r;
      const v1::OperatorReply reply = DispatchOperator(msg, out, r.kind);
      v1::OperatorReply failed;
      *failed.mutable_error() = MakeError(v1::INTERNAL, "the scheduler could not store the change").ToProto();
      r.shard = received.shard;
      r.request = std::move(msg);
      r.payload = reply.SerializeAsString();
      r.on_failure = failed.SerializeAsString();
      r.channel = "mqtt";
      r.code = reply.has_error() ? reply.error().code() : v1::ERROR_CODE_UNSPECIFIED;
      r.received = received.received;
      replies.push_back(std::move(r));
    } else if (auto t = topics::ParseTerminalTopic(topic); t && topics::IsUpstream(t->leaf)) {
      v1::TerminalReply reply = DispatchTerminal(*t, msg, out);
      // Every terminal reply carries the scheduler's clock (schemas/README.md).
      reply.set_server_time_ms(service_.clock().NowMs());
      // Refused terminal requests at debug: a fleet sending bad input must
      // not flood the log at the default level.
      LogRefusal(t->terminal_id, reply, log::Level::kDebug);
      v1::TerminalReply failed;
      *failed.mutable_error() = MakeError(v1::INTERNAL, "the scheduler could not store the change").ToProto();
      failed.set_server_time_ms(reply.server_time_ms());
      PendingReply r;
      r.shard = received.shard;
      r.request = std::move(msg);
      r.payload = reply.SerializeAsString();
      r.on_failure = failed.SerializeAsString();
      r.kind = LeafName(t->leaf);
      r.code = reply.has_error() ? reply.error().code() : v1::ERROR_CODE_UNSPECIFIED;
      r.received = received.received;
      replies.push_back(std::move(r));
    } else if (auto tid = topics::ParsePresenceTopic(topic)) {
      v1::Presence presence;
      if (Decode(msg, presence)) {
        if (metrics_) metrics_->ObservePresence(presence.online());
        OnPresence(received.shard, *tid, presence, out, directed);
      }
    }
  }

  // Presence from one shard. One shard: passed on as it is. Several: judged
  // by ShardRoutes; a terminal that arrives on a shard gets its notices
  // there, and the shard it left gets them cleared.
  void OnPresence(std::size_t shard, const std::string& tid, const v1::Presence& presence, Outbox& out,
                  Directed& directed) {
    if (!sharded()) {
      service_.HandlePresence(tid, presence);
      return;
    }
    const auto verdict = routes_.Observe(tid, shard, presence.online(), presence.at_ms());
    if (!verdict.accepted) return;
    service_.HandlePresence(tid, presence);
    if (!verdict.arrived) return;
    // Routed to `shard` by ShardFor once the batch is durable.
    service_.TerminalNotices(tid, verdict.left.has_value(), out);
    if (verdict.left) {
      Outbox here;
      service_.TerminalNotices(tid, true, here);
      for (auto& p : here) directed.emplace_back(*verdict.left, Publication{p.topic, "", true});
      log::Debug(kLog) << "terminal " << tid << " moved from " << shards_[*verdict.left]->uri << " to "
                       << shards_[shard]->uri;
    }
  }

  // The scheduler lost `shard`: its terminals count as offline from now
  // (ShardRoutes::LoseShard), told to the service in the next batch.
  void LoseShard(std::size_t shard) {
    if (!sharded()) return;
    auto lost = routes_.LoseShard(shard);
    log::Warn(kLog) << lost.size() << " terminals of " << shards_[shard]->uri << " count as offline";
    gone_offline_.insert(gone_offline_.end(), std::make_move_iterator(lost.begin()),
                         std::make_move_iterator(lost.end()));
  }

  // Group commit: handles `first` and whatever else is queued (up to
  // `max_batch` messages) plus a tick when due, commits once (one synced
  // write), then sends every reply and publication.
  void HandleBatch(std::optional<InboxItem> first, std::size_t max_batch, bool tick) {
    std::vector<PendingReply> replies;
    Outbox out;
    Directed directed;
    service_.BeginBatch();
    if (!gone_offline_.empty()) {
      v1::Presence offline;
      offline.set_online(false);
      offline.set_at_ms(service_.clock().NowMs());
      for (const auto& tid : gone_offline_) {
        offline.set_terminal_id(tid);
        service_.HandlePresence(tid, offline);
      }
      gone_offline_.clear();
    }
    if (tick) {
      if (on_tick_) on_tick_();
      service_.Tick(out);
    }
    std::size_t handled = 0;
    for (std::optional<InboxItem> msg = std::move(first); msg;) {
      Dispatch(std::move(*msg), replies, out, directed);
      if (++handled >= max_batch) break;
      msg = inbox_->TryPop();
    }
    const auto commit_started = std::chrono::steady_clock::now();
    const auto committed = service_.CommitBatch();
    if (metrics_) metrics_->ObserveCommit(handled, SecondsSince(commit_started), committed.ok());
    if (!committed) {
      // A store that refuses writes (disk full) refuses every batch until it
      // resumes: one line per 10 s, with the count of batches held back.
      static log::Throttle refused_batches(std::chrono::seconds(10));
      if (const auto held = refused_batches.Admit()) {
        log::Error(kLog) << "could not store a batch of " << handled << " requests: " << committed.error().message
                         << (*held > 0 ? " (" + std::to_string(*held) + " more batches refused since the last line)"
                                       : std::string());
      }
      v1::OperatorReply failed;
      *failed.mutable_error() = MakeError(v1::INTERNAL, "the scheduler could not store the change").ToProto();
      for (const auto& r : replies) {
        if (r.done) {
          r.done(failed);
        } else {
          Answer(r.shard, r.request, r.on_failure);
        }
        Observe(r, v1::INTERNAL);
      }
      MaybeRefresh(tick);
      return;
    }
    for (const auto& r : replies) {
      if (r.done) {
        r.done(r.reply);
      } else {
        Answer(r.shard, r.request, r.payload);
      }
      Observe(r, r.code);
    }
    for (const auto& [shard, p] : directed) PushBulk(shard, p);
    PublishAll(out);
    if (on_commit_ && (handled > 0 || tick)) on_commit_();
    if (on_events_ && (handled > 0 || tick)) {
      Outbox events;
      on_events_(events);
      for (auto& p : events) {
        for (std::size_t i = 0; i < shards_.size(); ++i) {
          mqtt::Message m;
          m.topic = p.topic;
          m.payload = p.payload;
          Reply(i, std::move(m));
        }
      }
    }
    MaybeRefresh(tick);
  }

  // Issue 13: a reply that left, into the request metrics.
  void Observe(const PendingReply& r, v1::ErrorCode code) {
    if (!metrics_) return;
    if (r.channel.empty()) {
      metrics_->ObserveTerminal(r.kind, code, SecondsSince(r.received));
    } else {
      metrics_->ObserveOperator(r.kind, r.channel, code, SecondsSince(r.received));
    }
  }

  // Issue 13: the state and the queues into the metrics, after every tick
  // and after a batch at most 4 times a second (metrics.h).
  void MaybeRefresh(bool tick) {
    if (!metrics_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!tick && now - last_refresh_ < std::chrono::milliseconds(250)) return;
    last_refresh_ = now;
    const ServiceGauges g = service_.Gauges(metrics_recent_, metrics_open_);
    metrics_->Refresh(g, SecondsSince(now));
    for (const auto& s : shards_) {
      metrics_->SetShard(s->index, s->client->IsConnected(), s->outgoing.replies(), s->outgoing.bulk(),
                         s->client->PendingDeliveries());
    }
  }

  static double SecondsSince(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }
  static std::string LeafName(topics::Leaf leaf) {
    switch (leaf) {
      case topics::Leaf::kReport: return "report";
      case topics::Leaf::kCheck: return "check";
      case topics::Leaf::kStatus: return "status";
      default: return "other";
    }
  }

  void Subscribe(Shard& shard) {
    const std::vector<std::string> filters = {
        std::string(topics::kOperatorRequest),
        topics::AllTerminals(topics::Leaf::kReport),
        topics::AllTerminals(topics::Leaf::kCheck),
        topics::AllTerminals(topics::Leaf::kStatus),
        std::string(topics::kPresencePrefix) + "+",
    };
    std::vector<std::string> with_stats = filters;
    if (metrics_ && !stats_topic_.empty()) with_stats.push_back(stats_topic_);
    // Not waited for: the SUBACK is checked on Paho's callback thread.
    const auto started = shard.client->SubscribeAsync(with_stats, kQos, [uri = shard.uri](Status s) {
      if (!s) log::Error(kLog) << uri << ": " << s.error().message;
    });
    if (!started) log::Error(kLog) << "subscribe failed: " << started.error().message;
  }

 private:
  // The terminal id the broker plugin vouched for, or "" without a stamp.
  static std::string StampedTerminal(const mqtt::Message& msg) {
    const auto stamps = mqtt::UserPropertyValues(msg, kTerminalStamp);
    if (stamps.size() != 1) return {};  // none, or two stamps: trust neither
    return stamps.front();
  }

  // Unstamped (the broker did not vouch for an operator): UNAUTHENTICATED,
  // nothing changes. Each state-changing request is logged with its operator.
  v1::OperatorReply DispatchOperator(const mqtt::Message& msg, Outbox& out, std::string& command) {
    v1::OperatorReply reply;
    command = "unknown";  // not decoded (yet)
    const auto op = OperatorOf(msg);
    if (require_operator_stamp_ && !op) {
      *reply.mutable_error() =
          MakeError(v1::UNAUTHENTICATED, "the broker did not vouch for this operator (no slotwise-operator stamp)")
              .ToProto();
      LogRefusal("an operator the broker did not vouch for", reply, log::Level::kInfo);
      return reply;
    }
    const std::string who = op ? "operator '" + Printable(op->username) + "' (client '" + Printable(op->client_id) + "')"
                               : std::string("an unstamped operator");
    v1::OperatorRequest req;
    if (!Decode(msg, req)) {
      *reply.mutable_error() = MakeError(v1::MALFORMED, "payload is not an OperatorRequest").ToProto();
      LogRefusal(who, reply, log::Level::kInfo);
      return reply;
    }
    command = CommandName(req);
    Caller caller;
    caller.channel = "mqtt";
    caller.who = op ? op->username : std::string("(unstamped)");
    std::optional<Role> listed = users_ && op ? users_->RoleOf(op->username) : std::nullopt;
    caller.role = listed ? *listed : default_role_;
    reply = service_.HandleOperatorAs(caller, req, out);
    if (!ChangesState(req)) {
      LogRefusal(who, reply, log::Level::kInfo);
    } else {
      log::Info(kLog) << who << " requested " << CommandName(req) << ": "
                      << (reply.has_error() ? v1::ErrorCode_Name(reply.error().code()) + ": " + reply.error().message()
                                            : std::string("done"));
    }
    return reply;
  }

  v1::TerminalReply DispatchTerminal(const topics::TerminalTopic& t, const mqtt::Message& msg, Outbox& out) {
    if (require_stamp_ && StampedTerminal(msg) != t.terminal_id) {
      v1::TerminalReply r;
      *r.mutable_error() =
          MakeError(v1::UNAUTHENTICATED, "the broker did not vouch for this terminal (no slotwise-terminal stamp)")
              .ToProto();
      return r;
    }
    auto malformed = [](const char* type) {
      v1::TerminalReply r;
      *r.mutable_error() = MakeError(v1::MALFORMED, std::string("payload is not a ") + type).ToProto();
      return r;
    };
    switch (t.leaf) {
      case topics::Leaf::kReport: {
        v1::Report m;
        return Decode(msg, m) ? service_.HandleReport(t.terminal_id, m, out) : malformed("Report");
      }
      case topics::Leaf::kCheck: {
        v1::Check m;
        return Decode(msg, m) ? service_.HandleCheck(t.terminal_id, m, out) : malformed("Check");
      }
      case topics::Leaf::kStatus: {
        v1::Status m;
        return Decode(msg, m) ? service_.HandleStatus(t.terminal_id, m, out) : malformed("Status");
      }
      default:
        return malformed("request");
    }
  }

  // Never on a topic the scheduler reads; every message at QoS 1.
  static bool Sendable(mqtt::Message& message) {
    if (IsSchedulerInput(message.topic)) {
      log::Error(kLog) << "not publishing on " << message.topic << ": the scheduler reads that topic";
      return false;
    }
    message.qos = kQos;
    return true;
  }

  template <class ReplyMsg>
  static void LogRefusal(const std::string& who, const ReplyMsg& reply, log::Level level) {
    if (!reply.has_error() || !log::Enabled(level)) return;
    log::Line(level, kLog) << "refused request from " << who << ": " << v1::ErrorCode_Name(reply.error().code())
                           << ": " << reply.error().message();
  }

  SchedulerService& service_;
  std::function<void()> on_tick_;
  bool require_stamp_;
  bool require_operator_stamp_;
  std::size_t bulk_window_;
  std::shared_ptr<OperatorInbox> inbox_;
  std::shared_ptr<const Users> users_;
  Role default_role_;
  std::function<void()> on_commit_;
  std::shared_ptr<Metrics> metrics_;
  std::size_t metrics_recent_;
  std::size_t metrics_open_;
  std::string stats_topic_;
  std::chrono::steady_clock::time_point last_refresh_{};
  std::function<void(Outbox&)> on_events_;
  std::vector<std::unique_ptr<Shard>> shards_;
  ShardRoutes routes_;
  std::vector<std::string> gone_offline_;  // terminals of a lost shard, for the next batch
};

}  // namespace

bool IsAllowedReplyTopic(std::string_view request_topic, std::string_view response_topic) {
  if (request_topic == topics::kOperatorRequest) {
    return topics::ParseOperatorReplyTopic(response_topic).has_value();
  }
  const auto t = topics::ParseTerminalTopic(request_topic);
  if (!t || !topics::IsUpstream(t->leaf)) return false;
  return topics::OwnTerminalLeaf(response_topic, t->terminal_id) == topics::Leaf::kReply;
}

MqttServer::MqttServer(SchedulerService& service, MqttOptions options)
    : service_(service), options_(std::move(options)) {}

Status MqttServer::Run(const std::atomic<bool>& stop, std::chrono::seconds connect_timeout) {
  if (options_.brokers.empty()) return MakeError(v1::INVALID_ARGUMENT, "no broker to connect to");
  // Every shard's received messages and the HTTP API's operator jobs, in
  // arrival order, in one queue the scheduler thread reads.
  if (!options_.inbox) options_.inbox = std::make_shared<OperatorInbox>();
  const std::shared_ptr<OperatorInbox> inbox = options_.inbox;
  std::vector<std::unique_ptr<Shard>> shards;
  for (std::size_t i = 0; i < options_.brokers.size(); ++i) {
    mqtt::ClientConfig config;
    config.server_uri = options_.brokers[i];
    config.client_id = options_.client_id;
    config.max_buffered = kPahoBufferedMessages;
    config.consume = false;  // every shard's messages go to the one inbox
    auto created = mqtt::Client::Create(config);
    if (!created) return created.error();
    auto shard = std::make_unique<Shard>();
    shard->index = i;
    shard->uri = options_.brokers[i];
    shard->client = std::move(*created);
    Shard* sp = shard.get();
    mqtt::Handlers handlers;
    // The broker plugin's stats go straight to the metrics (thread-safe),
    // not through the scheduler thread.
    handlers.on_message = [inbox, i, metrics = options_.metrics, stats = options_.broker_stats_topic](mqtt::Message m) {
      if (metrics && !stats.empty() && m.topic == stats) return metrics->ObserveBrokerStats(i, m.payload);
      inbox->Push(ReceivedMessage{i, std::move(m), std::chrono::steady_clock::now()});
    };
    handlers.on_connected = [sp] { sp->connected = true; };
    handlers.on_connection_lost = [sp](const std::string& cause) {
      log::Warn(kLog) << "lost the broker " << sp->uri << " (" << cause << "); reconnecting";
      sp->lost = true;
    };
    shard->client->SetHandlers(std::move(handlers));
    shards.push_back(std::move(shard));
  }
  if (options_.metrics) options_.metrics->SetShards(options_.brokers);
  Session session(service_, options_, std::move(shards));

  mqtt::ConnectOptions connect;
  connect.username = options_.username;
  connect.password = options_.password;
  connect.clean_start = false;
  connect.session_expiry = options_.session_expiry;
  connect.keep_alive = std::chrono::seconds(30);
  connect.connect_timeout = std::chrono::seconds(30);
  connect.max_inflight = 1024;
  connect.reconnect_min = std::chrono::seconds(1);
  connect.reconnect_max = std::chrono::seconds(30);
  connect.tls = options_.tls;

  // Start-up: a connect to every shard at once (each takes a couple of
  // seconds here), retried until each answered or the deadline passed. With
  // several shards the scheduler serves once at least one is connected and
  // keeps trying the others (a shard may be down when it starts); Paho
  // reconnects by itself only after a first successful connect.
  auto try_connect = [&connect](Shard& shard, std::chrono::steady_clock::time_point now) {
    if (shard.ever_connected || shard.connecting || now < shard.next_attempt) return;
    shard.connecting = true;
    shard.next_attempt = now + shard.backoff;
    shard.backoff = std::min(shard.backoff * 2, std::chrono::milliseconds(2000));
    Shard* sp = &shard;
    const auto started = shard.client->ConnectAsync(connect, [sp](Result<mqtt::Connected> r) {
      if (r) {
        sp->up = true;
      } else {
        std::lock_guard lock(sp->mu);
        sp->last_error = r.error();
      }
      sp->connecting = false;
    });
    if (!started) {
      std::lock_guard lock(shard.mu);
      shard.last_error = started.error();
      shard.connecting = false;
    }
  };
  auto mark_connected = [this](Shard& shard) {
    if (shard.ever_connected || !shard.up) return;
    shard.ever_connected = true;
    log::Info(kLog) << "connected to " << shard.uri << " as " << options_.client_id;
  };
  const auto deadline = std::chrono::steady_clock::now() + connect_timeout;
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    std::size_t up = 0;
    for (auto& shard : session.shards()) {
      mark_connected(*shard);
      try_connect(*shard, now);
      if (shard->ever_connected) ++up;
    }
    if (up == session.shards().size()) break;
    // Refused credentials or TLS do not get better by retrying quickly, but
    // the broker may still be starting: retry until the deadline either way.
    if (stop || now > deadline) {
      std::optional<Error> error;
      for (auto& shard : session.shards()) {
        std::lock_guard lock(shard->mu);
        if (!shard->ever_connected && shard->last_error) error = shard->last_error;
      }
      if (!error) error = MakeError(v1::INTERNAL, "no answer from the broker within the connect timeout");
      if (up == 0) return *error;
      log::Warn(kLog) << "serving on " << up << " of " << session.shards().size()
                      << " broker shards; still trying the others (" << error->message << ")";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  auto next_tick = std::chrono::steady_clock::now();
  while (!stop) {
    const auto now = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < session.shards().size(); ++i) {
      Shard& shard = *session.shards()[i];
      mark_connected(shard);
      try_connect(shard, now);  // a shard that was down at start-up
      if (shard.lost.exchange(false)) session.LoseShard(i);
      if (shard.connected.exchange(false)) {
        // Subscribing again is harmless, and the broker may have lost both the
        // session and the retained notices (restart without persistence).
        session.Subscribe(shard);
        Outbox notices;
        service_.PendingNotices(notices);
        session.PublishAll(notices, i);
      }
    }
    session.FlushAll();
    const auto wait = session.HasBacklog() ? std::chrono::milliseconds(5) : std::chrono::milliseconds(200);
    std::optional<InboxItem> msg = inbox->Pop(wait);
    const auto after = std::chrono::steady_clock::now();
    const bool tick = after >= next_tick;
    if (tick) next_tick = after + options_.tick_interval;
    if (msg || tick) session.HandleBatch(std::move(msg), options_.max_batch, tick);
  }
  for (auto& shard : session.shards()) shard->client->Disconnect(std::chrono::seconds(5));
  return OkStatus();
}

}  // namespace slotwise::scheduler
