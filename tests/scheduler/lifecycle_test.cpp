// The lifecycle rules one by one (schemas/README.md "Outcomes"), each the
// case the issue measured stuck: the failure threshold with every terminal
// failed, a terminal that vanishes after GO, a deadline, a terminal already
// on (or past) the target, a check before start_at_ms, a late terminal
// after a full window, overlapping campaigns, components, empty listings.
// On MemoryStore and RocksDB, each through a reload.
#include <doctest/doctest.h>

#include "harness.h"

namespace slotwise::scheduler::testing {
namespace {

using P = v1::TerminalProgress;

v1::Check CheckAt(const std::string& campaign, const std::string& version = "1.0.0") {
  v1::Check c;
  c.set_campaign_id(campaign);
  c.set_current_version(version);
  return c;
}

v1::Status StatusOf(const std::string& campaign, v1::Status::State state, const std::string& version = "1.0.0") {
  v1::Status s;
  s.set_campaign_id(campaign);
  s.set_state(state);
  s.set_version(version);
  return s;
}

v1::OperatorRequest Control(const std::string& what, const std::string& id) {
  v1::OperatorRequest r;
  if (what == "pause") r.mutable_pause_campaign()->set_campaign_id(id);
  if (what == "resume") r.mutable_resume_campaign()->set_campaign_id(id);
  if (what == "cancel") r.mutable_cancel_campaign()->set_campaign_id(id);
  return r;
}

v1::OperatorRequest Schedule(const std::string& id, Slot start, Slot end) {
  v1::OperatorRequest s;
  s.mutable_schedule_campaign()->set_campaign_id(id);
  s.mutable_schedule_campaign()->set_start_slot(start);
  s.mutable_schedule_campaign()->set_end_slot(end);
  return s;
}

// One cluster, one node of `per_slot`, versions 2.0.0 (system) and 1.5 (app).
void SetUpFleet(Harness& h, std::uint32_t per_slot) {
  REQUIRE(h.Op(AddCluster("paris", 48.85, 2.35)).has_ack());
  REQUIRE(h.Op(AddNode("p1", "paris", per_slot)).has_ack());
  REQUIRE(h.Op(AddArtifact("2.0.0")).has_ack());
  auto app = AddArtifact("1.5");
  app.mutable_add_artifact()->mutable_artifact()->set_component("app");
  REQUIRE(h.Op(app).has_ack());
}

const Slot kFirst = kT0 / kSlotMs + 1;

P ProgressOf(Harness& h, const std::string& campaign, const std::string& tid) {
  const auto reply = h.Op(Get(campaign));
  for (const auto& p : reply.campaign().terminals()) {
    if (p.terminal_id() == tid) return p;
  }
  FAIL("no terminal " << tid);
  return {};
}

// Runs a terminal from report to GO.
v1::Assignment ToGo(Harness& h, const std::string& campaign, const std::string& tid) {
  const auto a = h.svc().HandleReport(tid, ReportFor(campaign, 48.85, 2.35));
  REQUIRE(a.has_assignment());
  h.clock().Set(std::max(h.clock().NowMs(), a.assignment().start_at_ms()));
  REQUIRE(h.svc().HandleCheck(tid, CheckAt(campaign)).check_result().verdict() == v1::CheckResult::GO);
  return a.assignment();
}

}  // namespace

TEST_CASE("lifecycle: every terminal FAILED past the failure threshold ends DONE, not PAUSED") {
  for (bool rocksdb : {false, true}) {
    CAPTURE(rocksdb);
    Harness h(rocksdb);
    SetUpFleet(h, 4);
    auto create = CreateCampaign("c1", "2.0.0", Ids(3));
    create.mutable_create_campaign()->set_max_failures(1);
    REQUIRE(h.Op(create).has_ack());
    REQUIRE(h.Op(Schedule("c1", kFirst, kFirst + 3)).has_ack());
    for (const char* t : {"T0", "T1", "T2"}) ToGo(h, "c1", t);
    Outbox out;
    REQUIRE(h.svc().HandleStatus("T0", StatusOf("c1", v1::Status::FAILED), out).has_ack());
    CHECK(h.Op(Get("c1")).campaign().campaign().state() == v1::PAUSED);  // the threshold
    REQUIRE(h.svc().HandleStatus("T1", StatusOf("c1", v1::Status::FAILED), out).has_ack());
    REQUIRE(h.svc().HandleStatus("T2", StatusOf("c1", v1::Status::FAILED), out).has_ack());
    h.Reopen();
    const auto report = h.Op(Get("c1")).campaign();
    CHECK(report.campaign().state() == v1::DONE);
    CHECK(report.failed() == 3);
    CHECK(report.outcome_pending() == 0);
  }
}

TEST_CASE("lifecycle: resuming a campaign with nothing left makes it DONE") {
  Harness h(false);
  SetUpFleet(h, 4);
  REQUIRE(h.Op(CreateCampaign("c1", "2.0.0", Ids(1))).has_ack());
  REQUIRE(h.Op(Schedule("c1", kFirst, kFirst + 3)).has_ack());
  ToGo(h, "c1", "T0");
  REQUIRE(h.Op(Control("pause", "c1")).has_ack());
  Outbox out;
  REQUIRE(h.svc().HandleStatus("T0", StatusOf("c1", v1::Status::SUCCEEDED, "2.0.0"), out).has_ack());
  CHECK(h.Op(Get("c1")).campaign().campaign().state() == v1::DONE);  // final while paused
}

TEST_CASE("lifecycle: a terminal that vanishes after GO is TIMED_OUT, retried, then FAILED") {
  for (bool rocksdb : {false, true}) {
    CAPTURE(rocksdb);
    ServiceOptions options{kSlotMs, 1};
    options.download_allowance_ms = 3 * kSlotMs;
    Harness h(rocksdb, options);
    SetUpFleet(h, 4);
    auto create = CreateCampaign("c1", "2.0.0", Ids(1));
    create.mutable_create_campaign()->set_max_retries(1);
    REQUIRE(h.Op(create).has_ack());
    REQUIRE(h.Op(Schedule("c1", kFirst, kFirst + 3)).has_ack());
    const auto a = ToGo(h, "c1", "T0");
    Outbox out;
    h.clock().Set(a.slot_end_ms() + 3 * kSlotMs - 1);
    h.svc().Tick(out);
    CHECK(ProgressOf(h, "c1", "T0").outcome() == P::OUTCOME_PENDING);  // still inside its allowance
    h.clock().Set(a.slot_end_ms() + 3 * kSlotMs);
    out.clear();
    CHECK(h.svc().Tick(out) == 1);
    CHECK(out.empty());  // the notice is kept: the terminal may only be slow
    h.Reopen();
    auto p = ProgressOf(h, "c1", "T0");
    CHECK(p.outcome() == P::TIMED_OUT);
    CHECK_FALSE(p.assigned());
    CHECK(p.attempts() == 1);
    CHECK(h.Op(Get("c1")).campaign().timed_out() == 1);
    CHECK(h.svc().ledger().Booked(a.node_id(), a.slot()) == 0);
    // It reports again: placed again, and vanishes again: FAILED, DONE.
    const auto b = ToGo(h, "c1", "T0");
    CHECK(ProgressOf(h, "c1", "T0").outcome() == P::OUTCOME_PENDING);
    h.clock().Set(b.slot_end_ms() + 3 * kSlotMs);
    out.clear();
    CHECK(h.svc().Tick(out) == 1);
    REQUIRE(out.size() == 1);
    CHECK(out[0].payload.empty());  // final: the notice is cleared
    h.Reopen();
    p = ProgressOf(h, "c1", "T0");
    CHECK(p.outcome() == P::FAILED);
    CHECK(p.detail().find("timed out") != std::string::npos);
    CHECK(h.Op(Get("c1")).campaign().campaign().state() == v1::DONE);
  }
}

TEST_CASE("lifecycle: at the deadline unfinished terminals are EXPIRED and the campaign DONE") {
  for (bool rocksdb : {false, true}) {
    CAPTURE(rocksdb);
    Harness h(rocksdb);
    SetUpFleet(h, 4);
    auto create = CreateCampaign("c1", "2.0.0", Ids(3));
    const TimeMs deadline = kT0 + 10 * kSlotMs;
    create.mutable_create_campaign()->set_deadline_ms(deadline);
    REQUIRE(h.Op(create).has_ack());
    REQUIRE(h.Op(Schedule("c1", kFirst, kFirst + 2)).has_ack());
    ToGo(h, "c1", "T0");
    Outbox out;
    REQUIRE(h.svc().HandleStatus("T0", StatusOf("c1", v1::Status::SUCCEEDED, "2.0.0"), out).has_ack());
    const auto booked = h.svc().HandleReport("T1", ReportFor("c1", 48.85, 2.35)).assignment();  // never checks
    // (It may share T0's slot: a terminal placed while a slot runs can get it.)
    const std::uint32_t held = h.svc().ledger().Booked(booked.node_id(), booked.slot());
    REQUIRE(held >= 1);
    h.clock().Set(deadline - 1);
    out.clear();
    h.svc().Tick(out);
    CHECK(h.Op(Get("c1")).campaign().campaign().state() == v1::SCHEDULED);
    h.clock().Set(deadline);
    out.clear();
    CHECK(h.svc().Tick(out) == 2);
    CHECK(out.size() == 2);  // T1's and T2's notices cleared
    for (const auto& p : out) CHECK(p.payload.empty());
    h.Reopen();
    const auto report = h.Op(Get("c1")).campaign();
    CHECK(report.campaign().state() == v1::DONE);
    CHECK(report.succeeded() == 1);
    CHECK(report.expired() == 2);
    CHECK(h.svc().ledger().Booked(booked.node_id(), booked.slot()) == held - 1);  // T1's booking released
    // A deadline in the past is refused; a window starting after it too.
    auto late = CreateCampaign("c2", "2.0.0", {"T9"});
    late.mutable_create_campaign()->set_deadline_ms(deadline - 1);
    CHECK(h.Op(late).error().code() == v1::INVALID_ARGUMENT);
    late.mutable_create_campaign()->set_deadline_ms(deadline + 4 * kSlotMs);
    REQUIRE(h.Op(late).has_ack());
    CHECK(h.Op(Schedule("c2", deadline / kSlotMs + 4, deadline / kSlotMs + 6)).error().code() == v1::INVALID_ARGUMENT);
  }
}

TEST_CASE("lifecycle: a terminal at or above the target is ALREADY_CURRENT at S7 and S10, no booking held") {
  Harness h(false);
  SetUpFleet(h, 4);
  REQUIRE(h.Op(CreateCampaign("c1", "2.0.0", Ids(3))).has_ack());
  REQUIRE(h.Op(Schedule("c1", kFirst, kFirst + 3)).has_ack());
  // S7: a campaign report from a terminal on a newer version.
  auto newer = ReportFor("c1", 48.85, 2.35);
  newer.set_current_version("2.0.10");
  Outbox out;
  const auto r = h.svc().HandleReport("T0", newer, out);
  REQUIRE(r.has_error());
  CHECK(r.error().code() == v1::FAILED_PRECONDITION);
  REQUIRE(out.size() == 1);
  CHECK(out[0].payload.empty());
  CHECK(ProgressOf(h, "c1", "T0").outcome() == P::ALREADY_CURRENT);
  // S10: booked, then checks on the target: the booking is released at once.
  const auto a = h.svc().HandleReport("T1", ReportFor("c1", 48.85, 2.35)).assignment();
  REQUIRE(h.svc().ledger().Booked(a.node_id(), a.slot()) == 1);
  h.clock().Set(a.start_at_ms());
  CHECK(h.svc().HandleCheck("T1", CheckAt("c1", "2.0.0")).check_result().verdict() == v1::CheckResult::ALREADY_CURRENT);
  CHECK(h.svc().ledger().Booked(a.node_id(), a.slot()) == 0);
  CHECK(ProgressOf(h, "c1", "T1").outcome() == P::ALREADY_CURRENT);
  // Its SUCCEEDED afterwards changes nothing.
  REQUIRE(h.svc().HandleStatus("T1", StatusOf("c1", v1::Status::SUCCEEDED, "2.0.0"), out).has_ack());
  CHECK(ProgressOf(h, "c1", "T1").outcome() == P::ALREADY_CURRENT);
  // An inventory report on the target ends the work too.
  auto inventory = ReportFor("", 48.85, 2.35);
  inventory.set_current_version("2.0.0");
  CHECK(h.svc().HandleReport("T2", inventory).has_ack());
  const auto report = h.Op(Get("c1")).campaign();
  CHECK(report.already_current() == 3);
  CHECK(report.campaign().state() == v1::DONE);
}

TEST_CASE("lifecycle: a campaign that allows a downgrade still sends a newer terminal down") {
  Harness h(false);
  SetUpFleet(h, 4);
  auto create = CreateCampaign("c1", "2.0.0", Ids(1));
  create.mutable_create_campaign()->set_allow_downgrade(true);
  REQUIRE(h.Op(create).has_ack());
  REQUIRE(h.Op(Schedule("c1", kFirst, kFirst + 3)).has_ack());
  auto newer = ReportFor("c1", 48.85, 2.35);
  newer.set_current_version("3.0");
  CHECK(h.svc().HandleReport("T0", newer).has_assignment());
}

TEST_CASE("lifecycle: GO never allows a start before start_at_ms") {
  Harness h(false);
  SetUpFleet(h, 4);  // four starts per slot: spread over its first half
  REQUIRE(h.Op(CreateCampaign("c1", "2.0.0", Ids(2))).has_ack());
  REQUIRE(h.Op(Schedule("c1", kFirst, kFirst + 1)).has_ack());
  h.svc().HandleReport("T0", ReportFor("c1", 48.85, 2.35));
  const auto a = h.svc().HandleReport("T1", ReportFor("c1", 48.85, 2.35)).assignment();
  REQUIRE(a.start_at_ms() > a.slot_start_ms());
  CHECK(a.start_at_ms() == a.slot_start_ms() + kSlotMs / 2 / 4);  // spread over the first half
  h.clock().Set(a.slot_start_ms());  // inside the slot, before its start
  const auto early = h.svc().HandleCheck("T1", CheckAt("c1")).check_result();
  CHECK(early.verdict() == v1::CheckResult::TOO_EARLY);
  CHECK(early.assignment().start_at_ms() == a.start_at_ms());
  h.clock().Set(a.start_at_ms());
  const auto go = h.svc().HandleCheck("T1", CheckAt("c1")).check_result();
  REQUIRE(go.verdict() == v1::CheckResult::GO);
  CHECK(go.download().not_before_ms() == a.start_at_ms());
}

TEST_CASE("lifecycle: terminals that report after a full window are placed after it (20 terminals, 3 slots)") {
  Harness h(false);
  SetUpFleet(h, 5);
  REQUIRE(h.Op(CreateCampaign("c1", "2.0.0", Ids(20))).has_ack());
  REQUIRE(h.Op(Schedule("c1", kFirst, kFirst + 3)).has_ack());  // room for 15
  int done = 0;
  for (int i = 0; i < 20; ++i) {
    const std::string tid = "T" + std::to_string(i);
    const auto a = h.svc().HandleReport(tid, ReportFor("c1", 48.85, 2.35));
    REQUIRE(a.has_assignment());
    if (i >= 15) CHECK(a.assignment().slot() >= kFirst + 3);  // after the window
  }
  for (int i = 0; i < 20; ++i) {
    const std::string tid = "T" + std::to_string(i);
    const auto a = ProgressOf(h, "c1", tid);
    h.clock().Set(std::max(h.clock().NowMs(), a.start_at_ms()));
    REQUIRE(h.svc().HandleCheck(tid, CheckAt("c1")).check_result().verdict() == v1::CheckResult::GO);
    Outbox out;
    REQUIRE(h.svc().HandleStatus(tid, StatusOf("c1", v1::Status::SUCCEEDED, "2.0.0"), out).has_ack());
    ++done;
  }
  const auto report = h.Op(Get("c1")).campaign();
  CHECK(report.succeeded() == 20);
  CHECK(report.campaign().state() == v1::DONE);
}

TEST_CASE("lifecycle: overlapping campaigns for one component are refused unless superseding") {
  for (bool rocksdb : {false, true}) {
    CAPTURE(rocksdb);
    Harness h(rocksdb);
    SetUpFleet(h, 4);
    REQUIRE(h.Op(CreateCampaign("old", "2.0.0", Ids(3))).has_ack());
    REQUIRE(h.Op(Schedule("old", kFirst, kFirst + 3)).has_ack());
    const auto booked = h.svc().HandleReport("T1", ReportFor("old", 48.85, 2.35)).assignment();
    const std::string before = Snapshot(h.store());
    const auto refused = h.Op(CreateCampaign("new", "2.0.0", {"T1", "T2", "T7"}));
    REQUIRE(refused.has_error());
    CHECK(refused.error().code() == v1::FAILED_PRECONDITION);
    CHECK(refused.error().message().find("T1 (old), T2 (old)") != std::string::npos);
    CHECK(Snapshot(h.store()) == before);  // a refusal changes nothing
    // Another component overlaps nothing.
    auto app = CreateCampaign("app", "1.5", {"T1"});
    app.mutable_create_campaign()->set_component("app");
    REQUIRE(h.Op(app).has_ack());
    // Superseding: T1 and T2 end SUPERSEDED in "old", T1's booking released.
    auto take = CreateCampaign("new", "2.0.0", {"T1", "T2", "T7"});
    take.mutable_create_campaign()->set_supersede(true);
    REQUIRE(h.Op(take).has_ack());
    CHECK(h.outbox().size() == 2);  // their notices of "old" cleared
    h.Reopen();
    CHECK(ProgressOf(h, "old", "T1").outcome() == P::SUPERSEDED);
    CHECK(ProgressOf(h, "old", "T2").outcome() == P::SUPERSEDED);
    CHECK(ProgressOf(h, "old", "T0").outcome() == P::OUTCOME_PENDING);
    CHECK(h.svc().ledger().Booked(booked.node_id(), booked.slot()) == 0);
    CHECK(h.Op(Get("old")).campaign().superseded() == 2);
  }
}

TEST_CASE("lifecycle: a component campaign has its own notice topic, and cancelling it leaves the other's") {
  Harness h(false);
  SetUpFleet(h, 4);
  REQUIRE(h.Op(CreateCampaign("fw", "2.0.0", {"T0"})).has_ack());
  REQUIRE(h.Op(Schedule("fw", kFirst, kFirst + 3)).has_ack());
  REQUIRE(h.outbox().size() == 1);
  CHECK(h.outbox()[0].topic == "slotwise/v1/t/T0/notice");
  auto app = CreateCampaign("app", "1.5", {"T0"});
  app.mutable_create_campaign()->set_component("app");
  REQUIRE(h.Op(app).has_ack());
  REQUIRE(h.Op(Schedule("app", kFirst, kFirst + 3)).has_ack());
  REQUIRE(h.outbox().size() == 1);
  CHECK(h.outbox()[0].topic == "slotwise/v1/t/T0/notice/app");
  v1::Notice n;
  REQUIRE(n.ParseFromString(h.outbox()[0].payload));
  CHECK(n.component() == "app");
  // Both booked, the app campaign cancelled: only its notice and booking go.
  const auto fw = h.svc().HandleReport("T0", ReportFor("fw", 48.85, 2.35)).assignment();
  auto report = ReportFor("app", 48.85, 2.35);
  auto* c = report.add_components();
  c->set_component("app");
  c->set_version("1.0");
  const auto ap = h.svc().HandleReport("T0", report).assignment();
  CHECK(ap.component() == "app");
  CHECK(fw.component() == "");
  REQUIRE(h.Op(Control("cancel", "app")).has_ack());
  REQUIRE(h.outbox().size() == 1);
  CHECK(h.outbox()[0].topic == "slotwise/v1/t/T0/notice/app");
  CHECK(h.outbox()[0].payload.empty());
  CHECK(ProgressOf(h, "fw", "T0").assigned());
  CHECK(ProgressOf(h, "app", "T0").outcome() == P::CANCELLED);
  CHECK(h.svc().ledger().Booked(fw.node_id(), fw.slot()) >= 1);
  // The app version is read from Report.components: on the target, nothing to do.
  auto app2 = CreateCampaign("app2", "1.5", {"T0"});
  app2.mutable_create_campaign()->set_component("app");
  REQUIRE(h.Op(app2).has_ack());
  REQUIRE(h.Op(Schedule("app2", kFirst, kFirst + 3)).has_ack());
  report.set_campaign_id("app2");
  report.mutable_components(0)->set_version("1.5");
  CHECK(h.svc().HandleReport("T0", report).error().code() == v1::FAILED_PRECONDITION);
  CHECK(ProgressOf(h, "app2", "T0").outcome() == P::ALREADY_CURRENT);
  CHECK(ProgressOf(h, "fw", "T0").outcome() == P::OUTCOME_PENDING);  // the system image is another matter
}

TEST_CASE("lifecycle: listings on a fresh scheduler carry an empty list") {
  Harness h(false);
  v1::OperatorRequest r;
  r.mutable_list_campaigns();
  CHECK(h.Op(r).has_campaigns());
  r.mutable_list_terminals();
  CHECK(h.Op(r).has_terminals());
  r.mutable_list_nodes();
  CHECK(h.Op(r).has_nodes());
  r.mutable_list_clusters();
  CHECK(h.Op(r).has_clusters());
  r.mutable_list_artifacts();
  CHECK(h.Op(r).has_artifacts());
}

}  // namespace slotwise::scheduler::testing
