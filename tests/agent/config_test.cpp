#include <doctest/doctest.h>

#include "fakes.h"
#include "slotwise/agent/config.h"

namespace slotwise::agent::testing {
namespace {

constexpr const char* kGood = R"(# A terminal in Shanghai
broker = tcp://127.0.0.1:1883
terminal_id = T001

state_dir = /var/lib/slotwise
version_file = /etc/pos-version
   location =  31.23, 121.47
system_id = pos-os-7
install_command = /opt/pos/install.sh "$SLOTWISE_FILE" # not a comment: passed to sh
install_timeout_s = 120
download_dir = /var/cache/slotwise
keepalive_s = 15
)";

constexpr const char* kMinimal =
    "broker = tcp://b:1883\n"
    "terminal_id = T9\n"
    "state_dir = /s\n"
    "version_file = /v\n"
    "location = -33.9,18.4\n"
    "install_command = true\n";

TEST_CASE("config: a complete file") {
  auto config = ParseAgentConfig(kGood, "agent.conf");
  REQUIRE(config.ok());
  CHECK(config->broker == "tcp://127.0.0.1:1883");
  CHECK(config->terminal_id == "T001");
  CHECK(config->state_dir == "/var/lib/slotwise");
  CHECK(config->version_file == "/etc/pos-version");
  CHECK(config->location.lat == doctest::Approx(31.23));
  CHECK(config->location.lon == doctest::Approx(121.47));
  CHECK(config->system_id == "pos-os-7");
  CHECK(config->install_command == "/opt/pos/install.sh \"$SLOTWISE_FILE\" # not a comment: passed to sh");
  CHECK(config->install_timeout == std::chrono::seconds(120));
  CHECK(config->download_dir == "/var/cache/slotwise");
  CHECK(config->keepalive == std::chrono::seconds(15));
}

TEST_CASE("config: defaults") {
  auto config = ParseAgentConfig(kMinimal, "agent.conf");
  REQUIRE(config.ok());
  CHECK(config->system_id.empty());
  CHECK(config->install_timeout == std::chrono::seconds(300));
  CHECK(config->keepalive == std::chrono::seconds(30));
  CHECK(config->download_dir == "/s/downloads");
  CHECK(config->location.lat == doctest::Approx(-33.9));
}

TEST_CASE("config: link_kind names how the terminal reaches the network") {
  CHECK(ParseAgentConfig(kMinimal, "agent.conf")->link_kind == v1::LINK_KIND_UNSPECIFIED);
  auto gprs = ParseAgentConfig(std::string(kMinimal) + "link_kind = gprs\n", "agent.conf");
  REQUIRE(gprs.ok());
  CHECK(gprs->link_kind == v1::GPRS);
  auto ethernet = ParseAgentConfig(std::string(kMinimal) + "link_kind = Ethernet\n", "agent.conf");
  REQUIRE(ethernet.ok());
  CHECK(ethernet->link_kind == v1::ETHERNET);
  CHECK_FALSE(ParseAgentConfig(std::string(kMinimal) + "link_kind = carrier-pigeon\n", "agent.conf").ok());
  CHECK_FALSE(ParseAgentConfig(std::string(kMinimal) + "link_kind = link_kind_unspecified\n", "agent.conf").ok());
}

TEST_CASE("config: command-line overrides replace and complete the file") {
  auto config = ParseAgentConfig(kGood, "agent.conf", {{"terminal_id", "T777"}, {"state_dir", "/tmp/s"}});
  REQUIRE(config.ok());
  CHECK(config->terminal_id == "T777");
  CHECK(config->state_dir == "/tmp/s");
  CHECK(config->download_dir == "/var/cache/slotwise");

  std::string without_id = kMinimal;
  without_id.replace(without_id.find("terminal_id = T9\n"), 17, "");
  CHECK_FALSE(ParseAgentConfig(without_id, "agent.conf").ok());
  auto completed = ParseAgentConfig(without_id, "agent.conf", {{"terminal_id", "T5"}});
  REQUIRE(completed.ok());
  CHECK(completed->terminal_id == "T5");
  CHECK(completed->download_dir == "/s/downloads");
}

TEST_CASE("config: bad files are refused with a message naming the problem") {
  struct Bad {
    const char* name;
    std::string text;
    const char* message_part;
  };
  const std::string m = kMinimal;
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = m;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  const Bad kBad[] = {
      {"unknown key", m + "colour = blue\n", "agent.conf:7: unknown key 'colour'"},
      {"missing broker", replace("broker = tcp://b:1883\n", ""), "missing required key 'broker'"},
      {"missing location", replace("location = -33.9,18.4\n", ""), "missing required key 'location'"},
      {"missing install_command", replace("install_command = true\n", ""), "missing required key 'install_command'"},
      {"empty required value", replace("state_dir = /s", "state_dir ="), "missing required key 'state_dir'"},
      {"duplicate key", m + "broker = tcp://other:1883\n", "'broker' is already set at agent.conf:1"},
      {"no equals sign", m + "just words\n", "agent.conf:7: expected 'key = value'"},
      {"bad terminal id", replace("T9", "T 9/x"), "terminal_id"},
      {"bad location", replace("-33.9,18.4", "somewhere"), "location"},
      {"latitude out of range", replace("-33.9,18.4", "95,10"), "latitude"},
      {"bad broker", replace("tcp://b:1883", "b:1883"), "broker"},
      {"bad timeout", m + "install_timeout_s = soon\n", "install_timeout_s"},
      {"zero keepalive", m + "keepalive_s = 0\n", "keepalive_s"},
      {"keepalive too large", m + "keepalive_s = 70000\n", "keepalive_s"},
      {"tls cert without key", m + "tls_cert_file = /c.pem\n", "tls_cert_file and tls_key_file"},
      {"zero download attempts", m + "download_attempts = 0\n", "download_attempts"},
      {"bad rate limit", m + "download_rate_limit_kbps = fast\n", "download_rate_limit_kbps"},
      {"zero verify attempts", m + "verify_attempts = 0\n", "verify_attempts"},
      {"bad busy retry", m + "busy_retry_s = 0\n", "busy_retry_s"},
      {"bad reconnect spread", m + "reconnect_spread_s = 3601\n", "reconnect_spread_s"},
      {"missing location and location_command", replace("location = -33.9,18.4\n", ""), "location_command"},
  };
  for (const Bad& bad : kBad) {
    SUBCASE(bad.name) {
      auto config = ParseAgentConfig(bad.text, "agent.conf");
      REQUIRE_FALSE(config.ok());
      CHECK(config.error().code == v1::INVALID_ARGUMENT);
      INFO(config.error().message);
      CHECK(config.error().message.find(bad.message_part) != std::string::npos);
    }
  }
}

TEST_CASE("config: unknown override key and missing file") {
  CHECK_FALSE(ParseAgentConfig(kMinimal, "agent.conf", {{"colour", "blue"}}).ok());
  auto missing = LoadAgentConfig("/nonexistent/slotwise-agent.conf");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == v1::NOT_FOUND);
}

