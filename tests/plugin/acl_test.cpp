// The access matrix of schemas/README.md "Access", table-driven
// (broker-plugin/include/slotwise/broker/acl.h).
#include <doctest/doctest.h>

#include "slotwise/broker/acl.h"
#include "slotwise/topics.h"

using namespace slotwise::broker;
namespace topics = slotwise::topics;
using topics::Leaf;

namespace {

constexpr Access kAll[] = {Access::kRead, Access::kWrite, Access::kSubscribe,
                           Access::kUnsubscribe};

struct Case {
  std::string topic;
  Access access;
  bool allowed;
};

void CheckCases(Role role, std::string_view username, std::string_view client_id,
                const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    CAPTURE(c.topic);
    CAPTURE(AccessName(c.access));
    CHECK(IsAllowed(role, username, client_id, c.topic, c.access) == c.allowed);
  }
}

bool Terminal(std::string_view tid, std::string_view topic, Access access) {
  return IsAllowed(Role::kTerminal, tid, tid, topic, access);
}

}  // namespace

TEST_CASE("acl: terminal writes only its own report, check and status") {
  const std::vector<Case> cases = {
      {topics::Terminal("A", Leaf::kReport), Access::kWrite, true},
      {topics::Terminal("A", Leaf::kCheck), Access::kWrite, true},
      {topics::Terminal("A", Leaf::kStatus), Access::kWrite, true},
      {topics::Terminal("A", Leaf::kNotice), Access::kWrite, false},
      {topics::Terminal("A", Leaf::kReply), Access::kWrite, false},
      {topics::Terminal("B", Leaf::kReport), Access::kWrite, false},
      {topics::Terminal("A", Leaf::kReport) + "/x", Access::kWrite, false},
      {topics::Presence("A"), Access::kWrite, false},
      {std::string(topics::kOperatorRequest), Access::kWrite, false},
      {"other/topic", Access::kWrite, false},
      {"slotwise/v2/t/A/report", Access::kWrite, false},
  };
  CheckCases(Role::kTerminal, "A", "A", cases);
}

TEST_CASE("acl: terminal reads only its own notice and reply") {
  const std::vector<Case> cases = {
      {topics::Terminal("A", Leaf::kNotice), Access::kRead, true},
      {topics::Terminal("A", Leaf::kReply), Access::kRead, true},
      // Its own requests are not echoed back to it.
      {topics::Terminal("A", Leaf::kReport), Access::kRead, false},
      {topics::Terminal("A", Leaf::kStatus), Access::kRead, false},
      {topics::Terminal("B", Leaf::kNotice), Access::kRead, false},
      {topics::Terminal("B", Leaf::kReply), Access::kRead, false},
      {topics::Presence("A"), Access::kRead, false},
      {topics::OperatorReply("A"), Access::kRead, false},
      // Per-component notices: its own, never another terminal's, never a
      // level that is not a component name, and it never writes them.
      {topics::Notice("A", "pos-app"), Access::kRead, true},
      {"slotwise/v1/t/A/notice/printer.fw", Access::kRead, true},
      {topics::Notice("B", "pos-app"), Access::kRead, false},
      {"slotwise/v1/t/A/notice/POS", Access::kRead, false},
      {"slotwise/v1/t/A/notice/a/b", Access::kRead, false},
      {"slotwise/v1/t/A/notice/", Access::kRead, false},
      {topics::Notice("A", "pos-app"), Access::kWrite, false},
  };
  CheckCases(Role::kTerminal, "A", "A", cases);
}

TEST_CASE("acl: terminal subscribes only to filters under its own subtree") {
  const std::vector<Case> cases = {
      {topics::Terminal("A", Leaf::kNotice), Access::kSubscribe, true},
      {topics::Terminal("A", Leaf::kReply), Access::kSubscribe, true},
      {"slotwise/v1/t/A/#", Access::kSubscribe, true},
      {"slotwise/v1/t/A/+", Access::kSubscribe, true},
      {topics::ComponentNotices("A"), Access::kSubscribe, true},  // .../notice/+
      {"slotwise/v1/t/B/notice/+", Access::kSubscribe, false},
      {"slotwise/v1/t/+/notice/+", Access::kSubscribe, false},
      {"slotwise/v1/t/A/#", Access::kUnsubscribe, true},
      {"slotwise/v1/t/A/", Access::kSubscribe, false},
      {"slotwise/v1/t/A", Access::kSubscribe, false},
      {"slotwise/v1/t/AB/#", Access::kSubscribe, false},
      {topics::AllTerminals(Leaf::kNotice), Access::kSubscribe, false},
      {"slotwise/v1/t/+/#", Access::kSubscribe, false},
      {"slotwise/v1/t/#", Access::kSubscribe, false},
      {"slotwise/#", Access::kSubscribe, false},
      {"#", Access::kSubscribe, false},
      {"+/v1/t/A/notice", Access::kSubscribe, false},
      {"$share/g/slotwise/v1/t/A/notice", Access::kSubscribe, false},
      {topics::Terminal("B", Leaf::kNotice), Access::kSubscribe, false},
      {"slotwise/v1/presence/+", Access::kSubscribe, false},
      {"$SYS/#", Access::kSubscribe, false},
  };
  CheckCases(Role::kTerminal, "A", "A", cases);
}

