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
#include <tuple>
#include <unordered_map>
#include <utility>

#include "slotwise/clock.h"
#include "slotwise/result.h"
#include "slotwise/scheduler/campaign_table.h"
#include "slotwise/scheduler/journal.h"
#include "slotwise/scheduler/ledger.h"
#include "slotwise/scheduler/placement.h"
#include "slotwise/scheduler/registry.h"
#include "slotwise/scheduler/service_options.h"
#include "slotwise/slots.h"

namespace slotwise::scheduler {

// Largest link rate a terminal may report or a status may imply (10 Gbit/s).
constexpr std::uint64_t kMaxLinkBps = 10'000'000'000ULL;
// The rate assumed for a link kind (terminal.proto LinkKind); 0 = unknown.
constexpr std::uint64_t AssumedLinkRate(v1::LinkKind kind) {
  switch (kind) {
    case v1::GPRS: return 40'000;
    case v1::EDGE: return 200'000;
    case v1::UMTS: return 1'000'000;
    case v1::LTE: return 5'000'000;
    case v1::WIFI: return 10'000'000;
    case v1::ETHERNET: return 20'000'000;
    default: return 0;
  }
}

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
  // `bytes` is what this terminal will fetch (e.g. a delta's size); by
  // default the campaign's artifact size. On nodes with a bandwidth or a
  // connection limit the booking also reserves its expected rate and a
  // connection for its expected download time (placement.h).
  Status Assign(CampaignRecord& record, v1::TerminalProgress& progress, Slot not_before = 0,
                std::optional<std::uint64_t> bytes = std::nullopt);
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

  // Terminals' link rates (bits/s): what they reported (Report.link_bps) or
  // what the scheduler timed (Status.bytes / duration_ms); memory only, a
  // restart learns again from the next report. 0 leaves it as it is.
  void NoteLinkRate(const std::string& terminal_id, std::uint64_t bps);
  // The rate placement assumes for the terminal (ServiceOptions.default_link_bps
  // when nothing is known).
  std::uint64_t LinkRate(const std::string& terminal_id) const;
  // The demand of a booking for `record` by the terminal of `progress`:
  // `bytes`, else what it fetches (the delta from its installed version, or
  // the full image).
  ByteDemand DemandOf(const CampaignRecord& record, const v1::TerminalProgress& progress,
                      std::optional<std::uint64_t> bytes = std::nullopt) const;

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

  // Gives back the booking's reservation (if it had one).
  void Unreserve(const v1::TerminalProgress& progress);
  void Rereserve(const CampaignRecord* record, const v1::TerminalProgress& progress);

  CapacityLedger ledger_;
  // Each booking's reservation, by (terminal, node, slot, start), so a
  // release gives back exactly what was reserved (a terminal may hold
  // bookings of several components in one slot of one node).
  std::multimap<std::tuple<std::string, std::string, Slot, TimeMs>, Reservation> reservations_;
  std::unordered_map<std::string, std::uint64_t> link_bps_;
  // When to look at a booking again (its slot's end + grace) and at a
  // terminal that went offline (last seen + grace). Not stored.
  std::multimap<TimeMs, std::pair<std::string, std::string>> booking_checks_;  // (campaign, terminal)
  std::multimap<TimeMs, std::string> offline_checks_;                          // terminal
};

}  // namespace slotwise::scheduler
