// CapacityLedger: how many downloads are booked to start on each node in each
// slot. Pure in-memory index; the durable facts are the bookings themselves
// (one TerminalProgress record per terminal and campaign), from which the
// ledger is rebuilt on start. Not thread-safe: owned by the scheduler thread.
//
// Invariant kept by Book(): booked(node, slot) <= the capacity passed in.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "slotwise/slots.h"

namespace slotwise::scheduler {

class CapacityLedger {
 public:
  std::uint32_t Booked(std::string_view node, Slot slot) const;

  // Books one start on `node` in `slot` if fewer than `capacity` are booked.
  // Returns the booking's index inside the slot (0-based), which spreads
  // start times: the lowest index a released booking gave back, else the
  // next unused one, so no two current bookings share an index as long as
  // releases name theirs. nullopt when the slot is full.
  std::optional<std::uint32_t> Book(std::string_view node, Slot slot, std::uint32_t capacity);

  // Records a booking that already exists (rebuilding from the store, or
  // undoing a release) without a capacity check; with its index, that index
  // counts as taken.
  void Restore(std::string_view node, Slot slot, std::optional<std::uint32_t> index = std::nullopt);

  // Gives one booked start back; with its index, Book() hands that index out
  // again. No-op when nothing is booked there.
  void Release(std::string_view node, Slot slot, std::optional<std::uint32_t> index = std::nullopt);

  // The bookings of one node by slot (nullptr if it has none), for callers
  // that look at many slots of the same node. Invalidated by Book/Restore
  // of a node not booked before.
  const std::map<Slot, std::uint32_t>* NodeSlots(std::string_view node) const {
    auto n = booked_.find(node);
    return n == booked_.end() ? nullptr : &n->second;
  }

  // Total bookings in [first, end) on `node`.
  std::uint64_t BookedBetween(std::string_view node, Slot first, Slot end) const;

 private:
  std::map<std::string, std::map<Slot, std::uint32_t>, std::less<>> booked_;
  // Per cell, indexes below its high-water mark (booked + gaps) that no
  // booking holds; only cells that had a release with an index are here.
  std::map<std::pair<std::string, Slot>, std::vector<std::uint32_t>, std::less<>> gaps_;
};

}  // namespace slotwise::scheduler
