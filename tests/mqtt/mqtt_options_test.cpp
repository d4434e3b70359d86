// The MQTT adapter's options and helpers, checked on the Paho objects it
// builds (no broker).
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>

#include "slotwise/mqtt/client.h"
#include "slotwise/mqtt/paho.h"

namespace sm = slotwise::mqtt;

namespace {

// The session expiry Paho would send, read the way Paho reads it: through
// the C struct's connectProperties pointer. nullopt when that pointer does
// not point into the options object itself (it would dangle once the object
// it points into is gone).
std::optional<int> SessionExpiryOf(const mqtt::connect_options& opts) {
  const MQTTProperties* props = opts.c_struct().connectProperties;
  if (props == nullptr || props != &opts.get_properties().c_struct()) return std::nullopt;
  return MQTTProperties_getNumericValue(const_cast<MQTTProperties*>(props),
                                        MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL);
}

// Options made in a scope that ends before they are read, as a caller
// keeping them for later connects would.
std::unique_ptr<mqtt::connect_options> MadeElsewhere(const sm::ConnectOptions& o) {
  auto out = std::make_unique<mqtt::connect_options>();
  sm::FillConnectOptions("tcp://127.0.0.1:1883", o, *out);
  return out;
}

// Paho C tracks its allocations (Heap.c) only once a client has been
// created; properties freed before that are not released (measured: about
// 500 bytes per property list, none once a client exists). Every Slotwise
// process creates its client first; so does this test, so that LeakSanitizer
// sees what a real process does.
const bool kPahoHeapReady = [] {
  sm::ClientConfig config;
  config.server_uri = "tcp://127.0.0.1:1";
  config.client_id = "slotwise-mqtt-test";
  static auto client = sm::Client::Create(config);
  return client.ok();
}();

}  // namespace

TEST_CASE("connect options keep their session expiry after the builder is gone") {
  sm::ConnectOptions o;
  o.clean_start = false;
  o.session_expiry = std::chrono::seconds(3600);
  const auto opts = MadeElsewhere(o);
  CHECK(SessionExpiryOf(*opts) == 3600);
  CHECK(opts->c_struct().cleanstart == 0);
  CHECK(opts->c_struct().MQTTVersion == MQTTVERSION_5);

  // Filling the same object again (a reconnect with new options) re-points them.
  o.session_expiry = std::chrono::seconds(60);
  sm::FillConnectOptions("tcp://127.0.0.1:1883", o, *const_cast<mqtt::connect_options*>(opts.get()));
  CHECK(SessionExpiryOf(*opts) == 60);
}

TEST_CASE("connect options carry credentials keep-alive and reconnect") {
  sm::ConnectOptions o;
  o.username = "slotwise-scheduler";
  o.password = "secret";
  o.keep_alive = std::chrono::seconds(45);
  o.connect_timeout = std::chrono::seconds(7);
  o.reconnect_min = std::chrono::seconds(1);
  o.reconnect_max = std::chrono::seconds(30);
  o.max_inflight = 1024;
  mqtt::connect_options opts;
  sm::FillConnectOptions("tcp://127.0.0.1:1883", o, opts);
  CHECK(opts.get_user_name() == "slotwise-scheduler");
  CHECK(opts.get_password_str() == "secret");
  CHECK(opts.c_struct().keepAliveInterval == 45);
  CHECK(opts.c_struct().connectTimeout == 7);
  CHECK(opts.c_struct().automaticReconnect == 1);
  CHECK(opts.c_struct().minRetryInterval == 1);
  CHECK(opts.c_struct().maxRetryInterval == 30);
  CHECK(opts.c_struct().maxInflight == 1024);
  CHECK(opts.c_struct().cleanstart == 1);
  CHECK(SessionExpiryOf(opts) == 0);

  sm::ConnectOptions plain;
  mqtt::connect_options none;
  sm::FillConnectOptions("tcp://127.0.0.1:1883", plain, none);
  CHECK(none.c_struct().automaticReconnect == 0);
  CHECK(none.c_struct().password == nullptr);
}

