// OperatorClient: one MQTT v5 request/response exchange with the scheduler
// at a time, for the `slotwise` CLI. Requests go to slotwise/v1/op/request
// with this client's reply topic and a fresh correlation id; the call returns
// the reply that carries that id. MQTT goes through the core adapter
// (slotwise/mqtt/client.h).
//
// Threading: use from one thread. Paho's callbacks only queue messages.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "slotwise/mqtt/client.h"
#include "slotwise/result.h"
#include "slotwise/v1/operator.pb.h"

namespace slotwise::cli {

struct ClientOptions {
  // tcp://host:port, or ssl:// / mqtts:// for TLS.
  std::string broker = "tcp://127.0.0.1:1883";
  std::string username = "slotwise-operator";
  std::string password;
  // CA file, client certificate and key for a TLS broker (verified: chain
  // and host name). Default: none set.
  mqtt::TlsOptions tls;
  std::chrono::seconds timeout{10};
};

class OperatorClient {
 public:
  ~OperatorClient();
  OperatorClient(const OperatorClient&) = delete;
  OperatorClient& operator=(const OperatorClient&) = delete;

  // Errors: UNAUTHENTICATED when the broker refused the credentials
  // (CONNACK 134/135), INTERNAL when it could not be reached or refused the
  // reply topic.
  static Result<std::unique_ptr<OperatorClient>> Connect(const ClientOptions& options);

  // The scheduler's reply (which may carry an Error), or an error with code
  // INTERNAL when no reply came within the timeout.
  Result<v1::OperatorReply> Call(const v1::OperatorRequest& request);

  // Issue 13: subscribes to a live events topic (topics::CampaignEvents ...);
  // an error when the broker refuses it (a broker plugin without the events
  // ACL). Events that arrive during Call() are kept for NextEvent().
  Status SubscribeEvents(const std::string& filter);
  // The next event message, or nullopt after `timeout`.
  std::optional<mqtt::Message> NextEvent(std::chrono::milliseconds timeout);

 private:
  OperatorClient(std::unique_ptr<mqtt::Client> client, std::string reply_topic, std::chrono::seconds timeout);

  std::unique_ptr<mqtt::Client> client_;
  std::string reply_topic_;
  std::chrono::seconds timeout_;
  std::deque<mqtt::Message> events_;
};

}  // namespace slotwise::cli
