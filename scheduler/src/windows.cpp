#include "slotwise/scheduler/windows.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "slotwise/geo.h"

namespace slotwise::scheduler {
namespace {

// Free starts in [start, end) over every node that takes bookings.
std::uint64_t FreeCapacity(const Topology& topology, const CapacityLedger& ledger, Slot start,
                           Slot end) {
  std::uint64_t free = 0;
  const Slot near = std::clamp(topology.near_end(), start, std::max(start, end));
  for (const auto& cluster : topology.clusters()) {
    for (const auto& node : cluster.nodes) {
      const auto total = static_cast<std::uint64_t>(node.near_per_slot) * static_cast<std::uint64_t>(near - start) +
                         static_cast<std::uint64_t>(node.per_slot) * static_cast<std::uint64_t>(std::max(near, end) - near);
      const auto booked = ledger.BookedBetween(node.id, start, end);
      free += booked >= total ? 0 : total - booked;
    }
  }
  return free;
}

// A point on the unit sphere: ordering clusters by the dot product with a
// terminal's point is ordering them by great-circle distance, without trig
// per (terminal, cluster) pair.
struct UnitVector {
  double x = 0, y = 0, z = 0;
};

UnitVector ToUnit(LatLon p) {
  constexpr double kRad = 3.14159265358979323846 / 180.0;
  const double lat = p.lat * kRad, lon = p.lon * kRad;
  return {std::cos(lat) * std::cos(lon), std::cos(lat) * std::sin(lon), std::sin(lat)};
}

double Dot(const UnitVector& a, const UnitVector& b) { return a.x * b.x + a.y * b.y + a.z * b.z; }

// One cluster's progress through the window while terminals are placed in
// order. Placement fills a cluster's slots in time order (the earliest slot
// with room always wins), so every slot before `slot` is full and every slot
// after it still holds only the ledger's bookings: the whole state is the
// current slot's per-node counts. This is what makes a window query over a
// million terminals cheap while giving exactly what PlaceTerminal() would.
struct ClusterCursor {
  const Topology* topology = nullptr;
  const ClusterCapacity* cluster = nullptr;
  Slot slot = 0;
  bool exhausted = false;
  std::vector<std::uint32_t> booked;  // per node, in `slot`
  std::uint64_t free = 0;             // starts left in `slot`
  std::uint64_t total = 0;            // starts booked in `slot`
  std::vector<std::uint64_t> visited;  // booked totals of slots start..slot-1

  void Load(const CapacityLedger& ledger) {
    free = 0;
    total = 0;
    for (std::size_t i = 0; i < cluster->nodes.size(); ++i) {
      booked[i] = ledger.Booked(cluster->nodes[i].id, slot);
      total += booked[i];
      const auto capacity = Capacity(i);
      if (booked[i] < capacity) free += capacity - booked[i];
    }
  }

  std::uint32_t Capacity(std::size_t node) const { return topology->Capacity(cluster->nodes[node], slot); }

  // Moves to the earliest slot with room (or past `end`).
  void Settle(const CapacityLedger& ledger, Slot end) {
    while (!exhausted && free == 0) {
      visited.push_back(total);
      if (++slot >= end) {
        exhausted = true;
        return;
      }
      Load(ledger);
    }
  }

  // The node PlaceTerminal() would pick in `slot`: lowest booked/per_slot, then id.
  std::optional<std::size_t> BestNode() const {
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < booked.size(); ++i) {
      const auto per_slot = Capacity(i);
      if (booked[i] >= per_slot) continue;
      if (!best) {
        best = i;
        continue;
      }
      const auto lhs = static_cast<std::uint64_t>(booked[i]) * Capacity(*best);
      const auto rhs = static_cast<std::uint64_t>(booked[*best]) * per_slot;
      if (lhs < rhs || (lhs == rhs && cluster->nodes[i].id < cluster->nodes[*best].id)) best = i;
    }
    return best;
  }

