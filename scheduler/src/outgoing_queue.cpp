#include "slotwise/scheduler/outgoing_queue.h"

#include <utility>

namespace slotwise::scheduler {

void OutgoingQueue::PushReply(mqtt::Message message) { replies_.push_back(std::move(message)); }

void OutgoingQueue::PushBulk(mqtt::Message message) {
  auto [it, inserted] = bulk_.try_emplace(message.topic);
  if (inserted) bulk_order_.push_back(message.topic);
  it->second = std::move(message);
}

std::size_t OutgoingQueue::Drain(const Send& send, std::size_t bulk_room, const OnDropped& on_dropped) {
  std::size_t taken = 0;
  // true: the message left the queue (sent or dropped); false: try later.
  auto offer = [&](const mqtt::Message& m) {
    const mqtt::PublishResult sent = send(m);
    switch (sent.status) {
      case mqtt::PublishStatus::kQueued: ++taken; return true;
      case mqtt::PublishStatus::kFailed: on_dropped(m, sent.error); return true;
      case mqtt::PublishStatus::kBusy: return false;
    }
    return false;
  };
  while (!replies_.empty()) {
    if (!offer(replies_.front())) return taken;
    replies_.pop_front();
  }
  for (; bulk_room > 0 && !bulk_order_.empty(); --bulk_room) {
    const auto it = bulk_.find(bulk_order_.front());
    if (!offer(it->second)) return taken;
    bulk_.erase(it);
    bulk_order_.pop_front();
  }
  return taken;
}

}  // namespace slotwise::scheduler
