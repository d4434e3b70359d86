// Slot arithmetic: time is cut into slots of a fixed length; slot index
// s = floor(t_ms / slot_ms). Pure functions, safe from any thread.
#pragma once

#include <cstdint>

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
  // spread evenly so a slot is not a burst at its first millisecond.
  constexpr TimeMs SpreadStart(Slot s, std::uint32_t index, std::uint32_t per_slot) const {
    if (per_slot == 0) return Start(s);
    return Start(s) + static_cast<TimeMs>(index % per_slot) * slot_ms_ / per_slot;
  }

 private:
  std::int64_t slot_ms_;
};

}  // namespace slotwise
