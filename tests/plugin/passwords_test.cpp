// The mosquitto_passwd-format password file (broker-plugin/include/slotwise/broker/passwords.h).
#include <doctest/doctest.h>

#include "slotwise/broker/passwords.h"

using namespace slotwise::broker;

// Written by `mosquitto_passwd -c -b pw alice secret` (mosquitto 2.0.11).
constexpr std::string_view kRealLine =
    "alice:$7$101$rltv6mhmhGBmnEqt$X9gDVxqOr2TmB9xTPehqMjqtXB2S4SZ5UAvHFQ13iHtwNeUO1DxrtKyO9VfK0T"
    "Tj1dSIUAVeLu9geBY/LAeXTw==\n";

TEST_CASE("passwords: a line written by mosquitto_passwd verifies") {
  auto file = PasswordFile::Parse(kRealLine);
  REQUIRE(file.ok());
  CHECK(file->size() == 1);
  CHECK(file->Contains("alice"));
  CHECK(file->Verify("alice", "secret"));
  CHECK_FALSE(file->Verify("alice", "secreT"));
  CHECK_FALSE(file->Verify("alice", ""));
  CHECK_FALSE(file->Verify("bob", "secret"));
}

TEST_CASE("passwords: our own PBKDF2 hashes verify, comments and blank lines skipped") {
  const std::string text = "# comment\n\nbob:" + HashPasswordPbkdf2("pw-b", 1000) + "\r\n" +
                           "carol:" + HashPasswordPbkdf2("") + "\n";
  auto file = PasswordFile::Parse(text);
  REQUIRE(file.ok());
  CHECK(file->size() == 2);
  CHECK(file->Verify("bob", "pw-b"));
  CHECK_FALSE(file->Verify("bob", "pw-c"));
  CHECK(file->Verify("carol", ""));
}

TEST_CASE("passwords: malformed files are refused with the line number") {
  const std::string good = HashPasswordPbkdf2("x");
  const std::pair<std::string, std::string_view> cases[] = {
      {"alice\n", "line 1: expected username:hash"},
      {":" + good + "\n", "line 1: expected username:hash"},
      {"# c\nalice:plaintext\n", "line 2: unknown hash format"},
      {"alice:$7$0$abcd$abcd\n", "bad iteration count"},
      {"alice:$7$101$!!!$abcd\n", "bad base64"},
      {"alice:$5$abcd$abcd\n", "unknown hash format"},
      {"a:" + good + "\na:" + good + "\n", "given twice"},
  };
  for (const auto& [text, reason] : cases) {
    CAPTURE(text);
    auto file = PasswordFile::Parse(text);
    REQUIRE_FALSE(file.ok());
    CHECK(file.error().message.find(reason) != std::string::npos);
  }
  CHECK_FALSE(PasswordFile::Load("/nonexistent/slotwise-passwd").ok());
}
