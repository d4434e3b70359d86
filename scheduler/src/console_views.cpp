#include "console_views.h"

#include <algorithm>
#include <unordered_map>

#include "replies.h"
#include "slotwise/scheduler/placement.h"

namespace slotwise::scheduler::views {

std::optional<std::string> CheckRange(std::int64_t& from, std::int64_t& to, std::int64_t default_from,
                                      std::size_t rows) {
  if (from < 0 || to < 0) return "from_slot and to_slot must not be negative";
  if (from == 0) from = default_from;
  if (to == 0) to = from + kDefaultCalendarSlots;
  if (to <= from) return "to_slot must be after from_slot";
  if (to - from > kMaxCalendarSlots) {
    return "at most " + std::to_string(kMaxCalendarSlots) + " slots per request (asked " + std::to_string(to - from) +
           ")";
  }
  if (static_cast<std::int64_t>(rows) * (to - from) > kMaxCalendarCells) {
    return "at most " + std::to_string(kMaxCalendarCells) + " node-slot cells per request (" +
           std::to_string(rows) + " nodes x " + std::to_string(to - from) + " slots): ask fewer slots or one cluster";
  }
  return std::nullopt;
}

std::vector<const v1::Node*> CalendarNodes(const Registry& registry, const std::string& cluster) {
  std::vector<const v1::Node*> out;
  const v1::OperatorReply list = registry.ListNodes();
  for (const auto& n : list.nodes().nodes()) {
    if (!cluster.empty() && n.cluster_id() != cluster) continue;
    if (const v1::Node* node = registry.FindNode(n.id())) out.push_back(node);
  }
  std::sort(out.begin(), out.end(), [](const v1::Node* a, const v1::Node* b) { return a->id() < b->id(); });
  return out;
}

void FillCalendar(const Registry& registry, const std::vector<const v1::Node*>& nodes, const SlotGrid& grid,
                  std::int64_t from, std::int64_t to, const CapacityLedger* ledger,
                  const std::map<std::string, std::map<Slot, std::uint32_t>, std::less<>>* booked,
                  v1::CapacityCalendar& out) {
  out.set_from_slot(from);
  out.set_to_slot(to);
  out.set_slot_ms(grid.slot_ms());
  out.set_from_ms(grid.Start(from));
  out.set_near_end_slot(registry.topology().near_end());
  // The live health fields (ListNodes fills them on copies).
  std::map<std::string, v1::Node, std::less<>> live;
  v1::OperatorReply listed = registry.ListNodes();
  for (auto& n : *listed.mutable_nodes()->mutable_nodes()) live.emplace(n.id(), std::move(n));
  for (const v1::Node* node : nodes) {
    const v1::Node& n = live.contains(node->id()) ? live.find(node->id())->second : *node;
    auto* row = out.add_nodes();
    row->set_node_id(n.id());
    row->set_cluster_id(n.cluster_id());
    row->set_state(n.state());
    row->set_health(n.health());
    row->set_health_detail(n.health_detail());
    row->set_per_slot(n.per_slot());
    const bool takes = n.state() == v1::ACTIVE && n.health() != v1::UNREACHABLE;
    row->set_capacity_per_slot(takes ? n.per_slot() : 0);
    row->set_near_capacity_per_slot(takes ? std::min(n.per_slot(), n.effective_per_slot()) : 0);
    row->set_bandwidth_bps(n.bandwidth_bps());
    row->set_max_connections(n.max_connections());
    const std::map<Slot, std::uint32_t>* slots = nullptr;
    if (booked != nullptr) {
      auto it = booked->find(n.id());
      if (it != booked->end()) slots = &it->second;
    } else if (ledger != nullptr) {
      slots = ledger->NodeSlots(n.id());
    }
    auto* b = row->mutable_booked();
    b->Resize(static_cast<int>(to - from), 0);
    if (slots != nullptr) {
      for (auto it = slots->lower_bound(from); it != slots->end() && it->first < to; ++it) {
        b->Set(static_cast<int>(it->first - from), it->second);
      }
    }
    if (ledger != nullptr && booked == nullptr) {
      if (n.bandwidth_bps() > 0) {
        for (Slot s = from; s < to; ++s) {
          row->add_peak_rate_bps(ledger->PeakRate(n.id(), s * kBucketsPerSlot, (s + 1) * kBucketsPerSlot));
        }
      }
      if (n.max_connections() > 0) {
        for (Slot s = from; s < to; ++s) {
          row->add_peak_connections(ledger->PeakConnections(n.id(), s * kBucketsPerSlot, (s + 1) * kBucketsPerSlot));
        }
      }
    }
  }
}

v1::OperatorReply Capacity(const Registry& registry, const CapacityLedger& ledger, const SlotGrid& grid,
                           TimeMs now, const v1::GetCapacity& req) {
  if (!req.cluster().empty() && !registry.HasCluster(req.cluster())) {
    return Refuse(v1::NOT_FOUND, "unknown cluster '" + req.cluster() + "'");
  }
  const auto nodes = CalendarNodes(registry, req.cluster());
  std::int64_t from = req.from_slot();
  std::int64_t to = req.to_slot();
  if (auto bad = CheckRange(from, to, grid.SlotAt(now), nodes.size())) return Refuse(v1::INVALID_ARGUMENT, *bad);
  v1::OperatorReply r;
  FillCalendar(registry, nodes, grid, from, to, &ledger, nullptr, *r.mutable_capacity());
  return r;
}

namespace {

// A download started: the terminal got GO for its booking, or said it is
// downloading or past it (a final status keeps its node and slot).
bool Started(const v1::TerminalProgress& p) {
  if (p.node_id().empty()) return false;
  if (p.checked_in()) return true;
  switch (p.state()) {
    case v1::Status::DOWNLOADING:
    case v1::Status::VERIFYING:
    case v1::Status::INSTALLING:
    case v1::Status::SUCCEEDED:
    case v1::Status::FAILED: return true;
    default: return false;
  }
}

}  // namespace

v1::OperatorReply Downloads(const CampaignTable& table, const SlotGrid& grid, const v1::GetCampaignDownloads& req) {
  const CampaignRecord* record = table.Find(req.campaign_id());
  if (record == nullptr) return Refuse(v1::NOT_FOUND, "unknown campaign '" + req.campaign_id() + "'");
  if (req.from_slot() < 0 || req.to_slot() < 0) {
    return Refuse(v1::INVALID_ARGUMENT, "from_slot and to_slot must not be negative");
  }
  // One pass: (node, slot) -> (started, failed). Few nodes, many terminals:
  // a short vector searched from the last hit, as the summary.
  struct Cells {
    std::string_view node;
    std::map<Slot, std::pair<std::uint32_t, std::uint32_t>> slots;
  };
  std::vector<Cells> cells;
  std::size_t last = 0;
  std::uint32_t started = 0;
  std::uint32_t failed = 0;
  Slot first = 0;
  Slot final_slot = 0;
  bool any = false;
  for (const auto& [tid, p] : record->progress) {
    if (!Started(p)) continue;
    const std::string_view node = p.node_id();
    if (last >= cells.size() || cells[last].node != node) {
      last = 0;
      while (last < cells.size() && cells[last].node != node) ++last;
      if (last == cells.size()) cells.push_back(Cells{node, {}});
    }
    auto& c = cells[last].slots[p.slot()];
    ++c.first;
    ++started;
    const bool f = p.state() == v1::Status::FAILED || p.outcome() == v1::TerminalProgress::FAILED;
    if (f) {
      ++c.second;
      ++failed;
    }
    first = any ? std::min(first, p.slot()) : p.slot();
    final_slot = any ? std::max(final_slot, p.slot()) : p.slot();
    any = true;
  }
  std::int64_t from = req.from_slot();
  std::int64_t to = req.to_slot();
  const Slot default_from = any ? first : record->campaign.window_start_slot();
  // to_slot 0: up to the last slot with a download (at most the limit).
  if (to == 0 && any) {
    const Slot start = from == 0 ? default_from : from;
    to = std::min(std::max(final_slot + 1, start + 1), start + kMaxCalendarSlots);
  }
  if (auto bad = CheckRange(from, to, default_from, cells.size())) return Refuse(v1::INVALID_ARGUMENT, *bad);
  std::sort(cells.begin(), cells.end(), [](const Cells& a, const Cells& b) { return a.node < b.node; });
  v1::OperatorReply r;
  auto* d = r.mutable_downloads();
  d->set_campaign_id(record->campaign.id());
  d->set_from_slot(from);
  d->set_to_slot(to);
  d->set_slot_ms(grid.slot_ms());
  d->set_from_ms(grid.Start(from));
  d->set_started(started);
  d->set_failed(failed);
  for (const auto& c : cells) {
    auto* row = d->add_nodes();
    row->set_node_id(std::string(c.node));
    row->mutable_started()->Resize(static_cast<int>(to - from), 0);
    row->mutable_failed()->Resize(static_cast<int>(to - from), 0);
    for (auto it = c.slots.lower_bound(from); it != c.slots.end() && it->first < to; ++it) {
      row->mutable_started()->Set(static_cast<int>(it->first - from), it->second.first);
      row->mutable_failed()->Set(static_cast<int>(it->first - from), it->second.second);
    }
  }
  return r;
}

}  // namespace slotwise::scheduler::views
