// The virtual-time scenario: what is simulated (Scenario, every field with
// its default) and the fleet generated from it (Fleet: clusters, nodes,
// terminals with their arrival, no-show and failure draws). Generation is a
// pure function of the Scenario, seed included, so every policy meets the
// very same fleet. Pure; safe from any thread.
#pragma once

#include <algorithm>
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

  // ---- the mixed fleet (--mixed; issue 15) ----
  // Off: every terminal has the one full-rate link, one campaign of
  // artifact_bytes, nodes of per_slot full-rate downloads' bandwidth (the
  // model above). On: each terminal's link is drawn from kLinkMix, two
  // campaigns run at once on the same nodes (a small file to params_share
  // of the fleet, every GPRS and 3G terminal among them, and an OS image
  // to the rest, delta_share of whom are on the delta's base version and
  // fetch delta_ratio of it), and every node declares node_bandwidth_bps
  // and max_connections. A download gets min(its link, bandwidth /
  // max_connections) (the node's per-connection limit, the scheduler's
  // "fair share"); when the active downloads ask for more than the
  // bandwidth, all of them slow down in proportion.
  bool mixed = false;
  std::uint64_t small_artifact_bytes = 2'000'000;     // the parameter file: 2 MB
  std::uint64_t large_artifact_bytes = 500'000'000;   // the OS image: 500 MB
  double params_share = 0.4;
  double delta_share = 0.4;
  double delta_ratio = 0.1542;  // scheduler/bench/delta_ratio.sh, two builds of the agent
  std::uint64_t node_bandwidth_bps = 200'000'000;
  std::uint32_t max_connections = 100;
};

// The mixed fleet's links: share of terminals and link rate (bits/s).
struct LinkKindShare {
  const char* kind;
  double share;
  std::uint64_t bps;
};
inline constexpr LinkKindShare kLinkMix[] = {
    {"gprs", 0.02, 40'000},           // 2G data, 40 kbit/s
    {"3g", 0.10, 2'000'000},          // UMTS/HSPA in practice
    {"4g", 0.28, 20'000'000},
    {"dsl", 0.25, 16'000'000},
    {"ethernet", 0.35, 100'000'000},  // shop LAN, 100 Mbit/s
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
  double bandwidth = 0;              // bytes per ms
  std::uint32_t max_connections = 0;  // 0 = no limit
  // The most one download gets: bandwidth / max_connections, or the
  // bandwidth without a limit.
  double ConnectionRate() const {
    return max_connections > 0 ? bandwidth / static_cast<double>(max_connections) : bandwidth;
  }
};

struct SimTerminal {
  LatLon location;
  std::uint32_t nearest_cluster = 0;
  TimeMs arrival_ms = 0;  // after the campaign start; 0 = online at the start
  bool no_show = false;
  std::int64_t away_before_ms = 0;   // for a no-show: how long before it is due it goes
  std::int64_t return_after_ms = 0;  // and how long it stays away
  double link_rate = 0;              // its link, bytes per ms
  std::uint64_t bytes = 0;           // what it downloads (full image or delta)
  std::uint8_t campaign = 0;         // 0 = the OS image, 1 = the parameter file (mixed fleet)
  bool delta = false;                // on the delta's base version (mixed fleet)
  std::uint8_t link_kind = 0;        // index into kLinkMix (mixed fleet)
};

struct Fleet {
  Scenario scenario;
  std::vector<SimCluster> clusters;
  std::vector<SimNode> nodes;
  std::vector<SimTerminal> terminals;

  std::uint64_t CapacityPerSlot() const;
  // Bytes per millisecond of one download at full speed (the one-link model).
  double FullRate() const;
  // Sum of the nodes' bandwidths, bytes per ms.
  double Bandwidth() const;
  // Terminal t's rate on a node: min(its link, the node's per-connection rate).
  double RateOn(TerminalIndex t, NodeIndex n) const {
    return std::min(terminals[t].link_rate, nodes[n].ConnectionRate());
  }
  // The fastest t can download anywhere, and so its shortest download (ms).
  double OwnMinMs(TerminalIndex t) const;
  // Starts per slot that keep `cluster` (all clusters: -1) busy: per_slot
  // in the one-link model; in the mixed fleet its bandwidth x slot / the
  // mean bytes per terminal. The baselines' default pace.
  std::uint64_t StartsPerSlot(int cluster = -1) const;
  double MeanBytes() const;
};

// The parts of LowerBoundMs, each a bound no policy can beat.
struct Bounds {
  std::int64_t count_ms = 0;     // (ceil(N / total per_slot) - 1) slots + the shortest download
  std::int64_t bytes_ms = 0;     // total bytes / total bandwidth
  std::int64_t presence_ms = 0;  // max over terminals of (present + its own shortest download)
  std::int64_t Max() const { return std::max({count_ms, bytes_ms, presence_ms}); }
};
Bounds LowerBounds(const Fleet& fleet);

// Clusters spread over Europe, terminals scattered around cluster sites
// picked in proportion to the sites' capacity. Precondition: a Scenario
// that ValidateScenario() accepts.
Fleet MakeFleet(const Scenario& scenario);

// Empty when the scenario can be simulated, else what is wrong with it.
std::string ValidateScenario(const Scenario& scenario);

// The honest lower bound on any policy's makespan from the campaign start:
// the largest of LowerBounds(): the fleet cannot move its bytes faster than
// its total bandwidth, nor start N downloads faster than per_slot allows,
// and no terminal finishes before it is there and has downloaded once at
// its own best rate. A terminal is there from its arrival; a no-show not
// before it comes back: at the earliest its return time after the earliest
// moment any policy can tell it (its arrival, or one slot before the start
// for a terminal online then: Slotwise's lead).
std::int64_t LowerBoundMs(const Fleet& fleet);

}  // namespace slotwise::fleet::sim
