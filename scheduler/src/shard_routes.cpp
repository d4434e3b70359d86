#include "slotwise/scheduler/shard_routes.h"

namespace slotwise::scheduler {

ShardRoutes::Verdict ShardRoutes::Observe(std::string_view terminal_id, std::size_t shard, bool online,
                                          std::int64_t at_ms) {
  Verdict v;
  auto it = routes_.find(std::string(terminal_id));
  if (it == routes_.end()) {
    routes_.emplace(std::string(terminal_id), Route{shard, online, at_ms});
    v.accepted = true;
    v.arrived = online;
    return v;
  }
  Route& r = it->second;
  if (at_ms < r.at_ms) return v;  // older than what is known: a stale retained presence
  if (online) {
    v.accepted = true;
    v.arrived = r.shard != shard;
    if (r.shard != shard) v.left = r.shard;
    r = Route{shard, true, at_ms};
    return v;
  }
  if (r.shard != shard) return v;  // the old connection of a terminal that moved
  v.accepted = true;
  r.online = false;
  r.at_ms = at_ms;
  return v;
}

std::optional<std::size_t> ShardRoutes::ShardOf(std::string_view terminal_id) const {
  const auto it = routes_.find(std::string(terminal_id));
  if (it == routes_.end()) return std::nullopt;
  return it->second.shard;
}

std::vector<std::string> ShardRoutes::LoseShard(std::size_t shard) {
  std::vector<std::string> lost;
  for (auto& [tid, r] : routes_) {
    if (r.shard == shard && r.online) {
      r.online = false;
      lost.push_back(tid);
    }
  }
  return lost;
}

}  // namespace slotwise::scheduler
