// The agent's state machine driven end to end with fakes: for a table of
// scenarios, the chain of phases and the messages sent; then a restart from
// every phase the happy path saves.
#include <doctest/doctest.h>

#include <memory>
#include <set>
#include <sstream>

#include "fakes.h"
#include "rig.h"
#include "slotwise/agent/agent.h"
#include "slotwise/agent/jobs.h"
#include "slotwise/sha256.h"
#include "slotwise/signature.h"
#include "test_keys.h"

namespace slotwise::agent::testing {
namespace {

using namespace ::slotwise::testing;  // test_keys.h
using v1::AgentState;
using v1::CheckResult;


struct Scenario {
  const char* name;
  std::vector<CheckResult::Verdict> verdicts;  // answers to successive checks
  bool corrupt_download;                       // the node serves other bytes
  const char* install_command;
  const char* phases;
  const char* messages;
  v1::Status::State final_state;
  const char* final_version;
  const char* version_file_after;
  const char* detail_part;  // in the final status's detail
};

const Scenario kScenarios[] = {
    {"happy path", {CheckResult::GO}, false, "true",
     "IDLE NOTIFIED WAITING CHECKING DOWNLOADING INSTALLING REPORTING IDLE",
     "report check progress:DOWNLOADING progress:VERIFYING progress:INSTALLING status:SUCCEEDED",
     v1::Status::SUCCEEDED, "2.0", "2.0", ""},
    {"TOO_EARLY then GO", {CheckResult::TOO_EARLY, CheckResult::GO}, false, "true",
     "IDLE NOTIFIED WAITING CHECKING WAITING CHECKING DOWNLOADING INSTALLING REPORTING IDLE",
     "report check check progress:DOWNLOADING progress:VERIFYING progress:INSTALLING status:SUCCEEDED",
     v1::Status::SUCCEEDED, "2.0", "2.0", ""},
    {"RESCHEDULED then GO", {CheckResult::RESCHEDULED, CheckResult::GO}, false, "true",
     "IDLE NOTIFIED WAITING CHECKING WAITING CHECKING DOWNLOADING INSTALLING REPORTING IDLE",
     "report check check progress:DOWNLOADING progress:VERIFYING progress:INSTALLING status:SUCCEEDED",
     v1::Status::SUCCEEDED, "2.0", "2.0", ""},
    {"STAND_DOWN", {CheckResult::STAND_DOWN}, false, "true",
     "IDLE NOTIFIED WAITING CHECKING REPORTING IDLE", "report check status:STOOD_DOWN",
     v1::Status::STOOD_DOWN, "1.0", "1.0", "campaign paused"},
    {"ALREADY_CURRENT", {CheckResult::ALREADY_CURRENT}, false, "true",
     "IDLE NOTIFIED WAITING CHECKING REPORTING IDLE", "report check status:SUCCEEDED",
     v1::Status::SUCCEEDED, "1.0", "1.0", ""},
    {"sha256 mismatch", {CheckResult::GO}, true, "true",
     // Deleted and fetched again, verify_attempts (3) times in all.
     "IDLE NOTIFIED WAITING CHECKING DOWNLOADING DOWNLOADING DOWNLOADING REPORTING IDLE",
     "report check progress:DOWNLOADING progress:VERIFYING progress:DOWNLOADING progress:VERIFYING "
     "progress:DOWNLOADING progress:VERIFYING status:FAILED",
     v1::Status::FAILED, "1.0", "1.0", "sha256 mismatch"},
    {"install command exits 1", {CheckResult::GO}, false, "exit 1",
     "IDLE NOTIFIED WAITING CHECKING DOWNLOADING INSTALLING REPORTING IDLE",
     "report check progress:DOWNLOADING progress:VERIFYING progress:INSTALLING status:FAILED",
     v1::Status::FAILED, "1.0", "1.0", "install command exited with 1"},
    // A refused URL asks the scheduler again (max_rechecks = 1 here).
    {"download fails (HTTP 404)", {CheckResult::GO}, false, "true",
     "IDLE NOTIFIED WAITING CHECKING DOWNLOADING CHECKING DOWNLOADING REPORTING IDLE",
     "report check progress:DOWNLOADING check progress:DOWNLOADING status:FAILED",
     v1::Status::FAILED, "1.0", "1.0", "HTTP 404"},
};

TEST_CASE("agent scenarios: phase chain and messages sent") {
  for (const Scenario& s : kScenarios) {
    SUBCASE(s.name) {
      Rig rig(std::nullopt, s.install_command);
      rig.scheduler.verdicts.assign(s.verdicts.begin(), s.verdicts.end());
      // Same size, other bytes: only the SHA-256 can tell.
      if (s.corrupt_download) rig.downloader.files[kUrl] = "firmware image 6.6\n";
      if (std::string(s.detail_part) == "HTTP 404") {
        rig.downloader.files.clear();
        rig.config.max_rechecks = 1;
      }
      rig.RunToEnd();
      INFO(rig.log.str());

      CHECK(Chain(rig.phases) == s.phases);
      CHECK(Join(rig.scheduler.received) == s.messages);
      CHECK(rig.agent->Done());
      CHECK(rig.agent->phase() == AgentState::IDLE);
      REQUIRE(rig.store->current().has_value());
      CHECK(rig.store->current()->phase() == AgentState::IDLE);
      if (s.final_state == v1::Status::STOOD_DOWN) {
        // Not finished: a resumed campaign's next notice must be taken up.
        CHECK(rig.store->current()->finished_campaigns_size() == 0);
      } else {
        REQUIRE(rig.store->current()->finished_campaigns_size() == 1);
        CHECK(rig.store->current()->finished_campaigns(0) == "C1");
      }
      CHECK(ReadFile(rig.config.version_file) == std::string(s.version_file_after) + "\n");
      CHECK(rig.agent->current_version() == s.version_file_after);

      // The final status is the last request, and was acknowledged.
      const OutboundMessage& last = rig.scheduler.requests.back();
      v1::Status final_status;
      REQUIRE(final_status.ParseFromString(last.payload));
      CHECK(final_status.campaign_id() == "C1");
      CHECK(final_status.state() == s.final_state);
      CHECK(final_status.version() == s.final_version);
      CHECK(final_status.detail().find(s.detail_part) != std::string::npos);

      // Every request names the reply topic and has its own correlation data.
      std::set<std::string> correlations;
      for (const OutboundMessage& m : rig.scheduler.requests) {
        CHECK(m.response_topic == "slotwise/v1/t/T001/reply");
        CHECK_FALSE(m.correlation_data.empty());
        CHECK(m.correlation_data.size() <= 64);
        correlations.insert(m.correlation_data);
      }
      CHECK(correlations.size() == rig.scheduler.requests.size());
      // Downloads never stay behind, verified or not.
      CHECK((!std::filesystem::exists(rig.config.download_dir) ||
             std::filesystem::is_empty(rig.config.download_dir)));
    }
  }
}

TEST_CASE("the report carries what S7 needs and the download names the terminal") {
  Rig rig;
  rig.RunToEnd();
  v1::Report report;
  REQUIRE(report.ParseFromString(rig.scheduler.requests.at(0).payload));
  CHECK(rig.scheduler.requests.at(0).topic == "slotwise/v1/t/T001/report");
  CHECK(report.campaign_id() == "C1");
  CHECK(report.current_version() == "1.0");
  CHECK(report.target_version() == "2.0");
  CHECK(report.location().lat() == doctest::Approx(31.23));
  CHECK(report.location().lon() == doctest::Approx(121.47));
  CHECK(report.system_id() == "pos-os-7");

  v1::Check check;
  REQUIRE(check.ParseFromString(rig.scheduler.requests.at(1).payload));
  CHECK(rig.scheduler.requests.at(1).topic == "slotwise/v1/t/T001/check");
  CHECK(check.campaign_id() == "C1");
  CHECK(check.current_version() == "1.0");
  CHECK(check.slot() == rig.store->history().at(2).assignment().slot());  // resume, NOTIFIED, WAITING
  CHECK(rig.store->history().at(2).phase() == AgentState::WAITING);
  CHECK(check.slot() != 0);

  REQUIRE(rig.downloader.requests.size() == 1);
  CHECK(rig.downloader.requests[0].url == kUrl);
  CHECK(rig.downloader.requests[0].headers == std::vector<std::string>{"X-Slotwise-Terminal: T001"});
  CHECK(rig.downloader.requests[0].destination.parent_path() == rig.config.download_dir);
}

TEST_CASE("the check is sent at start_at_ms, not before") {
  Rig rig;
  rig.Make();
  REQUIRE(rig.agent->Start().ok());
  rig.agent->Step();  // connected, notice -> NOTIFIED, report sent
  rig.agent->Step();  // assignment -> WAITING
  REQUIRE(rig.agent->phase() == AgentState::WAITING);
  const TimeMs start_at = rig.agent->state().assignment().start_at_ms();
  CHECK(start_at == kStartMs + rig.scheduler.start_delay_ms);
  CHECK(rig.agent->NextWakeMs() == start_at);
  rig.clock.Set(start_at - 1);
  rig.agent->Step();
  CHECK(rig.agent->phase() == AgentState::WAITING);
  rig.clock.Set(start_at);
  rig.agent->Step();
  CHECK(rig.agent->phase() == AgentState::CHECKING);
}

TEST_CASE("restart from every saved phase resumes the campaign") {
  Rig first;
  first.RunToEnd();
  REQUIRE(first.agent->Done());

  struct Expected {
    Phase saved;
    const char* phases;
    const char* first_message;
  };
  const Expected kRestarts[] = {
      {AgentState::NOTIFIED, "NOTIFIED WAITING CHECKING DOWNLOADING INSTALLING REPORTING IDLE", "report"},
      {AgentState::WAITING, "WAITING CHECKING DOWNLOADING INSTALLING REPORTING IDLE", "check"},
      {AgentState::CHECKING, "CHECKING DOWNLOADING INSTALLING REPORTING IDLE", "check"},
      // A download or install cut short is not trusted: check again.
      {AgentState::DOWNLOADING, "DOWNLOADING CHECKING DOWNLOADING INSTALLING REPORTING IDLE", "check"},
      {AgentState::INSTALLING, "INSTALLING CHECKING DOWNLOADING INSTALLING REPORTING IDLE", "check"},
      {AgentState::REPORTING, "REPORTING IDLE", "status:SUCCEEDED"},
  };
  for (const Expected& e : kRestarts) {
    SUBCASE(std::string(PhaseName(e.saved)).c_str()) {
      std::optional<AgentState> saved;
      for (const AgentState& s : first.store->history()) {
        if (s.phase() == e.saved) saved = s;
      }
      REQUIRE(saved.has_value());
      Rig rig(saved);
      rig.RunToEnd();
      INFO(rig.log.str());
      CHECK(Chain(rig.phases) == e.phases);
      REQUIRE_FALSE(rig.scheduler.received.empty());
      CHECK(rig.scheduler.received.front() == e.first_message);
      CHECK(rig.scheduler.received.back() == "status:SUCCEEDED");
      CHECK(rig.agent->Done());
      CHECK(rig.store->current()->phase() == AgentState::IDLE);
      CHECK(rig.store->current()->finished_campaigns_size() == 1);
    }
  }
}

TEST_CASE("a restart after the install finished but before REPORTING was saved reports the new version") {
  Rig first;
  first.RunToEnd();
  std::optional<AgentState> installing;
  for (const AgentState& s : first.store->history()) {
    if (s.phase() == AgentState::INSTALLING) installing = s;
  }
  REQUIRE(installing);
  Rig rig(installing);
  WriteFile(rig.config.version_file, "2.0\n");  // the version file was already written
  rig.scheduler.verdicts = {CheckResult::ALREADY_CURRENT};
  rig.RunToEnd();
  CHECK(Chain(rig.phases) == "INSTALLING CHECKING REPORTING IDLE");
  v1::Status final_status;
  REQUIRE(final_status.ParseFromString(rig.scheduler.requests.back().payload));
  CHECK(final_status.state() == v1::Status::SUCCEEDED);
  CHECK(final_status.version() == "2.0");
}

TEST_CASE("an unanswered request is resent with the same correlation data and growing backoff") {
  Rig rig;
  rig.scheduler.drop_requests = 3;
  rig.RunToEnd();
  CHECK(rig.agent->Done());
  const auto& requests = rig.scheduler.requests;
  REQUIRE(requests.size() >= 5);
  for (int i = 0; i < 4; ++i) CHECK(requests[static_cast<std::size_t>(i)].topic == "slotwise/v1/t/T001/report");
  CHECK(requests[1].correlation_data == requests[0].correlation_data);
  CHECK(requests[3].correlation_data == requests[0].correlation_data);
  CHECK(requests[4].correlation_data != requests[0].correlation_data);  // the check
  CHECK(rig.log.str().find("no reply to report yet") != std::string::npos);
}

TEST_CASE("resend timing: first after about reply_timeout, then doubling") {
  Rig rig;
  rig.scheduler.drop_requests = 100;
  rig.Make();
  REQUIRE(rig.agent->Start().ok());
  std::vector<TimeMs> sent_at;
  for (int i = 0; i < 40 && rig.scheduler.requests.size() < 4; ++i) {
    const auto before = rig.scheduler.requests.size();
    rig.agent->Step();
    if (rig.scheduler.requests.size() > before) sent_at.push_back(rig.clock.NowMs());
    rig.clock.Set(*rig.agent->NextWakeMs());
  }
  REQUIRE(sent_at.size() == 4);
  const TimeMs gap1 = sent_at[1] - sent_at[0];
  const TimeMs gap2 = sent_at[2] - sent_at[1];
  const TimeMs gap3 = sent_at[3] - sent_at[2];
  CHECK(gap1 >= 4000);
  CHECK(gap1 <= 6000);
  CHECK(gap2 >= 8000);
  CHECK(gap2 <= 12000);
  CHECK(gap3 >= 16000);
  CHECK(gap3 <= 24000);
}

TEST_CASE("replies with unknown correlation data are ignored") {
  Rig rig;
  rig.scheduler.drop_requests = 1;
  rig.Make();
  REQUIRE(rig.agent->Start().ok());
  rig.agent->Step();
  REQUIRE(rig.agent->phase() == AgentState::NOTIFIED);
  v1::TerminalReply reply;
  *reply.mutable_assignment() = rig.scheduler.MakeAssignment("C1");
  rig.transport.Deliver("slotwise/v1/t/T001/reply", reply.SerializeAsString(), "not-ours");
  rig.agent->Step();
  CHECK(rig.agent->phase() == AgentState::NOTIFIED);
  rig.transport.Deliver("slotwise/v1/t/T001/reply", reply.SerializeAsString(),
                        rig.scheduler.requests.back().correlation_data);
  rig.agent->Step();
  CHECK(rig.agent->phase() == AgentState::WAITING);
}

TEST_CASE("empty or finished notices start nothing") {
  SUBCASE("empty retained notice") {
    Rig rig;
    rig.transport.retained_notice = std::string();
    rig.RunToEnd();
    CHECK(Chain(rig.phases) == "IDLE");
    CHECK(rig.scheduler.received.empty());
    CHECK_FALSE(rig.agent->Done());
  }
  SUBCASE("a notice withdrawn while reporting") {
    Rig rig;
    rig.scheduler.drop_requests = 1;
    rig.Make();
    REQUIRE(rig.agent->Start().ok());
    rig.agent->Step();
    REQUIRE(rig.agent->phase() == AgentState::NOTIFIED);
    rig.transport.Deliver("slotwise/v1/t/T001/notice", "");
    rig.agent->Step();
    CHECK(rig.agent->phase() == AgentState::IDLE);
    CHECK_FALSE(rig.agent->NextWakeMs().has_value());  // no resend pending
  }
  SUBCASE("a finished campaign's notice, still retained after a restart") {
    AgentState saved;
    saved.set_phase(AgentState::IDLE);
    saved.add_finished_campaigns("C1");
    Rig rig(saved);
    rig.transport.session_present = false;  // the retained notice is delivered again
    rig.RunToEnd();
    CHECK(rig.scheduler.received.empty());
    CHECK(rig.agent->Done());  // nothing left to do: --exit-when-idle exits
  }
}

TEST_CASE("a notice for another campaign while busy is taken up once idle") {
  Rig rig;
  rig.Make();
  REQUIRE(rig.agent->Start().ok());
  rig.agent->Step();
  rig.agent->Step();
  REQUIRE(rig.agent->phase() == AgentState::WAITING);
  rig.transport.Deliver("slotwise/v1/t/T001/notice", NoticeBytes("C2"));
  rig.agent->Step();
  CHECK(rig.agent->phase() == AgentState::WAITING);
  CHECK(rig.agent->state().notice().campaign_id() == "C1");
  rig.downloader.files[kUrl] = kFirmware;
  for (int i = 0; i < 200 && rig.store->current()->finished_campaigns_size() < 2; ++i) {
    rig.agent->Step();
    if (!rig.agent->HasQueuedEvents()) rig.clock.Set(std::max(rig.clock.NowMs(), *rig.agent->NextWakeMs()));
  }
  REQUIRE(rig.store->current()->finished_campaigns_size() == 2);
  CHECK(rig.store->current()->finished_campaigns(1) == "C2");
}

TEST_CASE("scheduler refusals") {
  SUBCASE("a permanent refusal abandons the campaign without marking it finished") {
    Rig rig;
    v1::Error e;
    e.set_code(v1::NOT_IN_CAMPAIGN);
    e.set_message("T001 is not in C1");
    rig.scheduler.errors.push_back(e);
    rig.RunToEnd();
    CHECK(Chain(rig.phases) == "IDLE NOTIFIED IDLE");
    CHECK(rig.agent->phase() == AgentState::IDLE);
    CHECK(rig.store->current()->finished_campaigns_size() == 0);
    CHECK_FALSE(rig.agent->NextWakeMs().has_value());
  }
  SUBCASE("NO_CAPACITY is retried") {
    Rig rig;
    v1::Error e;
    e.set_code(v1::NO_CAPACITY);
    rig.scheduler.errors.push_back(e);
    rig.RunToEnd();
    CHECK(rig.agent->Done());
    CHECK(Join(rig.scheduler.received).starts_with("report report check"));
  }
}

TEST_CASE("reconnects back off, and requests wait for the connection") {
  SUBCASE("refused connects are retried with growing, jittered delays") {
    Rig rig;
    rig.transport.refuse_connects = 3;
    rig.Make();
    REQUIRE(rig.agent->Start().ok());
    std::vector<TimeMs> attempts{rig.clock.NowMs()};
    for (int i = 0; i < 20 && rig.transport.connect_calls < 4; ++i) {
      const int before = rig.transport.connect_calls;
      rig.agent->Step();
      if (rig.transport.connect_calls > before) attempts.push_back(rig.clock.NowMs());
      if (!rig.agent->HasQueuedEvents()) rig.clock.Set(*rig.agent->NextWakeMs());
    }
    REQUIRE(attempts.size() == 4);
    // Full jitter: anywhere in [reconnect_floor, ceiling]; the ceiling
    // doubles from reconnect_min (1 s).
    CHECK(attempts[1] - attempts[0] >= 100);
    CHECK(attempts[1] - attempts[0] <= 1000);
    CHECK(attempts[3] - attempts[2] >= 100);
    CHECK(attempts[3] - attempts[2] <= 4000);  // third retry: 4 s ceiling
    CHECK(rig.log.str().find("(ceiling 4000 ms)") != std::string::npos);
    rig.Pump();
    CHECK(rig.agent->Done());
  }
  SUBCASE("the check timer fires while offline; the check goes out on reconnect") {
    Rig rig;
    rig.Make();
    REQUIRE(rig.agent->Start().ok());
    rig.agent->Step();
    rig.agent->Step();
    REQUIRE(rig.agent->phase() == AgentState::WAITING);
    rig.transport.DropConnection();
    rig.agent->Step();
    rig.clock.Set(rig.agent->state().assignment().start_at_ms());
    rig.agent->Step();
    CHECK(rig.agent->phase() == AgentState::CHECKING);
    CHECK(rig.scheduler.received.back() == "report");  // nothing could be sent
    rig.Pump();
    CHECK(rig.agent->Done());
    CHECK(Join(rig.scheduler.received).starts_with("report check progress:DOWNLOADING"));
    CHECK(rig.transport.connect_calls == 2);
  }
}

TEST_CASE("a failed state save stops the agent before it acts") {
  Rig rig;
  FailingStateStore failing;
  AgentOptions options;
  options.log = [](std::string_view) {};
  Agent agent(rig.config, AgentIo{rig.clock, rig.transport, rig.downloader, rig.installer, failing}, options);
  CHECK_FALSE(agent.Start().ok());
  CHECK(agent.Done());
  CHECK(rig.scheduler.received.empty());
}

TEST_CASE("the agent refuses to start without a readable version file") {
  Rig rig;
  std::filesystem::remove(rig.config.version_file);
  rig.Make();
  const auto started = rig.agent->Start();
  REQUIRE_FALSE(started.ok());
  CHECK(started.error().code == v1::NOT_FOUND);
}

TEST_CASE("transition log lines name the terminal") {
  Rig rig;
  rig.RunToEnd();
  CHECK(rig.log.str().find("agent T001: WAITING -> CHECKING\n") != std::string::npos);
  CHECK(rig.log.str().find("agent T001: REPORTING -> IDLE\n") != std::string::npos);
}

}  // namespace
}  // namespace slotwise::agent::testing

