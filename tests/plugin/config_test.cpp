// plugin_opt_* parsing and validation (broker-plugin/include/slotwise/broker/config.h).
#include <doctest/doctest.h>

#include "slotwise/broker/config.h"

using namespace slotwise::broker;

TEST_CASE("config: defaults when no option is given") {
  auto config = ParseConfig({});
  REQUIRE(config.ok());
  CHECK(config->services == std::set<std::string, std::less<>>{"slotwise-scheduler"});
  CHECK(config->operators.empty());
  CHECK(config->RoleOf("slotwise-scheduler") == Role::kService);
  CHECK(config->RoleOf("term-1") == Role::kTerminal);
}

TEST_CASE("config: lists are split on commas and trimmed") {
  auto config = ParseConfig({{"services", " svc-a,svc-b "}, {"operators", "alice,  bob"}});
  REQUIRE(config.ok());
  CHECK(config->services == std::set<std::string, std::less<>>{"svc-a", "svc-b"});
  CHECK(config->operators == std::set<std::string, std::less<>>{"alice", "bob"});
  CHECK(config->RoleOf("svc-b") == Role::kService);
  CHECK(config->RoleOf("alice") == Role::kOperator);
  // Replacing the services list drops the default name.
  CHECK(config->RoleOf("slotwise-scheduler") == Role::kTerminal);
  // Names are case sensitive, as MQTT usernames are.
  CHECK(config->RoleOf("Alice") == Role::kTerminal);
}

TEST_CASE("config: an empty operators value means no operator") {
  auto config = ParseConfig({{"operators", ""}});
  REQUIRE(config.ok());
  CHECK(config->operators.empty());
}

TEST_CASE("config: duplicate names in one list are harmless") {
  auto config = ParseConfig({{"operators", "alice,alice"}});
  REQUIRE(config.ok());
  CHECK(config->operators.size() == 1);
}

TEST_CASE("config: bad values fail with a message naming the option") {
  struct Case {
    std::vector<Option> options;
    std::string_view expect_in_message;
  };
  const Case cases[] = {
      {{{"services", ""}}, "plugin_opt_services must name"},
      {{{"services", "  "}}, "plugin_opt_services must name"},
      {{{"services", "a,,b"}}, "plugin_opt_services: empty username"},
      {{{"operators", "a,"}}, "plugin_opt_operators: empty username"},
      {{{"operators", ",a"}}, "plugin_opt_operators: empty username"},
      {{{"operators", "al ice"}}, "plugin_opt_operators: username 'al ice'"},
      {{{"operators", "a+"}}, "'a+'"},
      {{{"services", "s#"}}, "'s#'"},
      {{{"operators", "tab\there"}}, "plugin_opt_operators"},
      {{{"services", "x"}, {"operators", "y,x"}}, "'x' is in both"},
      {{{"services", "a"}, {"services", "b"}}, "given more than once"},
      {{{"servics", "a"}}, "unknown option plugin_opt_servics"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.expect_in_message);
    auto config = ParseConfig(c.options);
    REQUIRE_FALSE(config.ok());
    CHECK(config.error().code == slotwise::v1::INVALID_ARGUMENT);
    CHECK(config.error().message.find(c.expect_in_message) != std::string::npos);
  }
}

TEST_CASE("config: RoleName") {
  CHECK(RoleName(Role::kTerminal) == "terminal");
  CHECK(RoleName(Role::kOperator) == "operator");
  CHECK(RoleName(Role::kService) == "service");
}
