#include <doctest/doctest.h>

#include <random>

#include "slotwise/scheduler/placement.h"
#include "slotwise/slots.h"

using namespace slotwise;
using namespace slotwise::scheduler;

namespace {

v1::Cluster MakeCluster(const std::string& id, double lat, double lon) {
  v1::Cluster c;
  c.set_id(id);
  c.mutable_location()->set_lat(lat);
  c.mutable_location()->set_lon(lon);
  return c;
}

v1::Node MakeNode(const std::string& id, const std::string& cluster, std::uint32_t per_slot,
                  v1::NodeState state = v1::ACTIVE) {
  v1::Node n;
  n.set_id(id);
  n.set_cluster_id(cluster);
  n.set_per_slot(per_slot);
  n.set_state(state);
  return n;
}

const LatLon kNearParis{48.9, 2.4};
const LatLon kNearMunich{48.1, 11.6};

Topology TwoClusters(std::uint32_t per_slot = 2) {
  std::map<std::string, v1::Cluster> clusters{{"paris", MakeCluster("paris", 48.85, 2.35)},
                                              {"munich", MakeCluster("munich", 48.14, 11.58)}};
  std::map<std::string, v1::Node> nodes{{"p1", MakeNode("p1", "paris", per_slot)},
                                        {"p2", MakeNode("p2", "paris", per_slot)},
                                        {"m1", MakeNode("m1", "munich", per_slot)},
                                        {"m2", MakeNode("m2", "munich", per_slot)}};
  return Topology::FromRegistry(clusters, nodes);
}

}  // namespace

TEST_CASE("topology keeps only active nodes with capacity") {
  std::map<std::string, v1::Cluster> clusters{{"a", MakeCluster("a", 0, 0)}, {"b", MakeCluster("b", 1, 1)}};
  std::map<std::string, v1::Node> nodes{{"a1", MakeNode("a1", "a", 3)},
                                        {"a2", MakeNode("a2", "a", 5, v1::DRAINING)},
                                        {"b1", MakeNode("b1", "b", 4, v1::DOWN)},
                                        {"x1", MakeNode("x1", "missing", 9)}};
  const Topology t = Topology::FromRegistry(clusters, nodes);
  REQUIRE(t.clusters().size() == 1);
  CHECK(t.clusters()[0].id == "a");
  CHECK(t.CapacityPerSlot() == 3);
}

TEST_CASE("a terminal gets its nearest cluster, the least loaded node and the earliest slot") {
  const Topology t = TwoClusters();
  CapacityLedger ledger;
  auto p = PlaceTerminal(t, ledger, kNearMunich, 100, 110);
  REQUIRE(p);
  CHECK(p->cluster_id == "munich");
  CHECK(p->node_id == "m1");
  CHECK(p->slot == 100);
  CHECK(p->index == 0);
  // m1 now has 1/2 booked, m2 0/2: the next goes to m2.
  auto q = PlaceTerminal(t, ledger, kNearMunich, 100, 110);
  REQUIRE(q);
  CHECK(q->node_id == "m2");
  CHECK(q->slot == 100);
}

TEST_CASE("the nearest cluster is kept while it has room in the window, later slots first") {
  const Topology t = TwoClusters(1);
  CapacityLedger ledger;
  std::vector<Slot> slots;
  for (int i = 0; i < 4; ++i) {
    auto p = PlaceTerminal(t, ledger, kNearParis, 0, 2);
    REQUIRE(p);
    CHECK(p->cluster_id == "paris");
    slots.push_back(p->slot);
  }
  CHECK(slots == std::vector<Slot>{0, 0, 1, 1});
  // Paris is full inside [0, 2): fall back to Munich.
  auto p = PlaceTerminal(t, ledger, kNearParis, 0, 2);
  REQUIRE(p);
  CHECK(p->cluster_id == "munich");
  CHECK(p->slot == 0);
}

TEST_CASE("no room anywhere in the window books nothing") {
  const Topology t = TwoClusters(1);
  CapacityLedger ledger;
  for (int i = 0; i < 4; ++i) REQUIRE(PlaceTerminal(t, ledger, std::nullopt, 7, 8));
  CHECK_FALSE(PlaceTerminal(t, ledger, kNearParis, 7, 8));
  CHECK_FALSE(PlaceTerminal(t, ledger, std::nullopt, 7, 8));
  for (const char* n : {"p1", "p2", "m1", "m2"}) CHECK(ledger.Booked(n, 7) == 1);
}