namespace slotwise::agent::testing {
namespace {

TEST_CASE("an inventory report goes out on every connect, after connecting") {
  Rig rig;
  rig.transport.retained_notice.reset();
  rig.Make();
  REQUIRE(rig.agent->Start().ok());
  rig.agent->Step();
  REQUIRE(rig.scheduler.inventory.size() == 1);
  v1::Report report;
  REQUIRE(report.ParseFromString(rig.scheduler.inventory[0].payload));
  CHECK(report.campaign_id().empty());
  CHECK(report.current_version() == "1.0");
  CHECK(report.location().lat() == doctest::Approx(31.23));
  CHECK(report.system_id() == "pos-os-7");
  CHECK(rig.scheduler.inventory[0].response_topic == "slotwise/v1/t/T001/reply");
  rig.agent->Step();  // the ack
  rig.transport.DropConnection();
  rig.Pump(20);
  CHECK(rig.transport.connect_calls == 2);
  // schemas/README.md: a terminal sends one on every connect.
  REQUIRE(rig.scheduler.inventory.size() == 2);
  CHECK(rig.scheduler.inventory[1].correlation_data != rig.scheduler.inventory[0].correlation_data);
  CHECK_FALSE(rig.agent->NextWakeMs().has_value());
}

TEST_CASE("a GO that arrives after the slot ended does not start a download") {
  Rig rig;
  rig.scheduler.download.set_not_after_ms(kStartMs + 1);  // long gone by check time
  rig.scheduler.verdicts = {CheckResult::GO, CheckResult::RESCHEDULED};
  rig.Make();
  REQUIRE(rig.agent->Start().ok());
  for (int i = 0; i < 100 && rig.scheduler.received.size() < 4; ++i) {
    rig.agent->Step();
    if (!rig.agent->HasQueuedEvents()) rig.clock.Set(std::max(rig.clock.NowMs(), *rig.agent->NextWakeMs()));
  }
  CHECK(Join(rig.scheduler.received).starts_with("report check check check"));
  CHECK(rig.downloader.requests.empty());
  CHECK(Chain(rig.phases).starts_with("IDLE NOTIFIED WAITING CHECKING DOWNLOADING CHECKING WAITING CHECKING"));
}

}  // namespace
}  // namespace slotwise::agent::testing

