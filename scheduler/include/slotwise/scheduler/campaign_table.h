// CampaignTable: the campaigns in memory, each with the progress record of
// every one of its terminals (where that terminal's booking lives). Plain
// data plus lookups: the rules that change these records are in Campaigns
// (S2-S6), Bookings (placement and release) and TerminalRequests (S7-S11).
//
// Durability: a record here is the last one written (or staged) to the
// store under campaign/{id} and progress/{campaign}/{terminal} (keys.h).
// Records are never erased once loaded or created, so pointers to a record
// or to a progress entry stay valid for the life of the table.
//
// Threading: not thread-safe; the scheduler thread only.
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <set>
#include <vector>
#include <string>
#include <string_view>
#include <utility>

#include "slotwise/result.h"
#include "slotwise/scheduler/store.h"
#include "slotwise/v1/operator.pb.h"
#include "slotwise/v1/store.pb.h"
#include "slotwise/v1/terminal.pb.h"

namespace slotwise::scheduler {

struct CampaignRecord {
  v1::Campaign campaign;
  std::map<std::string, v1::TerminalProgress, std::less<>> progress;  // by terminal id
  // Terminals without a final outcome: the campaign is DONE when it reaches
  // 0 (Change::Commit keeps it). Kept so a status costs O(log N), not O(N).
  std::size_t not_done = 0;
  // Issue 13 (metrics): how many progress records hold each outcome (index
  // = TerminalProgress::Outcome), kept beside not_done by the same code
  // paths (Load, create, AddTerminals, Join, Change::Commit and their
  // undos), so the metrics read a campaign's counts in O(1).
  std::array<std::size_t, v1::TerminalProgress::Outcome_ARRAYSIZE> outcomes{};
  // The members a filter took in (not in campaign.terminal_ids, which holds
  // the ones the operator named), by id; rebuilt from the progress records.
  std::set<std::string, std::less<>> joined;
};

// Every member of the campaign once: the named ones (campaign.terminal_ids,
// in their order), then the ones its filter took in (by id).
template <class Record, class Fn>
void ForEachMember(Record& record, Fn&& fn) {
  for (const auto& t : record.campaign.terminal_ids()) fn(record.progress.find(t)->second);
  for (const auto& t : record.joined) fn(record.progress.find(t)->second);
}

using Outcome = v1::TerminalProgress::Outcome;

// A final outcome: the terminal has nothing more to do in the campaign and
// the outcome never changes (schemas/README.md, "Outcomes").
inline bool IsFinalOutcome(Outcome o) {
  return o != v1::TerminalProgress::OUTCOME_PENDING && o != v1::TerminalProgress::TIMED_OUT;
}
inline bool HasOutcome(const v1::TerminalProgress& p) { return IsFinalOutcome(p.outcome()); }
// Work left that the terminal should be doing now: no final outcome, and it
// has not stood down (a paused campaign; resume gives the work back).
inline bool Unfinished(const v1::TerminalProgress& p) {
  return !HasOutcome(p) && p.state() != v1::Status::STOOD_DOWN;
}
// A campaign state after which nothing changes any more.
inline bool IsFinalCampaign(v1::CampaignState s) { return s == v1::DONE || s == v1::CANCELLED; }
// A filter campaign that is not final takes in terminals that match: it is
// not DONE when its members are all final, only at its deadline (or CANCELLED).
inline bool TakesIn(const v1::Campaign& c) { return c.has_filter() && !IsFinalCampaign(c.state()); }

class CampaignTable {
 public:
  using Records = std::map<std::string, CampaignRecord, std::less<>>;

  // Reads every campaign and its progress records (replacing what is here).
  Status Load(Store& store);

  CampaignRecord* Find(std::string_view id);
  const CampaignRecord* Find(std::string_view id) const;
  bool Contains(std::string_view id) const { return records_.contains(id); }
  // Adds a new campaign; false if the id is taken. Remove() is only for
  // undoing an Add() whose write failed.
  bool Add(CampaignRecord record);
  void Remove(std::string_view id);

  // The campaign and the terminal's progress in it, or the error to send.
  Result<std::pair<CampaignRecord*, v1::TerminalProgress*>> FindWork(std::string_view terminal_id,
                                                                     std::string_view campaign_id);

  Records& all() { return records_; }
  const Records& all() const { return records_; }
  // The filter campaigns, oldest first (creation time, then id); final ones
  // included (callers skip them with TakesIn). The index a Report is matched
  // against: its cost is the number of filter campaigns, not of terminals.
  const std::vector<CampaignRecord*>& filtered() const { return filtered_; }

 private:
  void IndexFilter(CampaignRecord& record);

  Records records_;
  std::vector<CampaignRecord*> filtered_;
};

}  // namespace slotwise::scheduler
