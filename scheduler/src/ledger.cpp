#include "slotwise/scheduler/ledger.h"

#include <algorithm>
#include <limits>

namespace slotwise::scheduler {

std::uint32_t CapacityLedger::Booked(std::string_view node, Slot slot) const {
  auto n = booked_.find(node);
  if (n == booked_.end()) return 0;
  auto s = n->second.find(slot);
  return s == n->second.end() ? 0 : s->second;
}

namespace {

using Gaps = std::map<std::pair<std::string, Slot>, std::vector<std::uint32_t>, std::less<>>;

Gaps::iterator FindGaps(Gaps& gaps, std::string_view node, Slot slot) {
  return gaps.find(std::pair<std::string, Slot>(std::string(node), slot));
}

}  // namespace

std::optional<std::uint32_t> CapacityLedger::NextIndex(std::string_view node, Slot slot, std::uint32_t capacity,
                                                       std::uint32_t min_index) const {
  const std::uint32_t count = Booked(node, slot);
  if (count >= capacity) return std::nullopt;
  const std::vector<std::uint32_t>* gaps = nullptr;
  if (!gaps_.empty()) {
    auto g = gaps_.find(std::pair<std::string, Slot>(std::string(node), slot));
    if (g != gaps_.end()) gaps = &g->second;
  }
  // The lowest free index at or above min_index: a gap, else the high-water mark.
  std::optional<std::uint32_t> best;
  if (gaps != nullptr) {
    for (std::uint32_t i : *gaps) {
      if (i >= min_index && (!best || i < *best)) best = i;
    }
  }
  if (!best) {
    const std::uint32_t high_water = count + (gaps == nullptr ? 0 : static_cast<std::uint32_t>(gaps->size()));
    best = std::max(high_water, min_index);
  }
  if (min_index > 0 && *best >= capacity) return std::nullopt;
  return best;
}

std::optional<std::uint32_t> CapacityLedger::Book(std::string_view node, Slot slot, std::uint32_t capacity,
                                                  std::uint32_t min_index) {
  const auto index = NextIndex(node, slot, capacity, min_index);
  if (!index) return std::nullopt;
  auto n = booked_.find(node);
  if (n == booked_.end()) n = booked_.emplace(std::string(node), std::map<Slot, std::uint32_t>{}).first;
  std::uint32_t& count = n->second[slot];
  auto g = gaps_.empty() ? gaps_.end() : FindGaps(gaps_, node, slot);
  const std::uint32_t high_water = count + (g == gaps_.end() ? 0 : static_cast<std::uint32_t>(g->second.size()));
  ++count;
  if (*index >= high_water) {
    // Skipped indexes (their start has passed) count as gaps of this cell.
    if (*index > high_water) {
      auto& gaps = gaps_[std::pair<std::string, Slot>(std::string(node), slot)];
      for (std::uint32_t i = high_water; i < *index; ++i) gaps.push_back(i);
    }
    return index;
  }
  auto it = std::find(g->second.begin(), g->second.end(), *index);
  g->second.erase(it);
  if (g->second.empty()) gaps_.erase(g);
  return index;
}

void CapacityLedger::Restore(std::string_view node, Slot slot, std::optional<std::uint32_t> index) {
  auto n = booked_.find(node);
  if (n == booked_.end()) n = booked_.emplace(std::string(node), std::map<Slot, std::uint32_t>{}).first;
  std::uint32_t& count = n->second[slot];
  if (index) {
    auto g = FindGaps(gaps_, node, slot);
    const std::uint32_t high_water = count + (g == gaps_.end() ? 0 : static_cast<std::uint32_t>(g->second.size()));
    if (*index > high_water) {
      // Rebuilding out of order: the indexes skipped are free until restored.
      auto& gaps = gaps_[std::pair<std::string, Slot>(std::string(node), slot)];
      for (std::uint32_t i = high_water; i < *index; ++i) gaps.push_back(i);
    } else if (g != gaps_.end()) {
      if (auto it = std::find(g->second.begin(), g->second.end(), *index); it != g->second.end()) {
        g->second.erase(it);
        if (g->second.empty()) gaps_.erase(g);
      }
    }
  }
  ++count;
}

void CapacityLedger::Release(std::string_view node, Slot slot, std::optional<std::uint32_t> index) {
  auto n = booked_.find(node);
  if (n == booked_.end()) return;
  auto s = n->second.find(slot);
  if (s == n->second.end()) return;
  auto g = FindGaps(gaps_, node, slot);
  if (--s->second == 0) {
    n->second.erase(s);
    if (g != gaps_.end()) gaps_.erase(g);  // an empty cell starts afresh
    return;
  }
  if (!index) return;
  const std::uint32_t high_water = s->second + 1 + (g == gaps_.end() ? 0 : static_cast<std::uint32_t>(g->second.size()));
  if (*index >= high_water) return;
  if (g == gaps_.end()) {
    gaps_[std::pair<std::string, Slot>(std::string(node), slot)].push_back(*index);
  } else if (std::find(g->second.begin(), g->second.end(), *index) == g->second.end()) {
    g->second.push_back(*index);
  }
}

std::uint64_t CapacityLedger::BookedBetween(std::string_view node, Slot first, Slot end) const {
  auto n = booked_.find(node);
  if (n == booked_.end()) return 0;
  std::uint64_t total = 0;
  for (auto it = n->second.lower_bound(first); it != n->second.end() && it->first < end; ++it) {
    total += it->second;
  }
  return total;
}

void CapacityLedger::MaxAddTree::Add(std::int64_t l, std::int64_t r, std::int64_t v, std::size_t n,
                                     std::int64_t nl, std::int64_t nr) {
  if (r <= nl || nr <= l) return;
  if (l <= nl && nr <= r) {
    max[n] += v;
    add[n] += v;
    return;
  }
  const std::int64_t m = (nl + nr) / 2;
  Add(l, r, v, 2 * n, nl, m);
  Add(l, r, v, 2 * n + 1, m, nr);
  max[n] = std::max(max[2 * n], max[2 * n + 1]) + add[n];
}

std::int64_t CapacityLedger::MaxAddTree::Max(std::int64_t l, std::int64_t r, std::size_t n, std::int64_t nl,
                                             std::int64_t nr) const {
  if (r <= nl || nr <= l) return std::numeric_limits<std::int64_t>::min();
  if (l <= nl && nr <= r) return max[n];
  const std::int64_t m = (nl + nr) / 2;
  return std::max(Max(l, r, 2 * n, nl, m), Max(l, r, 2 * n + 1, m, nr)) + add[n];
}

std::int64_t CapacityLedger::MaxAddTree::LastAbove(std::int64_t l, std::int64_t r, std::int64_t limit, std::size_t n,
                                                   std::int64_t nl, std::int64_t nr, std::int64_t above) const {
  if (r <= nl || nr <= l || max[n] + above <= limit) return -1;
  if (nr - nl == 1) return nl;
  const std::int64_t m = (nl + nr) / 2;
  const std::int64_t p = LastAbove(l, r, limit, 2 * n + 1, m, nr, above + add[n]);
  return p >= 0 ? p : LastAbove(l, r, limit, 2 * n, nl, m, above + add[n]);
}

namespace {

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0 && a < 0) ? 1 : 0); }

}  // namespace

