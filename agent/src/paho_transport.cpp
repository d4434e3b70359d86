#include "slotwise/agent/paho_transport.h"

#include <utility>

namespace slotwise::agent {

Result<std::unique_ptr<PahoTransport>> PahoTransport::Create(PahoTransportOptions options) {
  mqtt::ClientConfig config;
  config.server_uri = options.server_uri;
  config.client_id = options.client_id;
  auto client = mqtt::Client::Create(config);
  if (!client) return client.error();
  return std::unique_ptr<PahoTransport>(new PahoTransport(std::move(options), std::move(*client)));
}

PahoTransport::PahoTransport(PahoTransportOptions options, std::unique_ptr<mqtt::Client> client)
    : options_(std::move(options)), client_(std::move(client)) {
  mqtt::Handlers handlers;
  handlers.on_message = [this](mqtt::Message msg) {
    InboundMessage in;
    in.topic = std::move(msg.topic);
    in.payload = std::move(msg.payload);
    in.retained = msg.retained;
    in.correlation_data = std::move(msg.correlation_data);
    WithListener([&](TransportListener& l) { l.OnMessage(std::move(in)); });
  };
  handlers.on_connection_lost = [this](const std::string& cause) {
    WithListener([&](TransportListener& l) {
      l.OnConnectionLost(cause.empty() ? "connection lost" : "connection lost: " + cause);
    });
  };
  // A DISCONNECT from the broker (e.g. a session taken over by another
  // client with the same id).
  handlers.on_disconnected = [this](const std::string& reason) {
    WithListener([&](TransportListener& l) { l.OnConnectionLost("broker disconnected us: " + reason); });
  };
  client_->SetHandlers(std::move(handlers));
}

PahoTransport::~PahoTransport() {
  SetListener(nullptr);
  client_.reset();  // disconnects (at most 1 s); no handler runs after this
}

void PahoTransport::SetListener(TransportListener* listener) {
  std::lock_guard lock(listener_mutex_);
  listener_ = listener;
}

template <class Fn>
void PahoTransport::WithListener(Fn&& fn) {
  std::lock_guard lock(listener_mutex_);
  if (listener_ != nullptr) fn(*listener_);
}

slotwise::Status PahoTransport::Connect() {
  mqtt::ConnectOptions o;
  o.username = options_.client_id;
  o.password = options_.password;
  o.clean_start = false;
  o.session_expiry = options_.session_expiry;
  o.keep_alive = options_.keepalive;
  o.connect_timeout = options_.connect_timeout;
  // No Paho automatic reconnect: see the header (session-present, jitter).
  o.tls.ca_file = options_.tls_ca_file;
  o.tls.cert_file = options_.tls_cert_file;
  o.tls.key_file = options_.tls_key_file;
  o.tls.verify_host = false;  // chain only, as the header says
  return client_->ConnectAsync(o, [this](Result<mqtt::Connected> connected) {
    // Paho's callback thread.
    if (connected) {
      HandleConnected(connected->session_present);
    } else {
      HandleConnectFailed(connected.error().message);
    }
  });
}

void PahoTransport::HandleConnected(bool session_present) {
  if (!session_present || subscription_refused_.load()) Subscribe();
  WithListener([&](TransportListener& l) { l.OnConnected(session_present); });
}

void PahoTransport::HandleConnectFailed(std::string reason) {
  WithListener([&](TransportListener& l) { l.OnConnectFailed(std::move(reason)); });
}

void PahoTransport::Subscribe() {
  if (options_.subscriptions.empty()) return;
  const auto started = client_->SubscribeAsync(options_.subscriptions, 1, [this](slotwise::Status s) {
    if (s) {
      subscription_refused_.store(false);
    } else {
      SubscribeRefused(s.error().message);
    }
  });
  if (!started) {
    subscription_refused_.store(true);
    WithListener([&](TransportListener& l) { l.OnConnectionLost(started.error().message); });
  }
}

void PahoTransport::SubscribeRefused(const std::string& why) {
  // The agent reconnects after its backoff and subscribes again.
  subscription_refused_.store(true);
  client_->DisconnectAsync();  // nothing waits here (Paho's callback thread)
  WithListener([&](TransportListener& l) { l.OnConnectionLost("subscribe refused: " + why); });
}

slotwise::Status PahoTransport::Publish(const OutboundMessage& message) {
  mqtt::Message m;
  m.topic = message.topic;
  m.payload = message.payload;
  m.response_topic = message.response_topic;
  m.correlation_data = message.correlation_data;
  const auto sent = client_->Publish(m);  // the delivery token is not waited on
  if (!sent.queued()) return MakeError(v1::INTERNAL, "publish failed: " + sent.error);
  return OkStatus();
}

void PahoTransport::Disconnect(std::chrono::milliseconds timeout) {
  client_->Disconnect(timeout);  // the broker keeps the session either way
  SetListener(nullptr);
}

}  // namespace slotwise::agent
