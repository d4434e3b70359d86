#include "slotwise/agent/paho_transport.h"

#include <mqtt/async_client.h>

#include <atomic>
#include <mutex>
#include <utility>

namespace slotwise::agent {
namespace {

std::string Describe(const mqtt::token& tok) {
  return mqtt::exception::printable_error(tok.get_return_code(), tok.get_reason_code());
}

}  // namespace

class PahoTransport::ConnectListener final : public mqtt::iaction_listener {
 public:
  explicit ConnectListener(PahoTransport& owner) : owner_(owner) {}

  // Paho's callback thread. The token is complete here, so reading its
  // CONNACK does not wait.
  void on_success(const mqtt::token& tok) override {
    bool session_present = false;
    try {
      session_present = tok.get_connect_response().is_session_present();
    } catch (const std::exception&) {
      // No CONNACK data: treat as a fresh session, which only costs a
      // redundant SUBSCRIBE.
    }
    owner_.HandleConnected(session_present);
  }
  void on_failure(const mqtt::token& tok) override {
    owner_.HandleConnectFailed("connect to " + owner_.options_.server_uri + " failed: " + Describe(tok));
  }

 private:
  PahoTransport& owner_;
};

class PahoTransport::SubscribeListener final : public mqtt::iaction_listener {
 public:
  explicit SubscribeListener(PahoTransport& owner) : owner_(owner) {}

  void on_success(const mqtt::token& tok) override {
    // With several filters Paho reports a refused one (e.g. 0x87 from the
    // broker's ACL) as a success carrying a failure reason code.
    try {
      const mqtt::subscribe_response response = tok.get_subscribe_response();
      for (mqtt::ReasonCode code : response.get_reason_codes()) {
        if (code >= mqtt::ReasonCode::UNSPECIFIED_ERROR) {
          Refused(mqtt::exception::reason_code_str(code));
          return;
        }
      }
    } catch (const std::exception&) {
    }
    owner_.subscription_refused_.store(false);
  }
  void on_failure(const mqtt::token& tok) override { Refused(Describe(tok)); }

 private:
  // Without its subscriptions the agent would wait forever for replies, so a
  // refusal is turned into a lost connection: the agent reconnects after
  // its backoff and subscribes again.
  void Refused(const std::string& why) {
    owner_.subscription_refused_.store(true);
    try {
      owner_.client_->disconnect();  // asynchronous: nothing waits here
    } catch (const std::exception&) {
    }
    owner_.WithListener([&](TransportListener& l) { l.OnConnectionLost("subscribe refused: " + why); });
  }

  PahoTransport& owner_;
};

Result<std::unique_ptr<PahoTransport>> PahoTransport::Create(PahoTransportOptions options) {
  // OpenSSL 3 initialises itself on first use; Paho's own eager init (error
  // strings, locks) would make every waiting agent pay for TLS it may never
  // use. Paho reads this flag at its first client creation only.
  static std::once_flag paho_init;
  std::call_once(paho_init, [] {
    MQTTAsync_init_options init = MQTTAsync_init_options_initializer;
    init.do_openssl_init = 0;
    MQTTAsync_global_init(&init);
  });
  try {
    // nullptr persistence = none: no files in the working directory, and
    // nothing Paho-specific to recover; the agent's own state is what counts.
    auto client = std::make_unique<mqtt::async_client>(
        options.server_uri, options.client_id, mqtt::create_options(MQTTVERSION_5), nullptr);
    return std::unique_ptr<PahoTransport>(new PahoTransport(std::move(options), std::move(client)));
  } catch (const std::exception& e) {
    return MakeError(v1::INVALID_ARGUMENT, "cannot create MQTT client for " + options.server_uri +
                                               ": " + e.what());
  }
}

PahoTransport::PahoTransport(PahoTransportOptions options, std::unique_ptr<mqtt::async_client> client)
    : options_(std::move(options)),
      client_(std::move(client)),
      connect_listener_(std::make_unique<ConnectListener>(*this)),
      subscribe_listener_(std::make_unique<SubscribeListener>(*this)) {
  client_->set_message_callback([this](mqtt::const_message_ptr msg) {
    InboundMessage in;
    in.topic = msg->get_topic();
    in.payload = msg->get_payload_str();
    in.retained = msg->is_retained();
    const mqtt::properties& props = msg->get_properties();
    if (props.contains(mqtt::property::CORRELATION_DATA)) {
      in.correlation_data = mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA);
    }
    WithListener([&](TransportListener& l) { l.OnMessage(std::move(in)); });
  });
  client_->set_connection_lost_handler([this](const std::string& cause) {
    WithListener([&](TransportListener& l) {
      l.OnConnectionLost(cause.empty() ? "connection lost" : "connection lost: " + cause);
    });
  });
  // A DISCONNECT from the broker (e.g. a session taken over by another
  // client with the same id) does not also fire connection-lost in Paho.
  client_->set_disconnected_handler([this](const mqtt::properties&, mqtt::ReasonCode reason) {
    WithListener([&](TransportListener& l) {
      l.OnConnectionLost("broker disconnected us: " + mqtt::exception::reason_code_str(reason));
    });
  });
}

