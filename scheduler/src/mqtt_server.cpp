#include "slotwise/scheduler/mqtt_server.h"

#include <mqtt/async_client.h>

#include <deque>
#include <iostream>
#include <thread>

#include "slotwise/topics.h"

namespace slotwise::scheduler {
namespace {

constexpr int kQos = 1;
// The user property the broker plugin adds to every terminal request.
constexpr std::string_view kTerminalStamp = "slotwise-terminal";

std::string Property(const mqtt::properties& props, mqtt::property::code code) {
  if (!props.contains(code)) return {};
  return mqtt::get<std::string>(props, code);
}

template <class Msg>
bool Decode(const mqtt::const_message_ptr& msg, Msg& out) {
  const auto& payload = msg->get_payload_ref();
  return out.ParseFromArray(payload.data(), static_cast<int>(payload.size()));
}

// Paho's own queue of outgoing messages; past it, messages wait in ours.
constexpr int kPahoBufferedMessages = 10'000;

class Session {
 public:
  Session(SchedulerService& service, const MqttOptions& options)
      : service_(service),
        on_tick_(options.on_tick),
        require_stamp_(options.require_terminal_stamp),
        client_(options.broker, options.client_id,
                mqtt::create_options(MQTTVERSION_5, kPahoBufferedMessages)) {}

  mqtt::async_client& client() { return client_; }
  bool HasBacklog() const { return !backlog_.empty(); }

  // Queues a message and sends what Paho will take now. A campaign's notices
  // can outnumber Paho's buffer many times over; what it refuses waits here
  // in order and goes out on the next Flush().
  void Publish(const std::string& topic, const std::string& payload, bool retain,
               const mqtt::properties& props = {}) {
    backlog_.push_back(mqtt::message_ptr_builder()
                           .topic(topic)
                           .payload(payload)
                           .qos(kQos)
                           .retained(retain)
                           .properties(mqtt::properties(props))
                           .finalize());
    Flush();
  }

  void Flush() {
    while (!backlog_.empty()) {
      try {
        client_.publish(backlog_.front());
      } catch (const mqtt::exception& e) {
        const int rc = e.get_return_code();
        if (rc == MQTTASYNC_MAX_BUFFERED_MESSAGES || rc == MQTTASYNC_DISCONNECTED || !client_.is_connected()) {
          return;  // full or offline: try again on the next pass
        }
        std::cerr << "scheduler: dropped a message for " << backlog_.front()->get_topic() << ": "
                  << e.what() << "\n";
      }
      backlog_.pop_front();
    }
  }

  void PublishAll(const Outbox& out) {
    for (const auto& p : out) Publish(p.topic, p.payload, p.retain);
  }

  // A reply waiting for its batch to be durable.
  struct PendingReply {
    mqtt::const_message_ptr request;
    std::string payload;     // serialized reply
    std::string on_failure;  // serialized error reply, if the commit fails
  };

  // Sends `payload` to the requester's response topic, if it named one.
  void Answer(const mqtt::const_message_ptr& request, const std::string& payload) {
    const auto& props = request->get_properties();
    const std::string response_topic = Property(props, mqtt::property::RESPONSE_TOPIC);
    if (response_topic.empty()) return;
    mqtt::properties out;
    if (props.contains(mqtt::property::CORRELATION_DATA)) {
      out.add(mqtt::property(mqtt::property::CORRELATION_DATA,
                             Property(props, mqtt::property::CORRELATION_DATA)));
    }
    Publish(response_topic, payload, false, out);
  }

