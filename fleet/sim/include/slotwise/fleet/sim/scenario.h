// The virtual-time scenario: what is simulated (Scenario, every field with
// its default) and the fleet generated from it (Fleet: clusters, nodes,
// terminals with their arrival, no-show and failure draws). Generation is a
// pure function of the Scenario, seed included, so every policy meets the
// very same fleet. Pure; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "slotwise/geo.h"
#include "slotwise/slots.h"

namespace slotwise::fleet::sim {

using TerminalIndex = std::uint32_t;
using NodeIndex = std::uint32_t;

inline constexpr std::int64_t kMinuteMs = 60'000;

struct Scenario {
  // Terminals in the campaign. Default: 1,000,000.
  std::uint32_t terminals = 1'000'000;
  // Download nodes, spread as evenly as possible over the clusters.
  // Default: 100 nodes in 10 clusters.
  std::uint32_t nodes = 100;
  std::uint32_t clusters = 10;
  // What the scheduler books per node and slot. Default: 100.
  std::uint32_t per_slot = 100;
  // Slot length. Default: 10 minutes (the scheduler's own default).
  std::int64_t slot_ms = 600'000;
  // Artifact size. Default: 100 MB.
  std::uint64_t artifact_bytes = 100'000'000;
  // A download at full speed (the terminal's own link) takes this long; a
  // node's bandwidth is per_slot full-speed downloads. Default: one slot
  // (100 MB in 10 minutes: 1.33 Mbit/s per terminal, 133 Mbit/s per node).
  std::int64_t download_ms = 600'000;
  // Share of terminals online when the campaign starts; the others arrive
  // uniformly over arrival_ms after it. Default: 80 %, over 2 hours.
  double online_share = 0.8;
  std::int64_t arrival_ms = 2 * 3'600'000;
  // Share of terminals absent the first time they are due to start: each
  // goes away up to no_show_lead_ms (uniformly) before it is due, never
  // before it was told when, and comes back uniformly between half of
  // no_show_return_ms and all of it later. Defaults: 2 %, 1 hour, 20 minutes
  // (longer than a slot, so a no-show misses its whole slot; see the README).
  double no_show_share = 0.02;
  std::int64_t no_show_lead_ms = 3'600'000;
  std::int64_t no_show_return_ms = 20 * 60'000;
  // Each download attempt fails with this probability, after a uniformly
  // drawn share of its bytes. Default: 1 %.
  double failure_share = 0.01;
  // An attempt slower than timeout_factor x download_ms is abandoned (a
  // failure). Default: 3.
  double timeout_factor = 3;
  // Attempts after the first a terminal makes before giving up; the backoff
  // before attempt k is min(1 min x 2^(k-1), 1 h) x U(0.5, 1.5).
  // Default: 20.
  std::uint32_t max_retries = 20;
  // Terminals still without the upgrade this long after the start are
  // counted as never upgraded. Default: 7 days.
  std::int64_t horizon_ms = 7 * 24 * 3'600'000LL;
  std::uint64_t seed = 1;
};

struct SimCluster {
  std::string id;
  LatLon location;
  std::vector<NodeIndex> nodes;
  std::uint32_t per_slot = 0;  // sum over its nodes
};

struct SimNode {
  std::string id;
  std::uint32_t cluster = 0;
  std::uint32_t per_slot = 0;
};

struct SimTerminal {
  LatLon location;
  std::uint32_t nearest_cluster = 0;
  TimeMs arrival_ms = 0;  // after the campaign start; 0 = online at the start
  bool no_show = false;
  std::int64_t away_before_ms = 0;   // for a no-show: how long before it is due it goes
  std::int64_t return_after_ms = 0;  // and how long it stays away
};

struct Fleet {
  Scenario scenario;
  std::vector<SimCluster> clusters;
  std::vector<SimNode> nodes;
  std::vector<SimTerminal> terminals;

  std::uint64_t CapacityPerSlot() const;
  // Bytes per millisecond of one download at full speed.
  double FullRate() const;
};

// Clusters spread over Europe, terminals scattered around cluster sites
// picked in proportion to the sites' capacity. Precondition: a Scenario
// that ValidateScenario() accepts.
Fleet MakeFleet(const Scenario& scenario);

// Empty when the scenario can be simulated, else what is wrong with it.
std::string ValidateScenario(const Scenario& scenario);

// The honest lower bound on any policy's makespan from the campaign start:
// the fleet cannot move N artifacts faster than its total bandwidth allows
// (ceil(N / total per_slot) x download_ms), nor finish before the last
// terminal has arrived and downloaded once at full speed.
std::int64_t LowerBoundMs(const Fleet& fleet);

}  // namespace slotwise::fleet::sim
