// The topic tree (slotwise/topics.h): built and parsed in one place.
#include <doctest/doctest.h>

#include <string>

#include "slotwise/topics.h"

namespace slotwise {
namespace {

using topics::Leaf;

TEST_CASE("topics: terminal topics are built and parsed back for every leaf") {
  for (const Leaf leaf : {Leaf::kNotice, Leaf::kReport, Leaf::kCheck, Leaf::kStatus, Leaf::kReply}) {
    const std::string topic = topics::Terminal("T-001.a_b", leaf);
    CAPTURE(topic);
    CHECK(topic == "slotwise/v1/t/T-001.a_b/" + std::string(topics::LeafName(leaf)));
    const auto parsed = topics::ParseTerminalTopic(topic);
    REQUIRE(parsed.has_value());
    CHECK(parsed->terminal_id == "T-001.a_b");
    CHECK(parsed->leaf == leaf);
  }
  CHECK(topics::AllTerminals(Leaf::kReport) == "slotwise/v1/t/+/report");
  CHECK(topics::Presence("T1") == "slotwise/v1/presence/T1");
  CHECK(topics::OperatorReply("cli-7") == "slotwise/v1/op/reply/cli-7");
}

TEST_CASE("topics: only report, check and status go upstream") {
  CHECK(topics::IsUpstream(Leaf::kReport));
  CHECK(topics::IsUpstream(Leaf::kCheck));
  CHECK(topics::IsUpstream(Leaf::kStatus));
  CHECK_FALSE(topics::IsUpstream(Leaf::kNotice));
  CHECK_FALSE(topics::IsUpstream(Leaf::kReply));
}

TEST_CASE("topics: terminal ids are 1-64 characters of [A-Za-z0-9._-]") {
  CHECK(topics::IsValidTerminalId("T1"));
  CHECK(topics::IsValidTerminalId(std::string(64, 'a')));
  CHECK_FALSE(topics::IsValidTerminalId(""));
  CHECK_FALSE(topics::IsValidTerminalId(std::string(65, 'a')));
  for (const char* bad : {"a/b", "a+b", "a#", "a b", "t\xc3\xa9", "a\nb"}) {
    CAPTURE(bad);
    CHECK_FALSE(topics::IsValidTerminalId(bad));
  }
}

TEST_CASE("topics: anything but slotwise/v1/t/{tid}/{leaf} does not parse") {
  for (const char* bad : {"slotwise/v1/t/T1", "slotwise/v1/t/T1/", "slotwise/v1/t/T1/bogus",
                          "slotwise/v1/t/+/report", "slotwise/v1/t/#", "slotwise/v1/t/T1/report/x",
                          "slotwise/v2/t/T1/report", "slotwise/v1/t//report", "x/slotwise/v1/t/T1/report"}) {
    CAPTURE(bad);
    CHECK_FALSE(topics::ParseTerminalTopic(bad).has_value());
  }
}

TEST_CASE("topics: component names and per-component notice topics") {
  CHECK(topics::IsValidComponentName("payment-app"));
  CHECK(topics::IsValidComponentName("emv.params_2"));
  CHECK(topics::IsValidComponentName(std::string(32, 'a')));
  for (const std::string& bad : {std::string(), std::string(33, 'a'), std::string("App"),
                                std::string("a/b"), std::string("a+"), std::string("#"),
                                std::string("a b")}) {
    CAPTURE(bad);
    CHECK_FALSE(topics::IsValidComponentName(bad));
  }
  CHECK(topics::IsSystemComponent(""));
  CHECK(topics::IsSystemComponent("system"));
  CHECK_FALSE(topics::IsSystemComponent("app"));
  CHECK(topics::CanonicalComponent("system").empty());
  CHECK(topics::CanonicalComponent("app") == "app");

  // The system image keeps the v1 topic; other components get a subtopic.
  CHECK(topics::Notice("T1", "") == "slotwise/v1/t/T1/notice");
  CHECK(topics::Notice("T1", "system") == "slotwise/v1/t/T1/notice");
  CHECK(topics::Notice("T1", "app") == "slotwise/v1/t/T1/notice/app");
  CHECK(topics::ComponentNotices("T1") == "slotwise/v1/t/T1/notice/+");

  CHECK(topics::NoticeComponentOf("slotwise/v1/t/T1/notice") == std::string_view{});
  CHECK(topics::NoticeComponentOf("slotwise/v1/t/T1/notice/app") == "app");
  for (const char* bad : {"slotwise/v1/t/T1/notice/", "slotwise/v1/t/T1/notice/App",
                          "slotwise/v1/t/T1/notice/a/b", "slotwise/v1/t/T1/report",
                          "slotwise/v1/t/+/notice/app", "slotwise/v1/t/T1/noticex"}) {
    CAPTURE(bad);
    CHECK_FALSE(topics::NoticeComponentOf(bad).has_value());
  }

  // A component notice is the terminal's own (read-only) notice leaf...
  CHECK(topics::OwnTerminalLeaf("slotwise/v1/t/T1/notice/app", "T1") == topics::Leaf::kNotice);
  CHECK_FALSE(topics::OwnTerminalLeaf("slotwise/v1/t/T1/notice/app", "T2").has_value());
  CHECK_FALSE(topics::OwnTerminalLeaf("slotwise/v1/t/T1/notice/a/b", "T1").has_value());
  const auto parsed = topics::ParseTerminalTopic("slotwise/v1/t/T1/notice/app");
  REQUIRE(parsed.has_value());
  CHECK(parsed->leaf == topics::Leaf::kNotice);
  // ...and never an upstream one: report/x stays unparsable.
  CHECK_FALSE(topics::ParseTerminalTopic("slotwise/v1/t/T1/report/app").has_value());
}

TEST_CASE("topics: presence topics") {
  CHECK(topics::ParsePresenceTopic("slotwise/v1/presence/T1") == std::string("T1"));
  CHECK_FALSE(topics::ParsePresenceTopic("slotwise/v1/presence/").has_value());
  CHECK_FALSE(topics::ParsePresenceTopic("slotwise/v1/presence/a/b").has_value());
  CHECK_FALSE(topics::ParsePresenceTopic("slotwise/v1/t/T1/report").has_value());
}

}  // namespace
}  // namespace slotwise
