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

#include <cstddef>
#include <map>
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
};

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

 private:
  Records records_;
};

}  // namespace slotwise::scheduler
