// S7: a terminal reports (location, time zone, versions); S8: inside a
// campaign it is answered with its booking, placed now if it has none or
// its slot has passed. A terminal already at the target needs no booking:
// its work ends ALREADY_CURRENT (Lifecycle::NoteVersion). An inventory
// report (no campaign) is answered with an Ack that lists the notices the
// terminal should hold, one per component. Every accepted report is also
// matched against the open filter campaigns (Campaigns::TakeIn): one it
// matches takes it in, so its notice is in that Ack.
#include "keys.h"
#include "replies.h"
#include "slotwise/scheduler/change.h"
#include "slotwise/scheduler/notices.h"
#include "slotwise/scheduler/terminal_requests.h"
#include "validation.h"

namespace slotwise::scheduler {
namespace {

// Every notice the terminal should hold now (schemas/README.md "Inventory on
// connect"): the notices of the SCHEDULED campaigns where it has unfinished
// work, exactly as notices.cpp publishes them retained.
void AddPendingNotices(const SlotGrid& grid, const CampaignTable& table, std::string_view terminal_id,
                       v1::TerminalReply& reply) {
  Outbox notices;
  for (const auto& [id, record] : table.all()) {
    if (record.campaign.state() != v1::SCHEDULED) continue;
    const auto progress = record.progress.find(terminal_id);
    if (progress != record.progress.end() && Unfinished(progress->second)) {
      NoticeFor(grid, record, terminal_id, notices);
    }
  }
  for (const Publication& p : notices) {
    if (!reply.add_notices()->ParseFromString(p.payload)) reply.mutable_notices()->RemoveLast();
  }
}

constexpr int kMaxComponents = 32;

// The version of `component` ("" = the system image) the report names;
// empty when it names none.
std::string VersionOf(const v1::Report& report, std::string_view component) {
  if (component.empty()) return report.current_version();
  for (const auto& c : report.components()) {
    if (topics::CanonicalComponent(c.component()) == component) return c.version();
  }
  return {};
}

}  // namespace

v1::TerminalReply TerminalRequests::Report(std::string_view terminal_id, const v1::Report& report, Outbox& out) {
  if (report.has_location() && !IsValidLocation(report.location())) {
    return RefuseTerminal(MakeError(v1::INVALID_ARGUMENT, "location out of range"));
  }
  if (report.has_utc_offset_minutes() &&
      (report.utc_offset_minutes() < -14 * 60 || report.utc_offset_minutes() > 14 * 60)) {
    return RefuseTerminal(MakeError(v1::INVALID_ARGUMENT, "utc_offset_minutes must be within +-14 h"));
  }
  if (report.components_size() > kMaxComponents) {
    return RefuseTerminal(MakeError(v1::INVALID_ARGUMENT, "a report names at most 32 components"));
  }
  for (const auto& c : report.components()) {
    if (!topics::IsValidComponentName(c.component()) && !topics::IsSystemComponent(c.component())) {
      return RefuseTerminal(MakeError(v1::INVALID_ARGUMENT, "invalid component name '" + c.component() + "'"));
    }
  }
  if (report.link_bps() > kMaxLinkBps) {
    return RefuseTerminal(MakeError(v1::INVALID_ARGUMENT, "link_bps must be at most 10 Gbit/s"));
  }
  v1::TerminalInfo info = registry_.TerminalOrNew(terminal_id);
  if (report.has_location()) *info.mutable_location() = report.location();
  if (report.has_utc_offset_minutes()) info.set_utc_offset_minutes(report.utc_offset_minutes());
  info.set_current_version(report.current_version());
  info.set_system_id(report.system_id());
  info.set_online(true);
  info.set_last_seen_ms(clock_.NowMs());

  v1::TerminalComponents components;
  *components.mutable_components() = report.components();
  // Its link as this report says it; the rate learned from its statuses stays.
  components.set_link_bps(report.link_bps());
  components.set_link_kind(v1::LinkKind_IsValid(report.link_kind()) ? report.link_kind() : v1::LINK_KIND_UNSPECIFIED);
  if (const v1::TerminalComponents* known = registry_.ComponentsOf(terminal_id)) {
    components.set_learned_link_bps(known->learned_link_bps());
  }
  Change change(bookings_);
  WriteBatch b;
  // The terminal's records (what the filters judge it by).
  auto record_terminal = [&] {
    change.Also(b, registry_.SetTerminal(std::move(info), b));
    WriteBatch cb;
    if (auto undo = registry_.SetComponents(std::string(terminal_id), components, cb)) change.Also(cb, std::move(undo));
  };
  // The filter campaigns it now matches take it in (its notice goes out
  // with this change); after the versions are noted, so work this report
  // ended elsewhere no longer keeps it out.
  auto take_in = [&] { campaigns_.TakeIn(change, *registry_.FindTerminal(terminal_id)); };
  if (report.campaign_id().empty()) {
    record_terminal();
    // An inventory report: wherever it shows the target, that work is done.
    for (auto& [cid, record] : table_.all()) {
      auto p = record.progress.find(terminal_id);
      if (p != record.progress.end()) {
        lifecycle_.NoteVersion(change, record, p->second, VersionOf(report, record.campaign.component()));
      }
    }
    take_in();
    if (auto s = change.Commit(journal_, out); !s) return RefuseTerminal(s.error());
    // After the change: work that just ended ALREADY_CURRENT has no notice.
    v1::TerminalReply ack = AckTerminal();
    AddPendingNotices(grid_, table_, terminal_id, ack);
    return ack;
  }

  auto work = table_.FindWork(terminal_id, report.campaign_id());
  if (!work) return RefuseTerminal(work.error());
  auto [record, progress] = *work;
  if (record->campaign.state() != v1::SCHEDULED) {
    return RefuseTerminal(MakeError(v1::FAILED_PRECONDITION,
                                    "campaign " + record->campaign.id() + " is " +
                                        std::string(CampaignStateName(record->campaign.state()))));
  }
  // The location this report brings decides the placement.
  record_terminal();
  const std::string version = VersionOf(report, record->campaign.component());
  if (lifecycle_.NoteVersion(change, *record, *progress, version)) {
    take_in();
    // No booking: the reply says why, and the terminal's notice is cleared.
    if (auto s = change.Commit(journal_, out); !s) return RefuseTerminal(s.error());
    return RefuseTerminal(MakeError(v1::FAILED_PRECONDITION,
                                    "nothing to do: the terminal runs " + version + " (target " +
                                        record->campaign.target_version() + "); outcome " +
                                        v1::TerminalProgress::Outcome_Name(progress->outcome())));
  }
  if (HasOutcome(*progress)) {
    change.Abandon();  // a refusal changes nothing
    return RefuseTerminal(MakeError(v1::FAILED_PRECONDITION,
                                    "the terminal's work in campaign " + record->campaign.id() + " is over (" +
                                        v1::TerminalProgress::Outcome_Name(progress->outcome()) + ")"));
  }
  // The version it runs decides which file it fetches (artifact_choice.h).
  if (!version.empty() && version != progress->version()) {
    change.Progress(*record, *progress);
    progress->set_version(version);
  }
  const bool still_valid = progress->assigned() && grid_.End(progress->slot()) > clock_.NowMs();
  if (!still_valid) {
    change.Progress(*record, *progress);
    if (auto s = bookings_.Assign(*record, *progress); !s) {
      change.Abandon();  // a refusal changes nothing
      return RefuseTerminal(s.error());
    }
    if (progress->outcome() == v1::TerminalProgress::TIMED_OUT) {
      progress->set_outcome(v1::TerminalProgress::OUTCOME_PENDING);  // the retry is placed
    }
  }
  take_in();
  if (auto s = change.Commit(journal_, out); !s) return RefuseTerminal(s.error());
  v1::TerminalReply r;
  *r.mutable_assignment() = bookings_.AssignmentOf(*record, *progress);  // S8
  return r;
}

}  // namespace slotwise::scheduler