TEST_CASE("TLS options are set for TLS URIs and files with verification on by default") {
  sm::ConnectOptions o;
  o.tls.ca_file = "ca.pem";
  o.tls.cert_file = "client.pem";
  o.tls.key_file = "client.key";
  mqtt::connect_options opts;
  sm::FillConnectOptions("ssl://broker.example:8883", o, opts);
  const MQTTAsync_SSLOptions* ssl = opts.c_struct().ssl;
  REQUIRE(ssl != nullptr);
  CHECK(std::string(ssl->trustStore) == "ca.pem");
  CHECK(std::string(ssl->keyStore) == "client.pem");
  CHECK(std::string(ssl->privateKey) == "client.key");
  CHECK(ssl->enableServerCertAuth == 1);
  CHECK(ssl->verify == 1);
  CHECK(SessionExpiryOf(opts).has_value());

  // mqtts:// with no files: the system trust store, still verified.
  sm::ConnectOptions bare;
  mqtt::connect_options system_store;
  sm::FillConnectOptions("mqtts://broker.example:8883", bare, system_store);
  REQUIRE(system_store.c_struct().ssl != nullptr);
  CHECK(system_store.c_struct().ssl->trustStore == nullptr);
  CHECK(system_store.c_struct().ssl->enableServerCertAuth == 1);

  // Chain only (the agent's choice), and a key inside the certificate file.
  sm::ConnectOptions chain_only;
  chain_only.tls.verify_host = false;
  chain_only.tls.cert_file = "both.pem";
  mqtt::connect_options c;
  sm::FillConnectOptions("ssl://10.0.0.1:8883", chain_only, c);
  REQUIRE(c.c_struct().ssl != nullptr);
  CHECK(c.c_struct().ssl->enableServerCertAuth == 1);
  CHECK(c.c_struct().ssl->verify == 0);
  CHECK(std::string(c.c_struct().ssl->privateKey) == "both.pem");

  // Plain tcp:// without files: no TLS at all.
  mqtt::connect_options tcp;
  sm::FillConnectOptions("tcp://127.0.0.1:1883", bare, tcp);
  CHECK(tcp.c_struct().ssl == nullptr);
  CHECK(sm::IsTlsUri("ssl://h:1"));
  CHECK(sm::IsTlsUri("mqtts://h:1"));
  CHECK_FALSE(sm::IsTlsUri("tcp://h:1"));
}

TEST_CASE("request and response carry response topic and correlation data") {
  sm::Message request = sm::MakeRequest("slotwise/v1/op/request", "payload", "slotwise/v1/op/reply/cli-1", "c0ffee");
  request.user_properties.push_back({"slotwise-terminal", "T1"});
  request.user_properties.push_back({"other", "x"});
  request.user_properties.push_back({"slotwise-terminal", "T2"});

  const mqtt::message_ptr paho = sm::ToPaho(request);
  CHECK(paho->get_topic() == "slotwise/v1/op/request");
  CHECK(paho->get_qos() == 1);
  CHECK_FALSE(paho->is_retained());
  CHECK(mqtt::get<std::string>(paho->get_properties(), mqtt::property::RESPONSE_TOPIC) ==
        "slotwise/v1/op/reply/cli-1");
  CHECK(mqtt::get<std::string>(paho->get_properties(), mqtt::property::CORRELATION_DATA) == "c0ffee");

  const sm::Message back = sm::FromPaho(*paho);
  CHECK(back.topic == request.topic);
  CHECK(back.payload == "payload");
  CHECK(back.response_topic == request.response_topic);
  CHECK(back.correlation_data == "c0ffee");
  CHECK(back.user_properties == request.user_properties);
  CHECK(sm::UserPropertyValues(back, "slotwise-terminal") == std::vector<std::string>{"T1", "T2"});
  CHECK(sm::UserPropertyValues(back, "absent").empty());

  const auto response = sm::MakeResponse(back, "answer");
  REQUIRE(response.has_value());
  CHECK(response->topic == "slotwise/v1/op/reply/cli-1");
  CHECK(response->correlation_data == "c0ffee");
  CHECK(response->payload == "answer");
  CHECK(response->user_properties.empty());
  const sm::Message answered = sm::FromPaho(*sm::ToPaho(*response));
  CHECK(answered.correlation_data == "c0ffee");
  CHECK(answered.response_topic.empty());

  sm::Message no_reply;
  no_reply.topic = "slotwise/v1/t/T1/status";
  CHECK_FALSE(sm::MakeResponse(no_reply, "x").has_value());
  const sm::Message bare = sm::FromPaho(*sm::ToPaho(no_reply));
  CHECK(bare.response_topic.empty());
  CHECK(bare.correlation_data.empty());
}

TEST_CASE("client errors are values") {
  auto bad = sm::Client::Create({"nonsense://x", "id", 0, false});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == slotwise::v1::INVALID_ARGUMENT);

  // A port nobody listens on: refused quickly, returned as an error.
  auto client = sm::Client::Create({"tcp://127.0.0.1:1", "slotwise-mqtt-test", 0, true});
  REQUIRE(client.ok());
  sm::ConnectOptions o;
  o.connect_timeout = std::chrono::seconds(2);
  auto connected = (*client)->Connect(o, std::chrono::seconds(5));
  REQUIRE_FALSE(connected.ok());
  CHECK(connected.error().code == slotwise::v1::INTERNAL);
  CHECK(connected.error().message.find("tcp://127.0.0.1:1") != std::string::npos);
  CHECK_FALSE((*client)->IsConnected());
  CHECK_FALSE((*client)->Consume(std::chrono::milliseconds(10)).has_value());
  CHECK((*client)->Publish(sm::MakeRequest("t", "p", "r", "c")).status != sm::PublishStatus::kQueued);
}
