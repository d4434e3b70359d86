// Window planning (patent steps S3-S4): candidate windows for a campaign,
// computed by running the real placement rule (placement.h) for the
// campaign's terminals against a copy of the ledger, so what the operator is
// shown is what the terminals will get if they report in campaign order.
// Pure; not thread-safe with respect to the ledger it copies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "slotwise/scheduler/placement.h"

namespace slotwise::scheduler {

struct WindowCandidate {
  std::string label;
  Slot start = 0;              // inclusive
  Slot end = 0;                // exclusive
  Slot completion = 0;         // last slot a terminal was placed in
  std::uint32_t slots_used = 0;
  double peak_utilisation = 0;  // max over (cluster, slot) of booked / capacity
};

struct WindowPlan {
  std::vector<WindowCandidate> candidates;
  std::uint32_t lower_bound_slots = 0;  // ceil(N / capacity per slot)
  // Terminals whose nearest cluster is each of topology.clusters(), in order.
  std::vector<std::uint32_t> demand;
};

struct WindowRequest {
  std::vector<std::optional<LatLon>> terminals;  // last known locations
  Slot earliest_start = 0;
  Slot horizon = 100000;  // how far past earliest_start a window may end
  // Extra slots after the shortest window, for terminals that report late or
  // miss their slot and must be placed again: max(1, ceil(slack * length)).
  double slack = 0.25;
};

// Candidates (when capacity allows):
//   "earliest": the shortest window from earliest_start whose free capacity
//               holds every terminal (fallback to farther clusters allowed),
//               plus the slack;
//   "nearest":  the shortest window in which every terminal gets its nearest
//               cluster.
// Empty candidates when the topology has no capacity or the horizon is too
// short.
WindowPlan PlanWindows(const Topology& topology, const CapacityLedger& ledger,
                       const WindowRequest& request);

}  // namespace slotwise::scheduler
