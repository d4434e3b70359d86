#include "slotwise/fleet/sim/scenario.h"

#include <algorithm>
#include <cmath>

#include "slotwise/fleet/sim/random.h"

namespace slotwise::fleet::sim {

std::uint64_t Fleet::CapacityPerSlot() const {
  std::uint64_t total = 0;
  for (const auto& n : nodes) total += n.per_slot;
  return total;
}

double Fleet::FullRate() const {
  return static_cast<double>(scenario.artifact_bytes) / static_cast<double>(scenario.download_ms);
}

std::string ValidateScenario(const Scenario& s) {
  if (s.terminals == 0) return "--terminals must be at least 1";
  if (s.clusters == 0) return "--clusters must be at least 1";
  if (s.nodes < s.clusters) return "--nodes must be at least --clusters (every cluster needs a node)";
  if (s.per_slot == 0 || s.per_slot > 1'000'000) return "--per-slot must be between 1 and 1000000";
  if (s.slot_ms < 1000) return "--slot-seconds must be at least 1";
  if (s.download_ms < 1 || s.download_ms > s.slot_ms) {
    return "--download-seconds must be positive and at most one slot";
  }
  if (s.artifact_bytes == 0) return "--artifact-mb must be positive";
  for (double share : {s.online_share, s.no_show_share, s.failure_share}) {
    if (!(share >= 0 && share <= 1)) return "shares must be between 0 and 1";
  }
  if (s.failure_share >= 1) return "--failure-share must be below 1 (no download could ever succeed)";
  if (s.arrival_ms < 0) return "--arrival-minutes must not be negative";
  if (s.no_show_lead_ms < 0) return "--no-show-lead-minutes must not be negative";
  if (s.no_show_return_ms < 2) return "--no-show-return-minutes must be positive";
  if (!(s.timeout_factor >= 1)) return "--timeout-factor must be at least 1";
  if (s.horizon_ms <= s.arrival_ms) return "--horizon-hours must be longer than the arrival period";
  return {};
}

Fleet MakeFleet(const Scenario& s) {
  Fleet f;
  f.scenario = s;
  for (std::uint32_t c = 0; c < s.clusters; ++c) {
    SimCluster cluster;
    cluster.id = "c" + std::to_string(c);
    cluster.location = LatLon{38 + 20 * Uniform(s.seed, Draw::kSite, c, 0), -8 + 33 * Uniform(s.seed, Draw::kSite, c, 1)};
    f.clusters.push_back(std::move(cluster));
  }
  for (std::uint32_t n = 0; n < s.nodes; ++n) {
    const std::uint32_t c = n % s.clusters;
    const auto k = static_cast<std::uint32_t>(f.clusters[c].nodes.size());
    f.nodes.push_back(SimNode{f.clusters[c].id + "-n" + std::to_string(k), c, s.per_slot});
    f.clusters[c].nodes.push_back(n);
    f.clusters[c].per_slot += s.per_slot;
  }
  // Sites are picked in proportion to their capacity (a cumulative table).
  std::vector<double> cumulative;
  double total = 0;
  for (const auto& c : f.clusters) cumulative.push_back(total += c.per_slot);
  f.terminals.resize(s.terminals);
  for (TerminalIndex t = 0; t < s.terminals; ++t) {
    SimTerminal& term = f.terminals[t];
    const double pick = Uniform(s.seed, Draw::kClusterPick, t) * total;
    const auto site = static_cast<std::size_t>(
        std::upper_bound(cumulative.begin(), cumulative.end(), pick) - cumulative.begin());
    const LatLon at = f.clusters[std::min(site, f.clusters.size() - 1)].location;
    term.location = LatLon{at.lat + 3 * (Uniform(s.seed, Draw::kJitterLat, t) - 0.5),
                           at.lon + 3 * (Uniform(s.seed, Draw::kJitterLon, t) - 0.5)};
    double best = DistanceKm(term.location, f.clusters[0].location);
    for (std::uint32_t c = 1; c < s.clusters; ++c) {
      const double d = DistanceKm(term.location, f.clusters[c].location);
      if (d < best) {
        best = d;
        term.nearest_cluster = c;
      }
    }
    if (Uniform(s.seed, Draw::kOnline, t) >= s.online_share) {
      term.arrival_ms = 1 + static_cast<TimeMs>(Uniform(s.seed, Draw::kArrival, t) * static_cast<double>(s.arrival_ms));
    }
    term.no_show = Uniform(s.seed, Draw::kNoShow, t) < s.no_show_share;
    term.away_before_ms = static_cast<std::int64_t>(static_cast<double>(s.no_show_lead_ms) *
                                                    Uniform(s.seed, Draw::kAway, t));
    term.return_after_ms = static_cast<std::int64_t>(static_cast<double>(s.no_show_return_ms) *
                                                     (1 + Uniform(s.seed, Draw::kReturn, t)) / 2);
  }
  return f;
}

std::int64_t LowerBoundMs(const Fleet& f) {
  const auto n = static_cast<double>(f.terminals.size());
  const double capacity = static_cast<double>(f.CapacityPerSlot());
  const auto bandwidth = static_cast<std::int64_t>(std::ceil(n * static_cast<double>(f.scenario.download_ms) / capacity));
  TimeMs last_arrival = 0;
  for (const auto& t : f.terminals) last_arrival = std::max(last_arrival, t.arrival_ms);
  return std::max(bandwidth, last_arrival + f.scenario.download_ms);
}

}  // namespace slotwise::fleet::sim
