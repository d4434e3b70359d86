// The connect-time decision (see identity.h).
#include "slotwise/broker/identity.h"

#include "slotwise/topics.h"

namespace slotwise::broker {

Result<Identity> Authenticate(const PluginConfig& config, const ConnectRequest& request) {
  if (!request.username) {
    return MakeError(v1::INVALID_ARGUMENT, "no username");
  }
  const std::string_view username = *request.username;
  const Role role = config.RoleOf(username);
  if (role != Role::kTerminal) return Identity{role, {}};

  // A terminal's username selects its topics; requiring client id ==
  // username means one terminal id is one MQTT session, so the broker's
  // session takeover also enforces "one live connection per terminal".
  if (!topics::IsValidTerminalId(username)) {
    return MakeError(v1::INVALID_ARGUMENT,
                     "username is neither a configured service/operator nor a valid "
                     "terminal id (1-64 of [A-Za-z0-9._-])");
  }
  if (request.client_id != username) {
    return MakeError(v1::INVALID_ARGUMENT, "terminal client id differs from its username");
  }
  return Identity{Role::kTerminal, std::string(username)};
}

std::string ForLog(std::string_view untrusted, std::size_t max_chars) {
  static constexpr char kHex[] = "0123456789abcdef";
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
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    }
  }
  return out;
}

}  // namespace slotwise::broker
