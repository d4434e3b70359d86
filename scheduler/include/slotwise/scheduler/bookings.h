// Bookings: who downloads from which node in which slot. Owns the
// CapacityLedger and the only rules that change a booking:
//   Assign()  books a (node, slot) for a terminal inside its campaign's
//             window (S8), giving back the terminal's old booking first;
//   Release() clears a booking: the ledger gets its start back and the
//             progress record loses node, slot, start time and check-in;
//   Undo()    puts a progress record and the ledger back as they were
//             before, after a write that did not become durable.
// and the housekeeping built on them: no-shows and offline terminals
// (ReleaseDue, for Tick) and a node that stopped answering (MoveOff).
//
// Durability: the booking itself lives in the progress record
// (CampaignTable); the ledger and the work lists are rebuilt from those
// records by Rebuild() on start. Assign/Release/Undo change memory only;
// their callers write the records through the Journal with Undo() as the
// undo. ReleaseDue and MoveOff write their own batches.
//
// Arrows: Bookings -> Registry (nodes, terminals, topology), CampaignTable,
// Journal. Nothing here knows of requests or replies.
// Threading: not thread-safe; the scheduler thread only.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "slotwise/clock.h"
#include "slotwise/result.h"
#include "slotwise/scheduler/campaign_table.h"
#include "slotwise/scheduler/journal.h"
#include "slotwise/scheduler/ledger.h"
#include "slotwise/scheduler/registry.h"
#include "slotwise/scheduler/service_options.h"
#include "slotwise/slots.h"

namespace slotwise::scheduler {

class Bookings {
 public:
  Bookings(Registry& registry, CampaignTable& campaigns, Journal& journal, const SlotGrid& grid,
           const Clock& clock, const ServiceOptions& options)
      : registry_(registry), campaigns_(campaigns), journal_(journal), grid_(grid), clock_(clock),
        options_(options) {}

  // Rebuilds the ledger and the work lists from the loaded records.
  void Rebuild();

  // Books a (node, slot) for the terminal inside the campaign's window, not
  // before `not_before`, and fills `progress`. Releases its old booking
  // first; when nothing has room, leaves `progress` and the ledger as they
  // were and returns NO_CAPACITY. Memory only: the caller writes.
  Status Assign(CampaignRecord& record, v1::TerminalProgress& progress, Slot not_before = 0);
  // The one way to clear a booking (no-op if there is none).
  void Release(v1::TerminalProgress& progress);
  // Puts `progress` back to `before`, the ledger included.
  void Undo(v1::TerminalProgress& progress, const v1::TerminalProgress& before);

  // Releases the bookings whose terminal has not checked in and either whose
  // slot (plus the no-show grace) is over or that has been offline for the
  // offline grace. Writes them; returns how many (0 when the write failed:
  // a later call tries again).
  std::size_t ReleaseDue();
  // Re-places the bookings on `node_id` not started on yet, keeping each
  // terminal's time where another node has room; returns how many moved.
  std::size_t MoveOff(const std::string& node_id);

  // Tick()'s work lists, so a call costs what is due, not a walk over every
  // booking. Entries are checked against the current state when due; stale
  // ones are dropped.
  void WatchBooking(const std::string& campaign_id, const v1::TerminalProgress& progress);
  void WatchOffline(const v1::TerminalInfo& info);

  // What a terminal is told of its booking (S8).
  v1::Assignment AssignmentOf(const CampaignRecord& record, const v1::TerminalProgress& progress) const;

  const CapacityLedger& ledger() const { return ledger_; }

 private:
  // The booking's index inside its slot, from its start time, so a release
  // gives that index back to the ledger (exact when it was spread over the
  // node's per_slot, i.e. no fill cap and no live load lowered it).
  std::optional<std::uint32_t> SpreadIndex(const v1::TerminalProgress& progress) const;

  Registry& registry_;
  CampaignTable& campaigns_;
  Journal& journal_;
  const SlotGrid& grid_;
  const Clock& clock_;
  const ServiceOptions& options_;

  CapacityLedger ledger_;
  // When to look at a booking again (its slot's end + grace) and at a
  // terminal that went offline (last seen + grace). Not stored.
  std::multimap<TimeMs, std::pair<std::string, std::string>> booking_checks_;  // (campaign, terminal)
  std::multimap<TimeMs, std::string> offline_checks_;                          // terminal
};

}  // namespace slotwise::scheduler
