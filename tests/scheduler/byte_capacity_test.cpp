// Capacity in bytes: the ledger's reserved rates and connections over time
// buckets, placement with a ByteDemand, and windows that use them.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <vector>

#include "slotwise/scheduler/ledger.h"
#include "slotwise/scheduler/placement.h"
#include "slotwise/scheduler/windows.h"
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
                  std::uint64_t bandwidth_bps, std::uint32_t max_connections) {
  v1::Node n;
  n.set_id(id);
  n.set_cluster_id(cluster);
  n.set_per_slot(per_slot);
  n.set_bandwidth_bps(bandwidth_bps);
  n.set_max_connections(max_connections);
  n.set_state(v1::ACTIVE);
  return n;
}

// Reserved rate and connections per bucket, summed the slow way.
struct BruteForce {
  std::map<std::int64_t, std::uint64_t> rate;
  std::map<std::int64_t, std::uint64_t> conns;
  void Add(const Reservation& r, int sign) {
    for (std::int64_t b = r.first; b < r.end; ++b) {
      rate[b] += static_cast<std::uint64_t>(sign) * r.rate_bps;
      conns[b] += static_cast<std::uint64_t>(sign) * r.connections;
    }
  }
  bool Fits(const Reservation& r, std::uint64_t bw, std::uint32_t max_conns) const {
    for (std::int64_t b = r.first; b < r.end; ++b) {
      const auto ri = rate.find(b);
      const auto ci = conns.find(b);
      if (bw > 0 && (ri == rate.end() ? 0 : ri->second) + r.rate_bps > bw) return false;
      if (max_conns > 0 && (ci == conns.end() ? 0 : ci->second) + r.connections > max_conns) return false;
    }
    return true;
  }
};

constexpr std::int64_t kSlotMs = 600'000;
constexpr std::int64_t kBucketMs = kSlotMs / kBucketsPerSlot;

}  // namespace

TEST_CASE("ledger reservations: Fits agrees with a brute-force sum and random bookings never exceed the limits") {
  std::mt19937_64 rng(15);
  CapacityLedger ledger;
  BruteForce truth;
  constexpr std::uint64_t kBandwidth = 100'000'000;
  constexpr std::uint32_t kConns = 40;
  std::vector<Reservation> held;
  int accepted = 0, refused = 0;
  for (int i = 0; i < 4000; ++i) {
    if (!held.empty() && rng() % 4 == 0) {  // give one back
      const std::size_t k = rng() % held.size();
      ledger.Unreserve("n", held[k]);
      truth.Add(held[k], -1);
      held.erase(held.begin() + static_cast<std::ptrdiff_t>(k));
      continue;
    }
    Reservation r;
    // Spans that cross chunk boundaries (1024 buckets) and negative buckets.
    r.first = static_cast<std::int64_t>(rng() % 5000) - 1000;
    r.end = r.first + 1 + static_cast<std::int64_t>(rng() % 3000);
    r.rate_bps = 40'000 + rng() % 20'000'000;
    r.connections = 1;
    const bool fits = ledger.Fits("n", r, kBandwidth, kConns);
    REQUIRE(fits == truth.Fits(r, kBandwidth, kConns));
    if (!fits) {
      ++refused;
      continue;
    }
    ++accepted;
    ledger.Reserve("n", r);
    truth.Add(r, +1);
    held.push_back(r);
  }
  CHECK(accepted > 100);
  CHECK(refused > 100);
  for (const auto& [b, rate] : truth.rate) CHECK(rate <= kBandwidth);
  for (const auto& [b, c] : truth.conns) CHECK(c <= kConns);
  // Peaks agree too.
  std::uint64_t peak_rate = 0, peak_conns = 0;
  for (const auto& [b, rate] : truth.rate) peak_rate = std::max(peak_rate, rate);
  for (const auto& [b, c] : truth.conns) peak_conns = std::max(peak_conns, c);
  CHECK(ledger.PeakRate("n", -2000, 9000) == peak_rate);
  CHECK(ledger.PeakConnections("n", -2000, 9000) == peak_conns);
  CHECK(ledger.PeakRate("other", 0, 100) == 0);
}

