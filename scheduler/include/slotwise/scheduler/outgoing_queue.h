// OutgoingQueue: everything the scheduler has to send, in the order it must
// go, fed to the MQTT client no faster than the broker acknowledges it.
//
// Two lanes:
//  * replies: answers to requests, in order, each sent once. A requester is
//    waiting, so they always go first and are never held back by bulk
//    traffic.
//  * bulk: retained notices and their clearing (a campaign of 200,000
//    terminals queues 200,000 at once). Coalesced per topic: a topic queued
//    again keeps its place and only its newest payload is sent, so a
//    reconnect (which queues every pending notice again) or a campaign that
//    is scheduled and then cancelled before its notices left sends each
//    topic once with what is true now.
//
// Flow control: bulk messages go out only while the client holds fewer than
// `bulk_window` unacknowledged publishes. Paho MQTT C++ 1.2.0 keeps its
// pending delivery tokens in a list that it searches linearly on every
// acknowledgement, and Paho C's message ids are 16-bit: handing it a whole
// fan-out at once made the scheduler spend most of its time in
// async_client::remove_token and, at 200,000 notices, stop answering for
// minutes (issue 14). Replies are not windowed: at most `bulk_window` bulk
// messages are ever ahead of a reply.
//
// Pure and single-threaded (the scheduler thread owns it); the client is
// reached only through the `send` callback of Drain.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>

#include "slotwise/mqtt/client.h"

namespace slotwise::scheduler {

class OutgoingQueue {
 public:
  using Send = std::function<mqtt::PublishResult(const mqtt::Message&)>;
  // Called for a message the client refused for good (kFailed).
  using OnDropped = std::function<void(const mqtt::Message&, const std::string& error)>;

  void PushReply(mqtt::Message message);
  // Replaces a queued bulk message on the same topic (keeping its place).
  void PushBulk(mqtt::Message message);

  // Sends through `send`, in order: every queued reply, then at most
  // `bulk_room` bulk messages. Stops at the first kBusy (the client is
  // offline or full: the message stays first in its lane for the next
  // Drain). A kFailed message is dropped and reported to `on_dropped`.
  // Returns how many messages the client took.
  std::size_t Drain(const Send& send, std::size_t bulk_room, const OnDropped& on_dropped);

  bool empty() const { return replies_.empty() && bulk_order_.empty(); }
  std::size_t replies() const { return replies_.size(); }
  std::size_t bulk() const { return bulk_order_.size(); }

 private:
  std::deque<mqtt::Message> replies_;
  // Bulk topics in the order first queued, and each one's newest message.
  std::deque<std::string> bulk_order_;
  std::unordered_map<std::string, mqtt::Message> bulk_;
};

}  // namespace slotwise::scheduler
