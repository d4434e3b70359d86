// The connect-time decision (see identity.h).
#include "slotwise/broker/identity.h"

#include "slotwise/hex.h"
#include "slotwise/topics.h"

namespace slotwise::broker {

namespace {

Error Refuse(std::string why) { return MakeError(v1::INVALID_ARGUMENT, std::move(why)); }

bool PasswordOk(const PasswordFile& passwords, std::string_view username,
                const std::optional<std::string_view>& password) {
  return password.has_value() && passwords.Verify(username, *password);
}

}  // namespace

Result<Identity> Authenticate(const PluginConfig& config, const PasswordFile& passwords,
                              const ConnectRequest& request) {
  const bool certs_allowed = config.terminal_auth == TerminalAuth::kCertificate ||
                             config.terminal_auth == TerminalAuth::kPasswordOrCertificate;
  if (request.certificate_cn && certs_allowed &&
      config.RoleOf(*request.certificate_cn) == Role::kTerminal) {
    const std::string_view cn = *request.certificate_cn;
    if (!topics::IsValidTerminalId(cn)) {
      return Refuse("certificate CN is not a valid terminal id (1-64 of [A-Za-z0-9._-])");
    }
    if (request.client_id != cn) return Refuse("terminal client id differs from its certificate CN");
    if (request.username && *request.username != cn) {
      return Refuse("terminal username differs from its certificate CN");
    }
    return Identity{Role::kTerminal, std::string(cn), !request.username.has_value()};
  }

  if (!request.username) return Refuse("no username");
  const std::string_view username = *request.username;
  const Role role = config.RoleOf(username);
  if (role != Role::kTerminal) {
    if (!PasswordOk(passwords, username, request.password)) return Refuse("bad username or password");
    return Identity{role, {}, false};
  }

  // A terminal's username selects its topics; requiring client id ==
  // username means one terminal id is one MQTT session, so the broker's
  // session takeover also enforces "one live connection per terminal".
  if (!topics::IsValidTerminalId(username)) {
    return Refuse("username is neither a configured service/operator nor a valid "
                  "terminal id (1-64 of [A-Za-z0-9._-])");
  }
  if (request.client_id != username) return Refuse("terminal client id differs from its username");
  switch (config.terminal_auth) {
    case TerminalAuth::kUsernameOnly:
      break;
    case TerminalAuth::kCertificate:
      return Refuse("terminals must present a client certificate (terminal_auth certificate)");
    case TerminalAuth::kPassword:
    case TerminalAuth::kPasswordOrCertificate:
      if (!PasswordOk(passwords, username, request.password)) {
        return Refuse("bad username or password");
      }
      break;
  }
  return Identity{Role::kTerminal, std::string(username), false};
}

std::string ForLog(std::string_view untrusted, std::size_t max_chars) {
  std::string out;
  for (const char c : untrusted) {
    if (out.size() >= max_chars) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out += c;
    } else {
      out += "\\x";
      AppendHexByte(out, u);
    }
  }
  return out;
}

}  // namespace slotwise::broker
