// S11: a terminal's progress and outcome (retries, DONE, the failure
// threshold), and its presence (online / offline, from the broker plugin).
#include <algorithm>
#include <optional>

#include "keys.h"
#include "replies.h"
#include "slotwise/scheduler/notices.h"
#include "slotwise/scheduler/terminal_requests.h"

namespace slotwise::scheduler {

v1::TerminalReply TerminalRequests::Status(std::string_view terminal_id, const v1::Status& status, Outbox& out) {
  if (status.state() == v1::Status::STATE_UNSPECIFIED || !v1::Status::State_IsValid(status.state())) {
    return RefuseTerminal(MakeError(v1::INVALID_ARGUMENT, "status has no valid state"));
  }
  if (status.progress_percent() > 100) {
    return RefuseTerminal(MakeError(v1::INVALID_ARGUMENT, "progress_percent must be 0-100"));
  }
  auto work = table_.FindWork(terminal_id, status.campaign_id());
  if (!work) return RefuseTerminal(work.error());
  auto [record, progress] = *work;
  if (IsFinal(progress->state()) && !IsFinal(status.state())) {
    return AckTerminal();  // a late progress message after the outcome: keep the outcome
  }
  const v1::TerminalProgress before = *progress;
  const TimeMs now = clock_.NowMs();
  // A failure with retries left: the terminal gets its work back and a new
  // slot when it reports again.
  const bool retry = status.state() == v1::Status::FAILED && !IsFinal(before.state()) &&
                     record->campaign.state() == v1::SCHEDULED && before.attempts() < record->campaign.max_retries();
  if (retry) bookings_.Release(*progress);
  progress->set_state(retry ? v1::Status::STATE_UNSPECIFIED : status.state());
  progress->set_version(status.version());
  progress->set_detail(status.detail());
  progress->set_updated_ms(now);
  if (retry) {
    progress->set_attempts(before.attempts() + 1);
    progress->set_detail("attempt " + std::to_string(progress->attempts()) + " failed: " + status.detail());
  }
  WriteBatch b;
  b.Put(keys::Progress(record->campaign.id(), terminal_id), progress->SerializeAsString());
  v1::TerminalInfo info = registry_.TerminalOrNew(terminal_id);
  if (status.state() == v1::Status::SUCCEEDED) info.set_current_version(status.version());
  info.set_last_seen_ms(now);
  auto undo_terminal = registry_.SetTerminal(std::move(info), b);

  const std::size_t not_done_before = record->not_done;
  record->not_done = not_done_before + (IsDone(before.state()) ? 1 : 0) - (IsDone(progress->state()) ? 1 : 0);
  // Only a campaign that becomes DONE is copied: it holds every terminal id.
  std::optional<v1::Campaign> campaign_before;
  if (record->not_done == 0 && record->campaign.state() == v1::SCHEDULED) {
    campaign_before = record->campaign;
    record->campaign.set_state(v1::DONE);
    b.Put(keys::Of(keys::kCampaign, record->campaign.id()), record->campaign.SerializeAsString());
  }
  auto undo = [this, record, progress, before, retry, not_done_before, campaign_before, undo_terminal] {
    if (campaign_before) record->campaign = *campaign_before;
    record->not_done = not_done_before;
    if (retry) {
      bookings_.Undo(*progress, before);
    } else {
      *progress = before;  // the booking did not change
    }
    undo_terminal();
  };
  if (auto s = journal_.Write(b, std::move(undo)); !s) return RefuseTerminal(s.error());
  if (retry) {
    NoticeFor(grid_, *record, terminal_id, out);
  } else if (IsFinal(status.state())) {
    ClearNotice(terminal_id, out);
  }
  // The failure threshold pauses the campaign by itself.
  if (status.state() == v1::Status::FAILED && !retry && record->campaign.state() == v1::SCHEDULED &&
      record->campaign.max_failures() > 0) {
    const auto failed = static_cast<std::uint32_t>(
        std::count_if(record->progress.begin(), record->progress.end(),
                      [](const auto& kv) { return kv.second.state() == v1::Status::FAILED; }));
    if (failed >= record->campaign.max_failures()) {
      if (auto s = campaigns_.Pause(*record, std::to_string(failed) + " terminals failed (threshold " +
                                                 std::to_string(record->campaign.max_failures()) + ")");
          !s) {
        return RefuseTerminal(s.error());
      }
    }
  }
  return AckTerminal();
}

void TerminalRequests::Presence(std::string_view terminal_id, const v1::Presence& presence) {
  v1::TerminalInfo info = registry_.TerminalOrNew(terminal_id);
  info.set_online(presence.online());
  info.set_last_seen_ms(presence.at_ms());
  WriteBatch b;
  const v1::TerminalInfo watched = info;
  auto undo = registry_.SetTerminal(std::move(info), b);
  if (journal_.Write(b, std::move(undo))) bookings_.WatchOffline(watched);
}

}  // namespace slotwise::scheduler
