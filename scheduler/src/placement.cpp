#include "slotwise/scheduler/placement.h"

#include <algorithm>
#include <numeric>

namespace slotwise::scheduler {
namespace {

struct Candidate {
  const NodeCapacity* node = nullptr;
  const ClusterCapacity* cluster = nullptr;
  std::uint32_t booked = 0;
};

// True when a is the better node: lower booked/per_slot, then id.
bool LessLoaded(const Candidate& a, const Candidate& b) {
  const auto lhs = static_cast<std::uint64_t>(a.booked) * b.node->per_slot;
  const auto rhs = static_cast<std::uint64_t>(b.booked) * a.node->per_slot;
  if (lhs != rhs) return lhs < rhs;
  return a.node->id < b.node->id;
}

// The least-loaded node with room in `slot` among the given clusters.
std::optional<Candidate> BestNodeInSlot(const std::vector<const ClusterCapacity*>& pool,
                                        const CapacityLedger& ledger, Slot slot) {
  std::optional<Candidate> best;
  for (const ClusterCapacity* cluster : pool) {
    for (const NodeCapacity& node : cluster->nodes) {
      const std::uint32_t booked = ledger.Booked(node.id, slot);
      if (booked >= node.per_slot) continue;
      Candidate c{&node, cluster, booked};
      if (!best || LessLoaded(c, *best)) best = c;
    }
  }
  return best;
}

std::optional<Placement> BookEarliest(const std::vector<const ClusterCapacity*>& pool,
                                      CapacityLedger& ledger, Slot first, Slot end) {
  for (Slot slot = first; slot < end; ++slot) {
    auto best = BestNodeInSlot(pool, ledger, slot);
    if (!best) continue;
    auto index = ledger.Book(best->node->id, slot, best->node->per_slot);
    if (!index) continue;  // cannot happen: BestNodeInSlot saw room
    return Placement{best->node->id, best->cluster->id, slot, *index, best->node->per_slot};
  }
  return std::nullopt;
}

}  // namespace

Topology Topology::FromRegistry(const std::map<std::string, v1::Cluster>& clusters,
                                const std::map<std::string, v1::Node>& nodes) {
  Topology t;
  std::map<std::string, ClusterCapacity> by_id;
  for (const auto& [id, c] : clusters) {
    by_id[id] = ClusterCapacity{id, LatLon{c.location().lat(), c.location().lon()}, {}, 0};
  }
  for (const auto& [id, n] : nodes) {  // std::map: nodes arrive sorted by id
    if (n.state() != v1::ACTIVE || n.per_slot() == 0) continue;
    auto c = by_id.find(n.cluster_id());
    if (c == by_id.end()) continue;
    c->second.nodes.push_back(NodeCapacity{id, n.per_slot()});
    c->second.per_slot += n.per_slot();
  }
  for (auto& [id, c] : by_id) {
    if (c.per_slot == 0) continue;
    t.per_slot_ += c.per_slot;
    t.clusters_.push_back(std::move(c));
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
                                       std::optional<LatLon> where, Slot first, Slot end) {
  if (!where) {
    std::vector<const ClusterCapacity*> pool;
    for (const auto& c : topology.clusters()) pool.push_back(&c);
    return BookEarliest(pool, ledger, first, end);
  }
  for (std::size_t i : topology.ByDistance(*where)) {
    if (auto p = BookEarliest({&topology.clusters()[i]}, ledger, first, end)) return p;
  }
  return std::nullopt;
}

}  // namespace slotwise::scheduler
