// Change: one request's (or one tick's) change to campaign and progress
// records, written as one batch with one undo. A rule says what changes
// (Progress() / Campaign() before it touches a record); Commit() then
//   - keeps each campaign's count of terminals without a final outcome
//     and its count of terminals per outcome (the metrics'),
//   - makes a DRAFT, SCHEDULED or PAUSED campaign whose terminals all have a
//     final outcome DONE (whatever path led there: statuses, timeouts, the
//     deadline, the failure threshold, removals, supersession); a filter
//     campaign only once Close()d (its deadline: more terminals may match),
//   - writes every touched record through the Journal, with the undo that
//     puts records and bookings back (Bookings::Undo) newest first,
//   - and only then hands the publications (notices) to the caller's Outbox.
//
// Arrows: Change -> Bookings (Undo), Journal. Threading: the scheduler
// thread only; a Change lives for one request.
#pragma once

#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "slotwise/result.h"
#include "slotwise/scheduler/bookings.h"
#include "slotwise/scheduler/campaign_table.h"
#include "slotwise/scheduler/journal.h"
#include "slotwise/scheduler/service_options.h"

namespace slotwise::scheduler {

class Change {
 public:
  explicit Change(Bookings& bookings) : bookings_(bookings) {}
  Change(const Change&) = delete;
  Change& operator=(const Change&) = delete;

  // Call before changing `p` (a progress record of `record`): remembers it
  // as it was before the first change of this Change. Returns `p`.
  v1::TerminalProgress& Progress(CampaignRecord& record, v1::TerminalProgress& p);
  // Call before changing `record.campaign`. Returns it.
  v1::Campaign& Campaign(CampaignRecord& record);
  // The campaign takes in no more terminals (its deadline passed): a filter
  // campaign whose terminals are all final becomes DONE too.
  void Close(CampaignRecord& record) { Record(record).closing = true; }
  // Records that are not campaign records (a terminal's), with their undo.
  void Also(const WriteBatch& batch, Journal::Undo undo);
  // An undo that must run after every record is put back, newest first:
  // taking out a campaign or a progress entry this change created.
  void UndoLast(Journal::Undo undo) { last_undos_.push_back(std::move(undo)); }
  // Sent only once the change is durable.
  void Publish(Publication p) { publications_.push_back(std::move(p)); }

  bool empty() const { return progress_.empty() && records_.empty() && extra_.empty(); }
  // True when Commit() made `record` DONE.
  bool Finished(const CampaignRecord& record) const;

  // Writes the change (see the top). On failure everything is undone and
  // nothing is published.
  Status Commit(Journal& journal, Outbox& out);
  // Puts memory back as it was before the change, writing nothing (a
  // request that is refused after it began to change records).
  void Abandon() { UndoFn()(); }

 private:
  Journal::Undo UndoFn() const;
  struct TouchedRecord {
    CampaignRecord* record;
    std::size_t not_done_before;
    std::optional<v1::Campaign> campaign_before;  // set when the campaign itself changed
    bool finished = false;
    bool closing = false;
  };
  struct TouchedProgress {
    CampaignRecord* record;
    v1::TerminalProgress* progress;
    v1::TerminalProgress before;
  };
  TouchedRecord& Record(CampaignRecord& record);
  // What Commit() moved in the records' outcome counts; its undo moves it back.
  struct OutcomeMove {
    CampaignRecord* record;
    Outcome from;
    Outcome to;
  };
  std::vector<OutcomeMove> outcome_moves_;

  Bookings& bookings_;
  std::vector<TouchedRecord> records_;
  std::vector<TouchedProgress> progress_;
  std::unordered_set<const v1::TerminalProgress*> seen_;
  WriteBatch extra_;
  std::vector<Journal::Undo> extra_undos_;
  std::vector<Journal::Undo> last_undos_;
  Outbox publications_;
};

}  // namespace slotwise::scheduler
