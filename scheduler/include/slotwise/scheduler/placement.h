// Placement (patent step S8): which node and which slot a terminal gets.
// Pure functions over a Topology snapshot and a CapacityLedger, so the daemon,
// the window planner and simulations all run exactly the same rule:
//
//   1. clusters in order of distance from the terminal (a terminal with no
//      known location may use any cluster: all of them form one pool);
//   2. the first cluster that has room anywhere in [first, end) wins;
//   3. in it, the earliest slot with room; in that slot the node with the
//      lowest booked/per_slot (ties: node id).
//
// "Room" is per_slot starts and, with a ByteDemand and a node that has a
// bandwidth or a connection limit, a Reservation that fits the node over
// the download's expected time (ReservationFor()). Nodes without either
// (v1 operators) are counted as before.
//
// Not thread-safe: callers own the ledger.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "slotwise/geo.h"
#include "slotwise/scheduler/ledger.h"
#include "slotwise/slots.h"
#include "slotwise/v1/operator.pb.h"

namespace slotwise::scheduler {

struct NodeCapacity {
  std::string id;
  std::uint32_t per_slot = 0;
  // Effective capacity in the near slots [.., Topology::near_end()), where
  // observed live load lowers it: min(per_slot, what the load leaves).
  std::uint32_t near_per_slot = 0;
  // Bits/s and downloads in progress the node carries (0 = not limited),
  // and the same where live load lowers them (before near_end).
  std::uint64_t bandwidth_bps = 0;
  std::uint32_t max_connections = 0;
  std::uint64_t near_bandwidth_bps = 0;
  std::uint32_t near_connections = 0;
  bool ByteLimited() const { return bandwidth_bps > 0 || max_connections > 0; }
};

// What one booking will fetch, to size its reservation.
struct ByteDemand {
  std::uint64_t bytes = 0;     // what the terminal downloads (artifact or delta)
  std::uint64_t link_bps = 0;  // its expected link rate; 0 = the node's fair share
  std::int64_t slot_ms = 0;    // the slot grid (for start times)
  std::int64_t bucket_ms = 0;  // the ledger's time bucket
  // Guard added to the expected duration (ServiceOptions::download_guard_*):
  // a real download starts a little after start_at_ms and carries headers
  // and round trips, so back-to-back reservations would overlap otherwise.
  std::int64_t guard_ms = 0;
  std::uint32_t guard_permille = 0;
};

// The expected rate of a download on `node`: the terminal's link, capped by
// the node's fair share (bandwidth / max_connections, or / per_slot without
// a connection limit); at least 1 bit/s.
std::uint64_t ExpectedRate(const NodeCapacity& node, std::uint64_t link_bps);
// The reservation of a download of `demand` starting at `start_ms` on
// `node`: its expected rate (on a node with a bandwidth) and one connection
// (on a node with a connection limit) in every bucket from the start to the
// expected end (bytes / rate, rounded to the nearest ms). nullopt for a node
// that is not byte-limited.
std::optional<Reservation> ReservationFor(const NodeCapacity& node, const ByteDemand& demand, TimeMs start_ms);

// What the scheduler observed of a node's live load (nginx stub_status).
struct LiveLoad {
  bool reachable = true;        // false: counts as down until it answers
  std::uint32_t foreign = 0;    // connections not explained by our bookings
  // For the operator (v1::Node health fields); placement reads none of them.
  std::uint32_t active = 0;     // active connections of the latest answer
  std::string detail;           // what the latest poll saw
  std::int64_t since_ms = 0;    // when `reachable` took its current value
};

// Ledger buckets per slot for byte reservations.
// (200: with the default spread of 100 starts over half a slot, a start
// falls on a bucket boundary, so whole-slot downloads pack exactly.)
constexpr std::int64_t kBucketsPerSlot = 200;

struct ClusterCapacity {
  std::string id;
  LatLon location;
  std::vector<NodeCapacity> nodes;  // active nodes only, sorted by id
  std::uint32_t per_slot = 0;       // sum over nodes
  std::uint64_t bandwidth_bps = 0;  // sum over nodes
};

// The nodes that take new bookings, grouped by cluster.
class Topology {
 public:
  Topology() = default;
  static Topology FromRegistry(const std::map<std::string, v1::Cluster>& clusters,
                               const std::map<std::string, v1::Node>& nodes);
  // Same, with live load: an unreachable node takes nothing, a loaded one
  // takes less in the slots before `near_end`.
  static Topology FromRegistry(const std::map<std::string, v1::Cluster>& clusters,
                               const std::map<std::string, v1::Node>& nodes,
                               const std::map<std::string, LiveLoad>& live, Slot near_end);

