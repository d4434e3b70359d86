#include "slotwise/scheduler/ledger.h"

#include <algorithm>

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

std::optional<std::uint32_t> CapacityLedger::Book(std::string_view node, Slot slot,
                                                  std::uint32_t capacity) {
  auto n = booked_.find(node);
  if (n == booked_.end()) n = booked_.emplace(std::string(node), std::map<Slot, std::uint32_t>{}).first;
  std::uint32_t& count = n->second[slot];
  if (count >= capacity) {
    if (count == 0) n->second.erase(slot);
    return std::nullopt;
  }
  ++count;
  if (gaps_.empty()) return count - 1;
  auto g = FindGaps(gaps_, node, slot);
  if (g == gaps_.end()) return count - 1;
  auto lowest = std::min_element(g->second.begin(), g->second.end());
  const std::uint32_t index = *lowest;
  g->second.erase(lowest);
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

}  // namespace slotwise::scheduler
