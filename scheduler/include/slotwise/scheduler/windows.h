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
  Slot completion = 0;         // last slot a terminal was placed in (with bytes:
                               // in which a download is expected to end)
  std::uint32_t slots_used = 0;
  double peak_utilisation = 0;  // max over (cluster, slot) of booked / capacity
  std::vector<double> cluster_peaks;  // the same per cluster, as topology.clusters()
  double max_utilisation = 0;   // the per-node fill cap it assumes; 0 = none
  // Placements fill [start, core_end) before the slack up to end; 0 = none.
  Slot core_end = 0;
};

struct WindowPlan {
  std::vector<WindowCandidate> candidates;
  // ceil(N / capacity per slot), or, when every node has a bandwidth and the
  // request names bytes, the larger of that and ceil(total bits / total
  // bandwidth / slot length).
  std::uint32_t lower_bound_slots = 0;
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
  // A located terminal falls back from its nearest cluster only to clusters
  // this close to it (km); 0 = any distance. Same rule as PlaceTerminal().
  double max_fallback_km = 0;
  // The "lowest-peak" window spreads the campaign up to the end of the
  // horizon (true: an operator's deadline) or, when false, over twice the
  // "earliest" window's length.
  bool spread_to_horizon = false;
  // Allowed hours in each terminal's local time (SlotInHours()); from == to
  // = any time. utc_offset_minutes is per terminal (empty = all UTC);
  // slot_ms is needed to turn slots into local times. With allowed hours the
  // windows are computed by placing each terminal with PlaceTerminal() on a
  // copy of the ledger (exact, but linear in the window's slots).
  std::uint32_t allowed_from_minute = 0;
  std::uint32_t allowed_to_minute = 0;
  std::uint32_t allowed_weekdays = 0;  // bit 0 = Monday; 0 = every day
  std::vector<int> utc_offset_minutes;
  std::int64_t slot_ms = 0;
  // Bytes (capacity in bytes, placement.h): what each terminal fetches
  // (empty = artifact_bytes for all) and its expected link rate (empty or
  // 0 = default_link_bps). With artifact_bytes > 0 (or bytes) and a
  // topology with a byte-limited node, windows place every terminal with
  // PlaceTerminal() and its ByteDemand on a copy of the ledger.
  std::uint64_t artifact_bytes = 0;
  std::vector<std::uint64_t> bytes;
  std::vector<std::uint64_t> link_bps;
  std::uint64_t default_link_bps = 1'000'000;
  // ByteDemand's guard (ServiceOptions::download_guard_*).
  std::int64_t guard_ms = 0;
  std::uint32_t guard_permille = 0;
};

// Candidates (when capacity allows):
//   "earliest": the shortest window from earliest_start whose free capacity
//               holds every terminal (fallback to farther clusters allowed),
//               plus the slack;
//   "nearest":  the shortest window in which every terminal gets its nearest
//               cluster;
//   "lowest-peak": the window up to the deadline (or twice the earliest's
//               length) with every node filled only to the smallest
//               utilisation cap that still places everyone; scheduling it
//               with that cap (max_utilisation) gives that peak.
// Empty candidates when the topology has no capacity or the horizon is too
// short.
WindowPlan PlanWindows(const Topology& topology, const CapacityLedger& ledger,
                       const WindowRequest& request);

}  // namespace slotwise::scheduler
