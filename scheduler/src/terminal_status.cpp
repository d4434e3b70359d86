// S11: a terminal's progress and outcome (retries, DONE, the failure
// threshold), and its presence (online / offline, from the broker plugin).
#include <algorithm>
#include <optional>

#include "keys.h"
#include "replies.h"
#include "slotwise/scheduler/change.h"
#include "slotwise/scheduler/notices.h"
#include "slotwise/scheduler/terminal_requests.h"

namespace slotwise::scheduler {
namespace {

// A Status state after which the terminal sends no more progress.
bool IsFinalState(v1::Status::State s) {
  return s == v1::Status::SUCCEEDED || s == v1::Status::FAILED || s == v1::Status::STOOD_DOWN;
}

}  // namespace

v1::TerminalReply TerminalRequests::Status(std::string_view terminal_id, const v1::Status& status, Outbox& out) {
  if (status.state() == v1::Status::STATE_UNSPECIFIED || !v1::Status::State_IsValid(status.state())) {
    return RefuseTerminal(MakeError(v1::INVALID_ARGUMENT, "status has no valid state"));
  }
  if (status.progress_percent() > 100) {
    return RefuseTerminal(MakeError(v1::INVALID_ARGUMENT, "progress_percent must be 0-100"));
  }
  if (status.download_bytes() > kMaxDownloadBytes || status.download_ms() > kMaxDownloadMs) {
    return RefuseTerminal(MakeError(v1::INVALID_ARGUMENT, "download_bytes must be at most 1 TiB and download_ms at most 30 days"));
  }
  auto work = table_.FindWork(terminal_id, status.campaign_id());
  if (!work) return RefuseTerminal(work.error());
  auto [record, progress] = *work;
  // A final outcome never changes: a repeated (or late) status is
  // acknowledged again and changes nothing.
  if (HasOutcome(*progress)) return AckTerminal();
  if (IsFinalState(progress->state()) && !IsFinalState(status.state())) {
    return AckTerminal();  // a late progress message after the outcome: keep the outcome
  }
  const TimeMs now = clock_.NowMs();
  Change change(bookings_);
  change.Progress(*record, *progress);
  progress->set_version(status.version());
  progress->set_detail(status.detail());
  progress->set_updated_ms(now);
  switch (status.state()) {
    case v1::Status::SUCCEEDED:
      progress->set_state(v1::Status::SUCCEEDED);
      lifecycle_.End(change, *record, *progress, v1::TerminalProgress::SUCCEEDED, status.detail());
      break;
    case v1::Status::FAILED:
      // Retried while retries are left (the work comes back with a new
      // notice and a new slot at the next report), else FAILED; then the
      // failure threshold.
      lifecycle_.Fail(change, *record, *progress, false, status.detail());
      break;
    case v1::Status::STOOD_DOWN:
      // Only a paused campaign's terminal stands down for good (resume
      // gives the work back). One that stood down from a campaign that runs
      // again (a resume crossed its STAND_DOWN) gets its notice again; a
      // DRAFT has given it no work yet.
      if (record->campaign.state() == v1::PAUSED) {
        progress->set_state(v1::Status::STOOD_DOWN);
      } else if (record->campaign.state() == v1::SCHEDULED) {
        Outbox again;
        NoticeFor(grid_, *record, terminal_id, again);
        for (auto& n : again) change.Publish(std::move(n));
      }
      break;
    default:
      progress->set_state(status.state());  // DOWNLOADING, VERIFYING, INSTALLING
      break;
  }
  v1::TerminalInfo info = registry_.TerminalOrNew(terminal_id);
  if (status.state() == v1::Status::SUCCEEDED) info.set_current_version(status.version());
  info.set_last_seen_ms(now);
  WriteBatch b;
  auto undo_terminal = registry_.SetTerminal(std::move(info), b);
  change.Also(b, std::move(undo_terminal));
  // The rate its download saw, learned with the terminal (store.proto
  // TerminalComponents.learned_link_bps): at most twice the campaign's full
  // image can be one attempt's bytes (a delta, then the image after a fallback).
  const v1::Artifact* artifact = registry_.FindArtifact(record->campaign.component(), record->campaign.target_version());
  const std::uint64_t max_bytes = artifact != nullptr ? 2 * artifact->size() : 0;
  if (const std::uint64_t bps = MeasuredRate(status.download_bytes(), status.download_ms(), max_bytes); bps != 0) {
    const v1::TerminalComponents* known = registry_.ComponentsOf(terminal_id);
    v1::TerminalComponents link = known != nullptr ? *known : v1::TerminalComponents{};
    link.set_learned_link_bps(BlendLearnedRate(link.learned_link_bps(), bps));
    WriteBatch lb;
    if (auto undo = registry_.SetComponents(std::string(terminal_id), link, lb)) change.Also(lb, std::move(undo));
  }
  if (auto s = change.Commit(journal_, out); !s) return RefuseTerminal(s.error());
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
