// Who a connection is: the connect-time decision (MOSQ_EVT_BASIC_AUTH) that
// maps a CONNECT's username and client id to a Role, or refuses it.
//
// Pure code with no mosquitto dependency. Safe from any thread.
// Passwords are not checked yet (a later issue adds them): today a username
// alone selects the service or operator role.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "slotwise/broker/config.h"
#include "slotwise/result.h"

namespace slotwise::broker {

struct Identity {
  Role role = Role::kTerminal;
  // The terminal id for Role::kTerminal (== username == client id); empty
  // for the other roles.
  std::string terminal_id;
};

struct ConnectRequest {
  // nullopt when the CONNECT carried no username (mosquitto passes NULL).
  std::optional<std::string_view> username;
  std::string_view client_id;
};

// Accepts services and operators by username; accepts a terminal only when
// its username is present, is a valid terminal id
// (topics::IsValidTerminalId) and equals its client id. On refusal the
// Error's message is the reason, fit for the broker log.
Result<Identity> Authenticate(const PluginConfig& config, const ConnectRequest& request);

// A client-supplied string made safe for one log line: bytes outside
// printable ASCII become \xNN and the result is cut at `max_chars` with
// "...", so a crafted username cannot forge or flood broker log lines.
std::string ForLog(std::string_view untrusted, std::size_t max_chars = 96);

}  // namespace slotwise::broker
