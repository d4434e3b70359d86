// The connect-time decision (broker-plugin/include/slotwise/broker/identity.h).
#include <doctest/doctest.h>

#include "slotwise/broker/identity.h"

using namespace slotwise::broker;

namespace {

PluginConfig TestConfig(std::string_view terminal_auth = "password_or_certificate") {
  auto config = ParseConfig({{"services", "sched"},
                             {"operators", "alice"},
                             {"password_file", "unused"},
                             {"terminal_auth", terminal_auth}});
  REQUIRE(config.ok());
  return *config;
}

const PasswordFile& TestPasswords() {
  static const PasswordFile file = [] {
    const std::string text = "sched:" + HashPasswordPbkdf2("sched-pw") + "\n" +
                             "alice:" + HashPasswordPbkdf2("alice-pw") + "\n" +
                             "term-01:" + HashPasswordPbkdf2("t1-pw") + "\n";
    auto parsed = PasswordFile::Parse(text);
    REQUIRE(parsed.ok());
    return *parsed;
  }();
  return file;
}

ConnectRequest Req(std::optional<std::string_view> user, std::string_view client_id,
                   std::optional<std::string_view> password = std::nullopt,
                   std::optional<std::string_view> cn = std::nullopt) {
  ConnectRequest r;
  r.username = user;
  r.client_id = client_id;
  r.password = password;
  r.certificate_cn = cn;
  return r;
}

}  // namespace

TEST_CASE("identity: a terminal with username == client id and its password is accepted") {
  auto id = Authenticate(TestConfig(), TestPasswords(), Req("term-01", "term-01", "t1-pw"));
  REQUIRE(id.ok());
  CHECK(id->role == Role::kTerminal);
  CHECK(id->terminal_id == "term-01");
  CHECK_FALSE(id->username_from_certificate);
}

TEST_CASE("identity: refusals carry a reason") {
  const PluginConfig config = TestConfig();
  struct Case {
    ConnectRequest request;
    std::string_view reason;
  };
  const std::string too_long(65, 'a');
  const Case cases[] = {
      {Req(std::nullopt, "term-01"), "no username"},
      {Req("", "", "x"), "valid terminal id"},
      {Req("term-01", "term-02", "t1-pw"), "client id differs"},
      {Req("term-01", "", "t1-pw"), "client id differs"},
      {Req("bad/id", "bad/id"), "valid terminal id"},
      {Req("bad id", "bad id"), "valid terminal id"},
      {Req("t+", "t+"), "valid terminal id"},
      {Req(too_long, too_long), "valid terminal id"},
      {Req("term-01", "term-01"), "bad username or password"},
      {Req("term-01", "term-01", "wrong"), "bad username or password"},
      {Req("term-02", "term-02", "t1-pw"), "bad username or password"},  // not in the file
      {Req("sched", "s1"), "bad username or password"},
      {Req("sched", "s1", "alice-pw"), "bad username or password"},
      {Req("alice", "a1", "sched-pw"), "bad username or password"},
      // certificates
      {Req(std::nullopt, "term-02", std::nullopt, "term-01"), "differs from its certificate CN"},
      {Req("term-02", "term-01", std::nullopt, "term-01"), "username differs from its certificate"},
      {Req(std::nullopt, "a b", std::nullopt, "a b"), "certificate CN is not a valid"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.request.client_id);
    CAPTURE(c.reason);
    auto id = Authenticate(config, TestPasswords(), c.request);
    REQUIRE_FALSE(id.ok());
    CHECK(id.error().message.find(c.reason) != std::string::npos);
  }
}

TEST_CASE("identity: services and operators need their password, any client id") {
  const PluginConfig config = TestConfig();
  auto svc = Authenticate(config, TestPasswords(), Req("sched", "any-client-id", "sched-pw"));
  REQUIRE(svc.ok());
  CHECK(svc->role == Role::kService);
  CHECK(svc->terminal_id.empty());
  auto op = Authenticate(config, TestPasswords(), Req("alice", "slotwise-cli-1", "alice-pw"));
  REQUIRE(op.ok());
  CHECK(op->role == Role::kOperator);
}

TEST_CASE("identity: a certificate CN is the terminal id, no password needed") {
  auto id = Authenticate(TestConfig(), TestPasswords(),
                         Req(std::nullopt, "term-77", std::nullopt, "term-77"));
  REQUIRE(id.ok());
  CHECK(id->terminal_id == "term-77");
  CHECK(id->username_from_certificate);
  auto with_user = Authenticate(TestConfig("certificate"), TestPasswords(),
                                Req("term-77", "term-77", std::nullopt, "term-77"));
  REQUIRE(with_user.ok());
  CHECK_FALSE(with_user->username_from_certificate);
}

TEST_CASE("identity: terminal_auth modes") {
  // password: a certificate alone is not enough.
  auto pw_only = Authenticate(TestConfig("password"), TestPasswords(),
                              Req(std::nullopt, "term-77", std::nullopt, "term-77"));
  CHECK_FALSE(pw_only.ok());
  CHECK(Authenticate(TestConfig("password"), TestPasswords(), Req("term-01", "term-01", "t1-pw"))
            .ok());
  // certificate: a password alone is not enough.
  auto cert_only =
      Authenticate(TestConfig("certificate"), TestPasswords(), Req("term-01", "term-01", "t1-pw"));
  REQUIRE_FALSE(cert_only.ok());
  CHECK(cert_only.error().message.find("client certificate") != std::string::npos);
  // username_only: no secret for terminals, still for services.
  CHECK(Authenticate(TestConfig("username_only"), TestPasswords(), Req("term-9", "term-9")).ok());
  CHECK_FALSE(Authenticate(TestConfig("username_only"), TestPasswords(), Req("sched", "s")).ok());
}

TEST_CASE("identity: a certificate naming a service does not make a terminal") {
  // Falls back to the password path: the username and password decide.
  auto id = Authenticate(TestConfig(), TestPasswords(),
                         Req("sched", "s-1", "sched-pw", "sched"));
  REQUIRE(id.ok());
  CHECK(id->role == Role::kService);
  CHECK_FALSE(Authenticate(TestConfig(), TestPasswords(),
                           Req(std::nullopt, "sched", std::nullopt, "sched")).ok());
}

TEST_CASE("identity: the longest valid terminal id is accepted") {
  const std::string id64(64, 'z');
  CHECK(Authenticate(TestConfig("username_only"), TestPasswords(), Req(id64, id64)).ok());
}

TEST_CASE("identity: ForLog escapes and truncates client-supplied text") {
  CHECK(ForLog("plain-id") == "plain-id");
  CHECK(ForLog("a\nb") == "a\\x0ab");
  CHECK(ForLog("back\\slash") == "back\\x5cslash");
  CHECK(ForLog("\xc3\xa9") == "\\xc3\\xa9");
  CHECK(ForLog(std::string(200, 'x'), 10) == std::string(10, 'x') + "...");
}