  void Take(std::size_t node) {
    ++booked[node];
    ++total;
    --free;
  }
};

// Places every terminal in campaign order inside [start, end) with the rule
// of PlaceTerminal() and measures the result; the ledger is not touched.
// nullopt if someone could not be placed.
std::optional<WindowCandidate> Simulate(const Topology& topology, const CapacityLedger& ledger,
                                        const std::vector<std::optional<UnitVector>>& terminals,
                                        double max_fallback_km, std::string label, Slot start, Slot end) {
  // Dot product of two unit vectors this far apart on the sphere.
  const double min_dot = max_fallback_km > 0 ? std::cos(max_fallback_km / geo::kEarthRadiusKm) : -2.0;
  WindowCandidate w;
  w.label = std::move(label);
  w.start = start;
  w.end = end;
  w.completion = start;
  if (start >= end) return std::nullopt;
  const auto& clusters = topology.clusters();
  std::vector<ClusterCursor> cursors(clusters.size());
  std::vector<UnitVector> where(clusters.size());
  std::vector<std::size_t> open;  // clusters not exhausted, in topology order
  for (std::size_t c = 0; c < clusters.size(); ++c) {
    auto& cur = cursors[c];
    cur.topology = &topology;
    cur.cluster = &clusters[c];
    cur.slot = start;
    cur.booked.assign(clusters[c].nodes.size(), 0);
    cur.Load(ledger);
    cur.Settle(ledger, end);
    where[c] = ToUnit(clusters[c].location);
    if (!cur.exhausted) open.push_back(c);
  }
  auto close = [&](std::size_t c) { open.erase(std::find(open.begin(), open.end(), c)); };

  for (const auto& t : terminals) {
    if (open.empty()) return std::nullopt;
    std::size_t chosen_cluster = 0;
    std::size_t chosen_node = 0;
    if (t) {
      // The nearest cluster with room anywhere in the window (ties: topology
      // order), if it is the nearest of all or within the fallback distance.
      std::size_t best = open.front();
      double best_dot = Dot(*t, where[best]);
      for (std::size_t i = 1; i < open.size(); ++i) {
        const double d = Dot(*t, where[open[i]]);
        if (d > best_dot) {
          best_dot = d;
          best = open[i];
        }
      }
      if (max_fallback_km > 0 && best_dot < min_dot) {
        std::size_t nearest = 0;
        for (std::size_t c = 1; c < where.size(); ++c) {
          if (Dot(*t, where[c]) > Dot(*t, where[nearest])) nearest = c;
        }
        if (nearest != best) return std::nullopt;
      }
      chosen_cluster = best;
      chosen_node = *cursors[best].BestNode();
    } else {
      // Any cluster: the earliest slot, in it the least loaded node overall.
      Slot earliest = cursors[open.front()].slot;
      for (std::size_t c : open) earliest = std::min(earliest, cursors[c].slot);
      bool found = false;
      for (std::size_t c : open) {
        if (cursors[c].slot != earliest) continue;
        const auto n = *cursors[c].BestNode();
        if (found) {
          const auto& a = cursors[c];
          const auto& b = cursors[chosen_cluster];
          const auto lhs = static_cast<std::uint64_t>(a.booked[n]) * b.Capacity(chosen_node);
          const auto rhs = static_cast<std::uint64_t>(b.booked[chosen_node]) * a.Capacity(n);
          if (!(lhs < rhs || (lhs == rhs && a.cluster->nodes[n].id < b.cluster->nodes[chosen_node].id))) {
            continue;
          }
        }
        found = true;
        chosen_cluster = c;
        chosen_node = n;
      }
    }
    auto& cur = cursors[chosen_cluster];
    w.completion = std::max(w.completion, cur.slot);
    cur.Take(chosen_node);
    cur.Settle(ledger, end);
    if (cur.exhausted) close(chosen_cluster);
  }

  w.slots_used = static_cast<std::uint32_t>(w.completion - start + 1);
  w.cluster_peaks.assign(cursors.size(), 0.0);
  for (std::size_t c = 0; c < cursors.size(); ++c) {
    const auto& cur = cursors[c];
    const double capacity = cur.cluster->per_slot;
    for (Slot s = start; s <= w.completion; ++s) {
      std::uint64_t booked = 0;
      const auto visited = static_cast<std::size_t>(s - start);
      if (visited < cur.visited.size()) {
        booked = cur.visited[visited];
      } else if (s == cur.slot && !cur.exhausted) {
        booked = cur.total;
      } else {
        for (const auto& node : cur.cluster->nodes) booked += ledger.Booked(node.id, s);
      }
      w.cluster_peaks[c] = std::max(w.cluster_peaks[c], static_cast<double>(booked) / capacity);
    }
    w.peak_utilisation = std::max(w.peak_utilisation, w.cluster_peaks[c]);
  }
  return w;
}

// With allowed hours or byte demands: PlaceTerminal() per terminal on a copy
// of the ledger. Slots in which every node of a cluster is full by count stay
// full, so each cluster remembers the first slot that is not, and a terminal
// is placed from the earliest of those (the same answer as from `start`,
// without walking the full slots again).
std::optional<WindowCandidate> SimulateExact(const Topology& topology, CapacityLedger ledger,
                                             const WindowRequest& request, bool hours, bool bytes,
                                             std::string label, Slot start, Slot end) {
  WindowCandidate w;
  w.label = std::move(label);
  w.start = start;
  w.end = end;
  w.completion = start;
  const SlotGrid grid(request.slot_ms);
  const auto& clusters = topology.clusters();
  std::map<std::string, std::size_t, std::less<>> cluster_index;
  for (std::size_t c = 0; c < clusters.size(); ++c) cluster_index.emplace(clusters[c].id, c);
  std::vector<Slot> open_from(clusters.size(), start);
  auto full = [&](std::size_t c, Slot s) {
    for (const auto& node : clusters[c].nodes) {
      if (ledger.Booked(node.id, s) < topology.Capacity(node, s)) return false;
    }
    return true;
  };
  ByteDemand demand;
  demand.slot_ms = request.slot_ms;
  demand.bucket_ms = std::max<std::int64_t>(1, request.slot_ms / kBucketsPerSlot);
  demand.guard_ms = request.guard_ms;
  demand.guard_permille = request.guard_permille;
  for (std::size_t i = 0; i < request.terminals.size(); ++i) {
    const int offset = i < request.utc_offset_minutes.size() ? request.utc_offset_minutes[i] : 0;
    SlotFilter allowed;
    if (hours) {
      allowed = [&](Slot s) {
        return SlotInHours(grid, s, offset, request.allowed_from_minute, request.allowed_to_minute,
                           request.allowed_weekdays);
      };
    }
    if (bytes) {
      demand.bytes = i < request.bytes.size() ? request.bytes[i] : request.artifact_bytes;
      const std::uint64_t link = i < request.link_bps.size() ? request.link_bps[i] : 0;
      demand.link_bps = link != 0 ? link : request.default_link_bps;
    }
    const Slot from = open_from.empty() ? start : *std::min_element(open_from.begin(), open_from.end());
    auto p = PlaceTerminal(topology, ledger, request.terminals[i], from, end, request.max_fallback_km, allowed,
                           bytes ? &demand : nullptr);
    if (!p) return std::nullopt;
    w.completion = std::max(w.completion, p->slot);
    if (p->reservation) {  // with bytes: the slot in which the download is expected to end
      w.completion = std::max(w.completion, grid.SlotAt(p->reservation->end * demand.bucket_ms - 1));
    }
    if (auto c = cluster_index.find(p->cluster_id); c != cluster_index.end()) {
      Slot& f = open_from[c->second];
      while (f < end && full(c->second, f)) ++f;
    }
  }
  w.slots_used = static_cast<std::uint32_t>(w.completion - start + 1);
  w.cluster_peaks.assign(topology.clusters().size(), 0.0);
  for (std::size_t c = 0; c < topology.clusters().size(); ++c) {
    const auto& cluster = topology.clusters()[c];
    for (Slot s = start; s <= w.completion; ++s) {
      std::uint64_t booked = 0;
      for (const auto& node : cluster.nodes) booked += ledger.Booked(node.id, s);
      w.cluster_peaks[c] = std::max(w.cluster_peaks[c], static_cast<double>(booked) / cluster.per_slot);
    }
    w.peak_utilisation = std::max(w.peak_utilisation, w.cluster_peaks[c]);
  }
  return w;
}

}  // namespace