TEST_CASE("placement with byte demands never exceeds a node's bandwidth or connections in any bucket") {
  std::mt19937_64 rng(7);
  std::map<std::string, v1::Cluster> clusters{{"c", MakeCluster("c", 48.85, 2.35)}};
  // a: bandwidth only; b: connections only; c: both; d: v1 (count only).
  std::map<std::string, v1::Node> nodes{{"a", MakeNode("a", "c", 50, 20'000'000, 0)},
                                        {"b", MakeNode("b", "c", 50, 0, 8)},
                                        {"c", MakeNode("c", "c", 50, 50'000'000, 20)},
                                        {"d", MakeNode("d", "c", 3, 0, 0)}};
  const Topology topology = Topology::FromRegistry(clusters, nodes);
  CapacityLedger ledger;
  std::map<std::string, BruteForce> truth;
  const std::uint64_t links[] = {40'000, 200'000, 1'000'000, 10'000'000, 100'000'000};
  const std::uint64_t sizes[] = {2'000'000, 20'000'000, 100'000'000};
  int placed = 0, on_v1 = 0;
  for (int i = 0; i < 600; ++i) {
    ByteDemand d{sizes[rng() % 3], links[rng() % 5], kSlotMs, kBucketMs, 0, 0};
    auto p = PlaceTerminal(topology, ledger, LatLon{48.9, 2.4}, 100, 400, 0, {}, &d);
    if (!p) continue;
    ++placed;
    if (p->node_id == "d") {
      ++on_v1;
      CHECK_FALSE(p->reservation.has_value());
      continue;
    }
    REQUIRE(p->reservation.has_value());
    // The reservation is what ReservationFor gives for the start it was told.
    const SlotGrid grid(kSlotMs);
    const auto& node = *std::find_if(topology.clusters()[0].nodes.begin(), topology.clusters()[0].nodes.end(),
                                     [&](const NodeCapacity& n) { return n.id == p->node_id; });
    CHECK(*p->reservation == *ReservationFor(node, d, grid.SpreadStart(p->slot, p->index, p->per_slot)));
    truth[p->node_id].Add(*p->reservation, +1);
  }
  CHECK(placed > 300);
  CHECK(on_v1 > 0);
  for (const auto& [b, rate] : truth["a"].rate) CHECK(rate <= 20'000'000u);
  for (const auto& [b, c] : truth["b"].conns) CHECK(c <= 8u);
  for (const auto& [b, rate] : truth["c"].rate) CHECK(rate <= 50'000'000u);
  for (const auto& [b, c] : truth["c"].conns) CHECK(c <= 20u);
  // and the limits were reached (they bind)
  std::uint64_t peak_b = 0;
  for (const auto& [b, c] : truth["b"].conns) peak_b = std::max(peak_b, c);
  CHECK(peak_b == 8u);
}

