// Transport over the core MQTT v5 adapter (slotwise/mqtt/client.h, which is
// Eclipse Paho MQTT C++ underneath).
//
// Session: client id = username = terminal id, clean_start(false) and a
// session expiry interval, so QoS 1 notices and replies queue at the broker
// while the terminal is offline. On each CONNACK without a session the
// notice and reply topics are subscribed (QoS 1); with a session they
// already are. Paho's own automatic reconnect is deliberately not used:
// Paho C++ 1.2.0 reports CONNACK's session-present flag only for connect()
// calls, not for its automatic reconnects, and its retry schedule has no
// jitter (a broker restart would be met by the whole fleet at once). The
// agent calls Connect() again after its own jittered backoff instead.
// No Paho file persistence: the agent's own saved state and request retries
// are what survive a restart.
//
// TLS: the broker's certificate chain is verified against tls_ca_file (or
// the system trust store); its host name is not checked, as before the
// adapter (terminals often reach the broker by an address the certificate
// does not name).
//
// Threading: see transport.h. Paho exceptions are caught in the adapter and
// returned as errors. Paho calls the listener from its callback thread, which every
// client in the process shares; this class never blocks or waits on it.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "slotwise/agent/transport.h"
#include "slotwise/mqtt/client.h"

namespace slotwise::agent {

struct PahoTransportOptions {
  std::string server_uri;  // tcp://host:port, ssl://..., ws://...
  std::string client_id;   // also the username
  std::string password;    // empty = none
  // PEM files for ssl:// brokers; empty = not set. With a client cert the
  // broker can take the terminal id from its CN.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::chrono::seconds keepalive{30};
  // How long the broker keeps the session (subscriptions, queued QoS 1
  // messages) after a disconnect. Default: 1 day.
  std::chrono::seconds session_expiry{24 * 3600};
  std::chrono::seconds connect_timeout{10};
  // Subscribed with QoS 1 when the broker has no session for the client.
  std::vector<std::string> subscriptions;
};

class PahoTransport final : public Transport {
 public:
  // Fails (INVALID_ARGUMENT) when Paho rejects the URI or client id.
  static Result<std::unique_ptr<PahoTransport>> Create(PahoTransportOptions options);
  ~PahoTransport() override;

  void SetListener(TransportListener* listener) override;
  slotwise::Status Connect() override;
  slotwise::Status Publish(const OutboundMessage& message) override;
  void Disconnect(std::chrono::milliseconds timeout) override;

 private:
  PahoTransport(PahoTransportOptions options, std::unique_ptr<mqtt::Client> client);
  // Called on Paho's callback thread.
  void HandleConnected(bool session_present);
  void HandleConnectFailed(std::string reason);
  void Subscribe();
  // Without its subscriptions the agent would wait forever for replies, so a
  // refusal is turned into a lost connection.
  void SubscribeRefused(const std::string& why);
  // Runs `fn(listener)` if a listener is attached; holding the mutex here is
  // what lets SetListener(nullptr) promise no callback is still running.
  template <class Fn>
  void WithListener(Fn&& fn);

  PahoTransportOptions options_;
  std::unique_ptr<mqtt::Client> client_;
  std::mutex listener_mutex_;
  TransportListener* listener_ = nullptr;
  // Set when the broker refused a subscription: the session then exists
  // without it, so the next connect subscribes even with a session present.
  std::atomic<bool> subscription_refused_{false};
};

}  // namespace slotwise::agent