  // Handles one message inside the current batch; its reply and
  // publications wait in `replies` and `out` until the batch is durable.
  void Dispatch(const mqtt::const_message_ptr& msg, std::vector<PendingReply>& replies, Outbox& out) {
    const std::string& topic = msg->get_topic();
    if (topic == topics::kOperatorRequest) {
      v1::OperatorRequest req;
      v1::OperatorReply reply;
      if (!Decode(msg, req)) {
        *reply.mutable_error() = MakeError(v1::MALFORMED, "payload is not an OperatorRequest").ToProto();
      } else {
        reply = service_.HandleOperator(req, out);
      }
      LogRefusal("operator", reply);
      v1::OperatorReply failed;
      *failed.mutable_error() = MakeError(v1::INTERNAL, "the scheduler could not store the change").ToProto();
      replies.push_back({msg, reply.SerializeAsString(), failed.SerializeAsString()});
    } else if (auto t = topics::ParseTerminalTopic(topic); t && topics::IsUpstream(t->leaf)) {
      const v1::TerminalReply reply = DispatchTerminal(*t, msg, out);
      LogRefusal(t->terminal_id, reply);
      v1::TerminalReply failed;
      *failed.mutable_error() = MakeError(v1::INTERNAL, "the scheduler could not store the change").ToProto();
      replies.push_back({msg, reply.SerializeAsString(), failed.SerializeAsString()});
    } else if (auto tid = topics::ParsePresenceTopic(topic)) {
      v1::Presence presence;
      if (Decode(msg, presence)) service_.HandlePresence(*tid, presence);
    }
  }

  // Group commit: handles `first` and whatever else is queued (up to
  // `max_batch` messages) plus a tick when due, commits once (one synced
  // write), then sends every reply and publication.
  void HandleBatch(mqtt::const_message_ptr first, mqtt::async_client& client, std::size_t max_batch,
                   bool tick) {
    std::vector<PendingReply> replies;
    Outbox out;
    service_.BeginBatch();
    if (tick) {
      if (on_tick_) on_tick_();
      service_.Tick(out);
    }
    std::size_t handled = 0;
    for (mqtt::const_message_ptr msg = std::move(first); msg;) {
      Dispatch(msg, replies, out);
      if (++handled >= max_batch) break;
      msg = nullptr;
      if (!client.try_consume_message(&msg)) break;
    }
    const auto committed = service_.CommitBatch();
    if (!committed) {
      std::cerr << "scheduler: could not store a batch of " << handled
                << " requests: " << committed.error().message << "\n";
      for (const auto& r : replies) Answer(r.request, r.on_failure);
      return;
    }
    for (const auto& r : replies) Answer(r.request, r.payload);
    PublishAll(out);
  }

  void Subscribe() {
    const std::vector<std::string> filters = {
        std::string(topics::kOperatorRequest),
        topics::AllTerminals(topics::Leaf::kReport),
        topics::AllTerminals(topics::Leaf::kCheck),
        topics::AllTerminals(topics::Leaf::kStatus),
        std::string(topics::kPresencePrefix) + "+",
    };
    for (const auto& f : filters) client_.subscribe(f, kQos);
  }

 private:
  // The terminal id the broker plugin vouched for, or "" without a stamp.
  static std::string StampedTerminal(const mqtt::properties& props) {
    auto& c = const_cast<MQTTProperties&>(props.c_struct());
    const int n = MQTTProperties_propertyCount(&c, MQTTPROPERTY_CODE_USER_PROPERTY);
    std::string stamped;
    for (int i = 0; i < n; ++i) {
      const auto [name, value] = mqtt::get<mqtt::string_pair>(props, mqtt::property::USER_PROPERTY,
                                                              static_cast<size_t>(i));
      if (name != kTerminalStamp) continue;
      if (!stamped.empty()) return {};  // two stamps: trust neither
      stamped = value;
    }
    return stamped;
  }

  v1::TerminalReply DispatchTerminal(const topics::TerminalTopic& t,
                                     const mqtt::const_message_ptr& msg, Outbox& out) {
    if (require_stamp_ && StampedTerminal(msg->get_properties()) != t.terminal_id) {
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
        return Decode(msg, m) ? service_.HandleReport(t.terminal_id, m) : malformed("Report");
      }
      case topics::Leaf::kCheck: {
        v1::Check m;
        return Decode(msg, m) ? service_.HandleCheck(t.terminal_id, m) : malformed("Check");
      }
      case topics::Leaf::kStatus: {
        v1::Status m;
        return Decode(msg, m) ? service_.HandleStatus(t.terminal_id, m, out) : malformed("Status");
      }
      default:
        return malformed("request");
    }
  }

