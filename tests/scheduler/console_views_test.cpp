// Issue 13: the console's aggregates on the real service: the capacity
// calendar, what a window would add, their limits, and the page total.
#include <doctest/doctest.h>

#include <map>

#include "harness.h"

namespace slotwise::scheduler {
namespace {

using namespace testing;

v1::OperatorRequest Capacity(std::int64_t from, std::int64_t to, const std::string& cluster = "") {
  v1::OperatorRequest r;
  r.mutable_get_capacity()->set_from_slot(from);
  r.mutable_get_capacity()->set_to_slot(to);
  r.mutable_get_capacity()->set_cluster(cluster);
  return r;
}

v1::OperatorRequest Load(const v1::Window& w) {
  v1::OperatorRequest r;
  auto* q = r.mutable_query_window_load();
  q->set_campaign_id("c1");
  q->set_start_slot(w.start_slot());
  q->set_end_slot(w.end_slot());
  q->set_max_utilisation(w.max_utilisation());
  q->set_core_end_slot(w.core_end_slot());
  return r;
}

std::map<std::pair<std::string, std::int64_t>, std::uint32_t> Cells(const v1::CapacityCalendar& c) {
  std::map<std::pair<std::string, std::int64_t>, std::uint32_t> out;
  for (const auto& row : c.nodes()) {
    for (int i = 0; i < row.booked_size(); ++i) {
      if (row.booked(i) > 0) out[{row.node_id(), c.from_slot() + i}] = row.booked(i);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("console views: a window's load is what scheduling it books, and the calendar shows the bookings") {
  Harness h(false);
  REQUIRE(h.Op(AddCluster("paris", 48.85, 2.35)).has_ack());
  for (const char* id : {"p1", "p2"}) REQUIRE(h.Op(AddNode(id, "paris", 2)).has_ack());
  REQUIRE(h.Op(AddArtifact("2.0.0")).has_ack());
  REQUIRE(h.Op(CreateCampaign("c1", "2.0.0", Ids(7))).has_ack());
  v1::OperatorRequest q;
  q.mutable_query_windows()->set_campaign_id("c1");
  const v1::Window w = h.Op(q).windows().windows(0);
  const auto load = h.Op(Load(w));
  REQUIRE(load.has_window_load());
  CHECK(load.window_load().placed() == 7);
  CHECK(load.window_load().unplaced() == 0);
  const auto added = Cells(load.window_load());
  std::uint32_t sum = 0;
  for (const auto& [cell, n] : added) {
    CHECK(n <= 2);  // per_slot
    sum += n;
  }
  CHECK(sum + load.window_load().placed_outside() == 7);
  // A dry run: nothing is booked.
  CHECK(Cells(h.Op(Capacity(w.start_slot(), w.end_slot())).capacity()).empty());
  v1::OperatorRequest s;
  s.mutable_schedule_campaign()->set_campaign_id("c1");
  s.mutable_schedule_campaign()->set_start_slot(w.start_slot());
  s.mutable_schedule_campaign()->set_end_slot(w.end_slot());
  s.mutable_schedule_campaign()->set_core_end_slot(w.core_end_slot());
  REQUIRE(h.Op(s).has_ack());
  CHECK(h.Op(Load(w)).error().code() == v1::FAILED_PRECONDITION);
  // The terminals report in campaign order, located in Paris: they book.
  for (const auto& t : Ids(7)) h.svc().HandleReport(t, ReportFor("c1", 48.85, 2.35));
  std::map<std::pair<std::string, std::int64_t>, std::uint32_t> want;
  v1::OperatorRequest page;
  page.mutable_list_campaign_terminals()->set_campaign_id("c1");
  const auto terminals = h.Op(page).campaign_terminals();
  CHECK(terminals.total() == 7);
  for (const auto& t : terminals.terminals()) {
    REQUIRE(t.assigned());
    ++want[{t.node_id(), t.slot()}];
  }
  const auto cal = h.Op(Capacity(w.start_slot(), w.end_slot()));
  REQUIRE(cal.has_capacity());
  CHECK(Cells(cal.capacity()) == want);
  REQUIRE(cal.capacity().nodes_size() == 2);
  CHECK(cal.capacity().nodes(0).capacity_per_slot() == 2);
  CHECK(Cells(h.Op(Capacity(w.start_slot(), w.end_slot(), "paris")).capacity()) == want);
  // Filtered totals.
  page.mutable_list_campaign_terminals()->set_node_id("p1");
  page.mutable_list_campaign_terminals()->set_page_size(1);
  std::uint32_t on_p1 = 0;
  for (const auto& [cell, n] : want) on_p1 += cell.first == "p1" ? n : 0;
  CHECK(h.Op(page).campaign_terminals().total() == on_p1);
  v1::OperatorRequest pending;
  pending.mutable_list_campaign_terminals()->set_campaign_id("c1");
  pending.mutable_list_campaign_terminals()->add_outcomes(v1::TerminalProgress::OUTCOME_PENDING);
  pending.mutable_list_campaign_terminals()->set_page_size(2);
  CHECK(h.Op(pending).campaign_terminals().total() == 7);
  CHECK(h.Op(pending).campaign_terminals().terminals_size() == 2);
}

TEST_CASE("console views: calendars are bounded and bad ranges refused") {
  Harness h(false);
  REQUIRE(h.Op(AddCluster("paris", 48.85, 2.35)).has_ack());
  REQUIRE(h.Op(AddNode("p1", "paris", 2)).has_ack());
  CHECK(h.Op(Capacity(10, 5)).error().code() == v1::INVALID_ARGUMENT);
  CHECK(h.Op(Capacity(10, 10 + 2017)).error().code() == v1::INVALID_ARGUMENT);
  CHECK(h.Op(Capacity(-1, 0)).error().code() == v1::INVALID_ARGUMENT);
  CHECK(h.Op(Capacity(0, 0, "nowhere")).error().code() == v1::NOT_FOUND);
  const auto full = h.Op(Capacity(10, 10 + 2016));
  REQUIRE(full.has_capacity());
  CHECK(full.capacity().nodes(0).booked_size() == 2016);
  // Defaults: from the current slot, 96 slots.
  const auto now = h.Op(Capacity(0, 0)).capacity();
  CHECK(now.from_slot() == (kT0 + 100) / kSlotMs);
  CHECK(now.to_slot() - now.from_slot() == 96);
  v1::OperatorRequest d;
  d.mutable_get_campaign_downloads()->set_campaign_id("none");
  CHECK(h.Op(d).error().code() == v1::NOT_FOUND);
}

}  // namespace slotwise::scheduler
