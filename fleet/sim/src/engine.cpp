#include "slotwise/fleet/sim/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "slotwise/fleet/sim/random.h"

namespace slotwise::fleet::sim {
namespace {

constexpr std::int64_t kBackoffBaseMs = kMinuteMs;
constexpr std::int64_t kBackoffCapMs = 60 * kMinuteMs;

}  // namespace

TimeMs CampaignStart(const Scenario& scenario) {
  constexpr TimeMs kEpoch = 1'800'000'000'000;  // early 2027
  return (kEpoch / scenario.slot_ms + 1) * scenario.slot_ms;
}

Engine::Engine(const Fleet& fleet, Policy& policy, std::int64_t bucket_ms)
    : fleet_(fleet),
      policy_(policy),
      clock_(CampaignStart(fleet.scenario) - policy.LeadMs()),
      origin_(CampaignStart(fleet.scenario) - policy.LeadMs()),
      start_(CampaignStart(fleet.scenario)),
      terminals_(fleet.terminals.size()),
      node_version_(fleet.nodes.size(), 0),
      node_next_(fleet.nodes.size(), -1),
      is_touched_(fleet.nodes.size(), false),
      network_(fleet,
               [this](NodeIndex node, TimeMs now, std::uint32_t active, double demand) {
                 const SimNode& n = fleet_.nodes[node];
                 load_.Record(node, now, active);
                 rate_.Record(node, now, demand);
                 peak_ratio_ = std::max(peak_ratio_, static_cast<double>(active) / n.per_slot);
                 // Rounding of the float sum must not read as over.
                 peak_rate_ratio_ = std::max(peak_rate_ratio_, std::round(demand / n.bandwidth * 1e6) / 1e6);
                 if (n.max_connections > 0) {
                   peak_connection_ratio_ =
                       std::max(peak_connection_ratio_, static_cast<double>(active) / n.max_connections);
                 }
               }),
      load_(fleet.nodes.size(), CampaignStart(fleet.scenario), bucket_ms),
      rate_(fleet.nodes.size(), CampaignStart(fleet.scenario), bucket_ms),
      first_start_(fleet.terminals.size(), -1),
      upgraded_at_(fleet.terminals.size(), -1) {}

void Engine::Push(TimeMs at, Kind kind, std::uint32_t subject, std::uint32_t tag) {
  const std::uint64_t rank = kind == Kind::kNode ? 0 : 1;
  queue_.push(Event{static_cast<std::uint64_t>(at - origin_) << 1 | rank, seq_++ << 8 | static_cast<std::uint64_t>(kind),
                    subject, tag});
}

void Engine::DueAt(TerminalIndex t, TimeMs at) {
  at = std::max(at, now());
  TerminalState& term = terminals_[t];
  ++term.due_tag;
  const SimTerminal& spec = fleet_.terminals[t];
  if (spec.no_show && !term.absent_once) {
    // Pushed first: at the due time itself, going away comes first.
    Push(std::max(now(), at - spec.away_before_ms), Kind::kAway, t, term.due_tag);
  } else if (at == now() && term.phase == Phase::kWaiting) {
    policy_.OnDue(*this, t);  // nothing can come between: no trip through the queue
    return;
  }
  Push(at, Kind::kDue, t, term.due_tag);
}

void Engine::WakeAt(TimeMs at) { Push(std::max(at, now()), Kind::kTimer, 0, 0); }

bool Engine::RetriesLeft(TerminalIndex t) const {
  return terminals_[t].attempts <= fleet_.scenario.max_retries;
}

void Engine::Fail(std::string message) {
  if (error_.empty()) error_ = std::move(message);
}

void Engine::StartDownload(TerminalIndex t, NodeIndex node) {
  TerminalState& term = terminals_[t];
  const Scenario& s = fleet_.scenario;
  const std::uint32_t attempt = ++term.attempts;
  term.phase = Phase::kDownloading;
  if (first_start_[t] < 0) first_start_[t] = now();
  const auto minute = static_cast<std::size_t>(std::max<TimeMs>(0, now() - start_) / kMinuteMs);
  if (starts_per_minute_.size() <= minute) starts_per_minute_.resize(minute + 1, 0);
  ++starts_per_minute_[minute];
  const double bytes = static_cast<double>(fleet_.terminals[t].bytes);
  const double remaining = bytes - term.bytes_done;
  std::optional<double> fail_after;
  if (Uniform(s.seed, Draw::kFails, t, attempt) < s.failure_share) {
    fail_after = remaining * Uniform(s.seed, Draw::kFailPoint, t, attempt);
  }
  // The timeout: timeout_factor x a whole download at the rate it should get.
  const double rate = fleet_.RateOn(t, node);
  const auto timeout = static_cast<std::int64_t>(s.timeout_factor * std::ceil(bytes / rate));
  network_.Start(t, node, now(), remaining, fail_after, now() + timeout, rate);
  Touch(node);
}

void Engine::Touch(NodeIndex node) {
  if (is_touched_[node]) return;
  is_touched_[node] = true;
  touched_.push_back(node);
}

void Engine::ScheduleTouchedNodes() {
  for (NodeIndex node : touched_) {
    is_touched_[node] = false;
    const TimeMs at = network_.NextEvent(node).value_or(-1);
    if (at == node_next_[node]) continue;  // the pending event still stands
    node_next_[node] = at;
    ++node_version_[node];  // the pending one is stale now
    if (at >= 0) Push(at, Kind::kNode, node, node_version_[node]);
  }
  touched_.clear();
}

void Engine::Settle(TerminalIndex t, Phase phase) {
  terminals_[t].phase = phase;
  ++settled_;
}

void Engine::Ended(TerminalIndex t, Network::Outcome outcome, double bytes) {
  TerminalState& term = terminals_[t];
  if (outcome == Network::Outcome::kDone) {
    ++upgraded_;
    upgraded_at_[t] = now();
    last_upgrade_ = std::max(last_upgrade_, now());
    const NodeIndex node = network_.NodeOf(t);
    if (fleet_.nodes[node].cluster == fleet_.terminals[t].nearest_cluster) ++upgraded_nearest_;
    Settle(t, Phase::kDone);
    policy_.OnOutcome(*this, t, true);
    return;
  }
  term.bytes_done = std::min(term.bytes_done + bytes, static_cast<double>(fleet_.terminals[t].bytes));
  ++failed_attempts_;
  if (outcome == Network::Outcome::kTimedOut) ++timeouts_;
  if (!policy_.OnOutcome(*this, t, false)) {
    Settle(t, Phase::kGaveUp);
    return;
  }
  term.phase = Phase::kAway;
  const double backoff = static_cast<double>(std::min<std::int64_t>(
                             kBackoffCapMs, kBackoffBaseMs << std::min<std::uint32_t>(term.attempts - 1, 20))) *
                         (0.5 + Uniform(fleet_.scenario.seed, Draw::kBackoff, t, term.attempts));
  Push(now() + static_cast<std::int64_t>(backoff), Kind::kReady, t, 0);
}

void Engine::Dispatch(const Event& e) {
  switch (KindOf(e)) {
    case Kind::kNode: {
      if (e.tag != node_version_[e.subject]) return;  // rescheduled since
      node_next_[e.subject] = -1;
      for (const auto& end : network_.EndDue(e.subject, now())) Ended(end.terminal, end.outcome, end.bytes);
      Touch(e.subject);
      return;
    }
    case Kind::kArrive:
    case Kind::kReady: {
      TerminalState& term = terminals_[e.subject];
      term.phase = Phase::kWaiting;
      if (term.ready_at < 0) term.ready_at = std::max(now(), start_);
      policy_.OnReady(*this, e.subject);
      return;
    }
    case Kind::kAway: {
      TerminalState& term = terminals_[e.subject];
      if (e.tag != term.due_tag || term.phase != Phase::kWaiting || term.absent_once) return;
      term.absent_once = true;
      term.phase = Phase::kAway;
      policy_.OnAbsent(*this, e.subject);
      Push(now() + fleet_.terminals[e.subject].return_after_ms, Kind::kReady, e.subject, 0);
      return;
    }
    case Kind::kDue: {
      const TerminalState& term = terminals_[e.subject];
      if (e.tag != term.due_tag || term.phase != Phase::kWaiting) return;
      policy_.OnDue(*this, e.subject);
      return;
    }
    case Kind::kTimer:
      policy_.OnTimer(*this);
      return;
  }
}

Result<RunResult> Engine::Run() {
  const auto wall0 = std::chrono::steady_clock::now();
  if (auto s = policy_.Begin(*this); !s) return s.error();
  for (TerminalIndex t = 0; t < fleet_.terminals.size(); ++t) {
    const TimeMs arrival = fleet_.terminals[t].arrival_ms;
    Push(arrival == 0 ? now() : start_ + arrival, Kind::kArrive, t, 0);
  }
  const TimeMs horizon = start_ + fleet_.scenario.horizon_ms;
  while (!queue_.empty() && settled_ < terminals_.size() && error_.empty()) {
    const Event e = queue_.top();
    const TimeMs at = TimeOf(e);
    if (at > horizon) break;
    queue_.pop();
    clock_.Set(at);
    Dispatch(e);
    if (queue_.empty() || TimeOf(queue_.top()) > at) ScheduleTouchedNodes();
  }
  if (!error_.empty()) return MakeError(v1::INTERNAL, policy_.name() + ": " + error_);
  load_.Finish(std::max(now(), last_upgrade_));
  rate_.Finish(std::max(now(), last_upgrade_));
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  return Collect(wall_s);
}

RunResult Engine::Collect(double wall_s) {
  RunResult r;
  r.policy = policy_.name();
  r.parameters = policy_.parameters();
  r.peak_load_ratio = peak_ratio_;
  r.peak_rate_ratio = peak_rate_ratio_;
  r.peak_connection_ratio = peak_connection_ratio_;
  r.makespan_ms = upgraded_ > 0 ? last_upgrade_ - start_ : 0;
  r.lower_bound_ms = LowerBoundMs(fleet_);
  r.nearest_share = upgraded_ > 0 ? static_cast<double>(upgraded_nearest_) / static_cast<double>(upgraded_) : 0;
  std::vector<std::int64_t> waits;
  waits.reserve(terminals_.size());
  for (TerminalIndex t = 0; t < terminals_.size(); ++t) {
    if (first_start_[t] >= 0) waits.push_back(first_start_[t] - terminals_[t].ready_at);
  }
  r.wait_p50_ms = Quantile(waits, 0.50);
  r.wait_p99_ms = Quantile(waits, 0.99);
  r.failed_attempts = failed_attempts_;
  r.timeouts = timeouts_;
  r.upgraded = upgraded_;
  r.never_upgraded = terminals_.size() - upgraded_;
  r.max_starts_per_minute =
      starts_per_minute_.empty() ? 0 : *std::max_element(starts_per_minute_.begin(), starts_per_minute_.end());
  r.wall_s = wall_s;
  r.first_start = std::move(first_start_);
  r.upgraded_at = std::move(upgraded_at_);
  r.load = std::move(load_);
  r.rate = std::move(rate_);
  policy_.Finish(r);
  return r;
}

}  // namespace slotwise::fleet::sim
