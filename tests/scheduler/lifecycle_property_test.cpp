// A property test of the campaign lifecycle against the real service on the
// fake clock (MemoryStore, reloaded from the store at random): random fleets,
// random interleavings of operator commands (create, schedule, add and
// remove terminals, pause, resume, cancel, supersede; a third of the
// campaigns by filter), terminals that follow the contract and ones that
// send random requests, late terminals that first connect (an inventory
// Report) mid-run, disappearances, and clock advances with the daemon's
// Tick. After every step:
//   - no node-slot is booked over its per_slot (ledger and records agree);
//   - no terminal holds two live bookings, or unfinished work in two
//     campaigns, for one component;
//   - a SCHEDULED campaign's unfinished terminal holds that campaign's
//     retained notice, and a retained notice names work that is not over
//     (the notices are replayed from every Outbox as the broker keeps them);
//   - a campaign is DONE or CANCELLED exactly when all its terminals have a
//     final outcome (a filter campaign: only once all are final, and DONE
//     only from its deadline on), and DONE is never left;
//   - after a terminal connects, every open filter campaign it matches holds
//     it, unless it has unfinished work for that component elsewhere, and
//     its inventory Ack lists exactly what its retained notices say;
//   - after a tick: no campaign outlives its deadline, no GO outlives its
//     download allowance;
//   - a reload from the store gives back exactly what was acknowledged.
// At the end the clock passes every deadline (plus allowances) while the
// terminals that did not vanish keep following the contract: every campaign
// with a deadline is final and every terminal in it has a final outcome;
// in a campaign without one, every terminal that did not vanish has one.
//
// Cases: SLOTWISE_LIFECYCLE_CASES (default 120, about 4 s), steps per
// case SLOTWISE_LIFECYCLE_STEPS (default 250), seed SLOTWISE_LIFECYCLE_SEED.
#include <doctest/doctest.h>

#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "lifecycle_property_world.h"

namespace slotwise::scheduler::testing {
namespace {
using lifecycle::World;
using lifecycle::EnvOr;
using lifecycle::Tail;
}  // namespace


TEST_CASE("lifecycle property: random fleets, commands and terminals, every campaign ends") {
  const std::uint64_t cases = EnvOr("SLOTWISE_LIFECYCLE_CASES", 120);
  const std::uint64_t steps = EnvOr("SLOTWISE_LIFECYCLE_STEPS", 250);
  const std::uint64_t seed = EnvOr("SLOTWISE_LIFECYCLE_SEED", 20261202);
  std::uint64_t ran = 0;
  std::map<std::string, int> seen;
  for (std::uint64_t i = 0; i < cases; ++i) {
    std::ostringstream trace;
    World w(seed + i, trace);
    w.SetUp();
    INFO("case " << i << " (seed " << seed + i << "); the last steps:\n" << Tail(trace.str(), static_cast<int>(EnvOr("SLOTWISE_LIFECYCLE_TRACE_LINES", 80))));
    for (std::uint64_t s = 0; s < steps; ++s) {
      w.just_ticked_ = false;
      w.Step(false);
      w.CheckInvariants("step");
    }
    w.Drain();
    w.Tally(seen);
    ++ran;
  }
  std::string tally;
  for (const auto& [what, n] : seen) tally += "\n  " + what + ": " + std::to_string(n);
  MESSAGE("lifecycle property: " << ran << " cases of " << steps << " steps each (seed " << seed << ")" << tally);
  REQUIRE(ran == cases);
  // The run reached every ending (a property test that never meets a case
  // proves nothing about it).
  if (cases >= 50) {
    for (const char* what : {"SUCCEEDED", "FAILED", "ALREADY_CURRENT", "EXPIRED", "SUPERSEDED", "CANCELLED", "REMOVED",
                             "timed out at least once", "campaign DONE", "campaign CANCELLED", "reloads",
                             "taken in by a filter"}) {
      INFO(what);
      CHECK(seen[what] > 0);
    }
  }
}

}  // namespace slotwise::scheduler::testing
