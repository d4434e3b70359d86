// The agent's MQTT link, behind an interface so the state machine can be
// driven by a fake in tests; paho_transport.h is the real one.
//
// Contract: QoS 1 for everything; Publish never blocks (it queues); the
// implementation subscribes to the terminal's notice and reply topics itself
// whenever the broker has no session for it. There is no automatic
// reconnect below this interface: after OnConnectFailed or OnConnectionLost
// the owner decides when to call Connect() again (with backoff and jitter).
//
// Threading: SetListener, Connect, Publish and Disconnect are called from the
// owner's thread. Listener methods are called from the transport's own
// thread (for Paho, the one callback thread every client in the process
// shares): a listener must only queue the event and return, never block.
#pragma once

#include <chrono>
#include <string>

#include "slotwise/result.h"

namespace slotwise::agent {

struct InboundMessage {
  std::string topic;
  std::string payload;
  std::string correlation_data;  // empty if the publisher set none
  bool retained = false;
};

struct OutboundMessage {
  std::string topic;
  std::string payload;
  // For a request (schemas/README.md "Request and response"); both empty for
  // a fire-and-forget publish.
  std::string response_topic;
  std::string correlation_data;
};

class TransportListener {
 public:
  virtual ~TransportListener() = default;
  virtual void OnConnected(bool session_present) = 0;
  virtual void OnConnectFailed(std::string reason) = 0;
  virtual void OnConnectionLost(std::string cause) = 0;
  virtual void OnMessage(InboundMessage message) = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // nullptr detaches; after it returns no listener method is running or
  // will be called.
  virtual void SetListener(TransportListener* listener) = 0;
  // Starts one connection attempt; its outcome arrives as OnConnected or
  // OnConnectFailed. An error here means the attempt did not even start.
  virtual slotwise::Status Connect() = 0;
  // Queues a QoS 1, non-retained PUBLISH. Fails when not connected.
  virtual slotwise::Status Publish(const OutboundMessage& message) = 0;
  // Clean MQTT DISCONNECT (the broker keeps the session), waiting at most
  // `timeout`. Must not be called from a listener method.
  virtual void Disconnect(std::chrono::milliseconds timeout) = 0;
};

}  // namespace slotwise::agent
