// Campaigns (S2-S6): the operator's side of a campaign's life.
//   S2      Create: a DRAFT for a target version and a list of terminals;
//   S3-S4   QueryWindows: candidate windows, planned by the real placement
//           on a copy of the ledger (windows.h), nothing booked;
//   S5      Schedule: the chosen window; the campaign becomes SCHEDULED;
//   S6      its notices go to every terminal (notices.h);
//   and Pause / Resume / Cancel, Get (progress) and List.
// Pause and Cancel release bookings through Bookings::Release, the one rule;
// final outcomes (CANCELLED, SUPERSEDED) come from Lifecycle::End.
// Overlap: a terminal has unfinished work for a component in at most one
// campaign; Create refuses another (FAILED_PRECONDITION, naming the
// terminals) unless it asks to supersede.
// Filter campaigns (campaign_filter.h): Create takes in the known terminals
// that match, TakeIn (called by every S7 Report) the ones that report later;
// a matching terminal with unfinished work elsewhere for the component is
// skipped (taken at a later report) unless the campaign supersedes.
//
// Durability: every change is written through the Journal before the reply
// (or staged in the current group commit, with its undo).
//
// Arrows: Campaigns -> Bookings, Registry, CampaignTable, Journal, notices.
// Threading: not thread-safe; the scheduler thread only.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "slotwise/clock.h"
#include "slotwise/result.h"
#include "slotwise/scheduler/bookings.h"
#include "slotwise/scheduler/campaign_filter.h"
#include "slotwise/scheduler/campaign_table.h"
#include "slotwise/scheduler/change.h"
#include "slotwise/scheduler/journal.h"
#include "slotwise/scheduler/lifecycle.h"
#include "slotwise/scheduler/registry.h"
#include "slotwise/scheduler/service_options.h"
#include "slotwise/slots.h"
#include "slotwise/v1/operator.pb.h"

namespace slotwise::scheduler {

class Campaigns {
 public:
  Campaigns(CampaignTable& table, Bookings& bookings, Lifecycle& lifecycle, Registry& registry, Journal& journal,
            const SlotGrid& grid, const Clock& clock, const ServiceOptions& options)
      : table_(table), bookings_(bookings), lifecycle_(lifecycle), registry_(registry), journal_(journal),
        grid_(grid), clock_(clock), options_(options) {}

  v1::OperatorReply Create(const v1::CreateCampaign& req, Outbox& out);        // S2 (+ supersession)
  v1::OperatorReply QueryWindows(const v1::QueryWindows& req) const;           // S3-S4 (campaign_windows.cpp)
  // Issue 13: what a window would book, node x slot (campaign_windows.cpp).
  v1::OperatorReply WindowLoad(const v1::QueryWindowLoad& req) const;
  v1::OperatorReply Schedule(const v1::ScheduleCampaign& req, Outbox& out);    // S5, S6
  v1::OperatorReply Get(const v1::GetCampaign& req) const;
  v1::OperatorReply List() const;
  v1::OperatorReply Pause(const v1::PauseCampaign& req, Outbox& out);
  v1::OperatorReply Resume(const v1::ResumeCampaign& req, Outbox& out);
  v1::OperatorReply Cancel(const v1::CancelCampaign& req, Outbox& out);
  // Membership of a campaign that is not final (campaign_membership.cpp).
  v1::OperatorReply AddTerminals(const v1::AddTerminals& req, Outbox& out);
  v1::OperatorReply RemoveTerminals(const v1::RemoveTerminals& req, Outbox& out);
  // Every open filter campaign (TakesIn) that the terminal matches and is
  // not in yet takes it in, oldest campaign first, as part of `change`: a
  // progress record, the ALREADY_CURRENT rule, and in a SCHEDULED campaign
  // its notice (published once the change is durable). Costs the number of
  // filter campaigns (CampaignTable::filtered), not of terminals.
  void TakeIn(Change& change, const v1::TerminalInfo& info);

 private:
  // The terminals of `ids` that have unfinished work for `component` in a
  // campaign other than `except`: (campaign, terminal).
  std::vector<std::pair<CampaignRecord*, v1::TerminalProgress*>> Overlaps(
      const google::protobuf::RepeatedPtrField<std::string>& ids, const std::string& component,
      std::string_view except);
  // Takes the terminal into the filter campaign `record` when it matches,
  // is not in it yet and the overlap rule lets it; true when it joined.
  bool Join(Change& change, CampaignRecord& record, const TerminalFacts& terminal);
  // The refusal of `overlaps` (FAILED_PRECONDITION, naming them).
  static v1::OperatorReply RefuseOverlaps(
      const std::vector<std::pair<CampaignRecord*, v1::TerminalProgress*>>& overlaps, const std::string& component);

  CampaignTable& table_;
  Bookings& bookings_;
  Lifecycle& lifecycle_;
  Registry& registry_;
  Journal& journal_;
  const SlotGrid& grid_;
  const Clock& clock_;
  const ServiceOptions& options_;
};

}  // namespace slotwise::scheduler