WindowPlan PlanWindows(const Topology& topology, const CapacityLedger& ledger,
                       const WindowRequest& request) {
  const bool hours =
      HasAllowedHours(request.allowed_from_minute, request.allowed_to_minute, request.allowed_weekdays) &&
      request.slot_ms > 0;
  const bool bytes = topology.AnyByteLimited() && request.slot_ms > 0 &&
                     (request.artifact_bytes > 0 || !request.bytes.empty());
  const bool exact = hours || bytes;
  auto simulate = [&](const Topology& t, const std::vector<std::optional<UnitVector>>& terminals,
                      const char* label, Slot start, Slot end) {
    return exact ? SimulateExact(t, ledger, request, hours, bytes, label, start, end)
                 : Simulate(t, ledger, terminals, request.max_fallback_km, label, start, end);
  };
  WindowPlan plan;
  plan.demand.assign(topology.clusters().size(), 0);
  const auto n = static_cast<std::uint64_t>(request.terminals.size());
  const std::uint64_t capacity = topology.CapacityPerSlot();
  if (capacity == 0 || n == 0) return plan;
  plan.lower_bound_slots = static_cast<std::uint32_t>((n + capacity - 1) / capacity);
  if (bytes && topology.AllHaveBandwidth() && topology.BandwidthBps() > 0) {
    // The fleet cannot move the bits faster than the nodes' total bandwidth.
    long double bits = 0;
    for (std::size_t i = 0; i < request.terminals.size(); ++i) {
      bits += 8.0L * static_cast<long double>(i < request.bytes.size() ? request.bytes[i] : request.artifact_bytes);
    }
    const long double slots = bits * 1000.0L / static_cast<long double>(topology.BandwidthBps()) /
                              static_cast<long double>(request.slot_ms);
    plan.lower_bound_slots = std::max(plan.lower_bound_slots, static_cast<std::uint32_t>(std::ceil(slots - 1e-9L)));
  }
  std::vector<std::optional<UnitVector>> terminals;
  terminals.reserve(request.terminals.size());
  std::vector<UnitVector> where(topology.clusters().size());
  for (std::size_t c = 0; c < where.size(); ++c) where[c] = ToUnit(topology.clusters()[c].location);
  for (const auto& t : request.terminals) {
    if (!t) {
      terminals.emplace_back();
      continue;
    }
    terminals.emplace_back(ToUnit(*t));
    std::size_t nearest = 0;
    for (std::size_t c = 1; c < where.size(); ++c) {
      if (Dot(*terminals.back(), where[c]) > Dot(*terminals.back(), where[nearest])) nearest = c;
    }
    ++plan.demand[nearest];
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
  // Everyone is placed inside the core [start, core_end); the slack after it
  // only takes terminals that report late or lose their slot, so it does not
  // lure near terminals away from an earlier slot farther off. With a
  // fallback distance limit (or allowed hours), free capacity somewhere is
  // not enough: the core grows until everyone fits.
  const Slot first_core = std::min(last_end, std::max<Slot>(hi, start + plan.lower_bound_slots));
  for (Slot core_end = first_core;; core_end = std::min(last_end, start + (core_end - start) * 2)) {
    if (auto w = simulate(topology, terminals, "earliest", start, core_end)) {
      // Grown past the first guess: the core ends after the last placement.
      w->core_end = core_end == first_core || !bytes ? core_end : std::max(first_core, w->completion + 1);
      // With bytes the completion (the last expected download end) may lie
      // past the grown core: the window holds its core (ScheduleCampaign
      // refuses a core_end after end_slot).
      w->end = std::min(last_end, std::max(core_end, w->core_end) + slack);
      w->core_end = std::min(w->core_end, w->end);
      plan.candidates.push_back(std::move(*w));
      break;
    }
    if (core_end >= last_end || (request.max_fallback_km <= 0 && !exact)) break;
  }

  // "lowest-peak": the smallest per-node fill cap under which everyone
  // still fits in the spread window. Greedy placement places everyone iff
  // the free capacity holds them (any cluster may be a fallback), so the cap
  // is found on free capacity alone and checked by one simulation.
  if (!plan.candidates.empty()) {
    const auto& earliest = plan.candidates.front();
    const Slot spread_end = request.spread_to_horizon
                                ? last_end
                                : std::min(last_end, start + 2 * (earliest.end - start));
    double lo_u = 0, hi_u = 1;
    for (int i = 0; i < 20; ++i) {
      const double mid = (lo_u + hi_u) / 2;
      if (FreeCapacity(topology.Capped(mid), ledger, start, spread_end) >= n) hi_u = mid; else lo_u = mid;
    }
    for (int attempt = 0; attempt < (bytes ? 2 : 8) && hi_u < 1; ++attempt, hi_u = std::min(1.0, hi_u * 1.05)) {
      if (auto w = simulate(topology.Capped(hi_u), terminals, "lowest-peak", start, spread_end)) {
        if (w->peak_utilisation + 1e-9 < earliest.peak_utilisation) {
          w->max_utilisation = hi_u;
          plan.candidates.push_back(std::move(*w));
        }
        break;
      }
    }
  }

  // "nearest": with the whole horizon open, nobody needs to fall back; the
  // window is then cut right after the last placement.
  if (auto open = simulate(topology, terminals, "nearest", start, last_end)) {
    open->core_end = open->completion + 1;
    open->end = std::min(last_end, open->core_end + slack);
    open->core_end = std::min(open->core_end, open->end);
    const bool same = !plan.candidates.empty() && plan.candidates.front().end == open->end;
    if (!same) plan.candidates.push_back(std::move(*open));
  }
  return plan;
}

}  // namespace slotwise::scheduler