TEST_CASE("config: the shipped sample parses") {
  auto config = LoadAgentConfig(SLOTWISE_AGENT_SAMPLE_CONFIG);
  INFO((config.ok() ? std::string() : config.error().message));
  CHECK(config.ok());
}

TEST_CASE("config: credentials, TLS, signatures, busy check and download limits") {
  const std::string text = std::string(kMinimal) +
                           "password = s3cret\n"
                           "tls_ca_file = /etc/slotwise/ca.pem\n"
                           "tls_cert_file = /etc/slotwise/T9.pem\n"
                           "tls_key_file = /etc/slotwise/T9.key\n"
                           "public_key_file = /etc/slotwise/release.pub\n"
                           "busy_file = /run/pos/payment\n"
                           "busy_command = pos-busy\n"
                           "busy_retry_s = 5\n"
                           "reconnect_spread_s = 0\n"
                           "download_rate_limit_kbps = 512\n"
                           "download_attempts = 4\n"
                           "verify_attempts = 2\n"
                           "max_rechecks = 7\n"
                           "min_free_mb = 32\n";
  auto config = ParseAgentConfig(text, "agent.conf");
  REQUIRE(config.ok());
  CHECK(config->password == "s3cret");
  CHECK(config->tls_ca_file == "/etc/slotwise/ca.pem");
  CHECK(config->tls_cert_file == "/etc/slotwise/T9.pem");
  CHECK(config->tls_key_file == "/etc/slotwise/T9.key");
  CHECK(config->public_key_file == "/etc/slotwise/release.pub");
  CHECK(config->busy_file == "/run/pos/payment");
  CHECK(config->busy_command == "pos-busy");
  CHECK(config->busy_retry == std::chrono::seconds(5));
  CHECK(config->reconnect_spread == std::chrono::seconds(0));
  CHECK(config->download_rate_limit_kbps == 512);
  CHECK(config->download_attempts == 4);
  CHECK(config->verify_attempts == 2);
  CHECK(config->max_rechecks == 7);
  CHECK(config->min_free_bytes == 32u * 1024 * 1024);

  auto defaults = ParseAgentConfig(kMinimal, "agent.conf");
  REQUIRE(defaults.ok());
  CHECK(defaults->password.empty());
  CHECK(defaults->tls_ca_file.empty());
  CHECK(defaults->public_key_file.empty());
  CHECK(defaults->download_rate_limit_kbps == 0);
  CHECK(defaults->download_attempts == 6);
  CHECK(defaults->verify_attempts == 3);
  CHECK(defaults->max_rechecks == 5);

  std::string by_command = kMinimal;
  by_command.replace(by_command.find("location = -33.9,18.4\n"), 22, "location_command = gps-fix --once\n");
  auto located = ParseAgentConfig(by_command, "agent.conf");
  REQUIRE(located.ok());
  CHECK(located->location_command == "gps-fix --once");
}

