// What a million-terminal campaign needs of the service (found by the
// virtual-time fleet simulation, fleet/sim):
//   - the ledger hands a released booking's index out again, so two
//     bookings of a slot never share a start offset;
//   - Tick() works from lists of what is due instead of a walk over every
//     booking;
//   - a campaign counts its unfinished terminals instead of scanning them;
//   - MemoryStore is a hash map whose Scan still visits keys in order.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "slotwise/clock.h"
#include "slotwise/scheduler/ledger.h"
#include "slotwise/scheduler/service.h"
#include "slotwise/scheduler/store.h"

namespace slotwise::scheduler {
namespace {

constexpr std::int64_t kSlotMs = 4000;
constexpr TimeMs kT0 = 1'800'000'000'000;  // a slot boundary

// One cluster, one node of `per_slot`, a campaign of `terminals` scheduled
// on its earliest window.
class Service {
 public:
  Service(std::uint32_t per_slot, int terminals, ServiceOptions options = ServiceOptions{kSlotMs, 1})
      : clock_(kT0 + 100), service_(store_, clock_, options) {
    REQUIRE(service_.Load().ok());
    v1::OperatorRequest c;
    c.mutable_add_cluster()->mutable_cluster()->set_id("paris");
    c.mutable_add_cluster()->mutable_cluster()->mutable_location()->set_lat(48.85);
    Op(c);
    v1::OperatorRequest n;
    auto* node = n.mutable_add_node()->mutable_node();
    node->set_id("p1");
    node->set_cluster_id("paris");
    node->set_base_url("http://p1.example");
    node->set_per_slot(per_slot);
    Op(n);
    v1::OperatorRequest a;
    auto* art = a.mutable_add_artifact()->mutable_artifact();
    art->set_version("2.0.0");
    art->set_path("/fw.bin");
    art->set_sha256(std::string(64, 'a'));
    art->set_size(10);
    Op(a);
    v1::OperatorRequest create;
    create.mutable_create_campaign()->set_id("c1");
    create.mutable_create_campaign()->set_target_version("2.0.0");
    for (int i = 0; i < terminals; ++i) create.mutable_create_campaign()->add_terminal_ids("T" + std::to_string(i));
    Op(create);
    v1::OperatorRequest q;
    q.mutable_query_windows()->set_campaign_id("c1");
    const v1::Window w = Op(q).windows().windows(0);
    v1::OperatorRequest s;
    s.mutable_schedule_campaign()->set_campaign_id("c1");
    s.mutable_schedule_campaign()->set_start_slot(w.start_slot());
    s.mutable_schedule_campaign()->set_end_slot(w.end_slot() + 10);
    Op(s);
  }

  v1::OperatorReply Op(const v1::OperatorRequest& r) {
    Outbox out;
    auto reply = service_.HandleOperator(r, out);
    REQUIRE_FALSE(reply.has_error());
    return reply;
  }
  v1::Assignment Report(const std::string& tid) {
    v1::Report r;
    r.set_campaign_id("c1");
    r.mutable_location()->set_lat(48.85);
    const auto reply = service_.HandleReport(tid, r);
    REQUIRE(reply.has_assignment());
    return reply.assignment();
  }
  void Presence(const std::string& tid, bool online, TimeMs at) {
    v1::Presence p;
    p.set_terminal_id(tid);
    p.set_online(online);
    p.set_at_ms(at);
    service_.HandlePresence(tid, p);
  }
  std::size_t Tick() {
    Outbox out;
    return service_.Tick(out);
  }

