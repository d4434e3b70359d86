// The scheduler's reply rule (scheduler/include/slotwise/scheduler/mqtt_server.h
// IsAllowedReplyTopic): a reply goes only where its requester may read, never
// to another terminal's topics, presence, stats or a request topic.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "slotwise/scheduler/mqtt_server.h"
#include "slotwise/topics.h"

namespace topics = slotwise::topics;
using slotwise::scheduler::IsAllowedReplyTopic;
using topics::Leaf;

namespace {

// Every topic a deputy attempt might aim at.
std::vector<std::string> Targets() {
  return {
      topics::Terminal("TB", Leaf::kReply),  topics::Terminal("TB", Leaf::kNotice),
      topics::Terminal("TB", Leaf::kReport), topics::Terminal("TA", Leaf::kNotice),
      topics::Terminal("TA", Leaf::kReport), topics::Terminal("TA", Leaf::kReply) + "/x",
      topics::Terminal("TAB", Leaf::kReply), topics::Presence("TB"),
      topics::Presence("TA"),                "slotwise/v1/stats/broker",
      topics::OperatorReply("op-1"),         std::string(topics::kOperatorRequest),
      topics::AllTerminals(Leaf::kReply),    "slotwise/v1/op/reply/+",
      "slotwise/v1/op/reply/#",              "slotwise/v1/op/reply/a/b",
      "slotwise/v1/op/reply/",               "other/topic",
      "",
  };
}

}  // namespace

TEST_CASE("reply topic: a terminal request is answered only on its own reply topic") {
  for (const Leaf leaf : {Leaf::kReport, Leaf::kCheck, Leaf::kStatus}) {
    const std::string request = topics::Terminal("TA", leaf);
    CAPTURE(request);
    CHECK(IsAllowedReplyTopic(request, topics::Terminal("TA", Leaf::kReply)));
    for (const std::string& target : Targets()) {
      CAPTURE(target);
      CHECK_FALSE(IsAllowedReplyTopic(request, target));
    }
  }
}

TEST_CASE("reply topic: an operator request is answered only on an op/reply/{cid} topic") {
  const std::string request(topics::kOperatorRequest);
  CHECK(IsAllowedReplyTopic(request, topics::OperatorReply("op-1")));
  CHECK(IsAllowedReplyTopic(request, topics::OperatorReply("cli-12345")));
  for (const std::string& target : Targets()) {
    if (target == topics::OperatorReply("op-1")) continue;
    CAPTURE(target);
    CHECK_FALSE(IsAllowedReplyTopic(request, target));
  }
}

TEST_CASE("reply topic: nothing else is answered at all") {
  for (const std::string& request :
       {topics::Terminal("TA", Leaf::kNotice), topics::Terminal("TA", Leaf::kReply),
        topics::Presence("TA"), topics::OperatorReply("op-1"), std::string("other/topic")}) {
    CAPTURE(request);
    CHECK_FALSE(IsAllowedReplyTopic(request, topics::Terminal("TA", Leaf::kReply)));
    CHECK_FALSE(IsAllowedReplyTopic(request, topics::OperatorReply("op-1")));
  }
}
