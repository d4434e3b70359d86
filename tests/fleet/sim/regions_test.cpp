// Regional cells (fleet/sim regions.h): the real service in every region,
// uneven home demand; with fallback into the neighbours' ledgers the
// makespan meets the fleet-wide bound, without it the busiest region runs
// over; no (node, slot) is ever over per_slot.
#include <doctest/doctest.h>

#include <sstream>

#include "slotwise/fleet/sim/regions.h"

namespace sim = slotwise::fleet::sim;

namespace {

sim::RegionsOptions Small() {
  sim::RegionsOptions o;
  o.regions = 4;
  o.terminals = 20'000;
  o.clusters_per_region = 2;
  o.nodes_per_cluster = 2;
  o.per_slot = 25;  // 400 per slot in all: bound 50 slots
  return o;
}

}  // namespace

TEST_CASE("regions: fallback into the neighbours meets the bound, within capacity") {
  std::ostringstream out;
  CHECK(sim::RunRegions(Small(), out) == 0);
  INFO(out.str());
  CHECK(out.str().find("target peak/capacity 1.000 <= 1.00 PASS") != std::string::npos);
  CHECK(out.str().find("target makespan/bound 1.000 <= 1.05 PASS (makespan 50 slots, bound 50)") != std::string::npos);
}

TEST_CASE("regions: without fallback the busiest region runs past the bound") {
  auto o = Small();
  o.fallback = false;
  std::ostringstream out;
  CHECK(sim::RunRegions(o, out) == 1);
  INFO(out.str());
  CHECK(out.str().find("target makespan/bound 1.600 <= 1.05 FAIL") != std::string::npos);
  CHECK(out.str().find("target peak/capacity 1.000 <= 1.00 PASS") != std::string::npos);
}
