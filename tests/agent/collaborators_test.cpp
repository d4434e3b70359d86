// The agent's collaborators on their own: the reconnect policy, the request
// channel and where log lines go. (The same behaviour through the whole
// Agent is in agent_test.cpp.)
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "fakes.h"
#include "slotwise/agent/agent_log.h"
#include "slotwise/agent/reconnect_policy.h"
#include "slotwise/agent/request_channel.h"
#include "slotwise/log.h"

namespace slotwise::agent::testing {
namespace {

using std::chrono::milliseconds;

constexpr TimeMs kT0 = 1'700'000'000'000;

ReconnectPolicy::Settings Paho() { return {milliseconds(1000), milliseconds(60'000), milliseconds(100), milliseconds(60'000), false}; }

TEST_CASE("reconnect policy: without jitter the ceiling doubles from min to max") {
  std::mt19937_64 rng(1);
  ReconnectPolicy policy(Paho(), rng);
  std::vector<long long> delays;
  for (int i = 0; i < 8; ++i) delays.push_back(policy.Next(kT0, false).delay.count());
  CHECK(delays == std::vector<long long>{1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000});
  CHECK(policy.Next(kT0, false).rule == "no jitter, ceiling 60000 ms");
}

TEST_CASE("reconnect policy: full jitter stays in [floor, ceiling], the first loss of a good link is spread") {
  std::mt19937_64 rng(7);
  ReconnectPolicy::Settings settings = Paho();
  settings.jitter = true;
  settings.spread = milliseconds(30'000);
  ReconnectPolicy policy(settings, rng);
  policy.Connected(kT0);
  // Up for longer than max: the backoff starts again, and this loss is spread.
  const auto spread = policy.Next(kT0 + 60'000, true);
  CHECK(spread.rule == "spread 30000 ms");
  CHECK(spread.delay >= milliseconds(100));
  CHECK(spread.delay <= milliseconds(30'000));
  // The attempts that follow use the doubling ceiling.
  for (long long ceiling : {2000, 4000, 8000}) {
    const auto next = policy.Next(kT0 + 61'000, false);
    CHECK(next.rule == "ceiling " + std::to_string(ceiling) + " ms");
    CHECK(next.delay >= milliseconds(100));
    CHECK(next.delay <= milliseconds(ceiling));
  }
  // A link that drops at once does not reset the backoff, and is not spread.
  policy.Connected(kT0 + 70'000);
  CHECK(policy.Next(kT0 + 70'500, true).rule == "ceiling 16000 ms");
}

TEST_CASE("reconnect policy: a refused first connect is not spread") {
  std::mt19937_64 rng(3);
  ReconnectPolicy::Settings settings = Paho();
  settings.jitter = true;
  ReconnectPolicy policy(settings, rng);
  CHECK(policy.Next(kT0, false).rule == "ceiling 1000 ms");
}

struct ChannelRig {
  FakeClock clock{kT0};
  FakeTransport transport;
  std::mt19937_64 rng{42};
  std::vector<std::string> lines;
  AgentLog log{"T9", [this](std::string_view line) { lines.emplace_back(line); }};
  RequestChannel channel{"T9", {milliseconds(5000), milliseconds(60'000)}, transport, clock, clock, rng, log};

  ChannelRig() { transport.connected = true; }
};

v1::Check SomeCheck() {
  v1::Check check;
  check.set_campaign_id("C1");
  return check;
}

TEST_CASE("request channel: a request waits for the link, carries reply topic and correlation, is resent unchanged") {
  ChannelRig rig;
  rig.channel.Send(topics::Leaf::kCheck, SomeCheck());
  CHECK(rig.transport.sent.empty());  // the link is not up yet
  CHECK_FALSE(rig.channel.NextResendAt().has_value());
  rig.channel.LinkUp();
  REQUIRE(rig.transport.sent.size() == 1);
  const OutboundMessage first = rig.transport.sent[0];
  CHECK(first.topic == "slotwise/v1/t/T9/check");
  CHECK(first.response_topic == "slotwise/v1/t/T9/reply");
  CHECK(rig.channel.reply_topic() == first.response_topic);
  CHECK(first.correlation_data.size() == 16 + 2);  // 16 hex digits, "-", sequence 1
  CHECK(first.correlation_data.ends_with("-1"));
  CHECK(rig.channel.phase_leaf() == topics::Leaf::kCheck);
  CHECK(rig.channel.Classify(first.correlation_data) == RequestChannel::Match::kPhase);
  CHECK(rig.channel.Classify("stale-1") == RequestChannel::Match::kNone);

  // First resend after about reply_timeout (+-20%), then doubling.
  const TimeMs resend = *rig.channel.NextResendAt();
  CHECK(resend >= kT0 + 4000);
  CHECK(resend <= kT0 + 6000);
  rig.channel.ResendDue(resend - 1);
  CHECK(rig.transport.sent.size() == 1);
  rig.clock.Set(resend);
  rig.channel.ResendDue(resend);
  REQUIRE(rig.transport.sent.size() == 2);
  CHECK(rig.transport.sent[1].correlation_data == first.correlation_data);
  CHECK(rig.transport.sent[1].payload == first.payload);
  CHECK(*rig.channel.NextResendAt() >= resend + 8000);
  CHECK(rig.lines.back() == "agent T9: no reply to check yet, sending it again");

  // A new phase's request replaces the old one: its replies become stale.
  rig.channel.CancelPhaseRequest();
  CHECK(rig.channel.Classify(first.correlation_data) == RequestChannel::Match::kNone);
  CHECK_FALSE(rig.channel.NextResendAt().has_value());
}

TEST_CASE("request channel: the inventory report goes out first on LinkUp and stops once answered") {
  ChannelRig rig;
  v1::Report inventory;
  inventory.set_current_version("1.0");
  rig.channel.QueueInventory(inventory);
  rig.channel.Send(topics::Leaf::kReport, v1::Report());
  CHECK(rig.channel.inventory_outstanding());
  rig.channel.LinkUp();
  REQUIRE(rig.transport.sent.size() == 2);
  CHECK(rig.channel.Classify(rig.transport.sent[0].correlation_data) == RequestChannel::Match::kInventory);
  CHECK(rig.channel.Classify(rig.transport.sent[1].correlation_data) == RequestChannel::Match::kPhase);
  CHECK(rig.transport.sent[0].correlation_data != rig.transport.sent[1].correlation_data);
  rig.channel.InventoryAnswered();
  CHECK_FALSE(rig.channel.inventory_outstanding());
  // Down: nothing is sent, not even progress; up again: the phase's request again.
  rig.channel.LinkDown();
  rig.channel.Notify(topics::Leaf::kStatus, v1::Status());
  rig.channel.ResendDue(kT0 + 3'600'000);
  CHECK(rig.transport.sent.size() == 2);
  rig.channel.LinkUp();
  REQUIRE(rig.transport.sent.size() == 3);
  CHECK(rig.channel.Classify(rig.transport.sent[2].correlation_data) == RequestChannel::Match::kPhase);
  rig.channel.Notify(topics::Leaf::kStatus, v1::Status());
  REQUIRE(rig.transport.sent.size() == 4);
  CHECK(rig.transport.sent[3].response_topic.empty());
  CHECK(rig.transport.sent[3].correlation_data.empty());
}

TEST_CASE("request channel: correlation prefixes differ between runs") {
  FakeClock clock{kT0};
  FakeTransport transport;
  AgentLog log{"T9", [](std::string_view) {}};
  std::mt19937_64 rng_a{1};
  std::mt19937_64 rng_b{2};
  RequestChannel a{"T9", {milliseconds(5000), milliseconds(60'000)}, transport, clock, clock, rng_a, log};
  RequestChannel b{"T9", {milliseconds(5000), milliseconds(60'000)}, transport, clock, clock, rng_b, log};
  transport.connected = true;
  a.LinkUp();
  b.LinkUp();
  a.Send(topics::Leaf::kCheck, SomeCheck());
  b.Send(topics::Leaf::kCheck, SomeCheck());
  REQUIRE(transport.sent.size() == 2);
  CHECK(transport.sent[0].correlation_data != transport.sent[1].correlation_data);
}

std::vector<std::string>& SinkLines() {
  static std::vector<std::string> lines;
  return lines;
}

TEST_CASE("agent log: the hook gets every line, without it the core sink does at its level") {
  std::vector<std::string> hooked;
  const AgentLog with_hook("T1", [&](std::string_view line) { hooked.emplace_back(line); });
  with_hook.Debug("detail");
  with_hook.Warn("lost");
  CHECK(hooked == std::vector<std::string>{"agent T1: detail", "agent T1: lost"});

  const log::Level saved = log::CurrentLevel();
  SinkLines().clear();
  log::SetSink([](log::Level, std::string_view line) { SinkLines().emplace_back(line); });
  log::SetLevel(log::Level::kInfo);
  const AgentLog to_sink("T1", nullptr);
  to_sink.Debug("hidden");
  to_sink.Info("WAITING -> CHECKING");
  log::SetSink(nullptr);
  log::SetLevel(saved);
  REQUIRE(SinkLines().size() == 1);
  CHECK(SinkLines()[0].ends_with(" INFO agent T1: WAITING -> CHECKING"));
}

}  // namespace
}  // namespace slotwise::agent::testing
