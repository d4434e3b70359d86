// Who a connection is: the connect-time decision (MOSQ_EVT_BASIC_AUTH) that
// maps a CONNECT's username and client id to a Role, or refuses it.
//
// Pure code with no mosquitto dependency. Safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "slotwise/broker/config.h"
#include "slotwise/broker/passwords.h"
#include "slotwise/result.h"

namespace slotwise::broker {

struct Identity {
  Role role = Role::kTerminal;
  // The terminal id for Role::kTerminal (== username == client id); empty
  // for the other roles.
  std::string terminal_id;
  // True when the terminal was identified by its certificate and sent no
  // username: the plugin sets the connection's username to the id so the
  // access rules (keyed by username) apply.
  bool username_from_certificate = false;
};

struct ConnectRequest {
  // nullopt when the CONNECT carried no username (mosquitto passes NULL).
  std::optional<std::string_view> username;
  std::string_view client_id;
  // nullopt when the CONNECT carried no password.
  std::optional<std::string_view> password;
  // The CN of the TLS client certificate, when the listener verified one
  // (require_certificate true); nullopt otherwise.
  std::optional<std::string_view> certificate_cn;
};

// The connect decision:
//  * certificate: when a verified client certificate is present, its CN is
//    not a service/operator name and config.terminal_auth allows
//    certificates, the CN is the terminal id: it must be a valid terminal id,
//    equal the client id, and equal the username if one is sent. No password
//    is needed.
//  * otherwise a username is required. Services and operators always need
//    the password from `passwords`. A terminal needs a valid terminal id as
//    username, equal to its client id, and (unless terminal_auth is
//    username_only) the password from `passwords`; with terminal_auth
//    certificate a terminal without a certificate is refused.
// On refusal the Error's message is the reason, fit for the broker log (it
// never says whether the username exists).
Result<Identity> Authenticate(const PluginConfig& config, const PasswordFile& passwords,
                              const ConnectRequest& request);

// A client-supplied string made safe for one log line: bytes outside
// printable ASCII become \xNN and the result is cut at `max_chars` with
// "...", so a crafted username cannot forge or flood broker log lines.
std::string ForLog(std::string_view untrusted, std::size_t max_chars = 96);

}  // namespace slotwise::broker
