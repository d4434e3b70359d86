// slotwise::mqtt: the one MQTT v5 adapter of Slotwise (over Eclipse Paho
// MQTT C++ 1.2.0). The scheduler, the CLI, the agent, the crash client and
// the benchmarks talk to the broker only through this header; Paho stays
// inside core/src/mqtt/ (library target slotwise_mqtt).
//
// What it owns:
//   - connect options built safely: the MQTT v5 connect properties (session
//     expiry) are set on the connect_options object Paho reads, never copied
//     from a builder temporary (Paho 1.2.0 copies leave connectProperties
//     pointing into the source object);
//   - TLS (CA file, client certificate and key, verification on by default);
//   - the request/response pattern of schemas/README.md: Response Topic and
//     Correlation Data (MakeRequest, MakeResponse), user properties;
//   - Paho's exceptions: caught here and returned as values (result.h).
//
// Threading: a Client may be used from one thread at a time (any thread).
// Its handlers run on Paho's callback thread, which every client of the
// process shares: they must not block, and must not call the blocking
// methods (Connect, Subscribe, PublishAndWait) of any client.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "slotwise/result.h"

namespace slotwise::mqtt {

struct UserProperty {
  std::string name;
  std::string value;
  bool operator==(const UserProperty&) const = default;
};

// One MQTT v5 application message, as sent or received.
struct Message {
  std::string topic;
  std::string payload;
  int qos = 1;
  bool retained = false;
  std::string response_topic;    // MQTT v5 Response Topic; empty = none
  std::string correlation_data;  // MQTT v5 Correlation Data; empty = none
  std::vector<UserProperty> user_properties;
};

// A request that asks for its answer on `response_topic`, tagged with
// `correlation` (QoS 1, not retained).
Message MakeRequest(std::string topic, std::string payload, std::string response_topic,
                    std::string correlation);

// The answer to `request`: on its response topic, with its correlation data
// (QoS 1, not retained). nullopt when the request named no response topic.
std::optional<Message> MakeResponse(const Message& request, std::string payload);

// The values of every user property called `name`, in the message's order.
std::vector<std::string> UserPropertyValues(const Message& message, std::string_view name);

// ssl://, mqtts:// and wss:// URIs: the client always sends TLS options.
bool IsTlsUri(std::string_view uri);

struct TlsOptions {
  // PEM CA certificate(s) that verify the broker. Empty: the system's trust
  // store. Default: empty.
  std::string ca_file;
  // PEM client certificate, for a broker that asks for one. Default: none.
  std::string cert_file;
  // PEM private key of cert_file. Empty: cert_file holds it. Default: none.
  std::string key_file;
  // Verify the broker's certificate chain against ca_file. Default: true.
  bool verify_peer = true;
  // Also check that the certificate names the host of the URI (subject
  // alternative name DNS or IP). Default: true.
  bool verify_host = true;
};

struct ConnectOptions {
  std::string username;  // empty = none
  std::string password;  // empty = none
  // false: resume the broker-side session (subscriptions, queued QoS 1
  // messages). Default: true.
  bool clean_start = true;
  // How long the broker keeps the session after a disconnect (MQTT v5
  // Session Expiry Interval). Default: 0 (ends with the connection).
  std::chrono::seconds session_expiry{0};
  // Default: 30 s.
  std::chrono::seconds keep_alive{30};
  // How long one connect attempt may take. Default: 10 s.
  std::chrono::seconds connect_timeout{10};
  // Paho's automatic reconnect, retried between these delays; zero = off.
  // Default: off.
  std::chrono::milliseconds reconnect_min{0};
  std::chrono::milliseconds reconnect_max{0};
  // Most QoS 1 messages in flight; 0 = Paho's default (65535 for v5).
  int max_inflight = 0;
  // Used when the URI is a TLS one (IsTlsUri) or any file is set.
  TlsOptions tls;
};

struct ClientConfig {
  std::string server_uri;  // tcp://host:port, ssl://..., mqtts://..., ws://...
  std::string client_id;
  // Paho's own queue of messages published while offline or waiting for a
  // slot; past it Publish() answers kBusy. 0 = Paho's default (100).
  int max_buffered = 0;
  // true: received messages wait in a queue for Consume(); false: they go
  // to Handlers::on_message. Default: false.
  bool consume = false;
};

struct Connected {
  bool session_present = false;  // the broker resumed a session (CONNACK)
};

// The outcome of a non-blocking Publish.
enum class PublishStatus {
  kQueued,  // Paho took it
  kBusy,    // Paho's buffer is full or the client is offline: try again later
  kFailed,  // refused (bad topic, client closed); see `error`
};
struct PublishResult {
  PublishStatus status = PublishStatus::kQueued;
  std::string error;
  bool queued() const { return status == PublishStatus::kQueued; }
};

// Called on Paho's callback thread; any may be empty.
struct Handlers {
  std::function<void(Message)> on_message;               // unless ClientConfig::consume
  std::function<void()> on_connected;                    // every (re)connect
  std::function<void(std::string cause)> on_connection_lost;
  std::function<void(std::string reason)> on_disconnected;  // DISCONNECT from the broker
};

class Client {
 public:
  // Fails (INVALID_ARGUMENT) when Paho refuses the URI or the client id.
  // No Paho persistence: nothing is written to the working directory.
  static Result<std::unique_ptr<Client>> Create(const ClientConfig& config);
  ~Client();  // disconnects (waits at most 1 s); then no handler runs
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Before the first Connect.
  void SetHandlers(Handlers handlers);

  // Blocks until CONNACK or `wait`. Errors: UNAUTHENTICATED when the broker
  // refused the credentials (reason 134 or 135), INTERNAL otherwise (no
  // answer, TLS handshake refused, ...); the message says which.
  Result<Connected> Connect(const ConnectOptions& options, std::chrono::milliseconds wait);
  // Starts a connect; `done` runs on Paho's callback thread with the result.
  // An error here means the attempt did not start (and `done` never runs).
  Status ConnectAsync(const ConnectOptions& options, std::function<void(Result<Connected>)> done);

  // One SUBSCRIBE for every filter; blocks until SUBACK or `wait`. A filter
  // refused by the broker (reason >= 0x80) is an error naming it.
  Status Subscribe(const std::vector<std::string>& filters, int qos, std::chrono::milliseconds wait);
  // Non-blocking; `done` (may be empty) runs on Paho's callback thread.
  Status SubscribeAsync(const std::vector<std::string>& filters, int qos,
                        std::function<void(Status)> done);

  // Non-blocking: the delivery is not waited for.
  PublishResult Publish(const Message& message);
  // Publishes Paho still holds: not yet acknowledged (QoS 1) or not yet
  // sent. A sender of many messages keeps this small (Paho 1.2.0 searches
  // its pending deliveries linearly on every acknowledgement).
  std::size_t PendingDeliveries() const;
  // Blocks until the broker acknowledged (QoS 1) or `wait`.
  Status PublishAndWait(const Message& message, std::chrono::milliseconds wait);

  // With ClientConfig::consume: the next message, waiting at most `wait`;
  // nullopt when none came.
  std::optional<Message> Consume(std::chrono::milliseconds wait);
  std::optional<Message> TryConsume();

  bool IsConnected() const;
  // Sends DISCONNECT and waits at most `wait`; never fails.
  void Disconnect(std::chrono::milliseconds wait);
  // Sends DISCONNECT without waiting (safe inside a handler).
  void DisconnectAsync();

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace slotwise::mqtt
