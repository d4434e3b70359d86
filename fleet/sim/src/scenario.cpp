#include "slotwise/fleet/sim/scenario.h"

#include <algorithm>
#include <cmath>
#include <iterator>

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

double Fleet::Bandwidth() const {
  double total = 0;
  for (const auto& n : nodes) total += n.bandwidth;
  return total;
}

double Fleet::OwnMinMs(TerminalIndex t) const {
  double best = 0;
  for (const auto& n : nodes) best = std::max(best, n.ConnectionRate());
  return static_cast<double>(terminals[t].bytes) / std::min(terminals[t].link_rate, best);
}

double Fleet::MeanBytes() const {
  double total = 0;
  for (const auto& t : terminals) total += static_cast<double>(t.bytes);
  return terminals.empty() ? 0 : total / static_cast<double>(terminals.size());
}

std::uint64_t Fleet::StartsPerSlot(int cluster) const {
  if (!scenario.mixed) {
    return cluster < 0 ? CapacityPerSlot() : clusters[static_cast<std::size_t>(cluster)].per_slot;
  }
  double bandwidth = 0;
  for (const auto& n : nodes) {
    if (cluster < 0 || n.cluster == static_cast<std::uint32_t>(cluster)) bandwidth += n.bandwidth;
  }
  return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(bandwidth * static_cast<double>(scenario.slot_ms) /
                                                                std::max(1.0, MeanBytes())));
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
  if (s.mixed) {
    if (s.node_bandwidth_bps < 1000) return "--node-bandwidth-mbps must be at least 0.001";
    if (s.max_connections == 0) return "--max-connections must be at least 1";
    if (s.small_artifact_bytes == 0 || s.large_artifact_bytes == 0) return "artifact sizes must be positive";
    if (!(s.delta_ratio > 0 && s.delta_ratio <= 1)) return "--delta-ratio must be in (0, 1]";
    for (double share : {s.params_share, s.delta_share}) {
      if (!(share >= 0 && share <= 1)) return "shares must be between 0 and 1";
    }
  }
  return {};
}

namespace {
std::uint64_t DeltaBytes(const Scenario& s) {
  return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(static_cast<double>(s.large_artifact_bytes) * s.delta_ratio));
}
}  // namespace

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
    SimNode node{f.clusters[c].id + "-n" + std::to_string(k), c, s.per_slot};
    if (s.mixed) {
      node.bandwidth = static_cast<double>(s.node_bandwidth_bps) / 8000;
      node.max_connections = s.max_connections;
    } else {
      node.bandwidth = f.FullRate() * s.per_slot;  // per_slot full-rate downloads
    }
    f.nodes.push_back(std::move(node));
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
    term.link_rate = f.FullRate();
    term.bytes = s.artifact_bytes;
    if (s.mixed) {
      double pick_link = Uniform(s.seed, Draw::kLink, t);
      std::uint8_t kind = 0;
      while (kind + 1u < std::size(kLinkMix) && pick_link >= kLinkMix[kind].share) pick_link -= kLinkMix[kind++].share;
      term.link_kind = kind;
      term.link_rate = static_cast<double>(kLinkMix[kind].bps) / 8000;
      // Slow links (GPRS, 3G) are all among the parameter file's terminals
      // (nobody sends a 500 MB image over GPRS); the rest of that campaign
      // is drawn from the others so that it is params_share of the fleet.
      const double slow = kLinkMix[0].share + kLinkMix[1].share;
      const bool params = kind < 2 || Uniform(s.seed, Draw::kCampaign, t) <
                                          std::max(0.0, (s.params_share - slow) / std::max(1e-9, 1 - slow));
      term.campaign = params ? 1 : 0;
      term.delta = !params && Uniform(s.seed, Draw::kDelta, t) < s.delta_share;
      term.bytes = params ? s.small_artifact_bytes
                 : term.delta ? DeltaBytes(s)
                              : s.large_artifact_bytes;
    }
  }
  return f;
}

Bounds LowerBounds(const Fleet& f) {
  Bounds b;
  const std::uint64_t n = f.terminals.size();
  const std::uint64_t capacity = std::max<std::uint64_t>(1, f.CapacityPerSlot());
  double total_bytes = 0, shortest = 0, best_rate = 0;
  for (const auto& node : f.nodes) best_rate = std::max(best_rate, node.ConnectionRate());
  for (TerminalIndex t = 0; t < n; ++t) {
    const SimTerminal& term = f.terminals[t];
    total_bytes += static_cast<double>(term.bytes);
    const double own = static_cast<double>(term.bytes) / std::min(term.link_rate, best_rate);
    shortest = t == 0 ? own : std::min(shortest, own);
    TimeMs present = term.arrival_ms;
    if (term.no_show) {
      const TimeMs told = term.arrival_ms > 0 ? term.arrival_ms : -f.scenario.slot_ms;
      present = std::max(present, told + term.return_after_ms);
    }
    b.presence_ms = std::max(b.presence_ms, present + static_cast<std::int64_t>(std::ceil(own)));
  }
  b.bytes_ms = static_cast<std::int64_t>(std::ceil(total_bytes / f.Bandwidth()));
  b.count_ms = static_cast<std::int64_t>((n + capacity - 1) / capacity - 1) * f.scenario.slot_ms +
               static_cast<std::int64_t>(std::ceil(shortest));
  return b;
}

std::int64_t LowerBoundMs(const Fleet& f) { return LowerBounds(f).Max(); }

}  // namespace slotwise::fleet::sim