PahoTransport::~PahoTransport() {
  SetListener(nullptr);
  try {
    if (client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(1));
  } catch (const std::exception&) {
  }
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
  try {
    mqtt::connect_options opts = mqtt::connect_options_builder()
                                     .mqtt_version(MQTTVERSION_5)
                                     .clean_start(false)
                                     .keep_alive_interval(options_.keepalive)
                                     .connect_timeout(options_.connect_timeout)
                                     .user_name(options_.client_id)
                                     .automatic_reconnect(false)
                                     .finalize();
    if (!options_.password.empty()) opts.set_password(options_.password);
    const std::string& uri = options_.server_uri;
    const bool tls_uri = uri.starts_with("ssl://") || uri.starts_with("mqtts://") || uri.starts_with("wss://");
    // A TLS URI always gets ssl options (Paho refuses it without them); with
    // no tls_ca_file the system's default trust store verifies the broker.
    if (tls_uri || !options_.tls_ca_file.empty() || !options_.tls_cert_file.empty()) {
      auto ssl = mqtt::ssl_options_builder().enable_server_cert_auth(true);
      if (!options_.tls_ca_file.empty()) ssl.trust_store(options_.tls_ca_file);
      if (!options_.tls_cert_file.empty()) {
        ssl.key_store(options_.tls_cert_file);
        ssl.private_key(options_.tls_key_file);
      }
      opts.set_ssl(ssl.finalize());
    }
    // Set on this object, last: Paho C++ 1.2.0's connect_options copy and
    // move leave the C struct's connectProperties pointing at the source
    // object's properties, so properties given to the builder would dangle
    // after finalize() (the session expiry read from freed memory; seen as a
    // lost session). `opts` outlives the connect() call, which copies them.
    opts.set_properties(mqtt::properties{
        {mqtt::property::SESSION_EXPIRY_INTERVAL, static_cast<int32_t>(options_.session_expiry.count())}});
    client_->connect(opts, nullptr, *connect_listener_);
    return OkStatus();
  } catch (const std::exception& e) {
    return MakeError(v1::INTERNAL, std::string("cannot start MQTT connect: ") + e.what());
  }
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
  try {
    auto filters = mqtt::string_collection::create(options_.subscriptions);
    mqtt::iasync_client::qos_collection qos(options_.subscriptions.size(), 1);
    client_->subscribe(filters, qos, nullptr, *subscribe_listener_);
  } catch (const std::exception& e) {
    subscription_refused_.store(true);
    WithListener([&](TransportListener& l) {
      l.OnConnectionLost(std::string("cannot subscribe: ") + e.what());
    });
  }
}

slotwise::Status PahoTransport::Publish(const OutboundMessage& message) {
  try {
    mqtt::properties props;
    if (!message.response_topic.empty()) {
      props.add({mqtt::property::RESPONSE_TOPIC, message.response_topic});
    }
    if (!message.correlation_data.empty()) {
      props.add({mqtt::property::CORRELATION_DATA, message.correlation_data});
    }
    auto msg = mqtt::message_ptr_builder()
                   .topic(message.topic)
                   .payload(message.payload)
                   .qos(1)
                   .retained(false)
                   .properties(std::move(props))
                   .finalize();
    client_->publish(msg);  // the delivery token is not waited on
    return OkStatus();
  } catch (const std::exception& e) {
    return MakeError(v1::INTERNAL, std::string("publish failed: ") + e.what());
  }
}

void PahoTransport::Disconnect(std::chrono::milliseconds timeout) {
  try {
    if (client_->is_connected()) {
      client_->disconnect(mqtt::disconnect_options_builder().finalize())->wait_for(timeout);
    }
  } catch (const std::exception&) {
    // Already gone; the broker keeps the session either way.
  }
  SetListener(nullptr);
}

}  // namespace slotwise::agent