TEST_CASE("config: components besides the system image") {
  const std::string text = std::string(kMinimal) +
                           "component.payapp.version_file = /etc/payapp-version\n"
                           "component.payapp.install_command = /opt/payapp/install.sh\n"
                           "component.emv-params.install_command = cp \"$SLOTWISE_FILE\" /etc/emv\n"
                           "component.emv-params.version_file = /etc/emv-version\n";
  auto config = ParseAgentConfig(text, "agent.conf");
  REQUIRE(config.ok());
  REQUIRE(config->components.size() == 2);
  CHECK(config->components[0].name == "emv-params");  // sorted by name
  CHECK(config->components[1].name == "payapp");
  CHECK(config->components[1].version_file == "/etc/payapp-version");
  CHECK(config->components[1].install_command == "/opt/payapp/install.sh");
  // The system image keeps today's keys; "" and "system" both name it.
  for (const char* system : {"", "system"}) {
    const auto c = config->Component(system);
    REQUIRE(c.has_value());
    CHECK(c->name.empty());
    CHECK(c->version_file == "/v");
    CHECK(c->install_command == "true");
  }
  CHECK(config->Component("payapp").has_value());
  CHECK_FALSE(config->Component("maps").has_value());
  // Without component keys nothing changes (a v1 terminal).
  auto plain = ParseAgentConfig(kMinimal, "agent.conf");
  REQUIRE(plain.ok());
  CHECK(plain->components.empty());
}

TEST_CASE("config: bad component keys are refused with the line") {
  struct Case {
    const char* lines;
    const char* message_part;
  };
  const Case kCases[] = {
      {"component.PayApp.version_file = /v2\ncomponent.PayApp.install_command = x\n", "component name"},
      {"component.system.version_file = /v2\ncomponent.system.install_command = x\n", "not 'system'"},
      {"component.payapp.version_file = /v2\n", "needs both component.payapp.version_file"},
      {"component.payapp.install_command = x\n", "needs both"},
      {"component.payapp.version_file =\ncomponent.payapp.install_command = x\n", "must not be empty"},
      {"component.payapp.colour = red\n", "unknown key 'component.payapp.colour'"},
      {"component..version_file = /v2\ncomponent..install_command = x\n", "component name"},
  };
  for (const Case& c : kCases) {
    CAPTURE(c.lines);
    auto config = ParseAgentConfig(std::string(kMinimal) + c.lines, "agent.conf");
    REQUIRE_FALSE(config.ok());
    CHECK(config.error().code == v1::INVALID_ARGUMENT);
    CHECK(config.error().message.find(c.message_part) != std::string::npos);
  }
  std::string many(kMinimal);
  for (int i = 0; i < 33; ++i) {
    many += "component.c" + std::to_string(i) + ".version_file = /v\ncomponent.c" + std::to_string(i) +
            ".install_command = x\n";
  }
  auto config = ParseAgentConfig(many, "agent.conf");
  REQUIRE_FALSE(config.ok());
  CHECK(config.error().message.find("at most 32 components") != std::string::npos);
}

}  // namespace
}  // namespace slotwise::agent::testing
