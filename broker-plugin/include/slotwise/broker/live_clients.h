// Which connection currently holds each terminal and operator client id,
// from the broker's connect (BASIC_AUTH) and DISCONNECT events: the write
// check refuses a publish from any other connection (acl_check.cpp).
//
// Why: mosquitto 2.0.11 shows a plugin nothing of a will before CONNACK,
// and a will never reaches MOSQ_EVT_MESSAGE (so it would skip every edge
// check: size, Protobuf, stamp, retain). The one check it meets is the
// write ACL when the broker sends it, and that is always after the
// connection ended: after its DISCONNECT event (disconnect, kill,
// keepalive, kick; a delayed will or session expiry later still), or,
// on a session takeover, after the new connection of the same client id
// was authenticated. A PUBLISH is only ever read from the live connection.
// (At broker shutdown mosquitto sends the wills of the connections still
// open, which still look live: stop_signals.cpp covers those.)
//
// Pure code with no mosquitto dependency. NOT thread-safe: the plugin calls
// it only from the broker's single main thread.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace slotwise::broker {

class LiveClients {
 public:
  using Handle = const void*;  // the broker's `struct mosquitto *`

  // `conn` was authenticated as `client_id`: it is now the live connection
  // of that id (a takeover's old connection no longer is). Ignored during a
  // SIGHUP re-authentication pass (BeginReauthPass), which re-runs the
  // connect check for every held client, ended persistent sessions too.
  void OnAuthenticated(std::string_view client_id, Handle conn);
  // `conn` went away (unknown connections and ids are ignored).
  void OnDisconnected(std::string_view client_id, Handle conn);

  // True when `conn` is the live connection of `client_id`.
  bool IsLive(std::string_view client_id, Handle conn) const;

  void BeginReauthPass() { reauth_pass_ = true; }
  void EndReauthPass() { reauth_pass_ = false; }
  std::size_t size() const { return by_id_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Heterogeneous lookup: IsLive, on every publish, allocates nothing.
  std::unordered_map<std::string, Handle, Hash, std::equal_to<>> by_id_;
  bool reauth_pass_ = false;
};

}  // namespace slotwise::broker
