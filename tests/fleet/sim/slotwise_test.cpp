// The Slotwise policy: the real scheduler never lets a node run over its
// capacity, whatever the fleet does.
#include <doctest/doctest.h>

#include "sim_fixtures.h"

namespace slotwise::fleet::sim::testing {
namespace {

TEST_CASE("slotwise never exceeds capacity on random small fleets") {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    CAPTURE(seed);
    Scenario s = Busy(seed, 300 + static_cast<std::uint32_t>(seed * 70));
    s.nodes = 2 + static_cast<std::uint32_t>(seed % 5);
    s.clusters = 1 + static_cast<std::uint32_t>(seed % 3);
    s.nodes = std::max(s.nodes, s.clusters);
    s.per_slot = 2 + static_cast<std::uint32_t>((seed * 3) % 7);
    const Fleet fleet = MakeFleet(s);
    const RunResult r = RunPolicy(fleet, "slotwise");
    CHECK(r.peak_load_ratio <= 1.0);
    CHECK(r.timeouts == 0);
    CHECK(r.never_upgraded == 0);
    REQUIRE(r.calendar.booked.size() == fleet.nodes.size());
    for (NodeIndex n = 0; n < fleet.nodes.size(); ++n) {
      for (std::uint32_t booked : r.calendar.booked[n]) CHECK(booked <= fleet.nodes[n].per_slot);
    }
  }
}

TEST_CASE("slotwise on a tiny fleet: two per slot, spread over the slot's first half") {
  const RunResult r = RunPolicy(MakeFleet(Tiny(4, 1, 2)), "slotwise");
  // Slot 0 starts at 0 s and 15 s, slot 1 at 60 s and 75 s; a download takes 60 s.
  CHECK(r.peak_load_ratio == doctest::Approx(1.0));
  CHECK(r.makespan_ms == 135'000);
  CHECK(r.wait_p50_ms == 15'000);
  CHECK(r.wait_p99_ms == 75'000);
  REQUIRE(r.calendar.booked.size() == 1);
  CHECK(r.calendar.booked[0] == std::vector<std::uint32_t>{2, 2});
}

TEST_CASE("slotwise sends most terminals to their nearest cluster and stays within capacity at scale") {
  Scenario s = Busy(11, 3000);
  s.nodes = 12;
  s.clusters = 4;
  s.per_slot = 10;
  const RunResult r = RunPolicy(MakeFleet(s), "slotwise");
  CHECK(r.peak_load_ratio <= 1.0);
  CHECK(r.nearest_share > 0.8);
  CHECK(r.never_upgraded == 0);
}

TEST_CASE("slotwise keeps the window open for terminals that arrive after its capacity-sized end") {
  Scenario s = Tiny(200, 2, 10);  // 20 a slot: capacity alone needs 10 one-minute slots
  s.online_share = 0.5;
  s.arrival_ms = 60 * 60'000;  // the others come over an hour
  const Fleet fleet = MakeFleet(s);
  const RunResult r = RunPolicy(fleet, "slotwise");
  CHECK(r.never_upgraded == 0);
  CHECK(r.peak_load_ratio <= 1.0);
  // A late arrival waits for the next slot boundary at most, then downloads.
  CHECK(r.makespan_ms <= LowerBoundMs(fleet) + 60'000);
}

TEST_CASE("an unknown window label is an error, not a silent default") {
  PolicyOptions options;
  options.window = "no-such-window";
  const Fleet fleet = MakeFleet(Tiny(4, 1, 2));
  auto policy = MakePolicy("slotwise", fleet, options);
  Engine engine(fleet, *policy, 60'000);
  const auto r = engine.Run();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("no-such-window") != std::string::npos);
}

}  // namespace
}  // namespace slotwise::fleet::sim::testing
