// S10: at slot time the terminal checks that it may go; GO carries the
// (signed) download URL and marks the booking checked in, so no-show
// housekeeping leaves it alone.
#include "keys.h"
#include "replies.h"
#include "slotwise/scheduler/terminal_requests.h"
#include "slotwise/version.h"

namespace slotwise::scheduler {

v1::TerminalReply TerminalRequests::Check(std::string_view terminal_id, const v1::Check& check) {
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
  if (CompareVersions(check.current_version(), record->campaign.target_version()) == 0) {
    result->set_verdict(v1::CheckResult::ALREADY_CURRENT);
    return r;
  }
  const TimeMs now = clock_.NowMs();
  if (progress->assigned() && now < grid_.Start(progress->slot())) {
    result->set_verdict(v1::CheckResult::TOO_EARLY);
    *result->mutable_assignment() = bookings_.AssignmentOf(*record, *progress);
    return r;
  }
  if (!progress->assigned() || now >= grid_.End(progress->slot())) {
    // Missed or released: a new slot, never a late start in someone else's.
    const v1::TerminalProgress before = *progress;
    if (auto s = bookings_.Assign(*record, *progress); !s) return RefuseTerminal(s.error());
    WriteBatch b;
    b.Put(keys::Progress(record->campaign.id(), terminal_id), progress->SerializeAsString());
    auto undo = [this, progress, before] { bookings_.Undo(*progress, before); };
    if (auto s = journal_.Write(b, std::move(undo)); !s) return RefuseTerminal(s.error());
    result->set_verdict(v1::CheckResult::RESCHEDULED);
    result->set_reason("the slot had passed");
    *result->mutable_assignment() = bookings_.AssignmentOf(*record, *progress);
    return r;
  }
  const v1::Node* node = registry_.FindNode(progress->node_id());
  const v1::Artifact* artifact = registry_.FindArtifact(record->campaign.target_version());
  if (node == nullptr || artifact == nullptr) {
    return RefuseTerminal(MakeError(v1::INTERNAL, "booking names a node or version that is gone"));
  }
  if (!progress->checked_in()) {
    // Checked in: Tick() must not take this booking away as a no-show.
    const v1::TerminalProgress before = *progress;
    progress->set_checked_in(true);
    progress->set_updated_ms(now);
    WriteBatch b;
    b.Put(keys::Progress(record->campaign.id(), terminal_id), progress->SerializeAsString());
    if (auto s = journal_.Write(b, [progress, before] { *progress = before; }); !s) return RefuseTerminal(s.error());
  }
  result->set_verdict(v1::CheckResult::GO);
  auto* d = result->mutable_download();
  d->set_url(urls_.For(*node, *artifact, progress->slot(), terminal_id));
  d->set_version(artifact->version());
  d->set_sha256(artifact->sha256());
  d->set_size(artifact->size());
  d->set_signature(artifact->signature());
  d->set_allow_downgrade(record->campaign.allow_downgrade());
  d->set_not_before_ms(grid_.Start(progress->slot()));
  d->set_not_after_ms(grid_.End(progress->slot()));
  return r;
}

}  // namespace slotwise::scheduler
