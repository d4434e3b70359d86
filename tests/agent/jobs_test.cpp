// Components on the agent: the job order (jobs.h) on its own, the state
// file of an agent from before components, and an agent with a system image
// and an application, in two campaigns at once, against the fake scheduler.
#include <doctest/doctest.h>

#include "fakes.h"
#include "rig.h"
#include "slotwise/agent/jobs.h"
#include "slotwise/agent/state_store.h"

namespace slotwise::agent::testing {
namespace {

using v1::AgentState;
using v1::CheckResult;

v1::Notice MakeNotice(const std::string& campaign, const std::string& component, const std::string& target = "2.0") {
  v1::Notice n;
  n.set_campaign_id(campaign);
  n.set_component(component);
  n.set_target_version(target);
  n.set_window_start_ms(kStartMs);
  n.set_window_end_ms(kStartMs + 3'600'000);
  return n;
}

AgentState::Job Job(const std::string& campaign, const std::string& component, TimeMs slot_start = 0) {
  AgentState::Job job;
  *job.mutable_notice() = MakeNotice(campaign, component);
  if (slot_start > 0) {
    job.mutable_assignment()->set_campaign_id(campaign);
    job.mutable_assignment()->set_slot_start_ms(slot_start);
    job.mutable_assignment()->set_start_at_ms(slot_start);
  }
  return job;
}

TEST_CASE("job order: unbooked first in notice order, then booked by slot start, ties by campaign id") {
  AgentState s;
  CHECK_FALSE(NextPendingJob(s).has_value());
  *s.add_pending() = Job("B", "app", 5000);
  *s.add_pending() = Job("A", "fw", 3000);
  *s.add_pending() = Job("C", "maps", 3000);
  CHECK(NextPendingJob(s) == 1);  // slot 3000, "A" < "C"
  CHECK_FALSE(UnbookedPendingJob(s).has_value());
  *s.add_pending() = Job("D", "params");
  *s.add_pending() = Job("E", "other");
  CHECK(NextPendingJob(s) == 3);  // D has no booking: it reports first
  CHECK(UnbookedPendingJob(s) == 3);
}

TEST_CASE("job order: a pending job booked before the current one") {
  AgentState s;
  *s.mutable_notice() = MakeNotice("CUR", "");
  s.mutable_assignment()->set_slot_start_ms(4000);
  *s.add_pending() = Job("LATER", "app", 9000);
  *s.add_pending() = Job("NONE", "maps");
  CHECK_FALSE(EarlierBookedJob(s).has_value());
  *s.add_pending() = Job("SOONER", "params", 2000);
  CHECK(EarlierBookedJob(s) == 2);
}

TEST_CASE("switching jobs keeps the current job, its booking, as pending, and starts the counters afresh") {
  AgentState s;
  *s.mutable_notice() = MakeNotice("CUR", "");
  s.mutable_assignment()->set_slot_start_ms(4000);
  s.set_rechecks(3);
  s.mutable_download()->set_url("http://x");
  *s.add_pending() = Job("APP", "app", 2000);
  SwitchToPending(s, 0);
  CHECK(s.notice().campaign_id() == "APP");
  CHECK(s.assignment().slot_start_ms() == 2000);
  CHECK(s.rechecks() == 0);
  CHECK_FALSE(s.has_download());
  REQUIRE(s.pending_size() == 1);
  CHECK(s.pending(0).notice().campaign_id() == "CUR");
  CHECK(s.pending(0).assignment().slot_start_ms() == 4000);
}

TEST_CASE("a pending notice replaces the older one of its component, dropping that booking") {
  AgentState s;
  *s.add_pending() = Job("APP-1", "app", 2000);
  AddPending(s, MakeNotice("APP-1", "app", "2.1"));  // same campaign again: booking kept
  REQUIRE(s.pending_size() == 1);
  CHECK(s.pending(0).assignment().slot_start_ms() == 2000);
  CHECK(s.pending(0).notice().target_version() == "2.1");
  AddPending(s, MakeNotice("APP-2", "app"));
  REQUIRE(s.pending_size() == 1);
  CHECK(s.pending(0).notice().campaign_id() == "APP-2");
  CHECK_FALSE(s.pending(0).has_assignment());
  AddPending(s, MakeNotice("FW", ""));
  CHECK(s.pending_size() == 2);
  DropPending(s, "app");
  REQUIRE(s.pending_size() == 1);
  CHECK(s.pending(0).notice().campaign_id() == "FW");
}

// The state file of an agent from before components: the fields 1-9 only.
TEST_CASE("a state file written before components loads as the current job and resumes") {
  TempDir dir;
  AgentState old;  // only the fields today's agent writes
  old.set_phase(AgentState::WAITING);
  old.mutable_notice()->set_campaign_id("C1");
  old.mutable_notice()->set_target_version("2.0");
  old.mutable_assignment()->set_campaign_id("C1");
  old.mutable_assignment()->set_slot(1);
  old.mutable_assignment()->set_slot_start_ms(kStartMs + 4000);
  old.mutable_assignment()->set_start_at_ms(kStartMs + 4000);
  old.add_finished_campaigns("C0");
  old.set_rechecks(2);
  std::filesystem::create_directories(dir.path() / "state");
  WriteFile(dir.path() / "state" / "state.pb", old.SerializeAsString());

  FileStateStore store(dir.path() / "state");
  auto loaded = store.Load();
  REQUIRE(loaded);
  REQUIRE(loaded->has_value());
  const AgentState& state = **loaded;
  CHECK(state.phase() == AgentState::WAITING);
  CHECK(state.notice().campaign_id() == "C1");
  CHECK(JobComponent(state.notice()).empty());  // the system image
  CHECK(state.pending_size() == 0);
  CHECK(state.rechecks() == 2);

  Rig rig(state);
  rig.RunToEnd();
  REQUIRE_FALSE(rig.scheduler.checks.empty());
  CHECK(rig.scheduler.checks[0].campaign_id() == "C1");
  CHECK(rig.scheduler.reports.empty());  // resumed WAITING: no new report
  CHECK(rig.agent->current_version() == "2.0");
}

// A terminal with an application besides its system image, in a campaign
// for each at once: both booked, the earlier slot served first.
struct ComponentRig : Rig {
  ComponentRig() {
    transport.retained_notice.reset();
    config.components.push_back(ComponentConfig{"payapp", dir.path() / "payapp.version",
                                                "cp \"$SLOTWISE_FILE\" " + (dir.path() / "payapp.bin").string()});
    WriteFile(dir.path() / "payapp.version", "3.1\n");
    v1::Download app = scheduler.download;
    app.set_url("http://node-1.test/files/payapp-3.2.bin");
    app.set_version("3.2");
    app.set_component("payapp");
    app.set_sha256(Sha256Hex("payapp 3.2\n"));
    app.set_size(std::string("payapp 3.2\n").size());
    downloader.files[app.url()] = "payapp 3.2\n";
    scheduler.download_by_campaign["APP"] = app;
  }
  void Notify(const v1::Notice& n) { transport.Deliver(topics::Notice(kTid, n.component()), n.SerializeAsString()); }
};

TEST_CASE("components: two campaigns at once, each booked, the earlier slot first") {
  ComponentRig rig;
  // FW is reported first and booked first; APP's booking comes after it
  // but its slot is earlier: APP is served first, then FW.
  rig.scheduler.start_delay_by_campaign = {{"FW", 20'000}, {"APP", 5'000}};
  SUBCASE("the later booking has the earlier slot") {}
  SUBCASE("the earlier booking has the earlier slot") {
    rig.scheduler.start_delay_by_campaign = {{"FW", 5'000}, {"APP", 20'000}};
  }
  const bool app_first = rig.scheduler.start_delay_by_campaign["APP"] < rig.scheduler.start_delay_by_campaign["FW"];
  rig.Make([](AgentOptions& o) { o.exit_when_idle = false; });
  REQUIRE(rig.agent->Start().ok());
  rig.agent->Step();
  rig.Notify(MakeNotice("FW", ""));
  rig.Notify(MakeNotice("APP", "payapp", "3.2"));
  rig.Pump(400);
  // Both reported before any check.
  REQUIRE(rig.scheduler.reports.size() >= 2);
  CHECK(rig.scheduler.reports[0].campaign_id() == "FW");
  CHECK(rig.scheduler.reports[1].campaign_id() == "APP");
  REQUIRE(rig.scheduler.checks.size() == 2);
  REQUIRE(rig.scheduler.statuses.size() == 2);
  const std::size_t app = app_first ? 0 : 1;
  const std::size_t fw = 1 - app;
  CHECK(rig.scheduler.checks[app].campaign_id() == "APP");
  CHECK(rig.scheduler.checks[app].current_version() == "3.1");  // the component's version
  CHECK(rig.scheduler.checks[fw].campaign_id() == "FW");
  CHECK(rig.scheduler.checks[fw].current_version() == "1.0");
  CHECK(rig.scheduler.statuses[app].campaign_id() == "APP");
  CHECK(rig.scheduler.statuses[app].state() == v1::Status::SUCCEEDED);
  CHECK(rig.scheduler.statuses[app].version() == "3.2");
  CHECK(rig.scheduler.statuses[fw].campaign_id() == "FW");
  CHECK(rig.scheduler.statuses[fw].version() == "2.0");
  CHECK(ReadFile(rig.dir.path() / "payapp.version") == "3.2\n");
  CHECK(ReadFile(rig.dir.path() / "payapp.bin") == "payapp 3.2\n");
  CHECK(ReadFile(rig.config.version_file) == "2.0\n");
  CHECK(rig.agent->component_version("payapp") == "3.2");
  CHECK(rig.agent->state().pending_size() == 0);
  // Every report names the components with their versions; the system
  // image's version stays in current_version.
  const v1::Report& first = rig.scheduler.reports[0];
  CHECK(first.current_version() == "1.0");
  REQUIRE(first.components_size() == 1);
  CHECK(first.components(0).component() == "payapp");
  CHECK(first.components(0).version() == "3.1");
}

TEST_CASE("components: pending jobs survive a restart") {
  ComponentRig first;
  first.scheduler.start_delay_by_campaign = {{"FW", 600'000}};
  first.Make([](AgentOptions& o) { o.exit_when_idle = false; });
  REQUIRE(first.agent->Start().ok());
  first.agent->Step();
  first.Notify(MakeNotice("FW", ""));
  for (int i = 0; i < 10; ++i) first.agent->Step();
  REQUIRE(first.agent->phase() == AgentState::WAITING);
  // The check of FW is due in 10 min; APP's notice comes, is reported...
  first.scheduler.drop_requests = 1;  // ... but its report is never answered
  first.Notify(MakeNotice("APP", "payapp", "3.2"));
  for (int i = 0; i < 10; ++i) first.agent->Step();
  REQUIRE(first.agent->phase() == AgentState::NOTIFIED);
  REQUIRE(first.agent->state().pending_size() == 1);
  CHECK(first.agent->state().pending(0).notice().campaign_id() == "FW");

  ComponentRig rig;
  rig.store = std::make_unique<MemoryStateStore>(first.agent->state());
  rig.transport.session_present = true;
  rig.scheduler.start_delay_by_campaign = {{"FW", 600'000}, {"APP", 5'000}};
  rig.Make([](AgentOptions& o) { o.exit_when_idle = false; });
  REQUIRE(rig.agent->Start().ok());
  rig.Pump(400);
  REQUIRE(rig.scheduler.statuses.size() == 2);
  CHECK(rig.scheduler.statuses[0].campaign_id() == "APP");
  CHECK(rig.scheduler.statuses[1].campaign_id() == "FW");
}

TEST_CASE("components: a notice of a component this terminal does not have is ignored, with a warning") {
  ComponentRig rig;
  rig.Make([](AgentOptions& o) { o.exit_when_idle = false; });
  REQUIRE(rig.agent->Start().ok());
  rig.agent->Step();
  rig.Notify(MakeNotice("MAPS", "maps"));
  rig.Notify(MakeNotice("MAPS", "maps"));
  rig.Pump(50);
  CHECK(rig.scheduler.reports.empty());
  CHECK(rig.agent->phase() == AgentState::IDLE);
  const std::string log = rig.log.str();
  const auto first = log.find("ignoring campaign MAPS for component 'maps'");
  CHECK(first != std::string::npos);
  CHECK(log.find("ignoring campaign MAPS", first + 1) == std::string::npos);  // once
}

TEST_CASE("components: a notice naming another component than its topic is ignored") {
  ComponentRig rig;
  rig.Make([](AgentOptions& o) { o.exit_when_idle = false; });
  REQUIRE(rig.agent->Start().ok());
  rig.agent->Step();
  rig.transport.Deliver(topics::Notice(kTid, ""), MakeNotice("APP", "payapp").SerializeAsString());
  rig.Pump(50);
  CHECK(rig.scheduler.reports.empty());
}

TEST_CASE("components: anti-rollback compares with the component's own version") {
  ComponentRig rig;
  v1::Download& app = rig.scheduler.download_by_campaign["APP"];
  app.set_version("3.0");  // older than payapp's 3.1, although newer than the system's 1.0
  rig.Make([](AgentOptions& o) { o.exit_when_idle = false; });
  REQUIRE(rig.agent->Start().ok());
  rig.agent->Step();
  rig.Notify(MakeNotice("APP", "payapp", "3.0"));
  rig.Pump(200);
  REQUIRE(rig.scheduler.statuses.size() == 1);
  CHECK(rig.scheduler.statuses[0].state() == v1::Status::FAILED);
  CHECK(rig.scheduler.statuses[0].version() == "3.1");
  CHECK(rig.downloader.requests.empty());
  CHECK(ReadFile(rig.dir.path() / "payapp.version") == "3.1\n");
}

TEST_CASE("components: a GO whose download names another component is refused") {
  ComponentRig rig;
  rig.scheduler.download_by_campaign["APP"].set_component("");
  rig.Make([](AgentOptions& o) { o.exit_when_idle = false; });
  REQUIRE(rig.agent->Start().ok());
  rig.agent->Step();
  rig.Notify(MakeNotice("APP", "payapp", "3.2"));
  rig.Pump(200);
  REQUIRE(rig.scheduler.statuses.size() == 1);
  CHECK(rig.scheduler.statuses[0].state() == v1::Status::FAILED);
  CHECK(rig.scheduler.statuses[0].detail().find("the download is for component ''") != std::string::npos);
  CHECK(rig.downloader.requests.empty());
}

}  // namespace
}  // namespace slotwise::agent::testing
