// OutgoingQueue (scheduler/include/slotwise/scheduler/outgoing_queue.h):
// replies before bulk, bulk coalesced per topic and windowed, kBusy keeps
// the message first, kFailed drops it.
#include "slotwise/scheduler/outgoing_queue.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace slotwise::scheduler {
namespace {

mqtt::Message Msg(std::string topic, std::string payload) {
  mqtt::Message m;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  return m;
}

// A client that takes `accept` messages, then answers kBusy.
struct FakeClient {
  std::size_t accept = 1'000'000;
  std::vector<std::string> sent;  // "topic=payload"
  std::vector<std::string> fail_topics;

  mqtt::PublishResult operator()(const mqtt::Message& m) {
    for (const auto& t : fail_topics) {
      if (m.topic == t) return {mqtt::PublishStatus::kFailed, "refused"};
    }
    if (sent.size() >= accept) return {mqtt::PublishStatus::kBusy, "full"};
    sent.push_back(m.topic + "=" + m.payload);
    return {};
  }
};

OutgoingQueue::OnDropped Ignore() {
  return [](const mqtt::Message&, const std::string&) {};
}

}  // namespace

TEST_CASE("outgoing: replies go before any bulk message, in order") {
  OutgoingQueue q;
  q.PushBulk(Msg("n/1", "a"));
  q.PushBulk(Msg("n/2", "b"));
  q.PushReply(Msg("r/1", "x"));
  q.PushReply(Msg("r/2", "y"));
  FakeClient c;
  CHECK(q.Drain(std::ref(c), 10, Ignore()) == 4);
  CHECK(c.sent == std::vector<std::string>{"r/1=x", "r/2=y", "n/1=a", "n/2=b"});
  CHECK(q.empty());
}

TEST_CASE("outgoing: bulk leaves only as far as the window allows, replies are not windowed") {
  OutgoingQueue q;
  for (int i = 0; i < 10; ++i) q.PushBulk(Msg("n/" + std::to_string(i), "p"));
  for (int i = 0; i < 3; ++i) q.PushReply(Msg("r/" + std::to_string(i), "p"));
  FakeClient c;
  CHECK(q.Drain(std::ref(c), 2, Ignore()) == 5);  // 3 replies + 2 bulk
  CHECK(q.bulk() == 8);
  CHECK(q.Drain(std::ref(c), 0, Ignore()) == 0);  // window full: nothing more
  CHECK(q.bulk() == 8);
  CHECK(q.Drain(std::ref(c), 100, Ignore()) == 8);
  CHECK(q.empty());
  CHECK(c.sent.back() == "n/9=p");
}

TEST_CASE("outgoing: a topic queued again keeps its place and sends only its newest payload") {
  OutgoingQueue q;
  q.PushBulk(Msg("n/A", "old"));
  q.PushBulk(Msg("n/B", "b"));
  q.PushBulk(Msg("n/A", "new"));  // e.g. the notices queued again on reconnect
  q.PushBulk(Msg("n/C", ""));     // a clear
  CHECK(q.bulk() == 3);
  FakeClient c;
  q.Drain(std::ref(c), 10, Ignore());
  CHECK(c.sent == std::vector<std::string>{"n/A=new", "n/B=b", "n/C="});
}

TEST_CASE("outgoing: replies are never coalesced") {
  OutgoingQueue q;
  q.PushReply(Msg("r/T1", "1"));
  q.PushReply(Msg("r/T1", "2"));
  FakeClient c;
  q.Drain(std::ref(c), 0, Ignore());
  CHECK(c.sent == std::vector<std::string>{"r/T1=1", "r/T1=2"});
}

TEST_CASE("outgoing: a busy client keeps the message first in its lane") {
  OutgoingQueue q;
  q.PushReply(Msg("r/1", "x"));
  q.PushReply(Msg("r/2", "y"));
  q.PushBulk(Msg("n/1", "a"));
  FakeClient c;
  c.accept = 1;
  CHECK(q.Drain(std::ref(c), 10, Ignore()) == 1);
  CHECK(q.replies() == 1);
  CHECK(q.bulk() == 1);
  c.accept = 10;
  CHECK(q.Drain(std::ref(c), 10, Ignore()) == 2);
  CHECK(c.sent == std::vector<std::string>{"r/1=x", "r/2=y", "n/1=a"});
}

TEST_CASE("outgoing: a refused message is dropped and reported, the rest still go") {
  OutgoingQueue q;
  q.PushReply(Msg("bad", "x"));
  q.PushBulk(Msg("n/1", "a"));
  FakeClient c;
  c.fail_topics = {"bad"};
  std::vector<std::string> dropped;
  q.Drain(std::ref(c), 10, [&](const mqtt::Message& m, const std::string& e) { dropped.push_back(m.topic + ":" + e); });
  CHECK(dropped == std::vector<std::string>{"bad:refused"});
  CHECK(c.sent == std::vector<std::string>{"n/1=a"});
  CHECK(q.empty());
}

}  // namespace slotwise::scheduler
