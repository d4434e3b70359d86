// Values <-> Paho objects, and the connect options (see paho.h for the
// dangling-properties rule these functions keep).
#include "slotwise/mqtt/paho.h"

#include <mqtt/properties.h>
#include <mqtt/ssl_options.h>

#include <cstdint>
#include <utility>

namespace slotwise::mqtt {

Message MakeRequest(std::string topic, std::string payload, std::string response_topic,
                    std::string correlation) {
  Message m;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  m.response_topic = std::move(response_topic);
  m.correlation_data = std::move(correlation);
  return m;
}

std::optional<Message> MakeResponse(const Message& request, std::string payload) {
  if (request.response_topic.empty()) return std::nullopt;
  Message m;
  m.topic = request.response_topic;
  m.payload = std::move(payload);
  m.correlation_data = request.correlation_data;
  return m;
}

std::vector<std::string> UserPropertyValues(const Message& message, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& p : message.user_properties) {
    if (p.name == name) out.push_back(p.value);
  }
  return out;
}

bool IsTlsUri(std::string_view uri) {
  return uri.starts_with("ssl://") || uri.starts_with("mqtts://") || uri.starts_with("wss://");
}

void FillConnectOptions(const std::string& uri, const ConnectOptions& o, ::mqtt::connect_options& out) {
  out.set_mqtt_version(MQTTVERSION_5);
  out.set_clean_start(o.clean_start);
  out.set_keep_alive_interval(o.keep_alive);
  out.set_connect_timeout(o.connect_timeout);
  if (!o.username.empty()) out.set_user_name(o.username);
  if (!o.password.empty()) out.set_password(o.password);
  if (o.max_inflight > 0) out.set_max_inflight(o.max_inflight);
  if (o.reconnect_max.count() > 0) {
    // Paho counts whole seconds (200 ms becomes 0: retry at once, then doubling).
    out.set_automatic_reconnect(o.reconnect_min, o.reconnect_max);
  } else {
    out.set_automatic_reconnect(false);
  }
  const TlsOptions& t = o.tls;
  // A TLS URI always gets ssl options (Paho refuses it without them); with
  // no ca_file the system's default trust store verifies the broker.
  if (IsTlsUri(uri) || !t.ca_file.empty() || !t.cert_file.empty()) {
    ::mqtt::ssl_options ssl;
    ssl.set_enable_server_cert_auth(t.verify_peer);
    ssl.set_verify(t.verify_peer && t.verify_host);
    if (!t.ca_file.empty()) ssl.set_trust_store(t.ca_file);
    if (!t.cert_file.empty()) {
      ssl.set_key_store(t.cert_file);
      ssl.set_private_key(t.key_file.empty() ? t.cert_file : t.key_file);
    }
    out.set_ssl(std::move(ssl));
  }
  // Last, on this very object (see paho.h).
  out.set_properties(::mqtt::properties{
      {::mqtt::property::SESSION_EXPIRY_INTERVAL, static_cast<int32_t>(o.session_expiry.count())}});
}

::mqtt::message_ptr ToPaho(const Message& m) {
  ::mqtt::properties props;
  if (!m.response_topic.empty()) props.add({::mqtt::property::RESPONSE_TOPIC, m.response_topic});
  if (!m.correlation_data.empty()) props.add({::mqtt::property::CORRELATION_DATA, m.correlation_data});
  for (const auto& u : m.user_properties) props.add({::mqtt::property::USER_PROPERTY, u.name, u.value});
  auto msg = ::mqtt::make_message(m.topic, m.payload, m.qos, m.retained);
  msg->set_properties(std::move(props));
  return msg;
}

Message FromPaho(const ::mqtt::message& msg) {
  Message m;
  m.topic = msg.get_topic();
  m.payload = msg.get_payload_str();
  m.qos = msg.get_qos();
  m.retained = msg.is_retained();
  const ::mqtt::properties& props = msg.get_properties();
  if (props.contains(::mqtt::property::RESPONSE_TOPIC)) {
    m.response_topic = ::mqtt::get<std::string>(props, ::mqtt::property::RESPONSE_TOPIC);
  }
  if (props.contains(::mqtt::property::CORRELATION_DATA)) {
    m.correlation_data = ::mqtt::get<std::string>(props, ::mqtt::property::CORRELATION_DATA);
  }
  auto& c = const_cast<MQTTProperties&>(props.c_struct());
  const int n = MQTTProperties_propertyCount(&c, MQTTPROPERTY_CODE_USER_PROPERTY);
  for (int i = 0; i < n; ++i) {
    auto [name, value] =
        ::mqtt::get<::mqtt::string_pair>(props, ::mqtt::property::USER_PROPERTY, static_cast<size_t>(i));
    m.user_properties.push_back({std::move(name), std::move(value)});
  }
  return m;
}

}  // namespace slotwise::mqtt
