// The policies compared side by side. Slotwise is the real SchedulerService
// (scheduler/include/slotwise/scheduler/service.h) on a MemoryStore, driven
// through its handlers as the daemon drives it. The baselines are the
// peers' pacing rules; they do not book anything: a terminal they let start
// downloads from its nearest cluster, the cluster's nodes taken in
// round-robin order (as DNS round-robin would hand them out).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "slotwise/fleet/sim/engine.h"

namespace slotwise::fleet::sim {

struct PolicyOptions {
  // Slotwise: the window to schedule, by QueryWindows label. Default: "earliest".
  std::string window = "earliest";
  // Slotwise: register each node's bandwidth (per_slot full-rate downloads)
  // so the scheduler books bytes (capacity in bytes) and not only starts.
  // Default: false (count only: its window planning is then linear in the
  // fleet; with bytes it places every terminal on a copy of the ledger,
  // minutes at a million terminals).
  bool byte_capacity = false;
  // Fixed rate (AWS IoT Jobs maximumPerMinute, ThingsBoard's pack per
  // interval): starts per minute, fleet-wide. 0 = the fleet's capacity per
  // minute (total per_slot / slot minutes). Default: 0.
  std::uint32_t rate_per_minute = 0;
  // Per-period cap per group (Nebraska): the group is the terminal's nearest
  // cluster; at most period_cap starts in each period_ms. 0 = the cluster's
  // capacity per slot and one slot. Defaults: 0, 0.
  std::uint32_t period_cap = 0;
  std::int64_t period_ms = 0;
  // Percentage groups (hawkBit): group sizes in percent of the fleet, the
  // rest forming the last group; a group starts when the one before it has
  // success_threshold of its members upgraded; members start at their next
  // poll. Defaults: 1, 10, 25 (+ the rest), 80 %, 5 minutes.
  std::vector<double> group_percents = {1, 10, 25};
  double success_threshold = 0.8;
  std::int64_t poll_ms = 300'000;
};

// The policy names --policies accepts, in table order.
const std::vector<std::string>& PolicyNames();

// nullptr for an unknown name.
std::unique_ptr<Policy> MakePolicy(const std::string& name, const Fleet& fleet, const PolicyOptions& options);

// The baselines' node choice: a node of the terminal's nearest cluster, each
// cluster's nodes in round-robin order.
class RoundRobinNodes {
 public:
  explicit RoundRobinNodes(const Fleet& fleet);
  NodeIndex Next(TerminalIndex t);

 private:
  const Fleet& fleet_;
  std::vector<std::uint32_t> next_;  // per cluster
};

// Percentage groups (hawkBit); exposed for tests of its group bookkeeping.
class PercentGroupsPolicy final : public Policy {
 public:
  PercentGroupsPolicy(const Fleet& fleet, const PolicyOptions& options);
  std::string name() const override { return "pct-groups"; }
  std::string parameters() const override;
  Status Begin(Engine& engine) override;
  void OnReady(Engine& engine, TerminalIndex t) override;
  void OnDue(Engine& engine, TerminalIndex t) override;
  void OnAbsent(Engine& /*engine*/, TerminalIndex /*t*/) override {}
  bool OnOutcome(Engine& engine, TerminalIndex t, bool succeeded) override;

  struct Group {
    TerminalIndex first = 0;  // members are terminals [first, end)
    TerminalIndex end = 0;
    TimeMs started_at = -1;
    std::uint32_t succeeded = 0;
    std::uint32_t needed = 0;  // successes that open the next group
    std::vector<TerminalIndex> waiting;  // ready before the group started
  };
  const std::vector<Group>& groups() const { return groups_; }
  std::size_t GroupOf(TerminalIndex t) const;

 private:
  void Open(Engine& engine, std::size_t group);
  void Poll(Engine& engine, TerminalIndex t);

  const Fleet& fleet_;
  PolicyOptions options_;
  std::vector<Group> groups_;
  std::size_t open_ = 0;  // groups [0, open_) have started
  RoundRobinNodes nodes_;
};

}  // namespace slotwise::fleet::sim
