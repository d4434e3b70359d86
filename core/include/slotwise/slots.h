// Slot arithmetic: time is cut into slots of a fixed length; slot index
// s = floor(t_ms / slot_ms). Pure functions, safe from any thread.
#pragma once

#include <cstdint>
#include <optional>

namespace slotwise {

using Slot = std::int64_t;
using TimeMs = std::int64_t;  // Unix epoch milliseconds, UTC

class SlotGrid {
 public:
  explicit constexpr SlotGrid(std::int64_t slot_ms) : slot_ms_(slot_ms) {}

  constexpr std::int64_t slot_ms() const { return slot_ms_; }

  constexpr Slot SlotAt(TimeMs t) const {
    // floor division, correct for negative times too
    Slot q = t / slot_ms_;
    return (t % slot_ms_ != 0 && t < 0) ? q - 1 : q;
  }
  constexpr TimeMs Start(Slot s) const { return s * slot_ms_; }
  constexpr TimeMs End(Slot s) const { return (s + 1) * slot_ms_; }

  // Start time of the index-th of `per_slot` bookings in slot s: starts are
  // spread evenly over the slot's first half, so a slot is not a burst at
  // its first millisecond, and even the last of them has half a slot for
  // its check, the answer and the first byte before the slot ends (a start
  // late in the slot would spill into the next one's downloads).
  constexpr TimeMs SpreadStart(Slot s, std::uint32_t index, std::uint32_t per_slot) const {
    return Start(s) + SpreadOffset(index, per_slot);
  }
  // The inverse of SpreadStart: the index whose start lies `offset` after
  // its slot's start, or nullopt when no index of `per_slot` starts there
  // (when indices share a start, the first of them).
  constexpr std::optional<std::uint32_t> SpreadIndexAt(TimeMs offset, std::uint32_t per_slot) const {
    if (per_slot == 0 || offset < 0 || offset >= SpreadSpan()) return std::nullopt;
    // ceil(offset * per_slot / span) is the first index at or after offset.
    const auto index = static_cast<std::uint32_t>((offset * per_slot + SpreadSpan() - 1) / SpreadSpan());
    if (index >= per_slot || SpreadOffset(index, per_slot) != offset) return std::nullopt;
    return index;
  }

 private:
  // The part of a slot that starts are spread over: its first half.
  constexpr TimeMs SpreadSpan() const { return slot_ms_ / 2; }
  constexpr TimeMs SpreadOffset(std::uint32_t index, std::uint32_t per_slot) const {
    if (per_slot == 0) return 0;
    return static_cast<TimeMs>(index % per_slot) * SpreadSpan() / per_slot;
  }

  std::int64_t slot_ms_;
};

}  // namespace slotwise
