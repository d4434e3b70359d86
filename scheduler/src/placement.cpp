#include "slotwise/scheduler/placement.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace slotwise::scheduler {
namespace {

struct Candidate {
  const NodeCapacity* node = nullptr;
  const ClusterCapacity* cluster = nullptr;
  std::uint32_t booked = 0;
  std::uint32_t capacity = 0;
  std::optional<Reservation> reservation;
  // The index to book when it is not simply the next one (a later start
  // that fits the node's bytes, or the running slot's first future one).
  std::optional<std::uint32_t> index;
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
  // With a byte demand: no start before this fits the node's bytes (every
  // start up to a blocked bucket has that bucket in its span), so slots
  // whose last start is earlier are passed without a look at the ledger.
  TimeMs blocked_until = std::numeric_limits<TimeMs>::min();

  std::uint32_t BookedIn(Slot slot) {
    if (!slots) return 0;
    while (next != slots->end() && next->first < slot) ++next;
    return next != slots->end() && next->first == slot ? next->second : 0;
  }
};

// The least-loaded node with room in `slot` among the given nodes; `slot`
// must not decrease from one call to the next.
// The reservation of a booking with `index` in `slot` on `node`, if it fits.
std::optional<std::optional<Reservation>> FittingReservation(const Topology& topology, const CapacityLedger& ledger,
                                                             const NodeCapacity& node, Slot slot,
                                                             std::uint32_t index, std::uint32_t capacity,
                                                             const ByteDemand* demand) {
  if (demand == nullptr || !node.ByteLimited() || demand->slot_ms <= 0) return std::optional<Reservation>{};
  const SlotGrid grid(demand->slot_ms);
  auto r = ReservationFor(node, *demand, grid.SpreadStart(slot, index, capacity));
  if (!r) return std::optional<Reservation>{};
  const bool near = slot < topology.near_end();
  if (!ledger.Fits(node.id, *r, near ? node.near_bandwidth_bps : node.bandwidth_bps,
                   near ? node.near_connections : node.max_connections)) {
    return std::nullopt;
  }
  return r;
}

// The first index of `capacity` spread starts in `slot` whose start is not
// before `earliest` (capacity when none is).
std::uint32_t FirstIndexFrom(const EarliestStart& earliest, Slot slot, std::uint32_t capacity) {
  const SlotGrid grid(earliest.slot_ms);
  const TimeMs offset = earliest.at_ms - grid.Start(slot);
  if (offset <= 0 || capacity == 0) return 0;
  const TimeMs span = earliest.slot_ms / 2;
  if (offset > span || span == 0) return capacity;
  // The smallest i with floor(i * span / capacity) >= offset.
  const auto i = static_cast<std::uint32_t>((offset * capacity + span - 1) / span);
  return std::min(i, capacity);
}

// On a byte-limited node where the booking's next start does not fit: the
// first later free index of the slot whose start does (jumping past the last
// bucket that blocks each try), with its reservation; nullopt when none does.
// `blocked_until` is raised past every blocked bucket met (far slots only:
// the near ones have lower limits).
std::optional<std::pair<std::uint32_t, Reservation>> LaterFit(const Topology& topology, const CapacityLedger& ledger,
                                                              const NodeCapacity& node, Slot slot,
                                                              std::uint32_t index, std::uint32_t capacity,
                                                              const ByteDemand& demand, TimeMs& blocked_until) {
  const SlotGrid grid(demand.slot_ms);
  const bool near = slot < topology.near_end();
  const std::uint64_t bandwidth = near ? node.near_bandwidth_bps : node.bandwidth_bps;
  const std::uint32_t connections = near ? node.near_connections : node.max_connections;
  for (int tries = 0; tries < 64; ++tries) {
    auto r = ReservationFor(node, demand, grid.SpreadStart(slot, index, capacity));
    if (!r) return std::nullopt;
    const auto blocked = ledger.LastBlocked(node.id, *r, bandwidth, connections);
    if (!blocked) return std::pair{index, *r};
    if (!near) blocked_until = std::max(blocked_until, (*blocked + 1) * demand.bucket_ms);
    const std::uint32_t from = FirstIndexFrom(EarliestStart{(*blocked + 1) * demand.bucket_ms, demand.slot_ms}, slot,
                                              capacity);
    if (from >= capacity) return std::nullopt;
    const auto next = ledger.NextIndex(node.id, slot, capacity, std::max(from, index + 1));
    if (!next || *next >= capacity) return std::nullopt;
    index = *next;
  }
  return std::nullopt;
}

// `earliest`: in the running slot only an index whose start has not passed.
std::optional<Candidate> BestNodeInSlot(const Topology& topology, const CapacityLedger& ledger,
                                        std::vector<PoolNode>& pool, Slot slot, const ByteDemand* demand,
                                        const std::optional<EarliestStart>& earliest) {
  const bool running = earliest && SlotGrid(earliest->slot_ms).SlotAt(earliest->at_ms) == slot;
  std::optional<Candidate> best;
  for (PoolNode& p : pool) {
    const std::uint32_t capacity = topology.Capacity(*p.node, slot);
    const std::uint32_t booked = p.BookedIn(slot);
    if (booked >= capacity) continue;
    Candidate c{p.node, p.cluster, booked, capacity, std::nullopt, std::nullopt};
    if (best && !LessLoaded(c, *best)) continue;
    if (demand != nullptr && demand->slot_ms > 0 && capacity > 0 &&
        SlotGrid(demand->slot_ms).SpreadStart(slot, capacity - 1, capacity) < p.blocked_until) {
      continue;  // no start of this slot is late enough
    }
    std::uint32_t index = booked;
    if (running) {
      const auto next = ledger.NextIndex(p.node->id, slot, capacity, FirstIndexFrom(*earliest, slot, capacity));
      if (!next) continue;
      index = *next;
      c.index = index;
    }
    auto fit = FittingReservation(topology, ledger, *p.node, slot, index, capacity, demand);
    if (!fit) {
      // Its bytes may fit at a later start of the same slot.
      auto later = LaterFit(topology, ledger, *p.node, slot, index, capacity, *demand, p.blocked_until);
      if (!later) continue;
      c.index = later->first;
      fit = std::optional<Reservation>{later->second};
    }
    c.reservation = *fit;
    if (!best || LessLoaded(c, *best)) best = c;
  }
  return best;
}

std::optional<Placement> BookEarliest(const Topology& topology,
                                      const std::vector<const ClusterCapacity*>& clusters,
                                      CapacityLedger& ledger, Slot first, Slot end, const SlotFilter& allowed,
                                      const ByteDemand* demand, const std::optional<EarliestStart>& earliest) {
  std::vector<PoolNode> pool;
  for (const ClusterCapacity* cluster : clusters) {
    for (const NodeCapacity& node : cluster->nodes) {
      const auto* slots = ledger.NodeSlots(node.id);
      pool.push_back({&node, cluster, slots, slots ? slots->lower_bound(first) : decltype(PoolNode::next){},
                      std::numeric_limits<TimeMs>::min()});
    }
  }
  for (Slot slot = first; slot < end; ++slot) {
    if (allowed && !allowed(slot)) continue;
    auto best = BestNodeInSlot(topology, ledger, pool, slot, demand, earliest);
    if (!best) continue;
    auto index = ledger.Book(best->node->id, slot, best->capacity, best->index.value_or(0));
    if (!index) continue;  // cannot happen: BestNodeInSlot saw room
    std::optional<Reservation> reservation = best->reservation;
    if (reservation && *index != best->booked) {
      // A released index was handed out again: another start time.
      auto fit = FittingReservation(topology, ledger, *best->node, slot, *index, best->capacity, demand);
      if (!fit) {
        ledger.Release(best->node->id, slot, *index);
        continue;
      }
      reservation = *fit;
    }
    if (reservation) ledger.Reserve(best->node->id, *reservation);
    return Placement{best->node->id, best->cluster->id, slot, *index, best->capacity, reservation};
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
    NodeCapacity node{id, n.per_slot(), near};
    node.bandwidth_bps = node.near_bandwidth_bps = n.bandwidth_bps();
    node.max_connections = node.near_connections = n.max_connections();
    if (auto l = live.find(id); l != live.end()) {
      if (!l->second.reachable) continue;  // down until it answers again
      const std::uint32_t foreign = l->second.foreign;
      node.near_per_slot -= std::min(node.near_per_slot, foreign);
      // Connections we did not book hold their fair share of the bandwidth
      // and a connection each, until they end; a node with no room left
      // keeps a limit of 1 bit/s / 1 connection (0 would mean "no limit").
      if (node.max_connections > 0) {
        node.near_connections = std::max<std::uint32_t>(1, node.max_connections - std::min(node.max_connections - 1, foreign));
        if (foreign >= node.max_connections) node.near_per_slot = 0;
      }
      if (node.bandwidth_bps > 0) {
        const std::uint64_t share = ExpectedRate(node, 0) * foreign;
        node.near_bandwidth_bps = share >= node.bandwidth_bps ? 1 : node.bandwidth_bps - share;
      }
    }
    t.any_byte_limited_ = t.any_byte_limited_ || node.ByteLimited();
    c->second.nodes.push_back(node);
    c->second.per_slot += n.per_slot();
    c->second.bandwidth_bps += n.bandwidth_bps();
  }
  t.all_bandwidth_ = true;
  for (auto& [id, c] : by_id) {
    if (c.per_slot == 0) continue;
    t.per_slot_ += c.per_slot;
    t.bandwidth_bps_ += c.bandwidth_bps;
    for (const auto& node : c.nodes) t.all_bandwidth_ = t.all_bandwidth_ && node.bandwidth_bps > 0;
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
      auto cap64 = [&](std::uint64_t c) {
        return c == 0 ? 0 : std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::floor(static_cast<double>(c) * utilisation)));
      };
      node.bandwidth_bps = cap64(node.bandwidth_bps);
      node.near_bandwidth_bps = cap64(node.near_bandwidth_bps);
      node.max_connections = static_cast<std::uint32_t>(cap64(node.max_connections));
      node.near_connections = static_cast<std::uint32_t>(cap64(node.near_connections));
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

std::uint64_t ExpectedRate(const NodeCapacity& node, std::uint64_t link_bps) {
  std::uint64_t rate = link_bps;
  if (node.bandwidth_bps > 0) {
    const std::uint32_t shares = node.max_connections > 0 ? node.max_connections : std::max<std::uint32_t>(1, node.per_slot);
    const std::uint64_t fair = std::max<std::uint64_t>(1, node.bandwidth_bps / shares);
    rate = rate == 0 ? fair : std::min(rate, fair);
  }
  return std::max<std::uint64_t>(1, rate);
}

std::optional<Reservation> ReservationFor(const NodeCapacity& node, const ByteDemand& demand, TimeMs start_ms) {
  if (!node.ByteLimited() || demand.bucket_ms <= 0) return std::nullopt;
  const std::uint64_t rate = ExpectedRate(node, demand.link_bps);
  // Expected duration in ms, to the nearest; bytes * 8000 fits 64 bits up to 2 PB.
  auto duration_ms = static_cast<std::int64_t>((demand.bytes * 8000 + rate / 2) / rate);
  duration_ms += duration_ms * demand.guard_permille / 1000 + demand.guard_ms;
  Reservation r;
  auto floor_div = [](std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0 && a < 0) ? 1 : 0); };
  r.first = floor_div(start_ms, demand.bucket_ms);
  r.end = std::max(r.first + 1, floor_div(start_ms + duration_ms - 1, demand.bucket_ms) + 1);
  r.rate_bps = node.bandwidth_bps > 0 ? rate : 0;
  r.connections = node.max_connections > 0 ? 1 : 0;
  return r;
}

std::optional<Placement> PlaceTerminal(const Topology& topology, CapacityLedger& ledger,
                                       std::optional<LatLon> where, Slot first, Slot end,
                                       double max_fallback_km, const SlotFilter& allowed,
                                       const ByteDemand* demand, std::optional<EarliestStart> earliest) {
  if (!where) {
    std::vector<const ClusterCapacity*> pool;
    for (const auto& c : topology.clusters()) pool.push_back(&c);
    return BookEarliest(topology, pool, ledger, first, end, allowed, demand, earliest);
  }
  const auto order = topology.ByDistance(*where);
  for (std::size_t i : order) {
    if (max_fallback_km > 0 && i != order.front() &&
        DistanceKm(*where, topology.clusters()[i].location) > max_fallback_km) {
      break;  // farther ones are farther still
    }
    if (auto p = BookEarliest(topology, {&topology.clusters()[i]}, ledger, first, end, allowed, demand, earliest)) return p;
  }
  return std::nullopt;
}

}  // namespace slotwise::scheduler
