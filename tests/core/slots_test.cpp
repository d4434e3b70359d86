// Slot arithmetic (slotwise/slots.h). The spread of starts inside a slot is
// also covered from the scheduler's side in tests/scheduler/placement_test.cpp.
#include <doctest/doctest.h>

#include "slotwise/slots.h"

namespace slotwise {
namespace {

TEST_CASE("slots: floor division, also before the epoch") {
  constexpr SlotGrid grid(2000);
  static_assert(grid.SlotAt(0) == 0);
  CHECK(grid.slot_ms() == 2000);
  CHECK(grid.SlotAt(1999) == 0);
  CHECK(grid.SlotAt(2000) == 1);
  CHECK(grid.SlotAt(-1) == -1);
  CHECK(grid.SlotAt(-2000) == -1);
  CHECK(grid.SlotAt(-2001) == -2);
  CHECK(grid.Start(5) == 10000);
  CHECK(grid.End(5) == 12000);
  CHECK(grid.Start(-1) == -2000);
  for (TimeMs t : {-4001, -1, 0, 1, 1999, 2000, 123457}) {
    CAPTURE(t);
    const Slot s = grid.SlotAt(t);
    CHECK(grid.Start(s) <= t);
    CHECK(t < grid.End(s));
  }
}

TEST_CASE("slots: starts spread over the first half of the slot, and invert") {
  constexpr SlotGrid grid(60'000);
  CHECK(grid.SpreadStart(3, 0, 3) == grid.Start(3));
  CHECK(grid.SpreadStart(3, 1, 3) == grid.Start(3) + 10'000);
  CHECK(grid.SpreadStart(3, 2, 3) == grid.Start(3) + 20'000);
  CHECK(grid.SpreadStart(3, 3, 3) == grid.Start(3));  // index wraps
  CHECK(grid.SpreadStart(3, 5, 0) == grid.Start(3));  // no capacity: the slot start
  for (std::uint32_t i = 0; i < 7; ++i) {
    CAPTURE(i);
    CHECK(grid.SpreadIndexAt(grid.SpreadStart(0, i, 7), 7) == i);
  }
  CHECK_FALSE(grid.SpreadIndexAt(1, 3).has_value());       // no start there
  CHECK_FALSE(grid.SpreadIndexAt(30'000, 3).has_value());  // the second half
  CHECK_FALSE(grid.SpreadIndexAt(-1, 3).has_value());
  CHECK_FALSE(grid.SpreadIndexAt(0, 0).has_value());
  // More bookings than milliseconds in the half: indices share a start, the first is found.
  constexpr SlotGrid tiny(4);
  CHECK(tiny.SpreadStart(0, 1, 4) == tiny.SpreadStart(0, 0, 4));
  CHECK(tiny.SpreadIndexAt(0, 4) == 0u);
}

}  // namespace
}  // namespace slotwise
