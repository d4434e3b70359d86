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
// Bounds of a Status's download measurement (Status.download_bytes /
// download_ms, schemas/README.md "Capacity in bytes"): more is refused.
constexpr std::uint64_t kMaxDownloadBytes = 1ULL << 40;           // 1 TiB
constexpr std::uint64_t kMaxDownloadMs = 30ULL * 24 * 3600 * 1000;  // 30 days
// A measurement is learned from only when it moved at least this much for
// at least this long (a short one measures latency, not the link), and
// what it implies is clamped to [kMinLearnedBps, kMaxLinkBps].
constexpr std::uint64_t kMinLearnBytes = 64 * 1024;
constexpr std::uint64_t kMinLearnMs = 1000;
constexpr std::uint64_t kMinLearnedBps = 1000;
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

// The rate placement assumes for a terminal whose stored record is `link`
// (TerminalComponents 22-24; nullptr = nothing known): the rate it reported
// (Report.link_bps), else the rate learned from its statuses' downloads,
// else its link kind's assumption, else `default_bps`.
std::uint64_t LinkRateOf(const v1::TerminalComponents* link, std::uint64_t default_bps);

// The rate (bits/s) one Status's download measurement implies, or 0 when it
// says too little to learn from (under kMinLearnBytes or kMinLearnMs), or
// moved more than `max_bytes` (0 = no such bound). Clamped to
// [kMinLearnedBps, kMaxLinkBps].
std::uint64_t MeasuredRate(std::uint64_t bytes, std::uint64_t ms, std::uint64_t max_bytes);

// The learned rate after one more measurement: the mean of the previous
// learned rate and the new one (an EWMA with weight 1/2), or the new one
// when none was learned.
constexpr std::uint64_t BlendLearnedRate(std::uint64_t previous, std::uint64_t measured) {
  return previous == 0 ? measured : previous / 2 + measured / 2 + (previous % 2 + measured % 2) / 2;
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
  // `bytes` is what this terminal will fetch; by default BytesFor (the
  // delta's size for a terminal on its base, else the full image's). On nodes with a bandwidth or a
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

  // The rate placement assumes for the terminal (LinkRateOf over its
  // stored record, ServiceOptions.default_link_bps when nothing is known).
  std::uint64_t LinkRate(const std::string& terminal_id) const;
  // The demand of a booking for `record` by `progress`'s terminal: `bytes`,
  // by default what that terminal fetches (BytesFor: a delta's size when it
  // runs the delta's base).
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
  // When to look at a booking again (its slot's end + grace) and at a
  // terminal that went offline (last seen + grace). Not stored.
  std::multimap<TimeMs, std::pair<std::string, std::string>> booking_checks_;  // (campaign, terminal)
  std::multimap<TimeMs, std::string> offline_checks_;                          // terminal
};

}  // namespace slotwise::scheduler