  template <class Reply>
  static void LogRefusal(const std::string& who, const Reply& reply) {
    if (!reply.has_error()) return;
    std::cerr << "scheduler: refused request from " << who << ": "
              << v1::ErrorCode_Name(reply.error().code()) << ": " << reply.error().message() << "\n";
  }

  SchedulerService& service_;
  std::function<void()> on_tick_;
  bool require_stamp_;
  mqtt::async_client client_;
  std::deque<mqtt::message_ptr> backlog_;
};

}  // namespace

MqttServer::MqttServer(SchedulerService& service, MqttOptions options)
    : service_(service), options_(std::move(options)) {}

Status MqttServer::Run(const std::atomic<bool>& stop, std::chrono::seconds connect_timeout) {
  Session session(service_, options_);
  auto& client = session.client();
  std::atomic<bool> connected{false};
  client.set_connected_handler([&](const std::string&) { connected = true; });
  client.set_connection_lost_handler([](const std::string& cause) {
    std::cerr << "scheduler: lost the broker (" << cause << "); reconnecting\n";
  });

  mqtt::properties connect_props;
  connect_props.add(mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL,
                                   static_cast<int>(options_.session_expiry.count())));
  auto builder = mqtt::connect_options_builder()
                     .mqtt_version(MQTTVERSION_5)
                     .clean_start(false)
                     .properties(connect_props)
                     .keep_alive_interval(std::chrono::seconds(30))
                     .max_inflight(1024)
                     .automatic_reconnect(std::chrono::seconds(1), std::chrono::seconds(30))
                     .user_name(options_.username);
  if (!options_.password.empty()) builder.password(options_.password);
  const auto connect_opts = builder.finalize();

  client.start_consuming();
  const auto deadline = std::chrono::steady_clock::now() + connect_timeout;
  for (auto backoff = std::chrono::milliseconds(200);; backoff = std::min(backoff * 2, std::chrono::milliseconds(2000))) {
    try {
      client.connect(connect_opts)->wait();
      break;
    } catch (const mqtt::exception& e) {
      if (stop || std::chrono::steady_clock::now() + backoff > deadline) {
        return MakeError(v1::INTERNAL, "cannot connect to " + options_.broker + ": " + e.what());
      }
      std::this_thread::sleep_for(backoff);
    }
  }
  std::cerr << "scheduler: connected to " << options_.broker << " as " << options_.client_id << "\n";

  auto next_tick = std::chrono::steady_clock::now();
  while (!stop) {
    if (connected.exchange(false)) {
      // Subscribing again is harmless, and the broker may have lost both the
      // session and the retained notices (restart without persistence).
      try {
        session.Subscribe();
      } catch (const mqtt::exception& e) {
        std::cerr << "scheduler: subscribe failed: " << e.what() << "\n";
      }
      Outbox notices;
      service_.PendingNotices(notices);
      session.PublishAll(notices);
    }
    session.Flush();
    const auto wait = session.HasBacklog() ? std::chrono::milliseconds(5) : std::chrono::milliseconds(200);
    mqtt::const_message_ptr msg;
    if (!client.try_consume_message_for(&msg, wait)) msg = nullptr;
    const auto now = std::chrono::steady_clock::now();
    const bool tick = now >= next_tick;
    if (tick) next_tick = now + options_.tick_interval;
    if (msg || tick) session.HandleBatch(std::move(msg), client, options_.max_batch, tick);
  }

  try {
    client.disconnect()->wait_for(std::chrono::seconds(5));
  } catch (const mqtt::exception& e) {
    std::cerr << "scheduler: disconnect: " << e.what() << "\n";
  }
  return OkStatus();
}

}  // namespace slotwise::scheduler
