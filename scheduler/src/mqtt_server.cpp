#include "slotwise/scheduler/mqtt_server.h"

#include <optional>
#include <thread>

#include "slotwise/log.h"
#include "slotwise/mqtt/client.h"
#include "slotwise/scheduler/outgoing_queue.h"
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

class Session {
 public:
  Session(SchedulerService& service, const MqttOptions& options, std::unique_ptr<mqtt::Client> client)
      : service_(service),
        on_tick_(options.on_tick),
        require_stamp_(options.require_terminal_stamp),
        require_operator_stamp_(options.require_operator_stamp),
        bulk_window_(options.fanout_window),
        inbox_(options.inbox),
        users_(options.users),
        default_role_(options.default_operator_role),
        on_commit_(options.on_commit),
        client_(std::move(client)) {}

  mqtt::Client& client() { return *client_; }
  bool HasBacklog() const { return !outgoing_.empty(); }

  // Queues a reply and sends what the client takes now.
  void Reply(mqtt::Message message) {
    if (!Sendable(message)) return;
    outgoing_.PushReply(std::move(message));
    Flush();
  }

  // Sends replies first, then bulk messages while the client holds fewer
  // than the window of unacknowledged publishes (OutgoingQueue).
  void Flush() {
    if (outgoing_.empty()) return;
    const std::size_t pending = outgoing_.bulk() > 0 ? client_->PendingDeliveries() : 0;
    const std::size_t room = pending < bulk_window_ ? bulk_window_ - pending : 0;
    outgoing_.Drain([this](const mqtt::Message& m) { return client_->Publish(m); }, room,
                    [](const mqtt::Message& m, const std::string& error) {
                      log::Error(kLog) << "dropped a message for " << m.topic << ": " << error;
                    });
  }

  // Queues the service's publications (retained notices) in the bulk lane.
  void PublishAll(const Outbox& out) {
    for (const auto& p : out) {
      mqtt::Message m;
      m.topic = p.topic;
      m.payload = p.payload;
      m.retained = p.retain;
      if (Sendable(m)) outgoing_.PushBulk(std::move(m));
    }
    Flush();
  }

  // A reply waiting for its batch to be durable.
  struct PendingReply {
    mqtt::Message request;
    std::string payload;     // serialized reply
    std::string on_failure;  // serialized error reply, if the commit fails
    // An operator job from another channel (the HTTP API) instead.
    std::function<void(const v1::OperatorReply&)> done;
    v1::OperatorReply reply;
  };

  // Sends `payload` to the requester's response topic, if it named one the
  // requester may read (IsAllowedReplyTopic); any other is ignored.
  void Answer(const mqtt::Message& request, const std::string& payload) {
    if (request.response_topic.empty()) return;
    if (!IsAllowedReplyTopic(request.topic, request.response_topic) || !IsStampedOperatorsReplyTopic(request)) {
      // Debug: the broker plugin refuses such requests, so only a broker
      // without it (or a will sent at broker shutdown) gets here.
      log::Debug(kLog) << "not answering a request on " << request.topic << " on its response topic '"
                       << Printable(request.response_topic) << "': not the requester's own reply topic";
      return;
    }
    if (auto reply = mqtt::MakeResponse(request, payload)) Reply(std::move(*reply));
  }

  // Handles one message inside the current batch; its reply and
  // publications wait in `replies` and `out` until the batch is durable.
  void Dispatch(InboxItem item, std::vector<PendingReply>& replies, Outbox& out) {
    if (auto* job = std::get_if<OperatorJob>(&item)) {
      PendingReply r;
      r.reply = service_.HandleOperatorAs(job->caller, job->request, out);
      r.done = std::move(job->done);
      replies.push_back(std::move(r));
      return;
    }
    mqtt::Message msg = std::move(std::get<mqtt::Message>(item));
    const std::string& topic = msg.topic;
    if (topic == topics::kOperatorRequest) {
      const v1::OperatorReply reply = DispatchOperator(msg, out);
      v1::OperatorReply failed;
      *failed.mutable_error() = MakeError(v1::INTERNAL, "the scheduler could not store the change").ToProto();
      replies.push_back({std::move(msg), reply.SerializeAsString(), failed.SerializeAsString(), {}, {}});
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
      replies.push_back({std::move(msg), reply.SerializeAsString(), failed.SerializeAsString(), {}, {}});
    } else if (auto tid = topics::ParsePresenceTopic(topic)) {
      v1::Presence presence;
      if (Decode(msg, presence)) service_.HandlePresence(*tid, presence);
    }
  }

