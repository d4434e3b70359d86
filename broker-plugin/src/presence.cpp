// Presence bookkeeping and encoding (see presence.h).
#include "slotwise/broker/presence.h"

#include "slotwise/v1/terminal.pb.h"

namespace slotwise::broker {

std::optional<PresenceChange> PresenceTracker::OnAuthenticated(ConnectionHandle conn,
                                                               std::string_view terminal_id) {
  if (reauth_pass_) return std::nullopt;

  if (auto it = by_connection_.find(conn); it != by_connection_.end()) {
    if (it->second == terminal_id) return std::nullopt;  // already counted
    // The same connection now claims another id: retire the old one first.
    // Not reachable with today's rules (the username cannot change), kept so
    // the two maps can never disagree.
    (void)OnDisconnected(conn);
  }
  by_connection_.emplace(conn, std::string(terminal_id));
  auto [it, inserted] = by_terminal_.try_emplace(std::string(terminal_id));
  it->second.insert(conn);
  return PresenceChange{std::string(terminal_id), true};
}

std::optional<PresenceChange> PresenceTracker::OnDisconnected(ConnectionHandle conn) {
  const auto it = by_connection_.find(conn);
  if (it == by_connection_.end()) return std::nullopt;
  std::string terminal_id = std::move(it->second);
  by_connection_.erase(it);

  const auto t = by_terminal_.find(terminal_id);
  if (t == by_terminal_.end()) return std::nullopt;
  t->second.erase(conn);
  // A session takeover lands here for the old connection while the new one
  // is already live: the terminal stays online.
  if (!t->second.empty()) return std::nullopt;
  by_terminal_.erase(t);
  return PresenceChange{std::move(terminal_id), false};
}

bool PresenceTracker::IsOnline(std::string_view terminal_id) const {
  return by_terminal_.find(terminal_id) != by_terminal_.end();
}

std::string EncodePresence(std::string_view terminal_id, bool online, TimeMs at_ms) {
  v1::Presence presence;
  presence.set_terminal_id(std::string(terminal_id));
  presence.set_online(online);
  presence.set_at_ms(at_ms);
  return presence.SerializeAsString();
}

}  // namespace slotwise::broker
