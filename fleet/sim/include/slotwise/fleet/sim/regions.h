// Regional cells in virtual time (issue 14): several regions, each with its
// own SchedulerService (its own ledger, clusters and nodes, on a MemoryStore
// and a FakeClock, the real service as in the single-region simulator), and
// cross-region fallback as a call into the neighbour's ledger.
//
// The model, simpler than Engine's on purpose: every terminal is online at
// the start and reports once (S7); what is measured is the booking (S8):
// the peak booked / per_slot over every (node, slot) of every region and the
// makespan over the lower bound ceil(N / total per-slot capacity).
//
// Fallback: the regional plan gives each region the terminals it can serve
// inside the fleet-wide bound; the rest of an overloaded region's terminals
// are handed to its neighbours with room (ring order, nearest first), which
// add them to their own campaign and book them in their own ledger: the
// terminal reports to the neighbour's scheduler, never to two ledgers.
//
// Threading: one call, one thread per region for the reports.
#pragma once

#include <cstdint>
#include <ostream>
#include <vector>

namespace slotwise::fleet::sim {

struct RegionsOptions {
  int regions = 4;
  std::int64_t terminals = 2'000'000;
  int clusters_per_region = 4;
  int nodes_per_cluster = 5;
  std::uint32_t per_slot = 500;     // per node
  std::int64_t slot_ms = 60'000;
  // Share of the terminals whose home is each region (normalised); empty:
  // 40 %, 30 %, 20 %, 10 %, ... (uneven on purpose: fallback has work to do).
  std::vector<double> shares;
  bool fallback = true;             // false: each region books only its own terminals
  std::uint64_t seed = 1;
};

// Runs the model and prints the table and the target lines
// (peak/capacity <= 1.00, makespan/bound <= 1.05, PASS/FAIL). Returns 0 when
// both targets pass, 1 when one fails, 2 on an error of the service.
int RunRegions(const RegionsOptions& options, std::ostream& out);

// `slotwise-fleet virtual --regions N [--terminals ...] [--clusters-per-region ...]
// [--nodes-per-cluster ...] [--per-slot ...] [--slot-seconds ...] [--shares 4,3,2,1]
// [--no-fallback]`: parses its own options, then RunRegions on stdout.
int RunRegionsCommand(int argc, char** argv);

}  // namespace slotwise::fleet::sim