  MemoryStore store_;
  FakeClock clock_;
  SchedulerService service_;
};

TEST_CASE("ledger: a released index is handed out again, lowest first") {
  CapacityLedger ledger;
  for (std::uint32_t i = 0; i < 4; ++i) CHECK(ledger.Book("n", 7, 4) == i);
  CHECK_FALSE(ledger.Book("n", 7, 4).has_value());
  ledger.Release("n", 7, 2u);
  ledger.Release("n", 7, 0u);
  CHECK(ledger.Booked("n", 7) == 2);
  CHECK(ledger.Book("n", 7, 4) == 0u);
  CHECK(ledger.Book("n", 7, 4) == 2u);
  CHECK_FALSE(ledger.Book("n", 7, 4).has_value());
  // Without an index only the count is known (as before the change).
  ledger.Release("n", 7);
  CHECK(ledger.Booked("n", 7) == 3);
}

TEST_CASE("ledger: restoring bookings with their indexes rebuilds the free ones") {
  CapacityLedger ledger;
  ledger.Restore("n", 3, 2u);
  ledger.Restore("n", 3, 0u);
  CHECK(ledger.Booked("n", 3) == 2);
  CHECK(ledger.Book("n", 3, 5) == 1u);
  CHECK(ledger.Book("n", 3, 5) == 3u);
  // Undoing a release takes the index back.
  ledger.Release("n", 3, 1u);
  ledger.Restore("n", 3, 1u);
  CHECK(ledger.Book("n", 3, 5) == 4u);
  // An emptied cell starts afresh.
  for (std::uint32_t i : {0u, 1u, 2u, 3u, 4u}) ledger.Release("n", 3, i);
  CHECK(ledger.Booked("n", 3) == 0);
  CHECK(ledger.Book("n", 3, 5) == 0u);
}

TEST_CASE("a booking released by an offline terminal passes its start offset on: no two starts together") {
  ServiceOptions options{kSlotMs, 1};
  options.offline_grace_ms = 500;
  Service s(4, 8, options);
  std::vector<v1::Assignment> first;
  for (int i = 0; i < 4; ++i) first.push_back(s.Report("T" + std::to_string(i)));
  for (const auto& a : first) REQUIRE(a.slot() == first[0].slot());
  s.Presence("T1", false, s.clock_.NowMs());
  s.clock_.Advance(500);
  CHECK(s.Tick() == 1);
  const auto next = s.Report("T4");
  CHECK(next.slot() == first[0].slot());
  CHECK(next.start_at_ms() == first[1].start_at_ms());
  std::set<TimeMs> starts{next.start_at_ms()};
  for (int i : {0, 2, 3}) starts.insert(first[static_cast<std::size_t>(i)].start_at_ms());
  CHECK(starts.size() == 4);
}

TEST_CASE("tick: a terminal seen again while offline is released a grace after it was last seen") {
  ServiceOptions options{kSlotMs, 1};
  options.offline_grace_ms = 1000;
  Service s(4, 4, options);
  const auto a = s.Report("T0");
  const TimeMs t = s.clock_.NowMs();
  s.Presence("T0", false, t);
  s.Presence("T0", false, t + 600);  // a second offline event, later
  s.clock_.Set(t + 1000);
  CHECK(s.Tick() == 0);  // 1000 after the first, 400 after the last
  s.clock_.Set(t + 1599);
  CHECK(s.Tick() == 0);
  s.clock_.Set(t + 1600);
  CHECK(s.Tick() == 1);
  CHECK(s.service_.ledger().Booked(a.node_id(), a.slot()) == 0);
  CHECK(s.Tick() == 0);  // nothing twice
}

TEST_CASE("tick: a terminal back online keeps its booking, a no-show is released at slot end") {
  ServiceOptions options{kSlotMs, 1};
  options.offline_grace_ms = 1000;
  Service s(4, 4, options);
  const auto a = s.Report("T0");
  const auto b = s.Report("T1");
  s.Presence("T0", false, s.clock_.NowMs());
  s.Presence("T0", true, s.clock_.NowMs() + 10);
  s.clock_.Advance(2000);
  CHECK(s.Tick() == 0);
  s.clock_.Set(a.slot_end_ms());
  CHECK(s.Tick() == 2);  // neither checked in by its slot's end
  CHECK(s.service_.ledger().Booked(b.node_id(), b.slot()) == 0);
}

TEST_CASE("tick's lists are rebuilt by Load: a restart does not forget a no-show") {
  Service s(4, 4);
  const auto a = s.Report("T0");
  SchedulerService restarted(s.store_, s.clock_, ServiceOptions{kSlotMs, 1});
  REQUIRE(restarted.Load().ok());
  s.clock_.Set(a.slot_end_ms());
  Outbox out;
  CHECK(restarted.Tick(out) == 1);
}

TEST_CASE("the campaign is DONE when its last terminal finishes, also after a restart") {
  Service s(4, 2);
  v1::Status ok;
  ok.set_campaign_id("c1");
  ok.set_state(v1::Status::SUCCEEDED);
  ok.set_version("2.0.0");
  Outbox out;
  REQUIRE(s.service_.HandleStatus("T0", ok, out).has_ack());
  v1::OperatorRequest get;
  get.mutable_get_campaign()->set_campaign_id("c1");
  CHECK(s.Op(get).campaign().campaign().state() == v1::SCHEDULED);
  SchedulerService restarted(s.store_, s.clock_, ServiceOptions{kSlotMs, 1});
  REQUIRE(restarted.Load().ok());
  v1::Status failed = ok;
  failed.set_state(v1::Status::FAILED);
  REQUIRE(restarted.HandleStatus("T1", failed, out).has_ack());
  CHECK(restarted.HandleOperator(get, out).campaign().campaign().state() == v1::DONE);
}

TEST_CASE("MemoryStore: Scan visits the keys with a prefix in key order") {
  MemoryStore store;
  WriteBatch b;
  for (const char* k : {"b/2", "a/1", "b/10", "b/1", "c"}) b.Put(k, k);
  b.Delete("c");
  REQUIRE(store.Write(b).ok());
  std::vector<std::string> seen;
  REQUIRE(store.Scan("b/", [&](std::string_view k, std::string_view v) {
    CHECK(k == v);
    seen.emplace_back(k);
  }).ok());
  CHECK(seen == std::vector<std::string>{"b/1", "b/10", "b/2"});
  CHECK(store.Get("a/1")->value() == "a/1");
  CHECK_FALSE(store.Get("c")->has_value());
}

}  // namespace
}  // namespace slotwise::scheduler
