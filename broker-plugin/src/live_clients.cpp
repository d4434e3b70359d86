// Live connection per client id (see live_clients.h).
#include "slotwise/broker/live_clients.h"

namespace slotwise::broker {

void LiveClients::OnAuthenticated(std::string_view client_id, Handle conn) {
  if (reauth_pass_) return;
  const auto it = by_id_.find(client_id);
  if (it != by_id_.end()) {
    it->second = conn;
  } else {
    by_id_.emplace(std::string(client_id), conn);
  }
}

void LiveClients::OnDisconnected(std::string_view client_id, Handle conn) {
  const auto it = by_id_.find(client_id);
  if (it != by_id_.end() && it->second == conn) by_id_.erase(it);
}

bool LiveClients::IsLive(std::string_view client_id, Handle conn) const {
  const auto it = by_id_.find(client_id);
  return it != by_id_.end() && it->second == conn;
}

}  // namespace slotwise::broker