void CapacityLedger::AddReservation(std::string_view node, const Reservation& r, int sign) {
  if (r.end <= r.first || (r.rate_bps == 0 && r.connections == 0)) return;
  auto t = timelines_.find(node);
  if (t == timelines_.end()) t = timelines_.emplace(std::string(node), Timeline{}).first;
  const auto rate = static_cast<std::int64_t>(r.rate_bps) * sign;
  const auto conns = static_cast<std::int64_t>(r.connections) * sign;
  for (std::int64_t c = FloorDiv(r.first, kChunk); c * kChunk < r.end; ++c) {
    Chunk& chunk = t->second[c];
    const std::int64_t l = std::max(r.first, c * kChunk) - c * kChunk;
    const std::int64_t e = std::min(r.end, (c + 1) * kChunk) - c * kChunk;
    if (rate != 0) chunk.rate.Add(l, e, rate, 1, 0, kChunk);
    if (conns != 0) chunk.connections.Add(l, e, conns, 1, 0, kChunk);
  }
}

std::int64_t CapacityLedger::Peak(std::string_view node, std::int64_t first, std::int64_t end, bool rate) const {
  auto t = timelines_.find(node);
  if (t == timelines_.end() || end <= first) return 0;
  std::int64_t peak = 0;
  for (auto c = t->second.lower_bound(FloorDiv(first, kChunk)); c != t->second.end() && c->first * kChunk < end;
       ++c) {
    const std::int64_t l = std::max(first, c->first * kChunk) - c->first * kChunk;
    const std::int64_t e = std::min(end, (c->first + 1) * kChunk) - c->first * kChunk;
    const MaxAddTree& tree = rate ? c->second.rate : c->second.connections;
    peak = std::max(peak, tree.Max(l, e, 1, 0, kChunk));
  }
  return peak;
}