namespace slotwise::agent::testing {
namespace {

TEST_CASE("--exit-when-idle after a restart with the campaign already finished") {
  AgentState saved;
  saved.set_phase(AgentState::IDLE);
  saved.add_finished_campaigns("C1");
  SUBCASE("nothing new: done once the inventory report is answered") {
    Rig rig(saved);
    rig.transport.retained_notice.reset();
    rig.Make();
    REQUIRE(rig.agent->Start().ok());
    CHECK_FALSE(rig.agent->Done());
    rig.agent->Step();  // connected, inventory report sent and answered (queued)
    rig.agent->Step();
    CHECK(rig.agent->Done());
  }
  SUBCASE("a new campaign's notice arriving on connect is carried out first") {
    Rig rig(saved);
    rig.transport.session_present = false;
    rig.transport.retained_notice = NoticeBytes("C2");
    rig.RunToEnd();
    CHECK(rig.agent->Done());
    CHECK(Join(rig.scheduler.received).ends_with("status:SUCCEEDED"));
    CHECK(rig.store->current()->finished_campaigns_size() == 2);
  }
  SUBCASE("never finished anything: keeps waiting for a notice") {
    Rig rig;
    rig.transport.retained_notice.reset();
    rig.RunToEnd();
    CHECK_FALSE(rig.agent->Done());
  }
}

}  // namespace
}  // namespace slotwise::agent::testing

