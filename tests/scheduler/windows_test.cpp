#include <doctest/doctest.h>

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
  CHECK(earliest->end == 50 + 3 + 1);  // lower bound + one slot of slack
  // With a slot of slack, near terminals stay near: a takes 4 per slot.
  CHECK(earliest->slots_used == 4);
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
