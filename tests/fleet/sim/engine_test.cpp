// The engine, the network and the metrics on fleets small enough to work
// out by hand.
#include <doctest/doctest.h>

#include "sim_fixtures.h"
#include "slotwise/fleet/sim/metrics.h"

namespace slotwise::fleet::sim::testing {
namespace {

TEST_CASE("the lower bound is the fleet's bandwidth or the last arrival plus one download") {
  Scenario s = Tiny(4, 1, 2);
  CHECK(LowerBoundMs(MakeFleet(s)) == 120'000);  // 4 downloads of 60 s, 2 at a time
  s.arrival_ms = 10 * 60'000;
  s.online_share = 0;
  const Fleet late = MakeFleet(s);
  TimeMs last = 0;
  for (const auto& t : late.terminals) last = std::max(last, t.arrival_ms);
  CHECK(LowerBoundMs(late) == last + 60'000);
}

TEST_CASE("push-all on one node: everyone shares the bandwidth, load is N / per_slot") {
  const Fleet fleet = MakeFleet(Tiny(4, 1, 2));
  const RunResult r = RunPolicy(fleet, "push-all");
  CHECK(r.peak_load_ratio == doctest::Approx(2.0));
  CHECK(r.makespan_ms == 120'000);  // processor sharing loses no work
  CHECK(r.MakespanRatio() == doctest::Approx(1.0));
  CHECK(r.wait_p50_ms == 0);
  CHECK(r.wait_p99_ms == 0);
  CHECK(r.upgraded == 4);
  CHECK(r.failed_attempts == 0);
  CHECK(r.nearest_share == doctest::Approx(1.0));
}

TEST_CASE("push-all exceeds capacity by N / capacity, and timeouts then fail attempts") {
  Scenario s = Tiny(200, 2, 5);
  const RunResult r = RunPolicy(MakeFleet(s), "push-all");
  CHECK(r.peak_load_ratio == doctest::Approx(20.0));  // 100 per node, 5 per slot
  CHECK(r.makespan_ms == 20 * 60'000);
  CHECK(r.timeouts == 0);
  s.timeout_factor = 3;  // each attempt gets 3 minutes of a 20x shared node
  const RunResult storm = RunPolicy(MakeFleet(s), "push-all");
  CHECK(storm.peak_load_ratio == doctest::Approx(20.0));
  CHECK(storm.timeouts >= 200);
  CHECK(storm.never_upgraded == 0);
}

TEST_CASE("fixed rate at the capacity per minute: even starts, figures by hand") {
  const RunResult r = RunPolicy(MakeFleet(Tiny(4, 1, 2)), "fixed-rate");
  // 2 starts a minute: at 0, 30, 60 and 90 s; each download takes 60 s.
  CHECK(r.peak_load_ratio == doctest::Approx(1.0));
  CHECK(r.makespan_ms == 150'000);
  CHECK(r.MakespanRatio() == doctest::Approx(1.25));
  CHECK(r.wait_p50_ms == 30'000);
  CHECK(r.wait_p99_ms == 90'000);
  CHECK(r.max_starts_per_minute == 2);
}

TEST_CASE("a run is a pure function of the scenario and its seed") {
  for (const char* policy : {"slotwise", "push-all", "pct-groups"}) {
    CAPTURE(policy);
    const RunResult a = RunPolicy(MakeFleet(Busy(7)), policy);
    const RunResult b = RunPolicy(MakeFleet(Busy(7)), policy);
    CHECK(a.peak_load_ratio == b.peak_load_ratio);
    CHECK(a.makespan_ms == b.makespan_ms);
    CHECK(a.failed_attempts == b.failed_attempts);
    CHECK(a.first_start == b.first_start);
    CHECK(a.upgraded_at == b.upgraded_at);
    const RunResult other = RunPolicy(MakeFleet(Busy(8)), policy);
    CHECK(other.first_start != a.first_start);
  }
}

TEST_CASE("the load timeline keeps the most active and the time average per bucket") {
  LoadTimeline load(1, 0, 1000);
  load.Record(0, 0, 2);
  load.Record(0, 500, 4);
  load.Record(0, 1500, 0);
  load.Finish(2000);
  REQUIRE(load.buckets() == 2);
  CHECK(load.Max(0, 0) == 4);
  CHECK(load.Mean(0, 0) == doctest::Approx(3.0));  // 2 for half, 4 for half
  CHECK(load.Max(0, 1) == 4);
  CHECK(load.Mean(0, 1) == doctest::Approx(2.0));
}

TEST_CASE("quantiles are nearest-rank") {
  std::vector<std::int64_t> v{40, 10, 30, 20};
  CHECK(Quantile(v, 0.5) == 20);
  CHECK(Quantile(v, 0.99) == 40);
  std::vector<std::int64_t> empty;
  CHECK(Quantile(empty, 0.5) == 0);
}

TEST_CASE("scenarios that cannot run are refused with a reason") {
  Scenario s = Tiny(10, 1, 1);
  CHECK(ValidateScenario(s).empty());
  s.nodes = 0;
  CHECK_FALSE(ValidateScenario(s).empty());
  s = Tiny(10, 1, 1);
  s.download_ms = s.slot_ms + 1;
  CHECK_FALSE(ValidateScenario(s).empty());
  s = Tiny(10, 1, 1);
  s.failure_share = 1;
  CHECK_FALSE(ValidateScenario(s).empty());
}

}  // namespace
}  // namespace slotwise::fleet::sim::testing
