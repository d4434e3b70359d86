#include "slotwise/scheduler/change.h"

#include <algorithm>

#include "keys.h"

namespace slotwise::scheduler {

Change::TouchedRecord& Change::Record(CampaignRecord& record) {
  auto it = std::find_if(records_.begin(), records_.end(), [&](const TouchedRecord& t) { return t.record == &record; });
  if (it != records_.end()) return *it;
  return records_.emplace_back(TouchedRecord{&record, record.not_done, std::nullopt, false, false});
}

v1::TerminalProgress& Change::Progress(CampaignRecord& record, v1::TerminalProgress& p) {
  Record(record);
  if (seen_.insert(&p).second) progress_.push_back(TouchedProgress{&record, &p, p});
  return p;
}

v1::Campaign& Change::Campaign(CampaignRecord& record) {
  TouchedRecord& t = Record(record);
  if (!t.campaign_before) t.campaign_before = record.campaign;
  return record.campaign;
}

void Change::Also(const WriteBatch& batch, Journal::Undo undo) {
  extra_.Append(batch);
  if (undo) extra_undos_.push_back(std::move(undo));
}

bool Change::Finished(const CampaignRecord& record) const {
  return std::any_of(records_.begin(), records_.end(),
                     [&](const TouchedRecord& t) { return t.record == &record && t.finished; });
}

Journal::Undo Change::UndoFn() const {
  return [&bookings = bookings_, records = records_, progress = progress_, extra_undos = extra_undos_,
          last_undos = last_undos_, moves = outcome_moves_]() {
    for (auto it = extra_undos.rbegin(); it != extra_undos.rend(); ++it) (*it)();
    for (auto it = progress.rbegin(); it != progress.rend(); ++it) bookings.Undo(*it->progress, it->before);
    // Before last_undos: those may take a record out of the table.
    for (const OutcomeMove& m : moves) {
      --m.record->outcomes[m.to];
      ++m.record->outcomes[m.from];
    }
    for (auto it = records.rbegin(); it != records.rend(); ++it) {
      it->record->not_done = it->not_done_before;
      if (it->campaign_before) it->record->campaign = *it->campaign_before;
    }
    for (auto it = last_undos.rbegin(); it != last_undos.rend(); ++it) (*it)();
  };
}

Status Change::Commit(Journal& journal, Outbox& out) {
  for (const TouchedProgress& t : progress_) {
    const bool was_final = HasOutcome(t.before);
    const bool is_final = HasOutcome(*t.progress);
    if (was_final && !is_final) ++t.record->not_done;
    if (!was_final && is_final) --t.record->not_done;
    if (t.before.outcome() != t.progress->outcome()) {
      --t.record->outcomes[t.before.outcome()];
      ++t.record->outcomes[t.progress->outcome()];
      outcome_moves_.push_back(OutcomeMove{t.record, t.before.outcome(), t.progress->outcome()});
    }
  }
  // Index loop: Campaign() may not add records here, but keep it obvious.
  for (std::size_t i = 0; i < records_.size(); ++i) {
    CampaignRecord& record = *records_[i].record;
    const auto state = record.campaign.state();
    const bool open_filter = record.campaign.has_filter() && !records_[i].closing;
    if (record.not_done == 0 && !open_filter &&
        (state == v1::DRAFT || state == v1::SCHEDULED || state == v1::PAUSED)) {
      Campaign(record).set_state(v1::DONE);
      record.campaign.clear_paused_reason();
      records_[i].finished = true;
    }
  }
  WriteBatch b;
  for (const TouchedRecord& t : records_) {
    if (t.campaign_before) b.Put(keys::Of(keys::kCampaign, t.record->campaign.id()), t.record->campaign.SerializeAsString());
  }
  for (const TouchedProgress& t : progress_) {
    b.Put(keys::Progress(t.record->campaign.id(), t.progress->terminal_id()), t.progress->SerializeAsString());
  }
  b.Append(extra_);
  auto undo = UndoFn();
  if (b.empty()) {
    out.insert(out.end(), publications_.begin(), publications_.end());
    return OkStatus();
  }
  if (auto s = journal.Write(b, std::move(undo)); !s) {
    for (auto& r : records_) r.finished = false;
    return s;
  }
  out.insert(out.end(), publications_.begin(), publications_.end());
  return OkStatus();
}

}  // namespace slotwise::scheduler