  // Group commit: handles `first` and whatever else is queued (up to
  // `max_batch` messages) plus a tick when due, commits once (one synced
  // write), then sends every reply and publication.
  void HandleBatch(std::optional<InboxItem> first, std::size_t max_batch, bool tick) {
    std::vector<PendingReply> replies;
    Outbox out;
    service_.BeginBatch();
    if (tick) {
      if (on_tick_) on_tick_();
      service_.Tick(out);
    }
    std::size_t handled = 0;
    for (std::optional<InboxItem> msg = std::move(first); msg;) {
      Dispatch(std::move(*msg), replies, out);
      if (++handled >= max_batch) break;
      msg = inbox_->TryPop();
    }
    const auto committed = service_.CommitBatch();
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
          Answer(r.request, r.on_failure);
        }
      }
      return;
    }
    for (const auto& r : replies) {
      if (r.done) {
        r.done(r.reply);
      } else {
        Answer(r.request, r.payload);
      }
    }
    PublishAll(out);
    if (on_commit_ && (handled > 0 || tick)) on_commit_();
  }

  void Subscribe() {
    const std::vector<std::string> filters = {
        std::string(topics::kOperatorRequest),
        topics::AllTerminals(topics::Leaf::kReport),
        topics::AllTerminals(topics::Leaf::kCheck),
        topics::AllTerminals(topics::Leaf::kStatus),
        std::string(topics::kPresencePrefix) + "+",
    };
    // Not waited for: the SUBACK is checked on Paho's callback thread.
    const auto started = client_->SubscribeAsync(filters, kQos, [](Status s) {
      if (!s) log::Error(kLog) << s.error().message;
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
  v1::OperatorReply DispatchOperator(const mqtt::Message& msg, Outbox& out) {
    v1::OperatorReply reply;
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
  std::unique_ptr<mqtt::Client> client_;
  OutgoingQueue outgoing_;
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
  mqtt::ClientConfig config;
  config.server_uri = options_.broker;
  config.client_id = options_.client_id;
  config.max_buffered = kPahoBufferedMessages;
  // Received messages go to the inbox (with the HTTP API's jobs), not to
  // Paho's queue: one queue, one wake-up for both.
  config.consume = false;
  if (!options_.inbox) options_.inbox = std::make_shared<OperatorInbox>();
  auto inbox = options_.inbox;
  auto created = mqtt::Client::Create(config);
  if (!created) return created.error();
  Session session(service_, options_, std::move(*created));
  auto& client = session.client();
  std::atomic<bool> connected{false};
  mqtt::Handlers handlers;
  handlers.on_connected = [&connected, inbox] {
    connected = true;
    inbox->Push(mqtt::Message{});  // wake the loop to subscribe at once (an empty topic is dropped)
  };
  handlers.on_message = [inbox](mqtt::Message m) { inbox->Push(std::move(m)); };
  handlers.on_connection_lost = [](const std::string& cause) {
    log::Warn(kLog) << "lost the broker (" << cause << "); reconnecting";
  };
  client.SetHandlers(std::move(handlers));

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

  const auto deadline = std::chrono::steady_clock::now() + connect_timeout;
  for (auto backoff = std::chrono::milliseconds(200);; backoff = std::min(backoff * 2, std::chrono::milliseconds(2000))) {
    const auto attempt = client.Connect(connect, std::chrono::seconds(60));
    if (attempt) break;
    // Refused credentials or TLS do not get better by retrying quickly, but
    // the broker may still be starting: retry until the deadline either way.
    if (stop || std::chrono::steady_clock::now() + backoff > deadline) return attempt.error();
    log::Debug(kLog) << attempt.error().message << "; retrying";
    std::this_thread::sleep_for(backoff);
  }
  log::Info(kLog) << "connected to " << options_.broker << " as " << options_.client_id;

  auto next_tick = std::chrono::steady_clock::now();
  while (!stop) {
    if (connected.exchange(false)) {
      // Subscribing again is harmless, and the broker may have lost both the
      // session and the retained notices (restart without persistence).
      session.Subscribe();
      Outbox notices;
      service_.PendingNotices(notices);
      session.PublishAll(notices);
    }
    session.Flush();
    const auto wait = session.HasBacklog() ? std::chrono::milliseconds(5) : std::chrono::milliseconds(200);
    std::optional<InboxItem> msg = inbox->Pop(wait);
    const auto now = std::chrono::steady_clock::now();
    const bool tick = now >= next_tick;
    if (tick) next_tick = now + options_.tick_interval;
    if (msg || tick) session.HandleBatch(std::move(msg), options_.max_batch, tick);
  }
  client.Disconnect(std::chrono::seconds(5));
  return OkStatus();
}

}  // namespace slotwise::scheduler