TEST_CASE("acl: a terminal whose identity is inconsistent gets nothing") {
  const std::string own_notice = topics::Terminal("A", Leaf::kNotice);
  for (const Access access : kAll) {
    CAPTURE(AccessName(access));
    // client id != username (connect refuses it; the ACL does not rely on that)
    CHECK_FALSE(IsAllowed(Role::kTerminal, "A", "B", own_notice, access));
    CHECK_FALSE(IsAllowed(Role::kTerminal, "A", "", own_notice, access));
    // an invalid id holding a wildcard must not widen anything
    CHECK_FALSE(IsAllowed(Role::kTerminal, "+", "+", topics::AllTerminals(Leaf::kNotice), access));
    CHECK_FALSE(IsAllowed(Role::kTerminal, "", "", "slotwise/v1/t//notice", access));
  }
}

TEST_CASE("acl: operator writes requests and reads only its own reply topic") {
  const std::string own_reply = topics::OperatorReply("op-1");
  const std::vector<Case> cases = {
      {std::string(topics::kOperatorRequest), Access::kWrite, true},
      {own_reply, Access::kSubscribe, true},
      {own_reply, Access::kRead, true},
      {own_reply, Access::kUnsubscribe, true},
      {own_reply, Access::kWrite, false},
      {std::string(topics::kOperatorRequest), Access::kRead, false},
      {std::string(topics::kOperatorRequest), Access::kSubscribe, false},
      {topics::OperatorReply("op-2"), Access::kSubscribe, false},
      {topics::OperatorReply("op-2"), Access::kRead, false},
      {topics::OperatorReply("+"), Access::kSubscribe, false},
      {"slotwise/v1/op/reply/#", Access::kSubscribe, false},
      {"slotwise/v1/op/#", Access::kSubscribe, false},
      {topics::Terminal("A", Leaf::kNotice), Access::kSubscribe, false},
      {topics::Terminal("A", Leaf::kNotice), Access::kRead, false},
      {topics::Terminal("A", Leaf::kNotice), Access::kWrite, false},
      {topics::Terminal("A", Leaf::kReport), Access::kWrite, false},
      {topics::Presence("A"), Access::kSubscribe, false},
      {"#", Access::kSubscribe, false},
  };
  CheckCases(Role::kOperator, "alice", "op-1", cases);
}

TEST_CASE("acl: operators read the live events, terminals never, nobody but the service writes them") {
  const std::string campaign = topics::CampaignEvents("c1");
  const std::string node = topics::NodeEvents("n1");
  const std::vector<Case> op_cases = {
      {campaign, Access::kRead, true},
      {campaign, Access::kSubscribe, true},
      {node, Access::kRead, true},
      {"slotwise/v1/op/events/#", Access::kSubscribe, true},
      {"slotwise/v1/op/events/campaign/+", Access::kSubscribe, true},
      {campaign, Access::kWrite, false},
      {node, Access::kWrite, false},
      {std::string(topics::kOperatorEventsPrefix), Access::kSubscribe, false},
      {"slotwise/v1/op/events", Access::kSubscribe, false},
      {"slotwise/v1/op/+/campaign/c1", Access::kSubscribe, false},
  };
  CheckCases(Role::kOperator, "alice", "op-1", op_cases);
  for (const Access access : kAll) {
    CAPTURE(AccessName(access));
    CHECK_FALSE(IsAllowed(Role::kTerminal, "A", "A", campaign, access));
    CHECK_FALSE(IsAllowed(Role::kTerminal, "A", "A", node, access));
    CHECK_FALSE(IsAllowed(Role::kTerminal, "A", "A", "slotwise/v1/op/events/#", access));
  }
  CHECK(IsAllowed(Role::kService, "slotwise-scheduler", "s", campaign, Access::kWrite));
}

