#include "slotwise/scheduler/placement.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace slotwise::scheduler {
namespace {

struct Candidate {
  const NodeCapacity* node = nullptr;
  const ClusterCapacity* cluster = nullptr;
  std::uint32_t booked = 0;
  std::uint32_t capacity = 0;
};

// True when a is the better node: lower booked/capacity, then id.
bool LessLoaded(const Candidate& a, const Candidate& b) {
  const auto lhs = static_cast<std::uint64_t>(a.booked) * b.capacity;
  const auto rhs = static_cast<std::uint64_t>(b.booked) * a.capacity;
  if (lhs != rhs) return lhs < rhs;
  return a.node->id < b.node->id;
}

// A node of the pool with a cursor into its bookings: BookEarliest() visits
// slots in increasing order, so each node's bookings are walked once instead
// of looked up per slot (a terminal may pass many full slots).
struct PoolNode {
  const NodeCapacity* node;
  const ClusterCapacity* cluster;
  const std::map<Slot, std::uint32_t>* slots;  // the node's bookings (looked up once)
  std::map<Slot, std::uint32_t>::const_iterator next;  // first booking at or after the slot visited

  std::uint32_t BookedIn(Slot slot) {
    if (!slots) return 0;
    while (next != slots->end() && next->first < slot) ++next;
    return next != slots->end() && next->first == slot ? next->second : 0;
  }
};

// The least-loaded node with room in `slot` among the given nodes; `slot`
// must not decrease from one call to the next.
std::optional<Candidate> BestNodeInSlot(const Topology& topology, std::vector<PoolNode>& pool, Slot slot) {
  std::optional<Candidate> best;
  for (PoolNode& p : pool) {
    const std::uint32_t capacity = topology.Capacity(*p.node, slot);
    const std::uint32_t booked = p.BookedIn(slot);
    if (booked >= capacity) continue;
    Candidate c{p.node, p.cluster, booked, capacity};
    if (!best || LessLoaded(c, *best)) best = c;
  }
  return best;
}

std::optional<Placement> BookEarliest(const Topology& topology,
                                      const std::vector<const ClusterCapacity*>& clusters,
                                      CapacityLedger& ledger, Slot first, Slot end, const SlotFilter& allowed) {
  std::vector<PoolNode> pool;
  for (const ClusterCapacity* cluster : clusters) {
    for (const NodeCapacity& node : cluster->nodes) {
      const auto* slots = ledger.NodeSlots(node.id);
      pool.push_back({&node, cluster, slots, slots ? slots->lower_bound(first) : decltype(PoolNode::next){}});
    }
  }
  for (Slot slot = first; slot < end; ++slot) {
    if (allowed && !allowed(slot)) continue;
    auto best = BestNodeInSlot(topology, pool, slot);
    if (!best) continue;
    auto index = ledger.Book(best->node->id, slot, best->capacity);
    if (!index) continue;  // cannot happen: BestNodeInSlot saw room
    return Placement{best->node->id, best->cluster->id, slot, *index, best->capacity};
  }
  return std::nullopt;
}

}  // namespace

Topology Topology::FromRegistry(const std::map<std::string, v1::Cluster>& clusters,
                                const std::map<std::string, v1::Node>& nodes) {
  return FromRegistry(clusters, nodes, {}, 0);
}

