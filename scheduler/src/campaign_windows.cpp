// S3-S4: the windows an operator may choose for a campaign. The real
// placement runs on a copy of the ledger (windows.cpp); nothing is booked.
#include <algorithm>

#include "console_views.h"
#include "replies.h"
#include "slotwise/scheduler/artifact_choice.h"
#include "slotwise/scheduler/campaigns.h"
#include "slotwise/scheduler/windows.h"

namespace slotwise::scheduler {

v1::OperatorReply Campaigns::QueryWindows(const v1::QueryWindows& req) const {
  const CampaignRecord* record = table_.Find(req.campaign_id());
  if (record == nullptr) return Refuse(v1::NOT_FOUND, "unknown campaign '" + req.campaign_id() + "'");
  const Topology& topology = registry_.topology();
  if (topology.CapacityPerSlot() == 0) {
    return Refuse(v1::FAILED_PRECONDITION, "no active node: register nodes first");
  }
  const TimeMs now = clock_.NowMs();
  const TimeMs not_before = std::max(now, req.not_before_ms());
  WindowRequest wr;
  wr.earliest_start = std::max(grid_.SlotAt(not_before), grid_.SlotAt(now) + options_.lead_slots);
  wr.max_fallback_km = options_.max_fallback_km;
  wr.allowed_from_minute = record->campaign.allowed_from_minute();
  wr.allowed_to_minute = record->campaign.allowed_to_minute();
  wr.allowed_weekdays = record->campaign.allowed_weekdays();
  wr.slot_ms = grid_.slot_ms();
  if (const v1::Artifact* a = registry_.FindArtifact(record->campaign.component(), record->campaign.target_version())) {
    wr.artifact_bytes = a->size();
  }
  wr.default_link_bps = options_.default_link_bps;
  wr.guard_ms = options_.download_guard_ms;
  wr.guard_permille = options_.download_guard_permille;
  const bool bytes = topology.AnyByteLimited();
  if (req.deadline_ms() != 0) {
    if (req.deadline_ms() <= now) return Refuse(v1::INVALID_ARGUMENT, "the deadline is in the past");
    const Slot last_end = grid_.SlotAt(req.deadline_ms());  // slots that end by the deadline
    if (last_end <= wr.earliest_start) {
      return Refuse(v1::NO_CAPACITY, "no whole slot between the earliest start and the deadline");
    }
    wr.horizon = last_end - wr.earliest_start;
    wr.spread_to_horizon = true;
  }
  // Every member: for a filter campaign also the known terminals it took in.
  ForEachMember(*record, [&](const v1::TerminalProgress& p) {
    const v1::TerminalInfo* info = registry_.FindTerminal(p.terminal_id());
    if (info != nullptr && info->has_location()) {
      wr.terminals.push_back(LatLon{info->location().lat(), info->location().lon()});
    } else {
      wr.terminals.push_back(std::nullopt);
    }
    wr.utc_offset_minutes.push_back(info != nullptr ? info->utc_offset_minutes() : 0);
    if (bytes) {
      wr.link_bps.push_back(bookings_.LinkRate(p.terminal_id()));
      wr.bytes.push_back(BytesFor(registry_, record->campaign, p));  // a delta's size on its base
    }
  });
  const auto members = static_cast<std::uint32_t>(wr.terminals.size());
  if (members == 0 && record->campaign.has_filter()) {
    // A filter campaign no known terminal matches yet: the windows of one
    // terminal (anywhere), so there is a window to schedule it in.
    wr.terminals.push_back(std::nullopt);
    wr.utc_offset_minutes.push_back(0);
    if (bytes) {
      wr.link_bps.push_back(0);  // 0 = default_link_bps
      wr.bytes.push_back(wr.artifact_bytes);
    }
  }
  const WindowPlan plan = PlanWindows(topology, bookings_.ledger(), wr);
  v1::OperatorReply r;
  auto* list = r.mutable_windows();
  list->set_terminals(members);
  list->set_capacity_per_slot(topology.CapacityPerSlot());
  list->set_lower_bound_slots(plan.lower_bound_slots);
  list->set_slot_ms(grid_.slot_ms());
  for (std::size_t i = 0; i < plan.demand.size(); ++i) {
    auto* d = list->add_demand();
    d->set_cluster_id(topology.clusters()[i].id);
    d->set_terminals(plan.demand[i]);
    d->set_capacity_per_slot(topology.clusters()[i].per_slot);
  }
  for (const auto& c : plan.candidates) {
    auto* w = list->add_windows();
    w->set_label(c.label);
    w->set_start_slot(c.start);
    w->set_end_slot(c.end);
    w->set_start_ms(grid_.Start(c.start));
    w->set_end_ms(grid_.Start(c.end));
    w->set_expected_completion_ms(grid_.End(c.completion));
    w->set_slots_used(c.slots_used);
    w->set_peak_utilisation(c.peak_utilisation);
    w->set_max_utilisation(c.max_utilisation);
    w->set_core_end_slot(c.core_end);
    for (std::size_t i = 0; i < c.cluster_peaks.size(); ++i) {
      auto* peak = w->add_cluster_peaks();
      peak->set_cluster_id(topology.clusters()[i].id);
      peak->set_peak_utilisation(c.cluster_peaks[i]);
    }
  }
  if (plan.candidates.empty()) {
    return Refuse(v1::NO_CAPACITY, "no window within the planning horizon has room for the campaign");
  }
  return r;
}

// Issue 13 (console): what scheduling a DRAFT campaign in a window would
// book, node x slot. The rule of Bookings::Assign (the core first, then the
// rest of the window; the fill cap; allowed hours; byte demand) for every
// member in campaign order, on a copy of the ledger; nothing is booked.
v1::OperatorReply Campaigns::WindowLoad(const v1::QueryWindowLoad& req) const {
  const CampaignRecord* record = table_.Find(req.campaign_id());
  if (record == nullptr) return Refuse(v1::NOT_FOUND, "unknown campaign '" + req.campaign_id() + "'");
  if (record->campaign.state() != v1::DRAFT) {
    return Refuse(v1::FAILED_PRECONDITION, "campaign '" + req.campaign_id() + "' is " +
                                               v1::CampaignState_Name(record->campaign.state()) +
                                               ", not DRAFT: its bookings are in the capacity calendar");
  }
  if (req.end_slot() <= req.start_slot() || req.start_slot() < 0) {
    return Refuse(v1::INVALID_ARGUMENT, "the window needs 0 <= start_slot < end_slot");
  }
  if (req.end_slot() - req.start_slot() > 100000) {
    return Refuse(v1::INVALID_ARGUMENT, "a window of at most 100000 slots");
  }
  if (!(req.max_utilisation() >= 0 && req.max_utilisation() <= 1)) {
    return Refuse(v1::INVALID_ARGUMENT, "max_utilisation must be in [0, 1]");
  }
  if (req.core_end_slot() != 0 && (req.core_end_slot() <= req.start_slot() || req.core_end_slot() > req.end_slot())) {
    return Refuse(v1::INVALID_ARGUMENT, "core_end_slot must be 0 or in (start_slot, end_slot]");
  }
  if (!req.cluster().empty() && !registry_.HasCluster(req.cluster())) {
    return Refuse(v1::NOT_FOUND, "unknown cluster '" + req.cluster() + "'");
  }
  const auto nodes = views::CalendarNodes(registry_, req.cluster());
  std::int64_t from = req.from_slot() != 0 ? req.from_slot() : req.start_slot();
  std::int64_t to = req.to_slot() != 0 ? req.to_slot()
                                       : std::min(req.end_slot(), from + views::kMaxCalendarSlots);
  if (auto bad = views::CheckRange(from, to, req.start_slot(), nodes.size())) {
    return Refuse(v1::INVALID_ARGUMENT, *bad);
  }
  CapacityLedger ledger = bookings_.ledger();
  const double cap = req.max_utilisation();
  const Topology& full = registry_.topology();
  const Topology capped = cap > 0 && cap < 1 ? full.Capped(cap) : Topology{};
  const Topology& topology = cap > 0 && cap < 1 ? capped : full;
  const bool bytes = topology.AnyByteLimited();
  const Slot first = std::max(req.start_slot(), grid_.SlotAt(clock_.NowMs()) + 1);
  const Slot end = req.end_slot();
  const Slot core_end = req.core_end_slot();
  const bool hours = HasAllowedHours(record->campaign.allowed_from_minute(), record->campaign.allowed_to_minute(),
                                     record->campaign.allowed_weekdays());
  std::map<std::string, std::map<Slot, std::uint32_t>, std::less<>> added;
  std::uint32_t placed = 0;
  std::uint32_t unplaced = 0;
  std::uint32_t outside = 0;
  ForEachMember(*record, [&](const v1::TerminalProgress& p) {
    if (IsFinalOutcome(p.outcome())) return;
    std::optional<LatLon> where;
    const v1::TerminalInfo* info = registry_.FindTerminal(p.terminal_id());
    if (info != nullptr && info->has_location()) where = LatLon{info->location().lat(), info->location().lon()};
    SlotFilter allowed;
    if (hours) {
      const int offset = info != nullptr ? info->utc_offset_minutes() : 0;
      allowed = [this, offset, record](Slot s) {
        return SlotInHours(grid_, s, offset, record->campaign.allowed_from_minute(),
                           record->campaign.allowed_to_minute(), record->campaign.allowed_weekdays());
      };
    }
    const ByteDemand demand = bytes ? bookings_.DemandOf(*record, p) : ByteDemand{};
    auto place = [&](Slot until) {
      return PlaceTerminal(topology, ledger, where, first, until, options_.max_fallback_km, allowed,
                           bytes ? &demand : nullptr);
    };
    auto placement = core_end > first && core_end < end ? place(core_end) : std::nullopt;
    if (!placement && first < end) placement = place(end);
    if (!placement) {
      ++unplaced;
      return;
    }
    ++placed;
    if (placement->slot < from || placement->slot >= to) ++outside;
    ++added[placement->node_id][placement->slot];
  });
  v1::OperatorReply r;
  auto* cal = r.mutable_window_load();
  views::FillCalendar(registry_, nodes, grid_, from, to, nullptr, &added, *cal);
  cal->set_placed(placed);
  cal->set_unplaced(unplaced);
  cal->set_placed_outside(outside);
  return r;
}

}  // namespace slotwise::scheduler
