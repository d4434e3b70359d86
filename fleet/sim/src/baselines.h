// Internal: the baselines that queue ready terminals (push-all, fixed rate,
// per-period cap). See policies.h for what each models.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "slotwise/fleet/sim/policies.h"

namespace slotwise::fleet::sim {

// Starts a due terminal on its nearest cluster's next node; retries while
// the terminal has retries left. Subclasses decide the due time.
class BaselinePolicy : public Policy {
 public:
  explicit BaselinePolicy(const Fleet& fleet) : fleet_(fleet), nodes_(fleet) {}
  Status Begin(Engine& /*engine*/) override { return OkStatus(); }
  void OnDue(Engine& engine, TerminalIndex t) override;
  void OnAbsent(Engine& /*engine*/, TerminalIndex /*t*/) override {}
  bool OnOutcome(Engine& engine, TerminalIndex t, bool succeeded) override;

 protected:
  const Fleet& fleet_;

 private:
  RoundRobinNodes nodes_;
};

// Everyone starts as soon as it is ready (notice or arrival).
class PushAllPolicy final : public BaselinePolicy {
 public:
  using BaselinePolicy::BaselinePolicy;
  std::string name() const override { return "push-all"; }
  std::string parameters() const override { return "everyone at once"; }
  void OnReady(Engine& engine, TerminalIndex t) override;
};

// At most rate starts per minute fleet-wide, evenly spaced, first come first served.
class FixedRatePolicy final : public BaselinePolicy {
 public:
  FixedRatePolicy(const Fleet& fleet, std::uint32_t rate_per_minute);
  std::string name() const override { return "fixed-rate"; }
  std::string parameters() const override;
  void OnReady(Engine& engine, TerminalIndex t) override;

 private:
  TimeMs TimeOf(const Engine& engine, std::uint64_t position) const;
  std::uint32_t rate_;
  std::uint64_t next_ = 0;  // the next free start position
};

// At most cap starts per period per group (the nearest cluster).
class PeriodCapPolicy final : public BaselinePolicy {
 public:
  PeriodCapPolicy(const Fleet& fleet, std::uint32_t cap, std::int64_t period_ms);
  std::string name() const override { return "period-cap"; }
  std::string parameters() const override;
  void OnReady(Engine& engine, TerminalIndex t) override;

 private:
  std::uint32_t CapOf(std::uint32_t cluster) const;
  std::uint32_t fixed_cap_;  // 0 = the cluster's capacity per slot
  std::vector<std::uint32_t> cluster_cap_;  // Fleet::StartsPerSlot per cluster
  std::int64_t period_ms_;
  std::vector<std::uint64_t> next_;  // per group: starts granted so far (as positions)
};

}  // namespace slotwise::fleet::sim