TEST_CASE("a terminal without a location uses every cluster, earliest slot first") {
  const Topology t = TwoClusters(1);
  CapacityLedger ledger;
  std::set<std::string> nodes;
  for (int i = 0; i < 4; ++i) {
    auto p = PlaceTerminal(t, ledger, std::nullopt, 3, 10);
    REQUIRE(p);
    CHECK(p->slot == 3);
    nodes.insert(p->node_id);
  }
  CHECK(nodes.size() == 4);
}

TEST_CASE("property: random fleets never overbook and place everyone while capacity lasts") {
  std::mt19937 rng(12345);
  for (int round = 0; round < 50; ++round) {
    std::map<std::string, v1::Cluster> clusters;
    std::map<std::string, v1::Node> nodes;
    std::uniform_real_distribution<double> lat(-60, 60), lon(-170, 170);
    const int n_clusters = 1 + static_cast<int>(rng() % 5);
    for (int c = 0; c < n_clusters; ++c) {
      const std::string cid = "c" + std::to_string(c);
      clusters[cid] = MakeCluster(cid, lat(rng), lon(rng));
      const int n_nodes = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < n_nodes; ++k) {
        const std::string nid = cid + "n" + std::to_string(k);
        nodes[nid] = MakeNode(nid, cid, 1 + static_cast<std::uint32_t>(rng() % 5));
      }
    }
    const Topology t = Topology::FromRegistry(clusters, nodes);
    const Slot first = 1000;
    const Slot end = first + 1 + static_cast<Slot>(rng() % 6);
    const std::uint64_t room = static_cast<std::uint64_t>(t.CapacityPerSlot()) * static_cast<std::uint64_t>(end - first);
    const std::uint64_t terminals = room + 5;
    CapacityLedger ledger;
    std::uint64_t placed = 0;
    for (std::uint64_t i = 0; i < terminals; ++i) {
      std::optional<LatLon> where;
      if (rng() % 4 != 0) where = LatLon{lat(rng), lon(rng)};
      auto p = PlaceTerminal(t, ledger, where, first, end);
      if (placed < room) {
        REQUIRE_MESSAGE(p, "capacity was left but a terminal was not placed");
      } else {
        REQUIRE_FALSE(p);
      }
      if (!p) continue;
      ++placed;
      CHECK(p->slot >= first);
      CHECK(p->slot < end);
      if (where) {
        // Nearest cluster whenever it still had room when this terminal came.
        const auto& nearest = t.clusters()[*t.NearestCluster(*where)];
        if (p->cluster_id != nearest.id) {
          for (const auto& node : nearest.nodes) {
            for (Slot s = first; s < end; ++s) CHECK(ledger.Booked(node.id, s) == node.per_slot);
          }
        }
      }
      for (const auto& [id, node] : nodes) {
        for (Slot s = first; s < end; ++s) REQUIRE(ledger.Booked(id, s) <= node.per_slot());
      }
    }
    CHECK(placed == room);
  }
}

TEST_CASE("spread starts divide the slot's first half evenly, and invert") {
  const SlotGrid grid(2000);
  CHECK(grid.SpreadStart(10, 0, 4) == 20000);
  CHECK(grid.SpreadStart(10, 1, 4) == 20250);
  CHECK(grid.SpreadStart(10, 3, 4) == 20750);  // the last starts half a slot before the end
  for (std::uint32_t per_slot : {1U, 3U, 4U, 7U, 999U}) {
    for (std::uint32_t i = 0; i < per_slot; ++i) {
      CAPTURE(per_slot);
      CAPTURE(i);
      CHECK(grid.SpreadIndexAt(grid.SpreadStart(10, i, per_slot) - grid.Start(10), per_slot) == i);
    }
  }
  CHECK_FALSE(grid.SpreadIndexAt(1, 4));      // no index starts there
  CHECK_FALSE(grid.SpreadIndexAt(1000, 4));   // the second half holds no start
  CHECK_FALSE(grid.SpreadIndexAt(-1, 4));
  CHECK(grid.SpreadIndexAt(0, 4000) == 0U);   // more bookings than milliseconds: the first
  CHECK(grid.SlotAt(21999) == 10);
  CHECK(grid.SlotAt(22000) == 11);
  CHECK(grid.SlotAt(-1) == -1);
}
