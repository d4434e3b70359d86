// S10: at slot time the terminal checks that it may go; GO carries the
// (signed) download URL and marks the booking checked in, so no-show
// housekeeping leaves it alone and the execution timeout starts.
#include "keys.h"
#include "replies.h"
#include "slotwise/scheduler/artifact_choice.h"
#include "slotwise/scheduler/change.h"
#include "slotwise/scheduler/terminal_requests.h"

namespace slotwise::scheduler {

v1::TerminalReply TerminalRequests::Check(std::string_view terminal_id, const v1::Check& check, Outbox& out) {
  auto work = table_.FindWork(terminal_id, check.campaign_id());
  if (!work) return RefuseTerminal(work.error());
  auto [record, progress] = *work;
  v1::TerminalReply r;
  auto* result = r.mutable_check_result();
  result->set_campaign_id(record->campaign.id());
  if (record->campaign.state() != v1::SCHEDULED) {
    result->set_verdict(v1::CheckResult::STAND_DOWN);
    result->set_reason("campaign is " + std::string(CampaignStateName(record->campaign.state())));
    return r;
  }
  // Check.current_version is the terminal's version of the campaign's component.
  const bool current = Lifecycle::AlreadyCurrent(record->campaign, check.current_version());
  if (HasOutcome(*progress) && !current) {
    result->set_verdict(v1::CheckResult::STAND_DOWN);
    result->set_reason("the terminal's work in the campaign is over (" +
                       v1::TerminalProgress::Outcome_Name(progress->outcome()) + ")");
    return r;
  }
  if (current) {
    Change change(bookings_);
    lifecycle_.End(change, *record, *progress, v1::TerminalProgress::ALREADY_CURRENT,
                   "the terminal runs " + check.current_version());
    if (auto s = change.Commit(journal_, out); !s) return RefuseTerminal(s.error());
    result->set_verdict(v1::CheckResult::ALREADY_CURRENT);
    result->set_reason("the terminal runs " + check.current_version() + ", target " +
                       record->campaign.target_version());
    return r;
  }
  const TimeMs now = clock_.NowMs();
  // Never a start before start_at_ms: the spread inside the slot holds.
  if (progress->assigned() && now < progress->start_at_ms() && now < grid_.End(progress->slot())) {
    result->set_verdict(v1::CheckResult::TOO_EARLY);
    *result->mutable_assignment() = bookings_.AssignmentOf(*record, *progress);
    return r;
  }
  if (!progress->assigned() || now >= grid_.End(progress->slot())) {
    // Missed or released: a new slot, never a late start in someone else's.
    Change change(bookings_);
    change.Progress(*record, *progress);
    // The version it checks in with decides the bytes booked (a delta's on its base).
    if (!check.current_version().empty()) progress->set_version(check.current_version());
    if (auto s = bookings_.Assign(*record, *progress); !s) return RefuseTerminal(s.error());
    if (progress->outcome() == v1::TerminalProgress::TIMED_OUT) {
      progress->set_outcome(v1::TerminalProgress::OUTCOME_PENDING);  // the retry is placed
    }
    if (auto s = change.Commit(journal_, out); !s) return RefuseTerminal(s.error());
    result->set_verdict(v1::CheckResult::RESCHEDULED);
    result->set_reason("the slot had passed");
    *result->mutable_assignment() = bookings_.AssignmentOf(*record, *progress);
    return r;
  }
  const v1::Node* node = registry_.FindNode(progress->node_id());
  const v1::Artifact* artifact = registry_.FindArtifact(record->campaign.component(), record->campaign.target_version());
  if (node == nullptr || artifact == nullptr) {
    return RefuseTerminal(MakeError(v1::INTERNAL, "booking names a node or version that is gone"));
  }
  if (!progress->checked_in()) {
    // Checked in: Tick() must not take this booking away as a no-show; the
    // execution timeout runs from here.
    Change change(bookings_);
    change.Progress(*record, *progress);
    progress->set_checked_in(true);
    progress->set_updated_ms(now);
    if (!check.current_version().empty()) progress->set_version(check.current_version());
    if (auto s = change.Commit(journal_, out); !s) return RefuseTerminal(s.error());
    lifecycle_.WatchExecution(record->campaign.id(), *progress);
  }
  result->set_verdict(v1::CheckResult::GO);
  auto* d = result->mutable_download();
  d->set_url(urls_.For(*node, *artifact, progress->slot(), terminal_id));
  d->set_version(artifact->version());
  d->set_sha256(artifact->sha256());
  d->set_size(artifact->size());
  d->set_signature(artifact->signature());
  d->set_allow_downgrade(record->campaign.allow_downgrade());
  d->set_component(record->campaign.component());
  d->set_not_before_ms(progress->start_at_ms());
  d->set_not_after_ms(grid_.End(progress->slot()));
  // A delta from the version the terminal checks in with; the full image's
  // url stays, for v1 agents and for the agent's fallback.
  if (const v1::ArtifactDelta* delta = DeltaFrom(*artifact, check.current_version())) {
    d->set_delta_url(urls_.ForPath(*node, delta->path(), progress->slot(), terminal_id));
    d->set_delta_sha256(delta->sha256());
    d->set_delta_size(delta->size());
    d->set_delta_base_version(delta->from_version());
    d->set_delta_base_sha256(delta->base_sha256());
    d->set_delta_base_size(delta->base_size());
  }
  return r;
}

}  // namespace slotwise::scheduler
