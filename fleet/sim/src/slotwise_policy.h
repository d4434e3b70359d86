// Internal: the Slotwise policy, i.e. the real SchedulerService driven the
// way the daemon drives it (operator requests first, then per terminal:
// presence, report S7-S8, check S10 at its start time, status S11; Tick
// every virtual minute for no-shows and terminals that went away).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "slotwise/fleet/sim/policies.h"
#include "slotwise/scheduler/service.h"
#include "slotwise/scheduler/store.h"

namespace slotwise::fleet::sim {

class SlotwisePolicy final : public Policy {
 public:
  SlotwisePolicy(const Fleet& fleet, const PolicyOptions& options);
  std::string name() const override { return "slotwise"; }
  std::string parameters() const override;
  std::int64_t LeadMs() const override { return fleet_.scenario.slot_ms; }
  Status Begin(Engine& engine) override;
  void OnReady(Engine& engine, TerminalIndex t) override;
  void OnDue(Engine& engine, TerminalIndex t) override;
  void OnAbsent(Engine& engine, TerminalIndex t) override;
  bool OnOutcome(Engine& engine, TerminalIndex t, bool succeeded) override;
  void OnTimer(Engine& engine) override;
  void Finish(RunResult& result) const override;

 private:
  Status Operator(const v1::OperatorRequest& request, v1::OperatorReply* reply = nullptr);
  Status Register();
  Status ScheduleWindow(Engine& engine, std::size_t campaign);
  // 1, or 2 in the mixed fleet (the system image and a parameter file).
  std::size_t Campaigns() const;
  // The version of its campaign's component a terminal runs.
  const char* RunsVersion(TerminalIndex t) const;
  // Acts on an assignment: note its booking, be due at its start.
  void Follow(Engine& engine, TerminalIndex t, const v1::Assignment& a);

  const Fleet& fleet_;
  PolicyOptions options_;
  std::vector<std::string> ids_;  // terminal ids
  std::unordered_map<std::string, NodeIndex> node_index_;
  std::vector<Slot> slot_of_;      // each terminal's booked slot; kNoSlot = none
  std::vector<NodeIndex> node_of_; // and node
  std::vector<bool> offline_;     // told the scheduler it went away
  scheduler::MemoryStore store_;
  std::unique_ptr<scheduler::SchedulerService> service_;
  std::string window_label_;
  CapacityCalendar calendar_;
  v1::Report report_;             // reused: campaign, versions, link and location change
  bool scheduled_[2] = {false, false};  // the campaign has terminals (and a window)
};

}  // namespace slotwise::fleet::sim
