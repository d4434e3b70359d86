// S7: a terminal reports (location, time zone, version); S8: inside a
// campaign it is answered with its booking, placed now if it has none or
// its slot has passed. An inventory report (no campaign) is answered with an
// Ack that lists the notices the terminal should hold.
#include "keys.h"
#include "replies.h"
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

}  // namespace

v1::TerminalReply TerminalRequests::Report(std::string_view terminal_id, const v1::Report& report) {
  if (report.has_location() && !IsValidLocation(report.location())) {
    return RefuseTerminal(MakeError(v1::INVALID_ARGUMENT, "location out of range"));
  }
  if (report.has_utc_offset_minutes() &&
      (report.utc_offset_minutes() < -14 * 60 || report.utc_offset_minutes() > 14 * 60)) {
    return RefuseTerminal(MakeError(v1::INVALID_ARGUMENT, "utc_offset_minutes must be within +-14 h"));
  }
  v1::TerminalInfo info = registry_.TerminalOrNew(terminal_id);
  if (report.has_location()) *info.mutable_location() = report.location();
  if (report.has_utc_offset_minutes()) info.set_utc_offset_minutes(report.utc_offset_minutes());
  info.set_current_version(report.current_version());
  info.set_system_id(report.system_id());
  info.set_online(true);
  info.set_last_seen_ms(clock_.NowMs());

  WriteBatch b;
  if (report.campaign_id().empty()) {
    auto undo = registry_.SetTerminal(std::move(info), b);
    if (auto s = journal_.Write(b, std::move(undo)); !s) return RefuseTerminal(s.error());
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
  auto undo_terminal = registry_.SetTerminal(std::move(info), b);
  const bool still_valid = progress->assigned() && grid_.End(progress->slot()) > clock_.NowMs();
  const v1::TerminalProgress before = *progress;
  if (!still_valid) {
    if (auto s = bookings_.Assign(*record, *progress); !s) {
      undo_terminal();
      return RefuseTerminal(s.error());
    }
    b.Put(keys::Progress(record->campaign.id(), terminal_id), progress->SerializeAsString());
  }
  auto undo = [this, progress, before, still_valid, undo_terminal] {
    if (!still_valid) bookings_.Undo(*progress, before);
    undo_terminal();
  };
  if (auto s = journal_.Write(b, std::move(undo)); !s) return RefuseTerminal(s.error());
  v1::TerminalReply r;
  *r.mutable_assignment() = bookings_.AssignmentOf(*record, *progress);  // S8
  return r;
}

}  // namespace slotwise::scheduler
