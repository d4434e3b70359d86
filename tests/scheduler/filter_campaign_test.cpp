// Filter campaigns (schemas/README.md "Filter campaigns"): a campaign
// defined by a CampaignFilter takes in the known terminals that match at
// create and those that report later (an inventory Report on connect is
// enough: its Ack carries the notice); the overlap rule, ALREADY_CURRENT,
// the refusals, and every join through a reload. MemoryStore and RocksDB.
#include <doctest/doctest.h>

#include <algorithm>

#include "harness.h"

namespace slotwise::scheduler::testing {
namespace {

using P = v1::TerminalProgress;
const Slot kFirst = kT0 / kSlotMs + 1;

v1::OperatorRequest Cluster(const std::string& id, double lat, double lon, const std::string& region) {
  auto r = AddCluster(id, lat, lon);
  r.mutable_add_cluster()->mutable_cluster()->set_region(region);
  return r;
}

// paris (eu-west) and munich (eu-central), one node each; system 2.0.0, app 1.5.
void SetUpFleet(Harness& h) {
  REQUIRE(h.Op(Cluster("paris", 48.85, 2.35, "eu-west")).has_ack());
  REQUIRE(h.Op(Cluster("munich", 48.14, 11.58, "eu-central")).has_ack());
  REQUIRE(h.Op(AddNode("p1", "paris", 4)).has_ack());
  REQUIRE(h.Op(AddNode("m1", "munich", 4)).has_ack());
  REQUIRE(h.Op(AddArtifact("2.0.0")).has_ack());
  auto app = AddArtifact("1.5");
  app.mutable_add_artifact()->mutable_artifact()->set_component("app");
  REQUIRE(h.Op(app).has_ack());
}

struct Where {
  double lat, lon;
};
constexpr Where kParis{48.86, 2.30};
constexpr Where kMunich{48.10, 11.50};

// The inventory Report an agent sends when it connects.
v1::Report Inventory(const std::string& system_id, Where at, const std::string& version,
                     const std::string& app_version = "") {
  v1::Report r;
  r.set_current_version(version);
  r.set_system_id(system_id);
  r.mutable_location()->set_lat(at.lat);
  r.mutable_location()->set_lon(at.lon);
  if (!app_version.empty()) {
    auto* c = r.add_components();
    c->set_component("app");
    c->set_version(app_version);
  }
  return r;
}

v1::OperatorRequest FilterCampaign(const std::string& id, const std::string& version, const std::string& prefix,
                                   const std::vector<std::string>& regions, bool below_target) {
  auto r = CreateCampaign(id, version, {});
  auto* f = r.mutable_create_campaign()->mutable_filter();
  f->set_system_id_prefix(prefix);
  for (const auto& g : regions) f->add_regions(g);
  f->set_below_target(below_target);
  return r;
}

v1::OperatorRequest Schedule(const std::string& id, Slot start, Slot end) {
  v1::OperatorRequest s;
  s.mutable_schedule_campaign()->set_campaign_id(id);
  s.mutable_schedule_campaign()->set_start_slot(start);
  s.mutable_schedule_campaign()->set_end_slot(end);
  return s;
}

std::map<std::string, P::Outcome> Members(Harness& h, const std::string& campaign) {
  std::map<std::string, P::Outcome> m;
  const auto reply = h.Op(Get(campaign));
  for (const auto& p : reply.campaign().terminals()) m[p.terminal_id()] = p.outcome();
  return m;
}

std::uint32_t WindowTerminals(Harness& h, const std::string& campaign) {
  v1::OperatorRequest q;
  q.mutable_query_windows()->set_campaign_id(campaign);
  const auto r = h.Op(q);
  REQUIRE(r.has_windows());
  return r.windows().terminals();
}

}  // namespace

TEST_CASE("filter campaign: known terminals that match join at create and size its windows") {
  for (bool rocksdb : {false, true}) {
    CAPTURE(rocksdb);
    Harness h(rocksdb);
    SetUpFleet(h);
    REQUIRE(h.svc().HandleReport("A", Inventory("PAX-A920", kParis, "1.0.0")).has_ack());
    REQUIRE(h.svc().HandleReport("B", Inventory("PAX-A920", kMunich, "1.0.0")).has_ack());  // other region
    REQUIRE(h.svc().HandleReport("C", Inventory("ING-M70", kParis, "1.0.0")).has_ack());    // other model
    REQUIRE(h.svc().HandleReport("D", Inventory("PAX-S80", kParis, "2.0.0")).has_ack());    // at the target
    REQUIRE(h.svc().HandleReport("E", Inventory("PAX-S80", kParis, "1.9")).has_ack());
    h.Reopen();  // create judges what the store holds
    REQUIRE(h.Op(FilterCampaign("below", "2.0.0", "PAX-", {"eu-west"}, true)).has_ack());
    CHECK(Members(h, "below") == std::map<std::string, P::Outcome>{{"A", P::OUTCOME_PENDING}, {"E", P::OUTCOME_PENDING}});
    CHECK(WindowTerminals(h, "below") == 2);
    const auto c = h.Op(Get("below")).campaign();
    CHECK(c.campaign().terminal_ids_size() == 0);  // named none; the filter took them in
    CHECK(c.campaign().filter().system_id_prefix() == "PAX-");
    CHECK(c.outcome_pending() == 2);
    // Without below-target, D (at the target) joins ALREADY_CURRENT at once.
    auto all = FilterCampaign("all", "2.0.0", "PAX-", {"eu-west"}, false);
    REQUIRE(h.Op(CreateCampaign("other", "1.5", {})).has_error());  // no terminals and no filter
    // "all" overlaps "below" for A and E (unfinished, same component): skipped.
    REQUIRE(h.Op(all).has_ack());
    CHECK(Members(h, "all") == std::map<std::string, P::Outcome>{{"D", P::ALREADY_CURRENT}});
    CHECK(h.Op(Get("all")).campaign().campaign().state() == v1::DRAFT);  // open: not DONE with all final
    h.Reopen();
    CHECK(Members(h, "below").size() == 2);
    CHECK(Members(h, "all") == std::map<std::string, P::Outcome>{{"D", P::ALREADY_CURRENT}});
    CHECK(h.Op(Get("all")).campaign().campaign().state() == v1::DRAFT);
  }
}

TEST_CASE("filter campaign: a terminal that connects later and matches joins, gets its notice and is upgraded") {
  for (bool rocksdb : {false, true}) {
    CAPTURE(rocksdb);
    Harness h(rocksdb);
    SetUpFleet(h);
    auto req = FilterCampaign("dyn", "2.0.0", "PAX-", {}, true);
    req.mutable_create_campaign()->set_deadline_ms(kT0 + 200 * kSlotMs);
    REQUIRE(h.Op(req).has_ack());
    REQUIRE(h.Op(Schedule("dyn", kFirst, kFirst + 3)).has_ack());
    CHECK(h.outbox().empty());  // nobody yet
    // A v1 agent connects: its inventory Report's Ack carries the notice.
    Outbox out;
    const auto ack = h.svc().HandleReport("L1", Inventory("PAX-A920", kParis, "1.0.0"), out);
    REQUIRE(ack.has_ack());
    REQUIRE(ack.notices_size() == 1);
    CHECK(ack.notices(0).campaign_id() == "dyn");
    REQUIRE(out.size() == 1);  // and the retained notice
    CHECK(out[0].topic == "slotwise/v1/t/L1/notice");
    CHECK(out[0].retain);
    // One that does not match is not taken, and hears of nothing.
    Outbox none;
    const auto other = h.svc().HandleReport("X1", Inventory("ING-M70", kParis, "1.0.0"), none);
    CHECK(other.notices_size() == 0);
    CHECK(none.empty());
    h.Reopen();  // the join was journaled with the report
    CHECK(Members(h, "dyn") == std::map<std::string, P::Outcome>{{"L1", P::OUTCOME_PENDING}});
    {
      Outbox pending;
      h.svc().PendingNotices(pending);
      CHECK(std::count_if(pending.begin(), pending.end(),
                          [](const Publication& p) { return p.topic == "slotwise/v1/t/L1/notice"; }) == 1);
    }
    // It reports for the campaign, is booked, checks, succeeds.
    auto report = ReportFor("dyn", kParis.lat, kParis.lon);
    report.set_system_id("PAX-A920");
    const auto a = h.svc().HandleReport("L1", report);
    REQUIRE(a.has_assignment());
    h.clock().Set(a.assignment().start_at_ms());
    v1::Check check;
    check.set_campaign_id("dyn");
    check.set_current_version("1.0.0");
    REQUIRE(h.svc().HandleCheck("L1", check).check_result().verdict() == v1::CheckResult::GO);
    v1::Status done;
    done.set_campaign_id("dyn");
    done.set_state(v1::Status::SUCCEEDED);
    done.set_version("2.0.0");
    Outbox cleared;
    REQUIRE(h.svc().HandleStatus("L1", done, cleared).has_ack());
    // All its members final, yet it stays open for terminals still to come...
    CHECK(h.Op(Get("dyn")).campaign().campaign().state() == v1::SCHEDULED);
    const auto late = h.svc().HandleReport("L2", Inventory("PAX-S80", kMunich, "1.2"));
    CHECK(late.notices_size() == 1);
    CHECK(Members(h, "dyn").size() == 2);
    // ... and a member that left is not taken in again.
    v1::OperatorRequest rm;
    rm.mutable_remove_terminals()->set_campaign_id("dyn");
    rm.mutable_remove_terminals()->add_terminal_ids("L2");
    REQUIRE(h.Op(rm).has_ack());
    CHECK(h.svc().HandleReport("L2", Inventory("PAX-S80", kMunich, "1.2")).notices_size() == 0);
    CHECK(Members(h, "dyn").at("L2") == P::REMOVED);
    // ... until its deadline: then DONE.
    h.clock().Set(kT0 + 200 * kSlotMs);
    Outbox tick;
    h.svc().Tick(tick);
    CHECK(h.Op(Get("dyn")).campaign().campaign().state() == v1::DONE);
    CHECK(h.svc().HandleReport("L3", Inventory("PAX-S80", kMunich, "1.2")).notices_size() == 0);
    CHECK(Members(h, "dyn").size() == 2);
  }
}

TEST_CASE("filter campaign: work elsewhere for the component keeps a terminal out unless it supersedes") {
  Harness h(false);
  SetUpFleet(h);
  REQUIRE(h.Op(CreateCampaign("old", "2.0.0", {"T1", "T2"})).has_ack());
  REQUIRE(h.Op(Schedule("old", kFirst, kFirst + 3)).has_ack());
  REQUIRE(h.Op(FilterCampaign("dyn", "2.0.0", "PAX-", {}, false)).has_ack());
  REQUIRE(h.Op(Schedule("dyn", kFirst, kFirst + 3)).has_ack());
  CHECK(h.svc().HandleReport("T1", Inventory("PAX-1", kParis, "1.0.0")).notices(0).campaign_id() == "old");
  CHECK_FALSE(Members(h, "dyn").contains("T1"));
  // Its work in "old" ends: at its next report the filter takes it in.
  v1::OperatorRequest rm;
  rm.mutable_remove_terminals()->set_campaign_id("old");
  rm.mutable_remove_terminals()->add_terminal_ids("T1");
  REQUIRE(h.Op(rm).has_ack());
  const auto again = h.svc().HandleReport("T1", Inventory("PAX-1", kParis, "1.0.0"));
  REQUIRE(again.notices_size() == 1);
  CHECK(again.notices(0).campaign_id() == "dyn");
  // Another component is no overlap; a superseding filter campaign takes T2 over.
  auto take = FilterCampaign("take", "1.5", "PAX-", {}, true);
  take.mutable_create_campaign()->set_component("app");
  REQUIRE(h.Op(take).has_ack());
  auto fw = FilterCampaign("fw2", "2.0.0", "PAX-2", {}, true);
  fw.mutable_create_campaign()->set_supersede(true);
  REQUIRE(h.Op(fw).has_ack());
  Outbox out;
  const auto t2 = h.svc().HandleReport("T2", Inventory("PAX-2", kParis, "1.0.0", "1.0"), out);
  CHECK(Members(h, "old").at("T2") == P::SUPERSEDED);
  CHECK(Members(h, "fw2").at("T2") == P::OUTCOME_PENDING);
  CHECK(Members(h, "take").at("T2") == P::OUTCOME_PENDING);  // the app: its own campaign
  CHECK_FALSE(Members(h, "dyn").contains("T2"));             // fw2 (newer, superseding) holds it
  CHECK(t2.notices_size() == 0);                             // fw2 and take are DRAFTs
}

TEST_CASE("filter campaign: below-target on a component judges the versions a terminal last reported") {
  Harness h(true);
  SetUpFleet(h);
  REQUIRE(h.svc().HandleReport("A", Inventory("PAX-1", kParis, "1.0.0", "1.0")).has_ack());
  REQUIRE(h.svc().HandleReport("B", Inventory("PAX-2", kParis, "1.0.0", "1.5")).has_ack());
  REQUIRE(h.svc().HandleReport("C", Inventory("PAX-3", kParis, "1.0.0")).has_ack());  // no app at all
  h.Reopen();
  auto req = FilterCampaign("app", "1.5", "", {}, true);
  req.mutable_create_campaign()->set_component("app");
  REQUIRE(h.Op(req).has_ack());
  CHECK(Members(h, "app") == std::map<std::string, P::Outcome>{{"A", P::OUTCOME_PENDING}});
  // B falls back below the target (a reinstall): its next report takes it in.
  REQUIRE(h.svc().HandleReport("B", Inventory("PAX-2", kParis, "1.0.0", "1.4")).has_ack());
  CHECK(Members(h, "app").size() == 2);
}

TEST_CASE("filter campaign: refusals") {
  Harness h(false);
  SetUpFleet(h);
  const std::string before = Snapshot(h.store());
  auto code = [&](const v1::OperatorRequest& r) {
    const auto reply = h.Op(r);
    REQUIRE(reply.has_error());
    return reply.error().code();
  };
  CHECK(code(CreateCampaign("c", "2.0.0", {})) == v1::INVALID_ARGUMENT);            // neither list nor filter
  CHECK(code(FilterCampaign("c", "2.0.0", "", {}, false)) == v1::INVALID_ARGUMENT);  // an empty filter
  CHECK(code(FilterCampaign("c", "2.0.0", std::string(65, 'P'), {}, false)) == v1::INVALID_ARGUMENT);
  CHECK(code(FilterCampaign("c", "2.0.0", "", {"mars"}, false)) == v1::NOT_FOUND);
  CHECK(code(FilterCampaign("c", "2.0.0", "", {"eu-west", "eu-west"}, false)) == v1::INVALID_ARGUMENT);
  auto cluster = FilterCampaign("c", "2.0.0", "", {}, false);
  cluster.mutable_create_campaign()->mutable_filter()->add_cluster_ids("lyon");
  CHECK(code(cluster) == v1::NOT_FOUND);
  CHECK(Snapshot(h.store()) == before);
  // By cluster: the home cluster is the nearest one.
  REQUIRE(h.svc().HandleReport("M", Inventory("ANY", kMunich, "1.0.0")).has_ack());
  REQUIRE(h.svc().HandleReport("N", Inventory("ANY", kParis, "1.0.0")).has_ack());
  cluster.mutable_create_campaign()->mutable_filter()->set_cluster_ids(0, "munich");
  REQUIRE(h.Op(cluster).has_ack());
  CHECK(Members(h, "c") == std::map<std::string, P::Outcome>{{"M", P::OUTCOME_PENDING}});
}

}  // namespace slotwise::scheduler::testing

namespace slotwise::scheduler::testing {

TEST_CASE("filter campaign: windows for a filter campaign that has no member yet") {
  Harness h(false);
  SetUpFleet(h);
  REQUIRE(h.Op(FilterCampaign("empty", "2.0.0", "PAX-", {}, true)).has_ack());
  v1::OperatorRequest q;
  q.mutable_query_windows()->set_campaign_id("empty");
  const auto r = h.Op(q);
  INFO(r.DebugString());
  REQUIRE(r.has_windows());
  CHECK(r.windows().terminals() == 0);
  REQUIRE(r.windows().windows_size() >= 1);
  const auto& w = r.windows().windows(0);
  CHECK(w.end_slot() > w.start_slot());
}

}  // namespace slotwise::scheduler::testing
