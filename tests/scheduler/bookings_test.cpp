// Bookings: Assign, the one Release and the one Undo, on the collaborators
// themselves (no service): a Registry with one node, a CampaignTable with one
// scheduled campaign, a Journal over a MemoryStore.
#include <doctest/doctest.h>

#include "slotwise/clock.h"
#include "slotwise/scheduler/bookings.h"
#include "slotwise/scheduler/campaign_table.h"
#include "slotwise/scheduler/journal.h"
#include "slotwise/scheduler/registry.h"
#include "slotwise/scheduler/store.h"

using namespace slotwise;
using namespace slotwise::scheduler;

namespace {

constexpr std::int64_t kSlotMs = 2000;
constexpr TimeMs kT0 = 1'800'000'000'000;

struct World {
  MemoryStore store;
  FakeClock clock{kT0 + 100};
  ServiceOptions options{kSlotMs, 1};
  SlotGrid grid{kSlotMs};
  Journal journal{store};
  Registry registry{journal, grid, clock, options};
  CampaignTable table;
  Bookings bookings{registry, table, journal, grid, clock, options};
  CampaignRecord* record = nullptr;

  explicit World(std::uint32_t per_slot, Slot window_slots) {
    v1::AddCluster c;
    c.mutable_cluster()->set_id("paris");
    c.mutable_cluster()->mutable_location()->set_lat(48.85);
    c.mutable_cluster()->mutable_location()->set_lon(2.35);
    REQUIRE(registry.AddCluster(c).has_ack());
    v1::AddNode n;
    n.mutable_node()->set_id("p1");
    n.mutable_node()->set_cluster_id("paris");
    n.mutable_node()->set_base_url("http://127.0.0.1:9000/p1");
    n.mutable_node()->set_per_slot(per_slot);
    REQUIRE(registry.AddNode(n).has_ack());
    CampaignRecord r;
    r.campaign.set_id("c1");
    r.campaign.set_state(v1::SCHEDULED);
    r.campaign.set_window_start_slot(kT0 / kSlotMs + 1);
    r.campaign.set_window_end_slot(kT0 / kSlotMs + 1 + window_slots);
    for (const char* t : {"T0", "T1", "T2"}) {
      r.campaign.add_terminal_ids(t);
      r.progress[t].set_terminal_id(t);
    }
    r.not_done = 3;
    REQUIRE(table.Add(std::move(r)));
    record = table.Find("c1");
  }
  v1::TerminalProgress& progress(const char* t) { return record->progress.find(t)->second; }
};

}  // namespace

TEST_CASE("bookings: Assign books a slot, Release gives it back and clears the whole booking") {
  World w(2, 4);
  auto& p = w.progress("T0");
  REQUIRE(w.bookings.Assign(*w.record, p).ok());
  REQUIRE(p.assigned());
  CHECK(p.node_id() == "p1");
  CHECK(w.bookings.ledger().Booked("p1", p.slot()) == 1);
  const Slot slot = p.slot();
  p.set_checked_in(true);  // a checked-in booking is released the same way
  w.clock.Advance(50);
  w.bookings.Release(p);
  CHECK(w.bookings.ledger().Booked("p1", slot) == 0);
  CHECK_FALSE(p.assigned());
  CHECK(p.node_id().empty());
  CHECK(p.slot() == 0);
  CHECK(p.start_at_ms() == 0);
  CHECK_FALSE(p.checked_in());
  CHECK(p.updated_ms() == w.clock.NowMs());
  w.bookings.Release(p);  // nothing booked: a no-op
  CHECK(w.bookings.ledger().Booked("p1", slot) == 0);
}

TEST_CASE("bookings: Undo puts the record and the ledger back as they were") {
  World w(1, 4);
  auto& p = w.progress("T0");
  REQUIRE(w.bookings.Assign(*w.record, p).ok());
  const v1::TerminalProgress before = p;
  // A new placement (the old booking given back first), then undone.
  w.clock.Set(w.grid.End(p.slot()));
  REQUIRE(w.bookings.Assign(*w.record, p).ok());
  CHECK(p.slot() != before.slot());
  CHECK(w.bookings.ledger().Booked("p1", before.slot()) == 0);
  w.bookings.Undo(p, before);
  CHECK(p.SerializeAsString() == before.SerializeAsString());
  CHECK(w.bookings.ledger().Booked("p1", before.slot()) == 1);
  CHECK(w.bookings.ledger().BookedBetween("p1", 0, before.slot() + 100) == 1);
  // Undoing a release books the cell again.
  const v1::TerminalProgress booked = p;
  w.bookings.Release(p);
  w.bookings.Undo(p, booked);
  CHECK(p.assigned());
  CHECK(w.bookings.ledger().Booked("p1", booked.slot()) == 1);
}