bool CapacityLedger::Fits(std::string_view node, const Reservation& r, std::uint64_t bandwidth_bps,
                          std::uint32_t max_connections) const {
  if (bandwidth_bps > 0) {
    if (r.rate_bps > bandwidth_bps) return false;
    if (static_cast<std::uint64_t>(Peak(node, r.first, r.end, true)) + r.rate_bps > bandwidth_bps) return false;
  }
  if (max_connections > 0) {
    if (r.connections > max_connections) return false;
    if (static_cast<std::uint64_t>(Peak(node, r.first, r.end, false)) + r.connections > max_connections) {
      return false;
    }
  }
  return true;
}

std::optional<std::int64_t> CapacityLedger::LastBlocked(std::string_view node, const Reservation& r,
                                                        std::uint64_t bandwidth_bps,
                                                        std::uint32_t max_connections) const {
  if (r.end <= r.first) return std::nullopt;
  const bool rate_checked = bandwidth_bps > 0 && r.rate_bps > 0;
  const bool connections_checked = max_connections > 0 && r.connections > 0;
  if ((rate_checked && r.rate_bps > bandwidth_bps) || (connections_checked && r.connections > max_connections)) {
    return r.end - 1;  // never fits
  }
  auto t = timelines_.find(node);
  if (t == timelines_.end()) return std::nullopt;
  const auto rate_limit = static_cast<std::int64_t>(bandwidth_bps - r.rate_bps);
  const auto connection_limit = static_cast<std::int64_t>(max_connections - r.connections);
  // Chunks from the last one the reservation touches back to its first.
  auto c = t->second.upper_bound(FloorDiv(r.end - 1, kChunk));
  while (c != t->second.begin()) {
    --c;
    if ((c->first + 1) * kChunk <= r.first) break;
    const std::int64_t base = c->first * kChunk;
    const std::int64_t l = std::max(r.first, base) - base;
    const std::int64_t e = std::min(r.end, base + kChunk) - base;
    std::int64_t last = -1;
    if (rate_checked) last = c->second.rate.LastAbove(l, e, rate_limit, 1, 0, kChunk, 0);
    if (connections_checked) {
      last = std::max(last, c->second.connections.LastAbove(l, e, connection_limit, 1, 0, kChunk, 0));
    }
    if (last >= 0) return base + last;
  }
  return std::nullopt;
}

std::uint64_t CapacityLedger::PeakRate(std::string_view node, std::int64_t first, std::int64_t end) const {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(0, Peak(node, first, end, true)));
}

std::uint32_t CapacityLedger::PeakConnections(std::string_view node, std::int64_t first, std::int64_t end) const {
  return static_cast<std::uint32_t>(std::max<std::int64_t>(0, Peak(node, first, end, false)));
}

}  // namespace slotwise::scheduler
