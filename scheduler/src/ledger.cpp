#include "slotwise/scheduler/ledger.h"

namespace slotwise::scheduler {

std::uint32_t CapacityLedger::Booked(std::string_view node, Slot slot) const {
  auto n = booked_.find(node);
  if (n == booked_.end()) return 0;
  auto s = n->second.find(slot);
  return s == n->second.end() ? 0 : s->second;
}

std::optional<std::uint32_t> CapacityLedger::Book(std::string_view node, Slot slot,
                                                  std::uint32_t capacity) {
  auto n = booked_.find(node);
  if (n == booked_.end()) n = booked_.emplace(std::string(node), std::map<Slot, std::uint32_t>{}).first;
  std::uint32_t& count = n->second[slot];
  if (count >= capacity) {
    if (count == 0) n->second.erase(slot);
    return std::nullopt;
  }
  return count++;
}

void CapacityLedger::Restore(std::string_view node, Slot slot) {
  auto n = booked_.find(node);
  if (n == booked_.end()) n = booked_.emplace(std::string(node), std::map<Slot, std::uint32_t>{}).first;
  ++n->second[slot];
}

void CapacityLedger::Release(std::string_view node, Slot slot) {
  auto n = booked_.find(node);
  if (n == booked_.end()) return;
  auto s = n->second.find(slot);
  if (s == n->second.end()) return;
  if (--s->second == 0) n->second.erase(s);
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