TEST_CASE("acl: an operator client id with wildcards or '/' gets no reply topic") {
  for (const std::string_view cid : {"+", "#", "a/b", ""}) {
    CAPTURE(cid);
    const std::string reply = topics::OperatorReply(cid);
    CHECK_FALSE(IsAllowed(Role::kOperator, "alice", cid, reply, Access::kSubscribe));
    CHECK_FALSE(IsAllowed(Role::kOperator, "alice", cid, reply, Access::kRead));
  }
  // ...but it may still send requests (the scheduler's reply is then lost).
  CHECK(IsAllowed(Role::kOperator, "alice", "+", topics::kOperatorRequest, Access::kWrite));
}

TEST_CASE("acl: service may do anything under slotwise/ and nothing else") {
  const std::vector<std::string> inside = {
      topics::Terminal("A", Leaf::kNotice), topics::Terminal("A", Leaf::kReport),
      topics::AllTerminals(Leaf::kReport),  std::string(topics::kOperatorRequest),
      topics::OperatorReply("op-1"),        "slotwise/#",
      "slotwise/v2/anything",
  };
  for (const std::string& topic : inside) {
    for (const Access access : kAll) {
      CAPTURE(topic);
      CAPTURE(AccessName(access));
      CHECK(IsAllowed(Role::kService, "sched", "sched-1", topic, access));
    }
  }
  // Presence and stats: read and subscribe, never write (the plugin's own).
  for (const std::string& topic : {topics::Presence("A"), std::string(topics::kPresencePrefix) + "+",
                                   std::string(kDefaultStatsTopic)}) {
    CAPTURE(topic);
    CHECK(IsAllowed(Role::kService, "sched", "sched-1", topic, Access::kRead));
    CHECK(IsAllowed(Role::kService, "sched", "sched-1", topic, Access::kSubscribe));
    CHECK_FALSE(IsAllowed(Role::kService, "sched", "sched-1", topic, Access::kWrite));
  }
  for (const std::string_view topic :
       {"#", "+/v1/t/A/report", "other/x", "slotwise", "slotwise/", "$SYS/broker/uptime",
        "$share/g/slotwise/v1/t/+/report", "Slotwise/v1/t/A/report"}) {
    for (const Access access : kAll) {
      CAPTURE(topic);
      CAPTURE(AccessName(access));
      CHECK_FALSE(IsAllowed(Role::kService, "sched", "sched-1", topic, access));
    }
  }
}

TEST_CASE("acl: a terminal never reaches another terminal's topics, whatever the leaf") {
  for (const Leaf leaf : {Leaf::kNotice, Leaf::kReport, Leaf::kCheck, Leaf::kStatus, Leaf::kReply}) {
    for (const Access access : kAll) {
      CAPTURE(AccessName(access));
      CHECK_FALSE(Terminal("A", topics::Terminal("B", leaf), access));
    }
  }
}

TEST_CASE("topics: OwnTerminalLeaf matches only the terminal's own leaves") {
  using topics::Leaf;
  using topics::OwnTerminalLeaf;
  CHECK(OwnTerminalLeaf("slotwise/v1/t/T1/report", "T1") == Leaf::kReport);
  CHECK(OwnTerminalLeaf("slotwise/v1/t/T1/notice", "T1") == Leaf::kNotice);
  CHECK_FALSE(OwnTerminalLeaf("slotwise/v1/t/T10/report", "T1"));   // an id it is a prefix of
  CHECK_FALSE(OwnTerminalLeaf("slotwise/v1/t/T1/report", "T10"));
  CHECK_FALSE(OwnTerminalLeaf("slotwise/v1/t/T1/report/x", "T1"));  // an extra level
  CHECK_FALSE(OwnTerminalLeaf("slotwise/v1/t/T1/", "T1"));
  CHECK_FALSE(OwnTerminalLeaf("slotwise/v1/t/T1", "T1"));
  CHECK_FALSE(OwnTerminalLeaf("slotwise/v1/t/T1/reports", "T1"));
  CHECK_FALSE(OwnTerminalLeaf("slotwise/v2/t/T1/report", "T1"));
}

