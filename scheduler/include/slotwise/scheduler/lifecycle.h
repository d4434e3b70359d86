// Lifecycle: how a terminal's work in a campaign ends, and the transitions
// that time drives. Owns the rules of schemas/README.md "Outcomes":
//   End()      a final outcome (SUCCEEDED, FAILED, ALREADY_CURRENT, EXPIRED,
//              SUPERSEDED, CANCELLED, REMOVED): booking released, the
//              component's notice cleared; final outcomes never change;
//   Fail()     a failed attempt (Status FAILED, or no final status within
//              the download allowance after GO: TIMED_OUT): retried while
//              retries are left, else FAILED; then the failure threshold;
//   Pause()    PAUSED, bookings not started on released;
//   Tick()     deadlines (unfinished terminals EXPIRED, campaign DONE) and
//              execution timeouts, on the injected clock.
// A campaign whose terminals all have final outcomes becomes DONE in
// Change::Commit, whichever of these led there.
//
// Durability: End/Fail/Pause change memory through a Change (change.h),
// which the caller commits; Tick() commits its own Changes.
//
// Arrows: Lifecycle -> Bookings, CampaignTable, Journal, notices.
// Threading: not thread-safe; the scheduler thread only.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "slotwise/clock.h"
#include "slotwise/scheduler/bookings.h"
#include "slotwise/scheduler/campaign_table.h"
#include "slotwise/scheduler/change.h"
#include "slotwise/scheduler/journal.h"
#include "slotwise/scheduler/service_options.h"
#include "slotwise/slots.h"

namespace slotwise::scheduler {

class Lifecycle {
 public:
  Lifecycle(CampaignTable& table, Bookings& bookings, Journal& journal, const SlotGrid& grid, const Clock& clock,
            const ServiceOptions& options)
      : table_(table), bookings_(bookings), journal_(journal), grid_(grid), clock_(clock), options_(options) {}

  // Gives `p` the final `outcome` (no-op if it has one already).
  void End(Change& change, CampaignRecord& record, v1::TerminalProgress& p, Outcome outcome,
           const std::string& detail);
  // A failed attempt; `timed_out` when no final status came in time.
  void Fail(Change& change, CampaignRecord& record, v1::TerminalProgress& p, bool timed_out,
            const std::string& detail);
  void Pause(Change& change, CampaignRecord& record, const std::string& reason);

  // True when a terminal running `version` of the campaign's component needs
  // nothing: the target itself, or newer (unless the campaign allows a
  // downgrade). An empty version is never current.
  static bool AlreadyCurrent(const v1::Campaign& campaign, std::string_view version);
  // The terminal says it runs `version` of the campaign's component (S7,
  // S10): when that is current its work ends, ALREADY_CURRENT, or
  // SUCCEEDED if it had GO (it installed and restarted before its status).
  // Returns true when the work ended.
  bool NoteVersion(Change& change, CampaignRecord& record, v1::TerminalProgress& p, std::string_view version);

  // Deadlines and execution timeouts that are due. Returns how many
  // terminals it changed.
  std::size_t Tick(Outbox& out);
  // After GO: look at the terminal again when its allowance is over.
  void WatchExecution(const std::string& campaign_id, const v1::TerminalProgress& p);
  // Rebuilds the execution watch list from the loaded records.
  void Rebuild();

  // When a checked-in terminal without a final status times out.
  TimeMs ExecutionDeadline(const v1::TerminalProgress& p) const {
    return grid_.End(p.slot()) + options_.download_allowance_ms;
  }

 private:
  std::size_t ExpireDue(Outbox& out);
  std::size_t TimeOutDue(Outbox& out);

  CampaignTable& table_;
  Bookings& bookings_;
  Journal& journal_;
  const SlotGrid& grid_;
  const Clock& clock_;
  const ServiceOptions& options_;
  std::multimap<TimeMs, std::pair<std::string, std::string>> executions_;  // (campaign, terminal); not stored
};

}  // namespace slotwise::scheduler
