#include "slotwise/scheduler/windows.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace slotwise::scheduler {
namespace {

// Free starts in [start, end) over every node that takes bookings.
std::uint64_t FreeCapacity(const Topology& topology, const CapacityLedger& ledger, Slot start,
                           Slot end) {
  std::uint64_t free = 0;
  for (const auto& cluster : topology.clusters()) {
    for (const auto& node : cluster.nodes) {
      const auto total = static_cast<std::uint64_t>(node.per_slot) * static_cast<std::uint64_t>(end - start);
      const auto booked = ledger.BookedBetween(node.id, start, end);
      free += booked >= total ? 0 : total - booked;
    }
  }
  return free;
}

// Places every terminal in campaign order inside [start, end) on a copy of the
// ledger and measures the result. nullopt if someone could not be placed.
std::optional<WindowCandidate> Simulate(const Topology& topology, CapacityLedger ledger,
                                        const WindowRequest& request, std::string label,
                                        Slot start, Slot end) {
  WindowCandidate w{std::move(label), start, end, start, 0, 0};
  for (const auto& where : request.terminals) {
    auto p = PlaceTerminal(topology, ledger, where, start, end);
    if (!p) return std::nullopt;
    w.completion = std::max(w.completion, p->slot);
  }
  w.slots_used = static_cast<std::uint32_t>(w.completion - start + 1);
  for (const auto& cluster : topology.clusters()) {
    for (Slot s = start; s <= w.completion; ++s) {
      std::uint64_t booked = 0;
      for (const auto& node : cluster.nodes) booked += ledger.Booked(node.id, s);
      w.peak_utilisation = std::max(w.peak_utilisation, static_cast<double>(booked) / cluster.per_slot);
    }
  }
  return w;
}

}  // namespace

WindowPlan PlanWindows(const Topology& topology, const CapacityLedger& ledger,
                       const WindowRequest& request) {
  WindowPlan plan;
  plan.demand.assign(topology.clusters().size(), 0);
  const auto n = static_cast<std::uint64_t>(request.terminals.size());
  const std::uint64_t capacity = topology.CapacityPerSlot();
  if (capacity == 0 || n == 0) return plan;
  plan.lower_bound_slots = static_cast<std::uint32_t>((n + capacity - 1) / capacity);
  for (const auto& where : request.terminals) {
    if (where) ++plan.demand[*topology.NearestCluster(*where)];
  }

  const Slot start = request.earliest_start;
  const Slot last_end = start + request.horizon;

  // "earliest": free capacity in a window only grows with its length, and any
  // terminal may fall back to any cluster, so the shortest window that holds
  // N is found by binary search on its end.
  Slot lo = start + plan.lower_bound_slots;
  if (lo > last_end || FreeCapacity(topology, ledger, start, last_end) < n) return plan;
  Slot hi = lo;
  while (FreeCapacity(topology, ledger, start, hi) < n) hi = std::min(last_end, start + (hi - start) * 2);
  while (lo < hi) {
    const Slot mid = lo + (hi - lo) / 2;
    if (FreeCapacity(topology, ledger, start, mid) >= n) hi = mid; else lo = mid + 1;
  }
  const Slot length = hi - start;
  const auto slack = std::max<Slot>(1, static_cast<Slot>(std::ceil(request.slack * static_cast<double>(length))));
  if (auto w = Simulate(topology, ledger, request, "earliest", start, std::min(last_end, hi + slack))) {
    plan.candidates.push_back(std::move(*w));
  }

  // "nearest": with the whole horizon open, nobody needs to fall back; the
  // window is then cut right after the last placement.
  if (auto open = Simulate(topology, ledger, request, "nearest", start, last_end)) {
    open->end = std::min(last_end, open->completion + 1 + slack);
    const bool same = !plan.candidates.empty() && plan.candidates.front().end == open->end;
    if (!same) plan.candidates.push_back(std::move(*open));
  }
  return plan;
}

}  // namespace slotwise::scheduler
