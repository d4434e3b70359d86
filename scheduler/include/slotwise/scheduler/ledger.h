// CapacityLedger: how many downloads are booked to start on each node in each
// slot. Pure in-memory index; the durable facts are the bookings themselves
// (one TerminalProgress record per terminal and campaign), from which the
// ledger is rebuilt on start. Not thread-safe: owned by the scheduler thread.
//
// Invariant kept by Book(): booked(node, slot) <= the capacity passed in.
//
// Beside the starts, the ledger holds each node's reserved rate (bits/s)
// and connections over time, in time buckets (the caller's unit, a fixed
// fraction of a slot): a booking on a node with a bandwidth or a connection
// limit reserves its rate and one connection in every bucket its expected
// download touches. Fits() is the check, Reserve()/Unreserve() the change;
// both are O(log buckets) per node (a max/add segment tree per chunk of
// buckets), so placement stays cheap however many bookings a node holds.
// Invariant kept by callers that Reserve() only what Fits(): in every
// bucket, reserved rate <= bandwidth and connections <= limit.
#pragma once

#include <array>
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

// One booking's share of a node: `rate_bps` and `connections` in every
// bucket of [first, end).
struct Reservation {
  std::int64_t first = 0;  // first time bucket, inclusive
  std::int64_t end = 0;    // exclusive
  std::uint64_t rate_bps = 0;
  std::uint32_t connections = 0;
  bool operator==(const Reservation&) const = default;
};

class CapacityLedger {
 public:
  // Whether `r` fits on `node` beside what is reserved: in every bucket of
  // [r.first, r.end), reserved rate + r.rate_bps <= bandwidth_bps (0 = not
  // checked) and connections + r.connections <= max_connections (0 = not
  // checked).
  bool Fits(std::string_view node, const Reservation& r, std::uint64_t bandwidth_bps,
            std::uint32_t max_connections) const;
  // Adds (Reserve) or takes back (Unreserve) `r` without a check.
  void Reserve(std::string_view node, const Reservation& r) { AddReservation(node, r, +1); }
  void Unreserve(std::string_view node, const Reservation& r) { AddReservation(node, r, -1); }
  // The last bucket of [r.first, r.end) where `r` does not fit (the test of
  // Fits() bucket by bucket), or nullopt when it fits in all of them: a
  // caller looking for a later start that fits starts after it.
  std::optional<std::int64_t> LastBlocked(std::string_view node, const Reservation& r, std::uint64_t bandwidth_bps,
                                          std::uint32_t max_connections) const;
  // Highest reserved rate / connections in any bucket of [first, end).
  std::uint64_t PeakRate(std::string_view node, std::int64_t first, std::int64_t end) const;
  std::uint32_t PeakConnections(std::string_view node, std::int64_t first, std::int64_t end) const;

  std::uint32_t Booked(std::string_view node, Slot slot) const;

  // Books one start on `node` in `slot` if fewer than `capacity` are booked.
  // Returns the booking's index inside the slot (0-based), which spreads
  // start times: the lowest index a released booking gave back, else the
  // next unused one, so no two current bookings share an index as long as
  // releases name theirs. nullopt when the slot is full.
  // With `min_index`, only an index >= min_index (and < capacity) is handed
  // out: the indexes below it whose start has passed stay unused in this
  // slot (a booking in the slot that is running, start not before now).
  std::optional<std::uint32_t> Book(std::string_view node, Slot slot, std::uint32_t capacity,
                                    std::uint32_t min_index = 0);
  // The index Book() would hand out now, without booking; nullopt when it
  // would refuse.
  std::optional<std::uint32_t> NextIndex(std::string_view node, Slot slot, std::uint32_t capacity,
                                         std::uint32_t min_index = 0) const;

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
  // A max/add segment tree over kChunk buckets: range add, range max.
  static constexpr std::int64_t kChunk = 1024;
  struct MaxAddTree {
    std::array<std::int64_t, 2 * kChunk> max{};
    std::array<std::int64_t, 2 * kChunk> add{};
    void Add(std::int64_t l, std::int64_t r, std::int64_t v, std::size_t v_node, std::int64_t nl, std::int64_t nr);
    std::int64_t Max(std::int64_t l, std::int64_t r, std::size_t v_node, std::int64_t nl, std::int64_t nr) const;
    // The last position of [l, r) whose value exceeds `limit` (-1 if none);
    // `above`: the adds of the ancestors of v_node.
    std::int64_t LastAbove(std::int64_t l, std::int64_t r, std::int64_t limit, std::size_t v_node, std::int64_t nl,
                           std::int64_t nr, std::int64_t above) const;
  };
  struct Chunk {
    MaxAddTree rate;
    MaxAddTree connections;
  };
  using Timeline = std::map<std::int64_t, Chunk>;  // chunk index -> trees
  void AddReservation(std::string_view node, const Reservation& r, int sign);
  // Highest value of `which` over [first, end); 0 where nothing is reserved.
  std::int64_t Peak(std::string_view node, std::int64_t first, std::int64_t end, bool rate) const;

  std::map<std::string, Timeline, std::less<>> timelines_;
  std::map<std::string, std::map<Slot, std::uint32_t>, std::less<>> booked_;
  // Per cell, indexes below its high-water mark (booked + gaps) that no
  // booking holds; only cells that had a release with an index are here.
  std::map<std::pair<std::string, Slot>, std::vector<std::uint32_t>, std::less<>> gaps_;
};

}  // namespace slotwise::scheduler
