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
// Not thread-safe: callers own the ledger.
#pragma once

#include <cstdint>
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
};

struct ClusterCapacity {
  std::string id;
  LatLon location;
  std::vector<NodeCapacity> nodes;  // active nodes only, sorted by id
  std::uint32_t per_slot = 0;       // sum over nodes
};

// The nodes that take new bookings, grouped by cluster.
class Topology {
 public:
  Topology() = default;
  static Topology FromRegistry(const std::map<std::string, v1::Cluster>& clusters,
                               const std::map<std::string, v1::Node>& nodes);

  const std::vector<ClusterCapacity>& clusters() const { return clusters_; }
  std::uint32_t CapacityPerSlot() const { return per_slot_; }
  // Index of the nearest cluster with capacity; nullopt without location or clusters.
  std::optional<std::size_t> NearestCluster(LatLon where) const;
  // Cluster indexes nearest first.
  std::vector<std::size_t> ByDistance(LatLon where) const;

 private:
  std::vector<ClusterCapacity> clusters_;  // only clusters with per_slot > 0
  std::uint32_t per_slot_ = 0;
};

struct Placement {
  std::string node_id;
  std::string cluster_id;
  Slot slot = 0;
  std::uint32_t index = 0;     // booking index inside the slot
  std::uint32_t per_slot = 0;  // the node's capacity then
};

// Books the best (node, slot) in [first, end) for a terminal at `where`.
// nullopt when no node has room in the window (nothing is booked then).
std::optional<Placement> PlaceTerminal(const Topology& topology, CapacityLedger& ledger,
                                       std::optional<LatLon> where, Slot first, Slot end);

}  // namespace slotwise::scheduler
