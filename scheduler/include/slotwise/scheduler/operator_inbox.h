// OperatorInbox (issue 13): the one queue the scheduler thread reads. The MQTT
// client's callback thread puts received messages in it, the HTTP API's
// threads put operator jobs in it; each push wakes the scheduler thread,
// which handles everything in its batches (mqtt_server.h), so the service is
// only ever called from that thread.
//
// Threading: every member is thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <variant>

#include "slotwise/mqtt/client.h"
#include "slotwise/scheduler/access.h"
#include "slotwise/v1/operator.pb.h"

namespace slotwise::scheduler {

// An operator command from another channel than MQTT.
struct OperatorJob {
  Caller caller;
  v1::OperatorRequest request;
  // Runs on the scheduler thread once the batch holding the command is
  // durable (or with an INTERNAL error when it could not be stored).
  std::function<void(const v1::OperatorReply&)> done;
  // When it was made (the metrics' latency starts here).
  std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();
};

// A message received from one broker shard (its index in MqttOptions::brokers).
struct ReceivedMessage {
  std::size_t shard = 0;
  mqtt::Message message;
  std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();
};

using InboxItem = std::variant<ReceivedMessage, OperatorJob>;

class OperatorInbox {
 public:
  void Push(InboxItem item) {
    {
      std::lock_guard lock(mu_);
      items_.push_back(std::move(item));
    }
    cv_.notify_one();
  }
  // The next item, waiting at most `wait`.
  std::optional<InboxItem> Pop(std::chrono::milliseconds wait) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, wait, [this] { return !items_.empty(); })) return std::nullopt;
    return Take();
  }
  std::optional<InboxItem> TryPop() {
    std::lock_guard lock(mu_);
    if (items_.empty()) return std::nullopt;
    return Take();
  }
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return items_.size();
  }

 private:
  InboxItem Take() {
    InboxItem item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<InboxItem> items_;
};

}  // namespace slotwise::scheduler
