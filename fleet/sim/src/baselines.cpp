// The peers' pacing policies (policies.h). They differ only in when a ready
// terminal may start; where it downloads is always RoundRobinNodes.
#include "baselines.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "slotwise/fleet/sim/random.h"

namespace slotwise::fleet::sim {
namespace {

std::string Format(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

}  // namespace

RoundRobinNodes::RoundRobinNodes(const Fleet& fleet) : fleet_(fleet), next_(fleet.clusters.size(), 0) {}

NodeIndex RoundRobinNodes::Next(TerminalIndex t) {
  const std::uint32_t c = fleet_.terminals[t].nearest_cluster;
  const auto& nodes = fleet_.clusters[c].nodes;
  const NodeIndex node = nodes[next_[c] % nodes.size()];
  ++next_[c];
  return node;
}

// ---- shared by the queueing baselines -------------------------------------

void BaselinePolicy::OnDue(Engine& engine, TerminalIndex t) { engine.StartDownload(t, nodes_.Next(t)); }

bool BaselinePolicy::OnOutcome(Engine& engine, TerminalIndex t, bool succeeded) {
  return !succeeded && engine.RetriesLeft(t);
}

// ---- push-all ---------------------------------------------------------------

void PushAllPolicy::OnReady(Engine& engine, TerminalIndex t) { engine.DueAt(t, engine.now()); }

// ---- fixed rate -------------------------------------------------------------

FixedRatePolicy::FixedRatePolicy(const Fleet& fleet, std::uint32_t rate_per_minute)
    : BaselinePolicy(fleet),
      rate_(rate_per_minute != 0 ? rate_per_minute
                                 : static_cast<std::uint32_t>(std::max<std::uint64_t>(
                                       1, fleet.StartsPerSlot() * kMinuteMs /
                                              static_cast<std::uint64_t>(fleet.scenario.slot_ms)))) {}

std::string FixedRatePolicy::parameters() const { return std::to_string(rate_) + " starts/min fleet-wide"; }

// Start positions p = 0, 1, ... are spaced evenly, rate_ per minute from the
// campaign start: position p starts at minute p / rate_, offset
// (p % rate_) / rate_ of a minute. Ready terminals take them first come,
// first served.
TimeMs FixedRatePolicy::TimeOf(const Engine& engine, std::uint64_t p) const {
  return engine.start() + static_cast<TimeMs>(p / rate_) * kMinuteMs +
         static_cast<TimeMs>((p % rate_) * kMinuteMs / rate_);
}

void FixedRatePolicy::OnReady(Engine& engine, TerminalIndex t) {
  const auto since = static_cast<std::uint64_t>(std::max<TimeMs>(0, engine.now() - engine.start()));
  const std::uint64_t minute = since / kMinuteMs;
  const std::uint64_t within = since % kMinuteMs;
  const std::uint64_t first_now = minute * rate_ + (within * rate_ + kMinuteMs - 1) / kMinuteMs;
  next_ = std::max(next_, first_now);
  engine.DueAt(t, TimeOf(engine, next_++));
}

// ---- per-period cap per group (Nebraska) -------------------------------------

PeriodCapPolicy::PeriodCapPolicy(const Fleet& fleet, std::uint32_t cap, std::int64_t period_ms)
    : BaselinePolicy(fleet),
      fixed_cap_(cap),
      period_ms_(period_ms != 0 ? period_ms : fleet.scenario.slot_ms),
      next_(fleet.clusters.size(), 0) {
  for (std::size_t c = 0; c < fleet.clusters.size(); ++c) {
    cluster_cap_.push_back(static_cast<std::uint32_t>(fleet.StartsPerSlot(static_cast<int>(c))));
  }
}

std::string PeriodCapPolicy::parameters() const {
  return (fixed_cap_ != 0 ? std::to_string(fixed_cap_) : std::string("cluster capacity per slot")) +
         " per nearest cluster per " + Format(static_cast<double>(period_ms_) / kMinuteMs) + " min";
}

std::uint32_t PeriodCapPolicy::CapOf(std::uint32_t cluster) const {
  return fixed_cap_ != 0 ? fixed_cap_ : cluster_cap_[cluster];
}

// The k-th start granted to a group falls in period k / cap; inside it, the
// terminal starts when it next polls (a uniform draw over what is left of
// the period), as Omaha clients check in on their own schedule.
void PeriodCapPolicy::OnReady(Engine& engine, TerminalIndex t) {
  const std::uint32_t g = fleet_.terminals[t].nearest_cluster;
  const std::uint64_t cap = CapOf(g);
  const auto current = static_cast<std::uint64_t>(std::max<TimeMs>(0, engine.now() - engine.start()) / period_ms_);
  next_[g] = std::max(next_[g], current * cap);
  const std::uint64_t period = next_[g]++ / cap;
  const TimeMs period_start = engine.start() + static_cast<TimeMs>(period) * period_ms_;
  const TimeMs from = std::max(period_start, engine.now());
  const double poll = Uniform(fleet_.scenario.seed, Draw::kPoll, t, engine.Attempts(t));
  engine.DueAt(t, from + static_cast<TimeMs>(poll * static_cast<double>(period_start + period_ms_ - from)));
}

// ---- percentage groups (hawkBit) ----------------------------------------------

PercentGroupsPolicy::PercentGroupsPolicy(const Fleet& fleet, const PolicyOptions& options)
    : fleet_(fleet), options_(options), nodes_(fleet) {
  const auto n = static_cast<TerminalIndex>(fleet.terminals.size());
  TerminalIndex first = 0;
  double cumulative = 0;
  for (double percent : options.group_percents) {
    cumulative += percent;
    const auto end = std::min<TerminalIndex>(
        n, std::max(first + 1, static_cast<TerminalIndex>(std::llround(cumulative / 100 * n))));
    if (first < end) groups_.push_back(Group{first, end, -1, 0, 0, {}});
    first = end;
  }
  if (first < n) groups_.push_back(Group{first, n, -1, 0, 0, {}});
  for (auto& g : groups_) {
    g.needed = static_cast<std::uint32_t>(std::ceil(options.success_threshold * (g.end - g.first) - 1e-9));
  }
}

std::string PercentGroupsPolicy::parameters() const {
  std::string groups;
  for (const auto& g : groups_) {
    if (!groups.empty()) groups += "/";
    groups += Format(100.0 * (g.end - g.first) / static_cast<double>(fleet_.terminals.size()));
  }
  return "groups " + groups + " %, next at " + Format(options_.success_threshold * 100) + " % success, poll " +
         Format(static_cast<double>(options_.poll_ms) / kMinuteMs) + " min";
}

std::size_t PercentGroupsPolicy::GroupOf(TerminalIndex t) const {
  const auto it = std::upper_bound(groups_.begin(), groups_.end(), t,
                                   [](TerminalIndex v, const Group& g) { return v < g.end; });
  return static_cast<std::size_t>(it - groups_.begin());
}

Status PercentGroupsPolicy::Begin(Engine& engine) {
  Open(engine, 0);
  return OkStatus();
}

void PercentGroupsPolicy::Poll(Engine& engine, TerminalIndex t) {
  const double poll = Uniform(fleet_.scenario.seed, Draw::kPoll, t, engine.Attempts(t));
  engine.DueAt(t, engine.now() + static_cast<TimeMs>(poll * static_cast<double>(options_.poll_ms)));
}

void PercentGroupsPolicy::Open(Engine& engine, std::size_t group) {
  Group& g = groups_[group];
  g.started_at = engine.now();
  open_ = group + 1;
  for (TerminalIndex t : g.waiting) Poll(engine, t);
  g.waiting.clear();
  g.waiting.shrink_to_fit();
}

void PercentGroupsPolicy::OnReady(Engine& engine, TerminalIndex t) {
  const std::size_t g = GroupOf(t);
  if (g < open_) {
    Poll(engine, t);
  } else {
    groups_[g].waiting.push_back(t);
  }
}

void PercentGroupsPolicy::OnDue(Engine& engine, TerminalIndex t) { engine.StartDownload(t, nodes_.Next(t)); }

bool PercentGroupsPolicy::OnOutcome(Engine& engine, TerminalIndex t, bool succeeded) {
  if (!succeeded) return engine.RetriesLeft(t);
  const std::size_t g = GroupOf(t);
  ++groups_[g].succeeded;
  if (g + 1 == open_ && open_ < groups_.size() && groups_[g].succeeded >= groups_[g].needed) Open(engine, open_);
  return false;
}

}  // namespace slotwise::fleet::sim