TEST_CASE("expected rate is the terminal's link capped by the node's fair share") {
  NodeCapacity n{"n", 10, 10};
  n.bandwidth_bps = 100'000'000;
  n.max_connections = 200;
  CHECK(ExpectedRate(n, 40'000) == 40'000u);
  CHECK(ExpectedRate(n, 100'000'000) == 500'000u);  // 100 Mbit/s / 200
  n.max_connections = 0;
  CHECK(ExpectedRate(n, 100'000'000) == 10'000'000u);  // / per_slot
  // 100 MB at 10 Mbit/s = 80 s = 27 buckets of 3 s from bucket 0
  const auto r = ReservationFor(n, ByteDemand{100'000'000, 100'000'000, kSlotMs, kBucketMs, 0, 0}, 0);
  REQUIRE(r);
  CHECK(r->first == 0);
  CHECK(r->end == 27);
  CHECK(r->rate_bps == 10'000'000u);
  CHECK(r->connections == 0u);
  NodeCapacity v1node{"v1", 10, 10};
  CHECK_FALSE(ReservationFor(v1node, ByteDemand{100, 100, kSlotMs, kBucketMs, 0, 0}, 0).has_value());
}

TEST_CASE("a node without bandwidth or connection limit is counted only, as in v1") {
  std::map<std::string, v1::Cluster> clusters{{"c", MakeCluster("c", 48.85, 2.35)}};
  std::map<std::string, v1::Node> nodes{{"d", MakeNode("d", "c", 2, 0, 0)}};
  const Topology topology = Topology::FromRegistry(clusters, nodes);
  CapacityLedger ledger;
  ByteDemand d{500'000'000, 40'000, kSlotMs, kBucketMs, 0, 0};  // a 28-hour download
  for (int i = 0; i < 4; ++i) {
    auto p = PlaceTerminal(topology, ledger, std::nullopt, 10, 20, 0, {}, &d);
    REQUIRE(p);
    CHECK(p->slot == 10 + i / 2);
  }
}

TEST_CASE("live load lowers the connections free in the near slots") {
  std::map<std::string, v1::Cluster> clusters{{"c", MakeCluster("c", 48.85, 2.35)}};
  std::map<std::string, v1::Node> nodes{{"n", MakeNode("n", "c", 100, 0, 10)}};
  const Topology topology = Topology::FromRegistry(clusters, nodes, {{"n", LiveLoad{.reachable = true, .foreign = 7, .active = 7, .detail = {}, .since_ms = 0}}}, 50);
  CapacityLedger ledger;
  ByteDemand d{100'000'000, 1'000'000, kSlotMs, kBucketMs, 0, 0};  // 800 s: into the next slot
  int in_first = 0;
  for (int i = 0; i < 10; ++i) {
    auto p = PlaceTerminal(topology, ledger, std::nullopt, 10, 200, 0, {}, &d);
    REQUIRE(p);
    if (p->slot == 10) ++in_first;
  }
  CHECK(in_first == 3);  // 10 - 7 foreign connections
}

TEST_CASE("windows with bytes: the lower bound counts bits over bandwidth and the earliest window fits") {
  std::map<std::string, v1::Cluster> clusters{{"c", MakeCluster("c", 48.85, 2.35)}};
  // 10 Mbit/s in 3 connections (3.33 Mbit/s each: 100 MB takes 240 s); the
  // node moves 750 MB per 10-minute slot, so 30 terminals need at least 4
  // slots by bytes (3 by count). A booking's start is its index's spread
  // offset (30 s apart); the 4th start of a slot (at 90 s) finds 3
  // downloads running, so it takes the first later start that fits (240 s,
  // when the first ends) and the 5th the one at 270 s: 5 a slot, 6 slots
  // (before later starts were searched: 3 a slot, 10 slots).
  std::map<std::string, v1::Node> nodes{{"n", MakeNode("n", "c", 10, 10'000'000, 3)}};
  const Topology topology = Topology::FromRegistry(clusters, nodes);
  CapacityLedger ledger;
  WindowRequest wr;
  wr.terminals.assign(30, std::nullopt);
  wr.earliest_start = 100;
  wr.slot_ms = kSlotMs;
  wr.artifact_bytes = 100'000'000;
  wr.default_link_bps = 100'000'000;
  const WindowPlan plan = PlanWindows(topology, ledger, wr);
  CHECK(plan.lower_bound_slots == 4u);
  REQUIRE_FALSE(plan.candidates.empty());
  const auto& earliest = plan.candidates.front();
  CHECK(earliest.label == "earliest");
  // completion = the slot in which the last expected download ends
  CHECK(earliest.completion - earliest.start + 1 == 6);
  // Without bytes the same request is 3 slots (count only).
  wr.artifact_bytes = 0;
  const WindowPlan counted = PlanWindows(topology, ledger, wr);
  CHECK(counted.lower_bound_slots == 3u);
  CHECK(counted.candidates.front().completion - earliest.start + 1 == 3);
}

TEST_CASE("a slot whose next start does not fit the bytes takes a later start of the same slot that does") {
  std::map<std::string, v1::Cluster> clusters{{"c", MakeCluster("c", 48.85, 2.35)}};
  // 4 starts per slot (at 0, 75, 150 and 225 s), one connection.
  std::map<std::string, v1::Node> nodes{{"n", MakeNode("n", "c", 4, 0, 1)}};
  const Topology topology = Topology::FromRegistry(clusters, nodes);
  CapacityLedger ledger;
  ByteDemand d{125'000'000, 10'000'000, kSlotMs, kBucketMs};  // 100 s at 10 Mbit/s
  const SlotGrid grid(kSlotMs);
  auto t0 = PlaceTerminal(topology, ledger, std::nullopt, 10, 20, 0, {}, &d);
  REQUIRE(t0);
  CHECK(t0->slot == 10);
  CHECK(grid.SpreadStart(t0->slot, t0->index, t0->per_slot) == grid.Start(10));
  // The start at 75 s meets t0's connection (until 100 s): the one at 150 s.
  auto t1 = PlaceTerminal(topology, ledger, std::nullopt, 10, 20, 0, {}, &d);
  REQUIRE(t1);
  CHECK(t1->slot == 10);  // before: slot 11
  CHECK(t1->index == 2);
  CHECK(grid.SpreadStart(t1->slot, t1->index, t1->per_slot) == grid.Start(10) + 150'000);
  // 75 s and 225 s both meet a download: nothing left in slot 10.
  auto t2 = PlaceTerminal(topology, ledger, std::nullopt, 10, 20, 0, {}, &d);
  REQUIRE(t2);
  CHECK(t2->slot == 11);
  CHECK(t2->index == 0);
  // The skipped index (75 s) is still free for a download that fits there.
  ByteDemand small{2'000'000, 10'000'000, kSlotMs, kBucketMs};  // 1.6 s
  CHECK(ledger.LastBlocked("n", *ReservationFor(topology.clusters()[0].nodes[0], small, grid.Start(10) + 75'000), 0, 1)
            .has_value());  // t0 still holds the connection at 75 s
}
