#include "operator_client.h"

#include <mqtt/async_client.h>
#include <unistd.h>

#include <random>

#include "slotwise/topics.h"

namespace slotwise::cli {
namespace {

std::string RandomHex(std::size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) {
    const auto b = rd() & 0xffu;
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

Error Unreachable(const std::string& what) { return MakeError(v1::INTERNAL, what); }

}  // namespace

OperatorClient::OperatorClient(std::unique_ptr<mqtt::async_client> client, std::string reply_topic,
                               std::chrono::seconds timeout)
    : client_(std::move(client)), reply_topic_(std::move(reply_topic)), timeout_(timeout) {}

OperatorClient::~OperatorClient() {
  try {
    if (client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(2));
  } catch (const mqtt::exception&) {
    // Leaving anyway; the broker drops the clean session.
  }
}

Result<std::unique_ptr<OperatorClient>> OperatorClient::Connect(const ClientOptions& options) {
  const std::string client_id = "slotwise-cli-" + std::to_string(::getpid()) + "-" + RandomHex(4);
  auto client = std::make_unique<mqtt::async_client>(options.broker, client_id,
                                                     mqtt::create_options(MQTTVERSION_5));
  auto builder = mqtt::connect_options_builder()
                     .mqtt_version(MQTTVERSION_5)
                     .clean_start(true)
                     .connect_timeout(options.timeout)
                     .user_name(options.username);
  if (!options.password.empty()) builder.password(options.password);
  const std::string reply_topic = topics::OperatorReply(client_id);
  try {
    client->start_consuming();
    if (!client->connect(builder.finalize())->wait_for(options.timeout)) {
      return Unreachable("no answer from the broker at " + options.broker);
    }
    auto sub = client->subscribe(reply_topic, 1);
    if (!sub->wait_for(options.timeout)) return Unreachable("the broker did not confirm the subscription");
    const auto rc = sub->get_reason_code();
    if (rc >= 0x80) {
      return Unreachable("the broker refused the subscription to " + reply_topic +
                         " (reason " + std::to_string(rc) + "): is '" + options.username +
                         "' an operator of the broker plugin?");
    }
  } catch (const mqtt::exception& e) {
    return Unreachable("cannot connect to " + options.broker + " as " + options.username + ": " + e.what());
  }
  return std::unique_ptr<OperatorClient>(new OperatorClient(std::move(client), reply_topic, options.timeout));
}

Result<v1::OperatorReply> OperatorClient::Call(const v1::OperatorRequest& request) {
  const std::string correlation = RandomHex(16);
  mqtt::properties props;
  props.add(mqtt::property(mqtt::property::RESPONSE_TOPIC, reply_topic_));
  props.add(mqtt::property(mqtt::property::CORRELATION_DATA, correlation));
  try {
    auto msg = mqtt::message_ptr_builder()
                   .topic(std::string(topics::kOperatorRequest))
                   .payload(request.SerializeAsString())
                   .qos(1)
                   .properties(std::move(props))
                   .finalize();
    if (!client_->publish(msg)->wait_for(timeout_)) return Unreachable("the broker did not take the request");
  } catch (const mqtt::exception& e) {
    return Unreachable(std::string("cannot send the request: ") + e.what());
  }

  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  while (std::chrono::steady_clock::now() < deadline) {
    mqtt::const_message_ptr reply;
    if (!client_->try_consume_message_until(&reply, deadline) || !reply) continue;
    const auto& p = reply->get_properties();
    if (!p.contains(mqtt::property::CORRELATION_DATA) ||
        mqtt::get<std::string>(p, mqtt::property::CORRELATION_DATA) != correlation) {
      continue;  // a late answer to an earlier call
    }
    v1::OperatorReply out;
    const auto& bytes = reply->get_payload_ref();
    if (!out.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return Unreachable("the scheduler's reply could not be parsed");
    }
    return out;
  }
  return Unreachable("no reply from the scheduler within " + std::to_string(timeout_.count()) +
                     " s: is slotwise-scheduler running?");
}

}  // namespace slotwise::cli