TEST_CASE("bookings: a refused Assign leaves the record and the ledger as they were") {
  World w(1, 1);  // one slot of one start
  // A deadline at the window's end: nothing after it to roll on to.
  w.record->campaign.set_deadline_ms(w.grid.Start(w.record->campaign.window_end_slot()));
  auto& t0 = w.progress("T0");
  auto& t1 = w.progress("T1");
  REQUIRE(w.bookings.Assign(*w.record, t0).ok());
  const v1::TerminalProgress before = t1;
  CHECK(w.bookings.Assign(*w.record, t1).error().code == v1::NO_CAPACITY);
  CHECK(t1.SerializeAsString() == before.SerializeAsString());
  CHECK(w.bookings.ledger().Booked("p1", t0.slot()) == 1);
  // A terminal that already holds the only booking keeps it when moving fails.
  const v1::TerminalProgress held = t0;
  CHECK_FALSE(w.bookings.Assign(*w.record, t0, held.slot() + 1).ok());
  CHECK(t0.SerializeAsString() == held.SerializeAsString());
  CHECK(w.bookings.ledger().Booked("p1", held.slot()) == 1);
}

TEST_CASE("bookings: a full window rolls on to the next free slot, up to the deadline") {
  World w(1, 1);  // one slot of one start
  auto& t0 = w.progress("T0");
  auto& t1 = w.progress("T1");
  auto& t2 = w.progress("T2");
  const Slot window_end = w.record->campaign.window_end_slot();
  w.record->campaign.set_deadline_ms(w.grid.Start(window_end + 1));  // one slot after the window
  REQUIRE(w.bookings.Assign(*w.record, t0).ok());
  CHECK(t0.slot() == window_end - 1);
  REQUIRE(w.bookings.Assign(*w.record, t1).ok());
  CHECK(t1.slot() == window_end);  // after the window, before the deadline
  CHECK(w.bookings.Assign(*w.record, t2).error().code == v1::NO_CAPACITY);  // nothing before the deadline
  CHECK_FALSE(t2.assigned());
  // Without a deadline the horizon bounds it.
  w.record->campaign.set_deadline_ms(0);
  REQUIRE(w.bookings.Assign(*w.record, t2).ok());
  CHECK(t2.slot() == window_end + 1);
}

TEST_CASE("bookings: a terminal placed while a slot runs gets that slot, at a start not before now") {
  World w(4, 4);  // 4 starts per slot: offsets 0, 250, 500, 750 ms of a 2 s slot
  const Slot s0 = w.record->campaign.window_start_slot();
  w.clock.Set(w.grid.Start(s0) + 300);  // inside the window's first slot, after two starts have passed
  auto& t0 = w.progress("T0");
  auto& t1 = w.progress("T1");
  auto& t2 = w.progress("T2");
  REQUIRE(w.bookings.Assign(*w.record, t0).ok());
  CHECK(t0.slot() == s0);  // before the fix: s0 + 1 (the next slot boundary)
  CHECK(t0.start_at_ms() == w.grid.Start(s0) + 500);
  REQUIRE(w.bookings.Assign(*w.record, t1).ok());
  CHECK(t1.slot() == s0);
  CHECK(t1.start_at_ms() == w.grid.Start(s0) + 750);
  // The indexes whose start has passed stay unused: the slot has no later start.
  REQUIRE(w.bookings.Assign(*w.record, t2).ok());
  CHECK(t2.slot() == s0 + 1);
  CHECK(t2.start_at_ms() == w.grid.Start(s0 + 1));
  CHECK(w.bookings.ledger().Booked("p1", s0) == 2);
  // A release gives its index back; a terminal asking later in the slot's
  // first half gets it only while its start is still ahead.
  w.bookings.Release(t1);
  w.clock.Set(w.grid.Start(s0) + 700);
  REQUIRE(w.bookings.Assign(*w.record, t1).ok());
  CHECK(t1.slot() == s0);
  CHECK(t1.start_at_ms() == w.grid.Start(s0) + 750);
  // In the slot's second half no start is left: the next slot.
  w.bookings.Release(t0);
  w.clock.Set(w.grid.Start(s0) + 1200);
  REQUIRE(w.bookings.Assign(*w.record, t0).ok());
  CHECK(t0.slot() == s0 + 1);
  CHECK(t0.start_at_ms() >= w.clock.NowMs());
}