namespace slotwise::agent::testing {
namespace {

TEST_CASE("a connection that drops at once does not reset the reconnect backoff") {
  Rig rig;
  rig.transport.retained_notice.reset();
  rig.Make();
  REQUIRE(rig.agent->Start().ok());
  std::vector<TimeMs> gaps;
  for (int round = 0; round < 4; ++round) {
    rig.agent->Step();  // connected
    rig.transport.DropConnection();
    rig.agent->Step();  // lost: reconnect scheduled
    const TimeMs dropped_at = rig.clock.NowMs();
    rig.clock.Set(*rig.agent->NextWakeMs());
    rig.agent->Step();  // reconnects
    gaps.push_back(rig.clock.NowMs() - dropped_at);
  }
  // Ceilings 1, 2, 4, 8 s (full jitter below them): as for refused connects.
  CHECK(gaps[2] <= 4000);
  CHECK(gaps[3] <= 8000);
  CHECK(rig.log.str().find("(ceiling 8000 ms)") != std::string::npos);
}

}  // namespace
}  // namespace slotwise::agent::testing

namespace slotwise::agent::testing {
namespace {

v1::Status FinalStatusOf(const Rig& rig) {
  v1::Status status;
  if (!rig.scheduler.requests.empty()) status.ParseFromString(rig.scheduler.requests.back().payload);
  return status;
}

int Count(const std::vector<std::string>& items, const std::string& what) {
  return static_cast<int>(std::count(items.begin(), items.end(), what));
}

// A larger image, so cuts and progress steps have room.
const std::string kBigFirmware = [] {
  std::string s;
  for (int i = 0; i < 1000; ++i) s += "firmware 2.0 block " + std::to_string(i) + "\n";
  return s;
}();

void UseBigFirmware(Rig& rig) {
  rig.downloader.files[kUrl] = kBigFirmware;
  rig.scheduler.download.set_sha256(Sha256Hex(kBigFirmware));
  rig.scheduler.download.set_size(kBigFirmware.size());
}

TEST_CASE("download faults: the connection cut every few bytes resumes, never refetching what is on disk") {
  Rig rig;
  UseBigFirmware(rig);
  rig.downloader.cut_every = kBigFirmware.size() / 4 + 1;  // 4 responses
  rig.config.download_attempts = 10;
  rig.RunToEnd();
  INFO(rig.log.str());
  CHECK(FinalStatusOf(rig).state() == v1::Status::SUCCEEDED);
  CHECK(rig.downloader.bytes_served == kBigFirmware.size());
  REQUIRE(rig.downloader.requests.size() == 4);
  std::uint64_t expected_from = 0;
  for (const DownloadRequest& r : rig.downloader.requests) {
    CHECK(r.resume_from == expected_from);
    expected_from += rig.downloader.cut_every;
  }
  CHECK(Chain(rig.phases) ==
        "IDLE NOTIFIED WAITING CHECKING DOWNLOADING DOWNLOADING DOWNLOADING DOWNLOADING INSTALLING REPORTING IDLE");
  // Progress about every 10%, not per chunk.
  CHECK(Count(rig.scheduler.received, "progress:DOWNLOADING") <= 11);
  CHECK(rig.store->current()->download_attempts() == 0);
}

TEST_CASE("download faults: a restart in DOWNLOADING keeps the partial file and resumes after the check") {
  Rig first;
  UseBigFirmware(first);
  first.downloader.cut_every = kBigFirmware.size() / 2 + 1;
  first.config.download_attempts = 1;  // the first cut sends it back to the check...
  first.config.max_rechecks = 0;       // ...which is not allowed: FAILED; we only want its saved state
  first.Make();
  std::optional<AgentState> downloading;
  first.RunToEnd();
  for (const AgentState& s : first.store->history()) {
    if (s.phase() == AgentState::DOWNLOADING && !downloading) downloading = s;
  }
  REQUIRE(downloading);
  // Simulate the power loss: the partial file is what the first run left.
  Rig rig(downloading);
  UseBigFirmware(rig);
  rig.config.download_dir = first.config.download_dir;
  const std::string half = kBigFirmware.substr(0, kBigFirmware.size() / 2 + 1);
  std::filesystem::create_directories(rig.config.download_dir);
  WriteFile(rig.config.download_dir / ("pos-2.0.bin." + Sha256Hex(kBigFirmware).substr(0, 16) + ".part"), half);
  rig.RunToEnd();
  INFO(rig.log.str());
  CHECK(FinalStatusOf(rig).state() == v1::Status::SUCCEEDED);
  REQUIRE(rig.downloader.requests.size() == 1);
  CHECK(rig.downloader.requests[0].resume_from == half.size());
  CHECK(rig.downloader.bytes_served == kBigFirmware.size() - half.size());
}

TEST_CASE("download faults: table of outcomes") {
  struct Case {
    const char* name;
    std::function<void(Rig&)> setup;
    v1::Status::State final_state;
    const char* detail_part;
    bool installed;
  };
  const std::string pem_public = std::string(kTestPublicKeyPem);
  const std::string other_public = std::string(kOtherPublicKeyPem);
  auto sign = [](Rig& rig) {
    const v1::Download& d = rig.scheduler.download;
    auto sig = SignEd25519(kTestPrivateKeyPem, ArtifactManifest(d.version(), d.sha256(), d.size()));
    REQUIRE(sig.ok());
    rig.scheduler.download.set_signature(*sig);
  };
  auto with_key = [&](Rig& rig, const std::string& pem) {
    WriteFile(rig.dir.path() / "key.pub", pem);
    rig.config.public_key_file = rig.dir.path() / "key.pub";
  };
  const Case kCases[] = {
      {"expired URL (403) then a fresh one", [](Rig& r) { r.downloader.refuse = 1; }, v1::Status::SUCCEEDED, "", true},
      {"expired URL every time: bounded, then FAILED",
       [](Rig& r) {
         r.downloader.refuse = 100;
         r.config.max_rechecks = 2;
       },
       v1::Status::FAILED, "HTTP 403", false},
      {"node down twice, then up", [](Rig& r) { r.downloader.node_down = 2; }, v1::Status::SUCCEEDED, "", true},
      {"node down for good: asks again, then FAILED",
       [](Rig& r) {
         r.downloader.node_down = 1000;
         r.config.download_attempts = 2;
         r.config.max_rechecks = 1;
       },
       v1::Status::FAILED, "connect", false},
      {"corrupted once, then good",
       [](Rig& r) {
         r.downloader.files[kUrl] = "firmware image 6.6\n";
         r.downloader.on_fetch = [&r](int n) {
           if (n == 2) r.downloader.files[kUrl] = kFirmware;
         };
       },
       v1::Status::SUCCEEDED, "", true},
      {"good signature", [&](Rig& r) { sign(r); with_key(r, pem_public); }, v1::Status::SUCCEEDED, "", true},
      {"wrong signature (other key)", [&](Rig& r) { sign(r); with_key(r, other_public); }, v1::Status::FAILED,
       "signature", false},
      {"unsigned artifact with a key configured", [&](Rig& r) { with_key(r, pem_public); }, v1::Status::FAILED,
       "not signed", false},
      {"downgrade refused",
       [](Rig& r) {
         WriteFile(r.config.version_file, "3.1\n");
       },
       v1::Status::FAILED, "refusing to downgrade", false},
      {"downgrade allowed by the campaign",
       [](Rig& r) {
         WriteFile(r.config.version_file, "3.1\n");
         r.scheduler.download.set_allow_downgrade(true);
       },
       v1::Status::SUCCEEDED, "", true},
      {"a release after its release candidate is not a downgrade",
       [](Rig& r) { WriteFile(r.config.version_file, "2.0-rc1\n"); }, v1::Status::SUCCEEDED, "", true},
      {"1.10 is newer than 1.9",
       [](Rig& r) {
         WriteFile(r.config.version_file, "1.10\n");
         r.scheduler.download.set_version("1.9");
       },
       v1::Status::FAILED, "refusing to downgrade from 1.10 to 1.9", false},
      {"not enough disk space", [](Rig& r) { r.config.min_free_bytes = std::uint64_t{1} << 62; }, v1::Status::FAILED,
       "not enough disk space", false},
      {"busy before the download and before the install",
       [](Rig& r) { r.busy.busy_calls = 3; }, v1::Status::SUCCEEDED, "", true},
  };
  for (const Case& c : kCases) {
    SUBCASE(c.name) {
      Rig rig;
      rig.config.install_command = "touch \"$SLOTWISE_FILE.installed\"";
      c.setup(rig);
      rig.RunToEnd(400);
      INFO(rig.log.str());
      CHECK(rig.agent->Done());
      const v1::Status final_status = FinalStatusOf(rig);
      CHECK(final_status.state() == c.final_state);
      CHECK(final_status.detail().find(c.detail_part) != std::string::npos);
      const bool installed = std::filesystem::exists(rig.config.download_dir / "pos-2.0.bin.installed");
      CHECK(installed == c.installed);
      if (!c.installed) CHECK(Count(rig.scheduler.received, "progress:INSTALLING") == 0);
    }
  }
}

TEST_CASE("busy: the agent defers, looking again after busy_retry, and never interrupts") {
  Rig rig;
  rig.busy.busy_calls = 2;
  rig.config.busy_retry = std::chrono::seconds(10);
  rig.RunToEnd();
  CHECK(FinalStatusOf(rig).state() == v1::Status::SUCCEEDED);
  CHECK(rig.busy.calls == 4);  // download: busy, busy, free; install: free
  CHECK(rig.log.str().find("terminal busy") != std::string::npos);
}

TEST_CASE("busy past the end of the slot: the agent asks for a later slot") {
  Rig rig;
  rig.busy.busy_calls = 1;
  rig.config.busy_retry = std::chrono::seconds(10);
  rig.scheduler.download.set_not_after_ms(kStartMs + 5000);  // slot over before the second look
  rig.scheduler.verdicts = {CheckResult::GO, CheckResult::RESCHEDULED};
  rig.scheduler.on_check = [&rig](int n) {
    if (n == 3) rig.scheduler.download.set_not_after_ms(0);
  };
  rig.RunToEnd();
  INFO(rig.log.str());
  CHECK(Chain(rig.phases) ==
        "IDLE NOTIFIED WAITING CHECKING DOWNLOADING CHECKING WAITING CHECKING DOWNLOADING INSTALLING REPORTING IDLE");
  CHECK(FinalStatusOf(rig).state() == v1::Status::SUCCEEDED);
}

}  // namespace
}  // namespace slotwise::agent::testing