  // Effective capacity of `node` in `slot`.
  std::uint32_t Capacity(const NodeCapacity& node, Slot slot) const {
    return slot < near_end_ ? node.near_per_slot : node.per_slot;
  }
  Slot near_end() const { return near_end_; }
  // The same nodes, each filled only to floor(capacity * utilisation) per
  // slot (the clusters' nominal per_slot is kept for utilisation figures).
  Topology Capped(double utilisation) const;

  const std::vector<ClusterCapacity>& clusters() const { return clusters_; }
  std::uint32_t CapacityPerSlot() const { return per_slot_; }
  // Sum of the nodes' bandwidths, and whether every node has one.
  std::uint64_t BandwidthBps() const { return bandwidth_bps_; }
  bool AllHaveBandwidth() const { return all_bandwidth_; }
  bool AnyByteLimited() const { return any_byte_limited_; }
  // Index of the nearest cluster with capacity; nullopt without location or clusters.
  std::optional<std::size_t> NearestCluster(LatLon where) const;
  // Cluster indexes nearest first.
  std::vector<std::size_t> ByDistance(LatLon where) const;

 private:
  std::vector<ClusterCapacity> clusters_;  // only clusters with per_slot > 0
  std::uint32_t per_slot_ = 0;
  std::uint64_t bandwidth_bps_ = 0;
  bool all_bandwidth_ = false;
  bool any_byte_limited_ = false;
  Slot near_end_ = 0;  // slots before it use near_per_slot
};

struct Placement {
  std::string node_id;
  std::string cluster_id;
  Slot slot = 0;
  std::uint32_t index = 0;     // booking index inside the slot
  std::uint32_t per_slot = 0;  // the node's effective capacity then
  std::optional<Reservation> reservation;  // what was reserved (byte-limited nodes)
};

// Books the best (node, slot) in [first, end) for a terminal at `where`.
// A located terminal may fall back from its nearest cluster only to clusters
// within `max_fallback_km` of it (0 = any distance).
// nullopt when no node has room in the window (nothing is booked then).
// Which slots a terminal may use (allowed hours); empty = every slot.
using SlotFilter = std::function<bool(Slot)>;

// A booking's earliest start: in the slot that holds `at_ms` (the one
// running when the terminal asks), only an index whose spread start
// (SlotGrid::SpreadStart) is not before `at_ms` is taken, so a terminal
// placed while a slot runs may still get that slot if it has room then.
struct EarliestStart {
  TimeMs at_ms = 0;
  std::int64_t slot_ms = 0;
};

std::optional<Placement> PlaceTerminal(const Topology& topology, CapacityLedger& ledger,
                                       std::optional<LatLon> where, Slot first, Slot end,
                                       double max_fallback_km = 0, const SlotFilter& allowed = {},
                                       const ByteDemand* demand = nullptr,
                                       std::optional<EarliestStart> earliest = std::nullopt);

// Allowed hours: a slot is allowed when its start, in local time (UTC +
// utc_offset_minutes), is in [from_minute, to_minute) of the day; from ==
// to allows every slot, from > to wraps midnight. `weekdays` (bit 0 =
// Monday ... bit 6 = Sunday; 0 = every day) names the days the hours apply
// to; the part of a range that wraps past midnight belongs to the day it
// began on (Fri 23:00-02:00 allows Saturday 01:00).
bool SlotInHours(const SlotGrid& grid, Slot slot, int utc_offset_minutes, std::uint32_t from_minute,
                 std::uint32_t to_minute, std::uint32_t weekdays = 0);
// Whether a campaign's allowed hours restrict anything.
inline bool HasAllowedHours(std::uint32_t from_minute, std::uint32_t to_minute, std::uint32_t weekdays) {
  return from_minute != to_minute || (weekdays & 0x7f) != 0;
}

}  // namespace slotwise::scheduler