Topology Topology::FromRegistry(const std::map<std::string, v1::Cluster>& clusters,
                                const std::map<std::string, v1::Node>& nodes,
                                const std::map<std::string, LiveLoad>& live, Slot near_end) {
  Topology t;
  t.near_end_ = near_end;
  std::map<std::string, ClusterCapacity> by_id;
  for (const auto& [id, c] : clusters) {
    by_id[id] = ClusterCapacity{id, LatLon{c.location().lat(), c.location().lon()}, {}, 0};
  }
  for (const auto& [id, n] : nodes) {  // std::map: nodes arrive sorted by id
    if (n.state() != v1::ACTIVE || n.per_slot() == 0) continue;
    auto c = by_id.find(n.cluster_id());
    if (c == by_id.end()) continue;
    std::uint32_t near = n.per_slot();
    if (auto l = live.find(id); l != live.end()) {
      if (!l->second.reachable) continue;  // down until it answers again
      near -= std::min(near, l->second.foreign);
    }
    c->second.nodes.push_back(NodeCapacity{id, n.per_slot(), near});
    c->second.per_slot += n.per_slot();
  }
  for (auto& [id, c] : by_id) {
    if (c.per_slot == 0) continue;
    t.per_slot_ += c.per_slot;
    t.clusters_.push_back(std::move(c));
  }
  return t;
}

bool SlotInHours(const SlotGrid& grid, Slot slot, int utc_offset_minutes, std::uint32_t from_minute,
                 std::uint32_t to_minute, std::uint32_t weekdays) {
  weekdays &= 0x7f;
  if (from_minute == to_minute && weekdays == 0) return true;
  constexpr std::int64_t kDay = 24 * 60;
  const std::int64_t local_minutes = grid.Start(slot) / 60'000 + utc_offset_minutes;
  const std::int64_t day = local_minutes >= 0 ? local_minutes / kDay : (local_minutes - kDay + 1) / kDay;
  const auto minute = static_cast<std::uint32_t>(local_minutes - day * kDay);
  bool in = true;
  std::int64_t range_day = day;  // the day the range the slot falls in began on
  if (from_minute < to_minute) {
    in = minute >= from_minute && minute < to_minute;
  } else if (from_minute > to_minute) {
    in = minute >= from_minute || minute < to_minute;
    if (minute < to_minute) range_day = day - 1;
  }
  if (!in || weekdays == 0) return in;
  // 1970-01-01 was a Thursday (Monday = 0).
  const auto weekday = static_cast<unsigned>(((range_day + 3) % 7 + 7) % 7);
  return (weekdays >> weekday) & 1u;
}

Topology Topology::Capped(double utilisation) const {
  Topology t = *this;
  if (utilisation <= 0 || utilisation >= 1) return t;
  auto cap = [&](std::uint32_t c) {
    return static_cast<std::uint32_t>(std::floor(static_cast<double>(c) * utilisation + 1e-9));
  };
  for (auto& cluster : t.clusters_) {
    for (auto& node : cluster.nodes) {
      node.per_slot = cap(node.per_slot);
      node.near_per_slot = cap(node.near_per_slot);
    }
  }
  return t;
}

std::vector<std::size_t> Topology::ByDistance(LatLon where) const {
  std::vector<std::size_t> order(clusters_.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::vector<double> distance(clusters_.size());
  for (std::size_t i = 0; i < clusters_.size(); ++i) {
    distance[i] = DistanceKm(where, clusters_[i].location);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return distance[a] < distance[b]; });
  return order;
}

std::optional<std::size_t> Topology::NearestCluster(LatLon where) const {
  if (clusters_.empty()) return std::nullopt;
  return ByDistance(where).front();
}

std::optional<Placement> PlaceTerminal(const Topology& topology, CapacityLedger& ledger,
                                       std::optional<LatLon> where, Slot first, Slot end,
                                       double max_fallback_km, const SlotFilter& allowed) {
  if (!where) {
    std::vector<const ClusterCapacity*> pool;
    for (const auto& c : topology.clusters()) pool.push_back(&c);
    return BookEarliest(topology, pool, ledger, first, end, allowed);
  }
  const auto order = topology.ByDistance(*where);
  for (std::size_t i : order) {
    if (max_fallback_km > 0 && i != order.front() &&
        DistanceKm(*where, topology.clusters()[i].location) > max_fallback_km) {
      break;  // farther ones are farther still
    }
    if (auto p = BookEarliest(topology, {&topology.clusters()[i]}, ledger, first, end, allowed)) return p;
  }
  return std::nullopt;
}

}  // namespace slotwise::scheduler
