#include <doctest/doctest.h>

#include "slotwise/scheduler/ledger.h"

using slotwise::scheduler::CapacityLedger;

TEST_CASE("ledger books up to capacity and gives consecutive indexes") {
  CapacityLedger ledger;
  CHECK(ledger.Book("n1", 10, 3) == 0u);
  CHECK(ledger.Book("n1", 10, 3) == 1u);
  CHECK(ledger.Book("n1", 10, 3) == 2u);
  CHECK_FALSE(ledger.Book("n1", 10, 3).has_value());
  CHECK(ledger.Booked("n1", 10) == 3);
  CHECK(ledger.Booked("n1", 11) == 0);
  CHECK(ledger.Booked("n2", 10) == 0);
}

TEST_CASE("ledger release returns capacity and never goes below zero") {
  CapacityLedger ledger;
  REQUIRE(ledger.Book("n1", 5, 1));
  CHECK_FALSE(ledger.Book("n1", 5, 1));
  ledger.Release("n1", 5);
  CHECK(ledger.Booked("n1", 5) == 0);
  ledger.Release("n1", 5);
  ledger.Release("nobody", 5);
  CHECK(ledger.Booked("n1", 5) == 0);
  CHECK(ledger.Book("n1", 5, 1) == 0u);
}

TEST_CASE("ledger with zero capacity books nothing") {
  CapacityLedger ledger;
  CHECK_FALSE(ledger.Book("n1", 1, 0));
  CHECK(ledger.Booked("n1", 1) == 0);
}

TEST_CASE("ledger sums bookings over a slot range") {
  CapacityLedger ledger;
  ledger.Restore("n1", 1);
  ledger.Restore("n1", 2);
  ledger.Restore("n1", 2);
  ledger.Restore("n1", 7);
  CHECK(ledger.BookedBetween("n1", 0, 3) == 3);
  CHECK(ledger.BookedBetween("n1", 2, 7) == 2);
  CHECK(ledger.BookedBetween("n1", 2, 8) == 3);
  CHECK(ledger.BookedBetween("n2", 0, 100) == 0);
}

TEST_CASE("ledger Book with a lowest index skips the passed ones and hands out no index at or over capacity") {
  CapacityLedger ledger;
  CHECK(ledger.NextIndex("n1", 7, 4, 2) == 2u);
  CHECK(ledger.Book("n1", 7, 4, 2) == 2u);
  CHECK(ledger.Book("n1", 7, 4, 2) == 3u);
  CHECK_FALSE(ledger.Book("n1", 7, 4, 2).has_value());  // 0 and 1 are free but have passed
  CHECK(ledger.Booked("n1", 7) == 2);
  CHECK(ledger.Book("n1", 7, 4) == 0u);  // without a lowest index the skipped ones are free
  ledger.Release("n1", 7, 3);
  CHECK(ledger.Book("n1", 7, 4, 3) == 3u);
  CHECK(ledger.Book("n1", 7, 4) == 1u);
  CHECK_FALSE(ledger.Book("n1", 7, 4).has_value());
}
