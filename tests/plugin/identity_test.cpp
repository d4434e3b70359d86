// The connect-time decision (broker-plugin/include/slotwise/broker/identity.h).
#include <doctest/doctest.h>

#include "slotwise/broker/identity.h"

using namespace slotwise::broker;

namespace {

PluginConfig TestConfig() {
  auto config = ParseConfig({{"services", "sched"}, {"operators", "alice"}});
  REQUIRE(config.ok());
  return *config;
}

}  // namespace

TEST_CASE("identity: a terminal with username == client id is accepted") {
  auto id = Authenticate(TestConfig(), {"term-01", "term-01"});
  REQUIRE(id.ok());
  CHECK(id->role == Role::kTerminal);
  CHECK(id->terminal_id == "term-01");
}

TEST_CASE("identity: terminal refusals carry a reason") {
  const PluginConfig config = TestConfig();
  struct Case {
    ConnectRequest request;
    std::string_view reason;
  };
  const std::string too_long(65, 'a');
  const Case cases[] = {
      {{std::nullopt, "term-01"}, "no username"},
      {{"", ""}, "valid terminal id"},
      {{"term-01", "term-02"}, "client id differs"},
      {{"term-01", ""}, "client id differs"},
      {{"bad/id", "bad/id"}, "valid terminal id"},
      {{"bad id", "bad id"}, "valid terminal id"},
      {{"t+", "t+"}, "valid terminal id"},
      {{too_long, too_long}, "valid terminal id"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.request.client_id);
    auto id = Authenticate(config, c.request);
    REQUIRE_FALSE(id.ok());
    CHECK(id.error().message.find(c.reason) != std::string::npos);
  }
}

TEST_CASE("identity: the longest valid terminal id is accepted") {
  const std::string id64(64, 'z');
  CHECK(Authenticate(TestConfig(), {id64, id64}).ok());
}

TEST_CASE("identity: services and operators are accepted whatever their client id") {
  const PluginConfig config = TestConfig();
  auto svc = Authenticate(config, {"sched", "any-client-id"});
  REQUIRE(svc.ok());
  CHECK(svc->role == Role::kService);
  CHECK(svc->terminal_id.empty());

  auto op = Authenticate(config, {"alice", "slotwise-cli-123-abcd"});
  REQUIRE(op.ok());
  CHECK(op->role == Role::kOperator);
}

TEST_CASE("identity: ForLog escapes and truncates client-supplied text") {
  CHECK(ForLog("plain-id") == "plain-id");
  CHECK(ForLog("a\nb") == "a\\x0ab");
  CHECK(ForLog("back\\slash") == "back\\x5cslash");
  CHECK(ForLog("\xc3\xa9") == "\\xc3\\xa9");
  CHECK(ForLog(std::string(200, 'x'), 10) == std::string(10, 'x') + "...");
}