namespace slotwise::agent::testing {
namespace {

// Connects, then loses the established connection (the reconnect is then
// scheduled).
void LoseEstablishedConnection(Rig& rig) {
  rig.transport.retained_notice.reset();
  REQUIRE(rig.agent->Start().ok());
  rig.agent->Step();  // connected
  rig.transport.DropConnection();
  rig.agent->Step();  // lost: reconnect scheduled
}

// Handles what is queued (a failed attempt schedules the next), jumps to the
// next connect attempt and makes it; returns how long the agent waited.
TimeMs WaitForNextAttempt(Rig& rig) {
  rig.agent->Step();
  const TimeMs from = rig.clock.NowMs();
  const int connects = rig.transport.connect_calls;
  rig.clock.Set(*rig.agent->NextWakeMs());
  rig.agent->Step();
  REQUIRE(rig.transport.connect_calls == connects + 1);
  return rig.clock.NowMs() - from;
}

TEST_CASE("reconnect storm: the first reconnect after losing an established connection is spread wide") {
  // 300 terminals that lose the broker at one instant: their first attempts
  // cover [reconnect_floor, reconnect_spread] evenly, not the first second.
  constexpr int kTerminals = 300;
  const TimeMs kSpreadMs = AgentOptions{}.reconnect_spread.count();
  std::vector<int> per_5s(static_cast<std::size_t>(kSpreadMs / 5000 + 1), 0);
  TimeMs shortest = kSpreadMs, longest = 0;
  for (int i = 0; i < kTerminals; ++i) {
    Rig rig;
    rig.Make([&](AgentOptions& o) { o.random_seed = 1000 + static_cast<std::uint64_t>(i); });
    LoseEstablishedConnection(rig);
    const TimeMs gap = WaitForNextAttempt(rig);
    CHECK(gap >= 100);
    CHECK(gap <= kSpreadMs);
    shortest = std::min(shortest, gap);
    longest = std::max(longest, gap);
    ++per_5s[static_cast<std::size_t>(gap / 5000)];
    if (i == 0) CHECK(rig.log.str().find("(spread " + std::to_string(kSpreadMs) + " ms)") != std::string::npos);
  }
  CHECK(shortest < 2000);
  CHECK(longest > kSpreadMs - 2000);
  // Uniform: kTerminals * 5 s / spread expected per 5 s bucket; no bucket
  // near the whole fleet.
  const double expected = kTerminals * 5000.0 / static_cast<double>(kSpreadMs);
  for (std::size_t b = 0; b + 1 < per_5s.size(); ++b) {
    INFO("bucket " << b);
    CHECK(per_5s[b] >= expected / 2);
    CHECK(per_5s[b] <= expected * 1.6);
  }
}

TEST_CASE("after the spread attempt fails, the backoff doubles from reconnect_min") {
  Rig rig;
  rig.Make();
  LoseEstablishedConnection(rig);
  rig.transport.refuse_connects = 1;  // the broker is still down
  WaitForNextAttempt(rig);
  CHECK(WaitForNextAttempt(rig) <= 2000);
  CHECK(rig.log.str().find("(ceiling 2000 ms)") != std::string::npos);
}

TEST_CASE("a refused first connect is not spread: a terminal that never got in retries soon") {
  Rig rig;
  rig.transport.refuse_connects = 1;
  rig.Make();
  REQUIRE(rig.agent->Start().ok());
  CHECK(WaitForNextAttempt(rig) <= 1000);
  CHECK(rig.log.str().find("(ceiling 1000 ms)") != std::string::npos);
}

TEST_CASE("reconnect_spread no wider than the ceiling changes nothing") {
  Rig rig;
  rig.Make([](AgentOptions& o) { o.reconnect_spread = std::chrono::milliseconds(0); });
  LoseEstablishedConnection(rig);
  const TimeMs gap = WaitForNextAttempt(rig);
  CHECK(gap >= 100);
  CHECK(gap <= 1000);
}

TEST_CASE("reconnect_jitter = false reproduces Paho's schedule: 1, 2, 4, 8 s exactly") {
  Rig rig;
  rig.Make([](AgentOptions& o) { o.reconnect_jitter = false; });
  LoseEstablishedConnection(rig);
  rig.transport.refuse_connects = 3;
  std::vector<TimeMs> gaps;
  for (int i = 0; i < 4; ++i) gaps.push_back(WaitForNextAttempt(rig));
  CHECK(gaps == std::vector<TimeMs>{1000, 2000, 4000, 8000});
  CHECK(rig.log.str().find("(no jitter, ceiling 8000 ms)") != std::string::npos);
}

}  // namespace
}  // namespace slotwise::agent::testing