TEST_CASE("acl: nobody writes presence or the stats topic, the configured one included") {
  const std::string custom_stats = "slotwise/v1/stats/edge-1";
  for (const std::string& topic :
       {topics::Presence("A"), topics::Presence("B"), std::string(topics::kPresencePrefix) + "x/y",
        std::string(kDefaultStatsTopic), custom_stats}) {
    CAPTURE(topic);
    // With a custom stats topic the default one is an ordinary service topic.
    const bool plugin_output = topic != kDefaultStatsTopic;
    CHECK(IsPluginOutput(topic, custom_stats) == plugin_output);
    CHECK(IsAllowed(Role::kService, "sched", "sched-1", topic, Access::kWrite, custom_stats) ==
          !plugin_output);
    CHECK_FALSE(IsAllowed(Role::kTerminal, "A", "A", topic, Access::kWrite, custom_stats));
    CHECK_FALSE(IsAllowed(Role::kOperator, "alice", "op-1", topic, Access::kWrite, custom_stats));
  }
  CHECK(IsAllowed(Role::kService, "sched", "sched-1", custom_stats, Access::kRead, custom_stats));
}

TEST_CASE("acl: a terminal may name only its own reply topic as Response Topic") {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"", true},  // none: processed, its answer dropped
      {topics::Terminal("A", Leaf::kReply), true},
      {topics::Terminal("A", Leaf::kNotice), false},
      {topics::Terminal("A", Leaf::kReport), false},
      {topics::Terminal("A", Leaf::kReply) + "/x", false},
      {topics::Terminal("B", Leaf::kReply), false},
      {topics::Terminal("B", Leaf::kNotice), false},
      {topics::Terminal("AB", Leaf::kReply), false},
      {topics::Presence("B"), false},
      {topics::Presence("A"), false},
      {std::string(kDefaultStatsTopic), false},
      {topics::OperatorReply("op-1"), false},
      {std::string(topics::kOperatorRequest), false},
      {"other/topic", false},
      {"slotwise/v2/t/A/reply", false},
  };
  for (const auto& [topic, allowed] : cases) {
    CAPTURE(topic);
    CHECK(IsAllowedResponseTopic(Role::kTerminal, "A", "A", topic) == allowed);
  }
  // An inconsistent identity names nothing.
  CHECK_FALSE(IsAllowedResponseTopic(Role::kTerminal, "A", "B", topics::Terminal("A", Leaf::kReply)));
  CHECK_FALSE(IsAllowedResponseTopic(Role::kTerminal, "", "", "slotwise/v1/t//reply"));
}

TEST_CASE("acl: an operator may name only its own client id's reply topic as Response Topic") {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"", true},
      {topics::OperatorReply("op-1"), true},
      {topics::OperatorReply("op-2"), false},
      {topics::OperatorReply("op-1") + "/x", false},
      {topics::OperatorReply(""), false},
      {topics::OperatorReply("+"), false},
      {topics::Terminal("A", Leaf::kReply), false},
      {topics::Terminal("A", Leaf::kNotice), false},
      {topics::Presence("A"), false},
      {std::string(kDefaultStatsTopic), false},
  };
  for (const auto& [topic, allowed] : cases) {
    CAPTURE(topic);
    CHECK(IsAllowedResponseTopic(Role::kOperator, "alice", "op-1", topic) == allowed);
  }
  for (const std::string_view cid : {"+", "#", "a/b", ""}) {
    CAPTURE(cid);
    CHECK_FALSE(IsAllowedResponseTopic(Role::kOperator, "alice", cid, topics::OperatorReply(cid)));
  }
  // Services are trusted: the scheduler's own replies and tests.
  CHECK(IsAllowedResponseTopic(Role::kService, "sched", "sched-1", topics::Presence("A")));
}

TEST_CASE("topics: ParseOperatorReplyTopic takes one level without wildcards") {
  CHECK(topics::ParseOperatorReplyTopic("slotwise/v1/op/reply/cli-7") == std::string_view("cli-7"));
  CHECK_FALSE(topics::ParseOperatorReplyTopic("slotwise/v1/op/reply/"));
  CHECK_FALSE(topics::ParseOperatorReplyTopic("slotwise/v1/op/reply/a/b"));
  CHECK_FALSE(topics::ParseOperatorReplyTopic("slotwise/v1/op/reply/+"));
  CHECK_FALSE(topics::ParseOperatorReplyTopic("slotwise/v1/op/reply/#"));
  CHECK_FALSE(topics::ParseOperatorReplyTopic("slotwise/v1/op/request"));
  CHECK_FALSE(topics::ParseOperatorReplyTopic("slotwise/v1/t/A/reply"));
}
