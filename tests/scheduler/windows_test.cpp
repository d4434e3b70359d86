#include <doctest/doctest.h>

#include <random>

#include "slotwise/scheduler/windows.h"

using namespace slotwise;
using namespace slotwise::scheduler;

namespace {

Topology Build(const std::vector<std::tuple<std::string, double, double, std::vector<std::uint32_t>>>& spec) {
  std::map<std::string, v1::Cluster> clusters;
  std::map<std::string, v1::Node> nodes;
  for (const auto& [id, lat, lon, caps] : spec) {
    v1::Cluster c;
    c.set_id(id);
    c.mutable_location()->set_lat(lat);
    c.mutable_location()->set_lon(lon);
    clusters[id] = c;
    for (std::size_t i = 0; i < caps.size(); ++i) {
      v1::Node n;
      n.set_id(id + "-" + std::to_string(i));
      n.set_cluster_id(id);
      n.set_per_slot(caps[i]);
      n.set_state(v1::ACTIVE);
      nodes[n.id()] = n;
    }
  }
  return Topology::FromRegistry(clusters, nodes);
}

const WindowCandidate* Find(const WindowPlan& plan, const std::string& label) {
  for (const auto& c : plan.candidates) {
    if (c.label == label) return &c;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("earliest window meets the lower bound when every terminal can fall back") {
  const Topology t = Build({{"a", 0, 0, {2, 2}}, {"b", 10, 10, {2, 2}}});
  WindowRequest req;
  req.earliest_start = 50;
  for (int i = 0; i < 24; ++i) req.terminals.push_back(LatLon{0.1, 0.1});  // all near a
  const WindowPlan plan = PlanWindows(t, CapacityLedger{}, req);
  CHECK(plan.lower_bound_slots == 3);
  CHECK(plan.demand == std::vector<std::uint32_t>{24, 0});
  const auto* earliest = Find(plan, "earliest");
  REQUIRE(earliest);
  CHECK(earliest->start == 50);
  CHECK(earliest->core_end == 50 + 3);  // the lower bound
  CHECK(earliest->end == 50 + 3 + 1);   // + one slot of slack for late terminals
  // The slack does not lure near terminals into a later slot: the campaign
  // ends at the lower bound, with 8 of them falling back to b.
  CHECK(earliest->slots_used == 3);
  // Per cluster: a full with its own terminals, b full with the overflow.
  CHECK(earliest->cluster_peaks == std::vector<double>{1.0, 1.0});
  CHECK(earliest->peak_utilisation == doctest::Approx(1.0));
  const auto* nearest = Find(plan, "nearest");
  REQUIRE(nearest);
  CHECK(nearest->slots_used == 6);  // 24 terminals / 4 per slot in cluster a
}

TEST_CASE("existing bookings push the earliest window later") {
  const Topology t = Build({{"a", 0, 0, {2}}});
  CapacityLedger ledger;
  for (int i = 0; i < 2; ++i) ledger.Restore("a-0", 10);
  ledger.Restore("a-0", 11);
  WindowRequest req;
  req.earliest_start = 10;
  for (int i = 0; i < 3; ++i) req.terminals.push_back(std::nullopt);
  const WindowPlan plan = PlanWindows(t, ledger, req);
  const auto* earliest = Find(plan, "earliest");
  REQUIRE(earliest);
  CHECK(earliest->completion == 12);  // slot 10 is full, 11 has one place, 12 the rest
}

TEST_CASE("no capacity gives no candidates") {
  WindowRequest req;
  req.terminals.push_back(std::nullopt);
  const WindowPlan plan = PlanWindows(Topology{}, CapacityLedger{}, req);
  CHECK(plan.candidates.empty());
  CHECK(plan.lower_bound_slots == 0);
}

namespace {

// The reference: PlaceTerminal() for every terminal in order on a copy of the
// ledger, measured the way the planner reports it.
// The service's rule: the window's core first, its slack only when the core
// is full (SchedulerService::Assign).
std::optional<WindowCandidate> Reference(const Topology& topology, CapacityLedger ledger,
                                         const std::vector<std::optional<LatLon>>& terminals, Slot start,
                                         Slot end, Slot core_end, double max_fallback_km) {
  WindowCandidate w;
  w.label = "ref";
  w.start = start;
  w.end = end;
  w.completion = start;
  for (const auto& where : terminals) {
    auto p = core_end > start && core_end < end
                 ? PlaceTerminal(topology, ledger, where, start, core_end, max_fallback_km)
                 : std::nullopt;
    if (!p) p = PlaceTerminal(topology, ledger, where, start, end, max_fallback_km);
    if (!p) return std::nullopt;
    w.completion = std::max(w.completion, p->slot);
  }
  w.slots_used = static_cast<std::uint32_t>(w.completion - start + 1);
  for (const auto& cluster : topology.clusters()) {
    for (Slot s = start; s <= w.completion; ++s) {
      std::uint64_t booked = 0;
      for (const auto& node : cluster.nodes) booked += ledger.Booked(node.id, s);
      w.peak_utilisation = std::max(w.peak_utilisation, static_cast<double>(booked) / cluster.per_slot);
    }
  }
  return w;
}

}  // namespace

TEST_CASE("property: the planner's windows match placing every terminal with PlaceTerminal") {
  std::mt19937 rng(11);
  for (int round = 0; round < 60; ++round) {
    CAPTURE(round);
    std::vector<std::tuple<std::string, double, double, std::vector<std::uint32_t>>> spec;
    const int clusters = 1 + static_cast<int>(rng() % 5);
    for (int c = 0; c < clusters; ++c) {
      std::vector<std::uint32_t> caps;
      const int nodes = 1 + static_cast<int>(rng() % 4);
      for (int n = 0; n < nodes; ++n) caps.push_back(static_cast<std::uint32_t>(1 + rng() % 5));
      spec.emplace_back("c" + std::to_string(c), static_cast<double>(rng() % 120) - 60.0,
                        static_cast<double>(rng() % 300) - 150.0, caps);
    }
    const Topology topology = Build(spec);
    CapacityLedger ledger;
    for (int b = 0; b < static_cast<int>(rng() % 30); ++b) {
      const auto& cluster = topology.clusters()[rng() % topology.clusters().size()];
      const auto& node = cluster.nodes[rng() % cluster.nodes.size()];
      ledger.Book(node.id, 100 + static_cast<Slot>(rng() % 8), node.per_slot);
    }
    WindowRequest req;
    req.earliest_start = 100;
    req.horizon = 400;
    if (round % 3 == 0) req.max_fallback_km = 1500 + static_cast<double>(rng() % 3000);
    const int n = 1 + static_cast<int>(rng() % 150);
    for (int i = 0; i < n; ++i) {
      if (rng() % 5 == 0) {
        req.terminals.emplace_back();
      } else {
        req.terminals.push_back(LatLon{static_cast<double>(rng() % 1200) / 10.0 - 60.0,
                                       static_cast<double>(rng() % 3000) / 10.0 - 150.0});
      }
    }
    const WindowPlan plan = PlanWindows(topology, ledger, req);
    if (req.max_fallback_km == 0) REQUIRE_FALSE(plan.candidates.empty());
    for (const auto& c : plan.candidates) {
      CAPTURE(c.label);
      const auto ref = Reference(c.max_utilisation > 0 ? topology.Capped(c.max_utilisation) : topology, ledger,
                                 req.terminals, c.start, c.end, c.core_end, req.max_fallback_km);
      REQUIRE(ref.has_value());
      CHECK(ref->completion == c.completion);
      CHECK(ref->slots_used == c.slots_used);
      CHECK(ref->peak_utilisation == doctest::Approx(c.peak_utilisation));
    }
  }
}

TEST_CASE("the lowest-peak window spreads the campaign under a fill cap") {
  const Topology t = Build({{"paris", 48.85, 2.35, {10, 10}}, {"munich", 48.14, 11.58, {10, 10}}});
  CapacityLedger ledger;
  WindowRequest req;
  req.earliest_start = 50;
  req.horizon = 20;
  req.spread_to_horizon = true;  // a deadline 20 slots away
  for (int i = 0; i < 200; ++i) req.terminals.push_back(LatLon{48.5, i % 2 ? 2.4 : 11.5});
  const WindowPlan plan = PlanWindows(t, ledger, req);
  const auto* earliest = Find(plan, "earliest");
  const auto* low = Find(plan, "lowest-peak");
  REQUIRE(earliest);
  REQUIRE(low);
  CHECK(earliest->peak_utilisation == doctest::Approx(1.0));
  CHECK(low->peak_utilisation <= 0.55);  // 200 over 20 slots of 40: half full
  CHECK(low->end <= 70);
  CHECK(low->max_utilisation > 0);
  CHECK(low->max_utilisation < 1);
}
