// Bookings: placement of a terminal (S8), release, undo, and the
// housekeeping that releases no-shows, offline terminals' bookings and the
// bookings of a node that stopped answering.
#include "slotwise/scheduler/bookings.h"

#include <algorithm>
#include <set>
#include <vector>

#include "keys.h"
#include "slotwise/scheduler/artifact_choice.h"
#include "slotwise/scheduler/placement.h"
#include "slotwise/scheduler/windows.h"

namespace slotwise::scheduler {

void Bookings::Rebuild() {
  ledger_ = CapacityLedger();
  reservations_.clear();
  booking_checks_.clear();
  offline_checks_.clear();
  for (const auto& [cid, record] : campaigns_.all()) {
    for (const auto& [tid, p] : record.progress) {
      if (!p.assigned()) continue;
      ledger_.Restore(p.node_id(), p.slot(), SpreadIndex(p));
      Rereserve(&record, p);
    }
  }
  for (const auto& [cid, record] : campaigns_.all()) {
    for (const auto& [tid, p] : record.progress) WatchBooking(cid, p);
  }
  for (const auto& [tid, info] : registry_.terminals()) WatchOffline(info);
}

std::optional<std::uint32_t> Bookings::SpreadIndex(const v1::TerminalProgress& progress) const {
  const v1::Node* node = registry_.FindNode(progress.node_id());
  if (node == nullptr || node->per_slot() == 0) return std::nullopt;
  return grid_.SpreadIndexAt(progress.start_at_ms() - grid_.Start(progress.slot()), node->per_slot());
}

std::uint64_t LinkRateOf(const v1::TerminalComponents* link, std::uint64_t default_bps) {
  if (link == nullptr) return default_bps;
  if (link->link_bps() != 0) return link->link_bps();
  if (link->learned_link_bps() != 0) return link->learned_link_bps();
  const std::uint64_t assumed = AssumedLinkRate(link->link_kind());
  return assumed != 0 ? assumed : default_bps;
}

std::uint64_t MeasuredRate(std::uint64_t bytes, std::uint64_t ms, std::uint64_t max_bytes) {
  if (bytes < kMinLearnBytes || ms < kMinLearnMs || (max_bytes != 0 && bytes > max_bytes)) return 0;
  const long double bps = static_cast<long double>(bytes) * 8000.0L / static_cast<long double>(ms);
  if (bps >= static_cast<long double>(kMaxLinkBps)) return kMaxLinkBps;
  return std::max<std::uint64_t>(kMinLearnedBps, static_cast<std::uint64_t>(bps));
}

std::uint64_t Bookings::LinkRate(const std::string& terminal_id) const {
  return LinkRateOf(registry_.ComponentsOf(terminal_id), options_.default_link_bps);
}

ByteDemand Bookings::DemandOf(const CampaignRecord& record, const v1::TerminalProgress& progress,
                              std::optional<std::uint64_t> bytes) const {
  ByteDemand d;
  // What this terminal fetches: the delta from the version it runs when the
  // artifact has one, else the full image (artifact_choice.h).
  d.bytes = bytes ? *bytes : BytesFor(registry_, record.campaign, progress);
  d.link_bps = LinkRate(progress.terminal_id());
  d.slot_ms = grid_.slot_ms();
  d.bucket_ms = std::max<std::int64_t>(1, grid_.slot_ms() / kBucketsPerSlot);
  d.guard_ms = options_.download_guard_ms;
  d.guard_permille = options_.download_guard_permille;
  return d;
}

void Bookings::Unreserve(const v1::TerminalProgress& progress) {
  auto it = reservations_.find({progress.terminal_id(), progress.node_id(), progress.slot(), progress.start_at_ms()});
  if (it == reservations_.end()) return;
  ledger_.Unreserve(progress.node_id(), it->second);
  reservations_.erase(it);
}

// A booking that exists again (rebuild, undo): its reservation is computed
// afresh from what is known now, without a check (as Restore()).
void Bookings::Rereserve(const CampaignRecord* record, const v1::TerminalProgress& progress) {
  if (record == nullptr) return;
  for (const auto& cluster : registry_.topology().clusters()) {
    for (const auto& node : cluster.nodes) {
      if (node.id != progress.node_id()) continue;
      if (auto r = ReservationFor(node, DemandOf(*record, progress), progress.start_at_ms())) {
        ledger_.Reserve(node.id, *r);
        reservations_.emplace(std::tuple{progress.terminal_id(), progress.node_id(), progress.slot(), progress.start_at_ms()}, *r);
      }
      return;
    }
  }
}

void Bookings::Release(v1::TerminalProgress& progress) {
  if (!progress.assigned()) return;
  ledger_.Release(progress.node_id(), progress.slot(), SpreadIndex(progress));
  Unreserve(progress);
  progress.set_assigned(false);
  progress.clear_node_id();
  progress.clear_slot();
  progress.clear_start_at_ms();
  progress.set_checked_in(false);
  progress.set_updated_ms(clock_.NowMs());
}

void Bookings::Undo(v1::TerminalProgress& progress, const v1::TerminalProgress& before) {
  if (progress.assigned()) {
    ledger_.Release(progress.node_id(), progress.slot(), SpreadIndex(progress));
    Unreserve(progress);
  }
  if (before.assigned()) {
    ledger_.Restore(before.node_id(), before.slot(), SpreadIndex(before));
    // The campaign whose record this progress is (one lookup per campaign).
    const CampaignRecord* owner = nullptr;
    for (const auto& [cid, record] : campaigns_.all()) {
      auto it = record.progress.find(before.terminal_id());
      if (it != record.progress.end() && &it->second == &progress) owner = &record;
    }
    Rereserve(owner, before);
  }
  progress = before;
}

Status Bookings::Assign(CampaignRecord& record, v1::TerminalProgress& progress, Slot not_before,
                        std::optional<std::uint64_t> bytes) {
  std::optional<LatLon> where;
  const v1::TerminalInfo* info = registry_.FindTerminal(progress.terminal_id());
  if (info != nullptr && info->has_location()) where = LatLon{info->location().lat(), info->location().lon()};
  const Slot first = std::max({record.campaign.window_start_slot(), grid_.SlotAt(clock_.NowMs()), not_before});
  // Rolling window: the chosen window first, then any later slot up to the
  // deadline (the slots that end by it) or, without one, up to the horizon
  // from the first slot it may take (so a campaign without a deadline never
  // runs out of slots).
  const Slot limit =
      record.campaign.deadline_ms() != 0
          ? grid_.SlotAt(record.campaign.deadline_ms())
          : std::max(record.campaign.window_end_slot(), first) +
                std::max<Slot>(1, options_.rolling_horizon_ms / grid_.slot_ms());
  const Slot end = std::min(record.campaign.window_end_slot(), limit);
  const v1::TerminalProgress old = progress;
  Release(progress);
  const double cap = record.campaign.max_utilisation();
  SlotFilter allowed;
  if (HasAllowedHours(record.campaign.allowed_from_minute(), record.campaign.allowed_to_minute(),
                      record.campaign.allowed_weekdays())) {
    const int offset = info != nullptr ? info->utc_offset_minutes() : 0;
    allowed = [this, offset, &record](Slot s) {
      return SlotInHours(grid_, s, offset, record.campaign.allowed_from_minute(),
                         record.campaign.allowed_to_minute(), record.campaign.allowed_weekdays());
    };
  }
  const Topology& full = registry_.topology();
  const Topology capped = cap > 0 && cap < 1 ? full.Capped(cap) : Topology{};
  const Topology& topology = cap > 0 && cap < 1 ? capped : full;
  // Count-only topologies (v1 operators) skip the byte demand altogether.
  const ByteDemand demand = topology.AnyByteLimited() ? DemandOf(record, progress, bytes) : ByteDemand{};
  const ByteDemand* bytes_demand = topology.AnyByteLimited() ? &demand : nullptr;
  // The slot that is running may still take it, at a start not before now.
  const EarliestStart earliest{clock_.NowMs(), grid_.slot_ms()};
  auto place = [&](Slot until) {
    return PlaceTerminal(topology, ledger_, where, first, until, options_.max_fallback_km, allowed, bytes_demand,
                         earliest);
  };
  // The core of the window first; its slack only when the core is full.
  const Slot core_end = record.campaign.core_end_slot();
  auto placement = core_end > first && core_end < end ? place(core_end) : std::nullopt;
  if (!placement && first < end) placement = place(end);
  if (!placement) {
    const Slot after = std::max(first, end);
    if (after < limit) {
      placement =
          PlaceTerminal(topology, ledger_, where, after, limit, options_.max_fallback_km, allowed, bytes_demand,
                        earliest);
    }
  }
  if (!placement) {
    Undo(progress, old);  // a refusal changes nothing
    return MakeError(v1::NO_CAPACITY, "no node has room for campaign " + record.campaign.id() + " before " +
                                          (record.campaign.deadline_ms() != 0 ? "its deadline" : "its horizon") +
                                          " (slot " + std::to_string(limit) + ")");
  }
  progress.set_assigned(true);
  progress.set_node_id(placement->node_id);
  progress.set_slot(placement->slot);
  progress.set_start_at_ms(grid_.SpreadStart(placement->slot, placement->index, placement->per_slot));
  if (placement->reservation) {
    reservations_.emplace(std::tuple{progress.terminal_id(), placement->node_id, placement->slot, progress.start_at_ms()},
                          *placement->reservation);
  }
  progress.set_checked_in(false);
  progress.set_updated_ms(clock_.NowMs());
  WatchBooking(record.campaign.id(), progress);
  if (info != nullptr) WatchOffline(*info);  // placed while offline
  return OkStatus();
}

v1::Assignment Bookings::AssignmentOf(const CampaignRecord& record, const v1::TerminalProgress& progress) const {
  v1::Assignment a;
  a.set_campaign_id(record.campaign.id());
  a.set_target_version(record.campaign.target_version());
  a.set_node_id(progress.node_id());
  if (const v1::Node* node = registry_.FindNode(progress.node_id())) a.set_cluster_id(node->cluster_id());
  a.set_slot(progress.slot());
  a.set_slot_start_ms(grid_.Start(progress.slot()));
  a.set_slot_end_ms(grid_.End(progress.slot()));
  a.set_start_at_ms(progress.start_at_ms());
  a.set_component(record.campaign.component());
  return a;
}

void Bookings::WatchBooking(const std::string& campaign_id, const v1::TerminalProgress& progress) {
  if (!progress.assigned() || progress.checked_in()) return;
  booking_checks_.emplace(grid_.End(progress.slot()) + options_.no_show_grace_ms,
                          std::pair{campaign_id, progress.terminal_id()});
}

void Bookings::WatchOffline(const v1::TerminalInfo& info) {
  if (!info.online()) offline_checks_.emplace(info.last_seen_ms() + options_.offline_grace_ms, info.id());
}

std::size_t Bookings::ReleaseDue() {
  const TimeMs now = clock_.NowMs();
  // A booking is released when its terminal has not checked in and either
  // its slot (plus grace) is over or the terminal has been offline for the
  // grace. The work lists say which bookings and terminals to look at now.
  const auto due_bookings = booking_checks_.upper_bound(now);
  const auto due_offline = offline_checks_.upper_bound(now);

  std::set<v1::TerminalProgress*> releasing;
  std::vector<std::pair<const std::string*, v1::TerminalProgress*>> released;  // (campaign id, progress)
  auto consider = [&](CampaignRecord& record, const std::string& tid, bool offline) {
    if (record.campaign.state() != v1::SCHEDULED) return;
    auto it = record.progress.find(tid);
    if (it == record.progress.end()) return;
    v1::TerminalProgress& p = it->second;
    if (!p.assigned() || p.checked_in() || p.state() != v1::Status::STATE_UNSPECIFIED) return;
    if (!offline && now < grid_.End(p.slot()) + options_.no_show_grace_ms) return;
    if (releasing.insert(&p).second) released.emplace_back(&record.campaign.id(), &p);
  };
  for (auto it = booking_checks_.begin(); it != due_bookings; ++it) {
    if (CampaignRecord* record = campaigns_.Find(it->second.first)) consider(*record, it->second.second, false);
  }
  std::multimap<TimeMs, std::string> later;  // offline, but seen since: look again
  for (auto it = offline_checks_.begin(); it != due_offline; ++it) {
    const v1::TerminalInfo* info = registry_.FindTerminal(it->second);
    if (info == nullptr || info->online()) continue;
    const TimeMs due = info->last_seen_ms() + options_.offline_grace_ms;
    if (now < due) {
      later.emplace(due, it->second);
      continue;
    }
    for (auto& [cid, record] : campaigns_.all()) consider(record, it->second, true);
  }

  // The entries looked at leave the work lists; a failed write puts them back.
  std::multimap<TimeMs, std::pair<std::string, std::string>> done_bookings(booking_checks_.begin(), due_bookings);
  std::multimap<TimeMs, std::string> done_offline(offline_checks_.begin(), due_offline);
  booking_checks_.erase(booking_checks_.begin(), due_bookings);
  offline_checks_.erase(offline_checks_.begin(), due_offline);
  offline_checks_.merge(later);
  if (released.empty()) return 0;

  WriteBatch b;
  std::vector<std::pair<v1::TerminalProgress*, v1::TerminalProgress>> befores;
  befores.reserve(released.size());
  for (const auto& [cid, p] : released) {
    befores.emplace_back(p, *p);
    Release(*p);
    b.Put(keys::Progress(*cid, p->terminal_id()), p->SerializeAsString());
  }
  auto undo = [this, befores = std::move(befores), done_bookings = std::move(done_bookings),
               done_offline = std::move(done_offline)]() mutable {
    for (auto it = befores.rbegin(); it != befores.rend(); ++it) Undo(*it->first, it->second);
    booking_checks_.merge(done_bookings);  // a later Tick looks again
    offline_checks_.merge(done_offline);
  };
  if (!journal_.Write(b, std::move(undo))) return 0;
  return released.size();
}

std::size_t Bookings::MoveOff(const std::string& node_id) {
  const TimeMs now = clock_.NowMs();
  WriteBatch b;
  std::vector<std::pair<v1::TerminalProgress*, v1::TerminalProgress>> moved;  // (live, before)
  for (auto& [cid, record] : campaigns_.all()) {
    if (record.campaign.state() != v1::SCHEDULED) continue;
    for (auto& [tid, p] : record.progress) {
      if (!p.assigned() || p.node_id() != node_id || p.checked_in() || grid_.End(p.slot()) <= now) continue;
      moved.emplace_back(&p, p);
      // Keep the terminal's time where another node has room then; with no
      // room it gets a new slot at its check.
      if (!Assign(record, p, p.slot())) Release(p);
      b.Put(keys::Progress(cid, tid), p.SerializeAsString());
    }
  }
  if (moved.empty()) return 0;
  auto undo = [this, moved] {
    for (auto it = moved.rbegin(); it != moved.rend(); ++it) Undo(*it->first, it->second);
  };
  if (!journal_.Write(b, std::move(undo))) return 0;
  return moved.size();
}

}  // namespace slotwise::scheduler
