#include "operator_client.h"

#include <unistd.h>

#include <random>

#include "slotwise/hex.h"
#include "slotwise/log.h"
#include "slotwise/topics.h"

namespace slotwise::cli {
namespace {

std::string RandomHex(std::size_t bytes) {
  std::random_device rd;
  std::string raw;
  for (std::size_t i = 0; i < bytes; ++i) raw += static_cast<char>(rd() & 0xffu);
  return HexEncode(raw);
}

Error Unreachable(const std::string& what) { return MakeError(v1::INTERNAL, what); }

}  // namespace

OperatorClient::OperatorClient(std::unique_ptr<mqtt::Client> client, std::string reply_topic,
                               std::chrono::seconds timeout)
    : client_(std::move(client)), reply_topic_(std::move(reply_topic)), timeout_(timeout) {}

// Leaving: the broker drops the clean session.
OperatorClient::~OperatorClient() { client_->Disconnect(std::chrono::seconds(2)); }

Result<std::unique_ptr<OperatorClient>> OperatorClient::Connect(const ClientOptions& options) {
  const std::string client_id = "slotwise-cli-" + std::to_string(::getpid()) + "-" + RandomHex(4);
  mqtt::ClientConfig config;
  config.server_uri = options.broker;
  config.client_id = client_id;
  config.consume = true;
  auto client = mqtt::Client::Create(config);
  if (!client) return Unreachable(client.error().message);

  mqtt::ConnectOptions connect;
  connect.clean_start = true;
  connect.connect_timeout = options.timeout;
  connect.username = options.username;
  connect.password = options.password;
  connect.tls = options.tls;
  log::Debug("slotwise") << "connecting to " << options.broker << " as " << options.username << " ("
                         << client_id << ")";
  if (auto connected = (*client)->Connect(connect, options.timeout); !connected) {
    const Error& e = connected.error();
    if (e.code == v1::UNAUTHENTICATED) {
      return MakeError(v1::UNAUTHENTICATED, "not authorized as '" + options.username + "': " + e.message +
                                                ": check SLOTWISE_PASSWORD (or --password) and --username");
    }
    return Unreachable(e.message + " (as " + options.username + ")");
  }
  const std::string reply_topic = topics::OperatorReply(client_id);
  if (auto sub = (*client)->Subscribe({reply_topic}, 1, options.timeout); !sub) {
    return Unreachable(sub.error().message + ": is '" + options.username + "' an operator of the broker plugin?");
  }
  return std::unique_ptr<OperatorClient>(new OperatorClient(std::move(*client), reply_topic, options.timeout));
}

Result<v1::OperatorReply> OperatorClient::Call(const v1::OperatorRequest& request) {
  const std::string correlation = RandomHex(16);
  const auto message = mqtt::MakeRequest(std::string(topics::kOperatorRequest), request.SerializeAsString(),
                                         reply_topic_, correlation);
  if (auto sent = client_->PublishAndWait(message, timeout_); !sent) {
    return Unreachable("cannot send the request: " + sent.error().message);
  }

  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (auto now = std::chrono::steady_clock::now(); now < deadline; now = std::chrono::steady_clock::now()) {
    auto reply = client_->Consume(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
    if (!reply) continue;
    if (reply->topic.starts_with(topics::kOperatorEventsPrefix)) {
      events_.push_back(std::move(*reply));
      continue;
    }
    if (reply->correlation_data != correlation) {
      log::Debug("slotwise") << "ignored a late reply on " << reply->topic;
      continue;  // a late answer to an earlier call
    }
    v1::OperatorReply out;
    if (!out.ParseFromString(reply->payload)) return Unreachable("the scheduler's reply could not be parsed");
    return out;
  }
  return Unreachable("no reply from the scheduler within " + std::to_string(timeout_.count()) +
                     " s: is slotwise-scheduler running?");
}

Status OperatorClient::SubscribeEvents(const std::string& filter) {
  if (auto sub = client_->Subscribe({filter}, 1, timeout_); !sub) {
    return Unreachable("cannot subscribe to " + filter + ": " + sub.error().message);
  }
  return OkStatus();
}

std::optional<mqtt::Message> OperatorClient::NextEvent(std::chrono::milliseconds timeout) {
  if (!events_.empty()) {
    auto m = std::move(events_.front());
    events_.pop_front();
    return m;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto now = std::chrono::steady_clock::now(); now < deadline; now = std::chrono::steady_clock::now()) {
    auto m = client_->Consume(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
    if (!m) continue;
    if (m->topic.starts_with(topics::kOperatorEventsPrefix)) return m;
    log::Debug("slotwise") << "ignored a late reply on " << m->topic;
  }
  return std::nullopt;
}

}  // namespace slotwise::cli
