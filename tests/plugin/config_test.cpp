// plugin_opt_* parsing and validation (broker-plugin/include/slotwise/broker/config.h).
#include <doctest/doctest.h>

#include "slotwise/broker/config.h"

using namespace slotwise::broker;

namespace {
// ParseConfig with the one required option added.
slotwise::Result<PluginConfig> Parse(std::vector<Option> options) {
  options.push_back({"password_file", "/etc/slotwise/passwd"});
  return ParseConfig(options);
}
}  // namespace

TEST_CASE("config: defaults when only the password file is given") {
  auto config = Parse({});
  REQUIRE(config.ok());
  CHECK(config->services == std::set<std::string, std::less<>>{"slotwise-scheduler"});
  CHECK(config->operators.empty());
  CHECK(config->password_file == "/etc/slotwise/passwd");
  CHECK(config->terminal_auth == TerminalAuth::kPasswordOrCertificate);
  CHECK(config->max_payload_bytes == 8192);
  CHECK(config->rate_per_second == 5.0);
  CHECK(config->rate_burst == 20);
  CHECK(config->flood_disconnect_after == 100);
  CHECK(config->flood_window_ms == 10'000);
  CHECK(config->stats_interval_ms == 10'000);
  CHECK(config->stats_topic == "slotwise/v1/stats/broker");
  CHECK(config->RoleOf("slotwise-scheduler") == Role::kService);
  CHECK(config->RoleOf("term-1") == Role::kTerminal);
}

TEST_CASE("config: lists are split on commas and trimmed") {
  auto config = Parse({{"services", " svc-a,svc-b "}, {"operators", "alice,  bob"}});
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
  auto config = Parse({{"operators", ""}});
  REQUIRE(config.ok());
  CHECK(config->operators.empty());
}

TEST_CASE("config: duplicate names in one list are harmless") {
  auto config = Parse({{"operators", "alice,alice"}});
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
      {{{"terminal_auth", "pin"}}, "plugin_opt_terminal_auth: 'pin'"},
      {{{"max_payload_bytes", "0"}}, "plugin_opt_max_payload_bytes"},
      {{{"max_payload_bytes", "12k"}}, "plugin_opt_max_payload_bytes: '12k'"},
      {{{"max_payload_bytes", "1.5"}}, "not a whole number"},
      {{{"rate_limit_per_second", "0"}}, "plugin_opt_rate_limit_per_second"},
      {{{"rate_limit_per_second", "nan"}}, "plugin_opt_rate_limit_per_second"},
      {{{"rate_limit_burst", "-1"}}, "plugin_opt_rate_limit_burst"},
      {{{"flood_window_seconds", "0"}}, "plugin_opt_flood_window_seconds"},
      {{{"stats_interval_seconds", "x"}}, "plugin_opt_stats_interval_seconds"},
      {{{"stats_topic", "other/stats"}}, "plugin_opt_stats_topic"},
      {{{"stats_topic", "slotwise/+/stats"}}, "plugin_opt_stats_topic"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.expect_in_message);
    auto config = Parse(c.options);
    REQUIRE_FALSE(config.ok());
    CHECK(config.error().code == slotwise::v1::INVALID_ARGUMENT);
    CHECK(config.error().message.find(c.expect_in_message) != std::string::npos);
  }
}

TEST_CASE("config: the password file is required") {
  auto config = ParseConfig({{"services", "s"}});
  REQUIRE_FALSE(config.ok());
  CHECK(config.error().message.find("plugin_opt_password_file is required") != std::string::npos);
}

TEST_CASE("config: every tunable is parsed") {
  auto config = Parse({{"terminal_auth", "username_only"},
                       {"max_payload_bytes", "1024"},
                       {"rate_limit_per_second", "0.5"},
                       {"rate_limit_burst", "3"},
                       {"flood_disconnect_after", "0"},
                       {"flood_window_seconds", "2.5"},
                       {"stats_interval_seconds", "0"},
                       {"stats_topic", "slotwise/v1/stats/edge-1"}});
  REQUIRE(config.ok());
  CHECK(config->terminal_auth == TerminalAuth::kUsernameOnly);
  CHECK(config->max_payload_bytes == 1024);
  CHECK(config->rate_per_second == 0.5);
  CHECK(config->rate_burst == 3);
  CHECK(config->flood_disconnect_after == 0);
  CHECK(config->flood_window_ms == 2500);
  CHECK(config->stats_interval_ms == 0);
  CHECK(config->stats_topic == "slotwise/v1/stats/edge-1");
  for (const auto mode : {TerminalAuth::kPassword, TerminalAuth::kCertificate,
                          TerminalAuth::kPasswordOrCertificate, TerminalAuth::kUsernameOnly}) {
    auto c = Parse({{"terminal_auth", TerminalAuthName(mode)}});
    REQUIRE(c.ok());
    CHECK(c->terminal_auth == mode);
  }
}

TEST_CASE("config: RoleName") {
  CHECK(RoleName(Role::kTerminal) == "terminal");
  CHECK(RoleName(Role::kOperator) == "operator");
  CHECK(RoleName(Role::kService) == "service");
}
