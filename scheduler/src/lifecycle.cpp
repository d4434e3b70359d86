// Final outcomes, failed attempts, the failure threshold, deadlines and
// execution timeouts.
#include "slotwise/scheduler/lifecycle.h"

#include <algorithm>
#include <vector>

#include "slotwise/scheduler/notices.h"
#include "slotwise/version.h"

namespace slotwise::scheduler {
namespace {

// Notices went out once the campaign was scheduled (a DRAFT sent none).
bool SentNotices(const CampaignRecord& record) { return record.campaign.window_end_slot() != 0; }

}  // namespace

bool Lifecycle::AlreadyCurrent(const v1::Campaign& campaign, std::string_view version) {
  if (version.empty()) return false;
  const int c = CompareVersions(version, campaign.target_version());
  return c == 0 || (c > 0 && !campaign.allow_downgrade());
}

bool Lifecycle::NoteVersion(Change& change, CampaignRecord& record, v1::TerminalProgress& p,
                            std::string_view version) {
  if (HasOutcome(p) || IsFinalCampaign(record.campaign.state()) || !AlreadyCurrent(record.campaign, version)) {
    return false;
  }
  if (p.checked_in()) {
    change.Progress(record, p);
    p.set_state(v1::Status::SUCCEEDED);
    p.set_version(std::string(version));
    End(change, record, p, v1::TerminalProgress::SUCCEEDED, "reported the target version after GO");
  } else {
    End(change, record, p, v1::TerminalProgress::ALREADY_CURRENT, "the terminal runs " + std::string(version));
  }
  return true;
}

void Lifecycle::End(Change& change, CampaignRecord& record, v1::TerminalProgress& p, Outcome outcome,
                    const std::string& detail) {
  if (HasOutcome(p) || !IsFinalOutcome(outcome)) return;
  change.Progress(record, p);
  // The booking of an outcome the terminal reported stays on record (its
  // download started in that slot); every other ending gives it back.
  if (outcome != v1::TerminalProgress::SUCCEEDED && outcome != v1::TerminalProgress::FAILED) bookings_.Release(p);
  p.set_outcome(outcome);
  if (!detail.empty()) p.set_detail(detail);
  p.set_updated_ms(clock_.NowMs());
  if (SentNotices(record)) {
    Outbox clear;
    ClearNotice(record, p.terminal_id(), clear);
    for (auto& c : clear) change.Publish(std::move(c));
  }
}

void Lifecycle::Fail(Change& change, CampaignRecord& record, v1::TerminalProgress& p, bool timed_out,
                     const std::string& detail) {
  if (HasOutcome(p)) return;
  const auto state = record.campaign.state();
  const bool retry = !IsFinalCampaign(state) && p.attempts() < record.campaign.max_retries();
  if (!retry) {
    change.Progress(record, p);
    p.set_state(v1::Status::FAILED);
    End(change, record, p, v1::TerminalProgress::FAILED, timed_out ? "timed out: " + detail : detail);
  } else {
    change.Progress(record, p);
    bookings_.Release(p);
    p.set_attempts(p.attempts() + 1);
    p.set_state(v1::Status::STATE_UNSPECIFIED);
    p.set_outcome(timed_out ? v1::TerminalProgress::TIMED_OUT : v1::TerminalProgress::OUTCOME_PENDING);
    p.set_detail("attempt " + std::to_string(p.attempts()) + (timed_out ? " timed out: " : " failed: ") + detail);
    p.set_updated_ms(clock_.NowMs());
    // A terminal that reported a failure gets its work back at once; a
    // timed-out one keeps the notice it holds (it may only be slow).
    if (!timed_out && state == v1::SCHEDULED) {
      Outbox again;
      NoticeFor(grid_, record, p.terminal_id(), again);
      for (auto& n : again) change.Publish(std::move(n));
    }
  }
  // The failure threshold: FAILED and TIMED_OUT terminals count.
  if (state != v1::SCHEDULED || record.campaign.max_failures() == 0) return;
  const auto failed = static_cast<std::uint32_t>(std::count_if(
      record.progress.begin(), record.progress.end(), [](const auto& kv) {
        return kv.second.outcome() == v1::TerminalProgress::FAILED ||
               kv.second.outcome() == v1::TerminalProgress::TIMED_OUT;
      }));
  if (failed >= record.campaign.max_failures()) {
    Pause(change, record,
          std::to_string(failed) + " terminals failed or timed out (threshold " +
              std::to_string(record.campaign.max_failures()) + ")");
  }
}

void Lifecycle::Pause(Change& change, CampaignRecord& record, const std::string& reason) {
  v1::Campaign& c = change.Campaign(record);
  c.set_state(v1::PAUSED);
  c.set_paused_reason(reason);
  for (auto& [tid, p] : record.progress) {
    if (!p.assigned() || p.checked_in() || HasOutcome(p)) continue;
    change.Progress(record, p);
    bookings_.Release(p);
  }
}

void Lifecycle::WatchExecution(const std::string& campaign_id, const v1::TerminalProgress& p) {
  if (!p.assigned() || !p.checked_in() || HasOutcome(p)) return;
  executions_.emplace(ExecutionDeadline(p), std::pair{campaign_id, p.terminal_id()});
}

void Lifecycle::Rebuild() {
  executions_.clear();
  for (const auto& [cid, record] : table_.all()) {
    for (const auto& [tid, p] : record.progress) WatchExecution(cid, p);
  }
}

std::size_t Lifecycle::Tick(Outbox& out) { return ExpireDue(out) + TimeOutDue(out); }

std::size_t Lifecycle::ExpireDue(Outbox& out) {
  const TimeMs now = clock_.NowMs();
  std::size_t changed = 0;
  for (auto& [cid, record] : table_.all()) {
    const v1::Campaign& c = record.campaign;
    if (c.deadline_ms() == 0 || now < c.deadline_ms() || IsFinalCampaign(c.state())) continue;
    Change change(bookings_);
    std::size_t expired = 0;
    for (auto& [tid, p] : record.progress) {
      if (HasOutcome(p)) continue;
      End(change, record, p, v1::TerminalProgress::EXPIRED, "the campaign's deadline passed");
      ++expired;
    }
    change.Campaign(record);  // DONE even with nothing left to expire
    change.Close(record);     // a filter campaign takes in no more
    if (change.Commit(journal_, out)) changed += expired;  // a failed write: the next tick tries again
  }
  return changed;
}

std::size_t Lifecycle::TimeOutDue(Outbox& out) {
  const TimeMs now = clock_.NowMs();
  const auto due = executions_.upper_bound(now);
  std::multimap<TimeMs, std::pair<std::string, std::string>> looked(executions_.begin(), due);
  executions_.erase(executions_.begin(), due);
  Change change(bookings_);
  std::size_t changed = 0;
  for (const auto& [when, key] : looked) {
    CampaignRecord* record = table_.Find(key.first);
    if (record == nullptr) continue;
    auto it = record->progress.find(key.second);
    if (it == record->progress.end()) continue;
    v1::TerminalProgress& p = it->second;
    if (!p.assigned() || !p.checked_in() || HasOutcome(p)) continue;  // stale
    if (now < ExecutionDeadline(p)) {
      executions_.emplace(ExecutionDeadline(p), key);  // booked again since
      continue;
    }
    Fail(change, *record, p, true,
         "no final status within the download allowance after GO (slot " + std::to_string(p.slot()) + ")");
    ++changed;
  }
  if (change.empty()) return 0;
  if (!change.Commit(journal_, out)) {
    executions_.merge(looked);  // a later tick looks again
    return 0;
  }
  return changed;
}

}  // namespace slotwise::scheduler