namespace slotwise::agent::testing {

TEST_CASE("link speed: the final status carries the download's bytes and time, and later reports the measured rate") {
  const std::string image(100 * 1024, 'x');  // 102,400 bytes in 2 s: 409,600 bit/s
  Rig rig;
  rig.config.link_kind = v1::GPRS;
  rig.scheduler.download.set_sha256(Sha256Hex(image));
  rig.scheduler.download.set_size(image.size());
  rig.downloader.files[kUrl] = image;
  rig.downloader.micros_per_fetch = 2'000'000;
  rig.RunToEnd();
  REQUIRE(rig.scheduler.statuses.size() == 1);
  const v1::Status& done = rig.scheduler.statuses[0];
  CHECK(done.state() == v1::Status::SUCCEEDED);
  CHECK(done.download_bytes() == image.size());
  CHECK(done.download_ms() == 2'000);
  // Before any download: the link kind from the config, no measured rate.
  REQUIRE_FALSE(rig.scheduler.reports.empty());
  CHECK(rig.scheduler.reports[0].link_kind() == v1::GPRS);
  CHECK(rig.scheduler.reports[0].link_bps() == 0);
  const AgentState saved = rig.store->history().back();
  CHECK(saved.link_bps() == 409'600);

  // The rate is in the state file: after a restart, the inventory report
  // on connect says it.
  Rig again(saved);
  again.RunToEnd();
  REQUIRE_FALSE(again.scheduler.inventory.empty());
  v1::Report inventory;
  REQUIRE(inventory.ParseFromString(again.scheduler.inventory.back().payload));
  CHECK(inventory.link_bps() == 409'600);
}

TEST_CASE("link speed: a download too short to measure the link leaves the rate alone") {
  AgentState state;
  state.set_link_bps(1'000'000);
  NoteDownload(state, 1'000'000, 999'000);  // under a second
  CHECK(state.link_bps() == 1'000'000);
  CHECK(state.download_bytes() == 1'000'000);
  CHECK(state.download_ms() == 999);
  NoteDownload(state, 60'000, 10'000'000);  // under 64 KiB
  CHECK(state.link_bps() == 1'000'000);
  NoteDownload(state, 250'000, 1'000'000);  // 2 Mbit/s: the EWMA moves halfway
  CHECK(state.link_bps() == 1'500'000);
  state.set_link_bps(1'000'000);
  NoteDownload(state, 1'250'000'000'000ULL, 1'000'000);  // 10 Tbit/s: capped, bytes bounded
  CHECK(state.link_bps() == 5'000'500'000ULL);
  CHECK(state.download_bytes() == (1ULL << 40));
}

}  // namespace slotwise::agent::testing
