// Terminal presence: which terminal ids have a live connection, derived from
// the broker's connect (BASIC_AUTH) and DISCONNECT events, and the
// slotwise.v1.Presence payload the plugin publishes retained on
// slotwise/v1/presence/{tid}.
//
// Connections are keyed by an opaque handle (the broker's `struct mosquitto *`)
// because mosquitto 2.0.11 reports a session takeover's DISCONNECT for the OLD
// connection after the NEW one was authenticated: a terminal id is offline
// only when its last live connection goes away.
//
// Pure code with no mosquitto dependency. NOT thread-safe: the plugin calls
// it only from the broker's single main thread.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "slotwise/slots.h"

namespace slotwise::broker {

using ConnectionHandle = const void*;

// A Presence message to publish.
struct PresenceChange {
  std::string terminal_id;
  bool online = false;
};

class PresenceTracker {
 public:
  // A terminal connection was accepted. Returns an online change for a new
  // connection (also when another connection of the same id is still live:
  // the newest connect time is worth telling). Returns nothing while a
  // re-authentication pass is running (see BeginReauthPass).
  std::optional<PresenceChange> OnAuthenticated(ConnectionHandle conn,
                                                std::string_view terminal_id);

  // A connection went away (or was refused: unknown handles are ignored).
  // Returns an offline change only when it was the terminal's last live
  // connection.
  std::optional<PresenceChange> OnDisconnected(ConnectionHandle conn);

  // On SIGHUP mosquitto re-runs BASIC_AUTH for every client it holds in one
  // synchronous pass, including sessions whose network connection is already
  // gone (persistent sessions). Those look exactly like new connections, so
  // presence must not change during the pass. The pass starts at the RELOAD
  // event and ends at the next TICK, which the broker runs in the same loop
  // iteration before it reads any new CONNECT.
  void BeginReauthPass() { reauth_pass_ = true; }
  void EndReauthPass() { reauth_pass_ = false; }
  bool in_reauth_pass() const { return reauth_pass_; }

  bool IsOnline(std::string_view terminal_id) const;
  std::size_t live_connections() const { return by_connection_.size(); }
  std::size_t online_terminals() const { return by_terminal_.size(); }

 private:
  std::map<ConnectionHandle, std::string> by_connection_;
  std::map<std::string, std::set<ConnectionHandle>, std::less<>> by_terminal_;
  bool reauth_pass_ = false;
};

// slotwise.v1.Presence{terminal_id, online, at_ms}, serialized.
std::string EncodePresence(std::string_view terminal_id, bool online, TimeMs at_ms);

}  // namespace slotwise::broker
