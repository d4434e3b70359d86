// The scheduler's clock on the agent (server_clock.h): the offset learned
// from TerminalReply.server_time_ms, slot times judged on it whatever the
// terminal's own clock says, and every re-check path bounded and backed off.
// Also the inventory report's notices (a terminal that lost its state).
#include <doctest/doctest.h>

#include <algorithm>

#include "fakes.h"
#include "rig.h"
#include "slotwise/agent/server_clock.h"

namespace slotwise::agent::testing {
namespace {

using v1::CheckResult;

int CountSaved(const MemoryStateStore& store, v1::AgentState::Phase phase) {
  const auto& h = store.history();
  return static_cast<int>(std::count_if(h.begin(), h.end(), [&](const auto& s) { return s.phase() == phase; }));
}

TEST_CASE("server clock: each reply bounds the scheduler's clock, and the estimate is the middle") {
  ServerClock clock;
  CHECK_FALSE(clock.synced());
  CHECK(clock.Now(50, 1'000'000) == 1'000'000);  // no stamp yet: the wall clock
  CHECK(clock.Earliest(50, 1'000'000) == 1'000'000);
  // Sent at 100, back at 300: the stamp was taken somewhere in between.
  clock.Observe(5'000'000, 100, 300);
  REQUIRE(clock.synced());
  CHECK(clock.uncertainty_ms() == 200);
  CHECK(clock.Now(300, 0) == 5'000'100);       // the middle: stamped at 200
  CHECK(clock.Earliest(300, 0) == 5'000'000);  // at the latest stamped at 300
  CHECK(clock.Now(1300, 0) == 5'001'100);
  // The wall clock jumps: the scheduler's clock does not.
  CHECK(clock.Now(1300, 42) == 5'001'100);
  CHECK(clock.OffsetMs(1300, 1'000) == 5'000'100);
  // No stamp (a scheduler from before server_time_ms) or a reply before its request: ignored.
  clock.Observe(0, 2000, 2010);
  clock.Observe(9'000'000, 3000, 2000);
  CHECK(clock.Now(1300, 0) == 5'001'100);
  CHECK(clock.uncertainty_ms() == 200);
}

TEST_CASE("server clock: a slow round trip never makes the estimate worse, a quick one narrows it") {
  ServerClock clock;
  clock.Observe(5'000'000, 100, 300);  // offset in [4'999'700, 4'999'900]
  // 10 s in the scheduler's queue (a fleet reporting at once): the interval
  // is wide and adds nothing.
  clock.Observe(5'010'300, 400, 10'400);  // offset in [4'999'900, 5'009'900]
  CHECK(clock.uncertainty_ms() == 0);     // meets the first at its top
  CHECK(clock.Now(20'000, 0) == 5'019'900);
  ServerClock other;
  other.Observe(5'000'000, 100, 300);
  other.Observe(5'000'850, 1000, 1010);  // offset in [4'999'840, 4'999'850]
  CHECK(other.uncertainty_ms() == 10);
  CHECK(other.Now(2000, 0) == 5'001'845);
  CHECK(other.Earliest(2000, 0) == 5'001'840);
}

TEST_CASE("server clock: a reply that does not fit, or an old interval, starts again") {
  ServerClock clock;
  clock.Observe(5'000'000, 100, 300);
  clock.Observe(9'000'000, 400, 420);  // the scheduler's clock was set forward
  CHECK(clock.Now(420, 0) == 9'000'010);
  CHECK(clock.uncertainty_ms() == 20);
  // Much later, a wider interval that still meets it replaces it (drift).
  const TimeMs later = 420 + ServerClock::kMaxAgeMs + 1;
  clock.Observe(9'000'000 + later - 400, later - 200, later);
  CHECK(clock.uncertainty_ms() == 200);
}

// The terminal's clock is off by `skew` (its clock minus the scheduler's):
// it must check once, at the start time on the scheduler's clock, and upgrade.
void UpgradesWithSkew(TimeMs skew) {
  CAPTURE(skew);
  Rig rig;
  rig.scheduler.server_offset_ms = -skew;
  rig.scheduler.enforce_start = true;
  rig.scheduler.start_delay_ms = 2500;
  // The slot is 1 s long on the scheduler's clock, from start_at.
  rig.scheduler.on_check = [&](int) { rig.scheduler.download.set_not_after_ms(rig.scheduler.ServerNow() + 1000); };
  rig.RunToEnd(400);
  REQUIRE(rig.scheduler.check_times.size() == 1);
  const auto& saved = rig.store->history();
  const auto waiting = std::find_if(saved.begin(), saved.end(),
                                    [](const auto& s) { return s.phase() == v1::AgentState::WAITING; });
  REQUIRE(waiting != saved.end());
  CHECK(rig.scheduler.check_times[0] >= waiting->assignment().start_at_ms());
  CHECK(rig.scheduler.check_times[0] < waiting->assignment().start_at_ms() + 1000);
  CHECK(rig.agent->current_version() == "2.0");
  CHECK(Join(rig.scheduler.received).ends_with("status:SUCCEEDED"));
}

TEST_CASE("a terminal whose clock runs an hour ahead waits for its slot on the scheduler's clock") {
  UpgradesWithSkew(3'600'000);
}

TEST_CASE("a terminal whose clock runs 30 s behind starts in its slot") { UpgradesWithSkew(-30'000); }

TEST_CASE("a terminal whose clock is right, against a scheduler that sends no time, behaves as before") {
  Rig rig;
  rig.scheduler.enforce_start = true;
  rig.RunToEnd();
  CHECK(rig.scheduler.check_times.size() == 1);
  CHECK(rig.agent->current_version() == "2.0");
}

TEST_CASE("TOO_EARLY after the start time backs off, without a state write per check") {
  Rig rig;
  rig.scheduler.server_offset_ms = 0;
  // The scheduler answers TOO_EARLY with the same assignment for 20 s past
  // the start time (its reasons are its own): the agent must neither spin
  // nor write its state for each answer.
  rig.scheduler.enforce_start = true;
  rig.scheduler.too_early_after_start_ms = 20'000;
  rig.Make([](AgentOptions& o) {
    o.min_recheck_delay = std::chrono::milliseconds(1000);
    o.max_recheck_delay = std::chrono::milliseconds(8000);
  });
  rig.RunToEnd(400);
  CHECK(rig.agent->current_version() == "2.0");
  // Back-off 1, <=2, <=4, <=8, <=8 ... s (jitter from 1 s): about 20 s fits
  // at most 20 checks even at the floor, and exactly 20 without a back-off.
  const auto& t = rig.scheduler.check_times;
  const auto too_early = t.size() - 1;
  CHECK(too_early >= 3);
  CHECK(too_early < 12);
  REQUIRE(t.size() >= 4);
  CHECK(t.back() - t[t.size() - 2] >= 1000);
  // CHECKING saved once for the first check, never for the TOO_EARLY rounds
  // (the assignment did not change): no WAITING <-> CHECKING per answer.
  CHECK(CountSaved(*rig.store, v1::AgentState::CHECKING) == 1);
}

TEST_CASE("a GO whose slot already ended is re-checked a bounded number of times, backing off") {
  Rig rig;
  rig.config.max_rechecks = 3;
  rig.scheduler.server_offset_ms = 0;
  // Every GO arrives with its slot over (on the scheduler's clock).
  rig.scheduler.on_check = [&](int) { rig.scheduler.download.set_not_after_ms(rig.scheduler.ServerNow() - 1); };
  rig.RunToEnd(400);
  CHECK(rig.downloader.requests.empty());
  CHECK(rig.scheduler.check_times.size() == 4);  // the first + max_rechecks
  const auto& t = rig.scheduler.check_times;
  REQUIRE(t.size() == 4);
  for (std::size_t i = 1; i < t.size(); ++i) CHECK(t[i] - t[i - 1] >= 1000);
  REQUIRE(rig.store->current());
  CHECK(Join(rig.scheduler.received).ends_with("status:FAILED"));
  CHECK(rig.log.str().find("gave up after 3 new checks") != std::string::npos);
}

// Issue 14: on a loaded sharded cell every reply spent long on its way back,
// so the middle of the agent's interval ran behind the scheduler's clock, and
// a GO that arrived after its slot's end looked in time: the download started
// late and counted in the node's next slot at nginx. The slot's end is judged
// on the latest the scheduler's clock can be.
TEST_CASE("a GO that comes back slowly after its slot's end is not used: the terminal checks again") {
  Rig rig;
  rig.scheduler.server_offset_ms = 0;
  rig.scheduler.reply_latency_ms = 1500;  // every reply: stamped, then 1.5 s on the way back
  std::vector<TimeMs> slot_ends;
  rig.scheduler.on_check = [&](int n) {
    // The first check reaches the scheduler 1 s before its slot ends (the
    // GO arrives 0.5 s after it); a later one has a whole slot ahead.
    slot_ends.push_back(rig.scheduler.ServerNow() + (n == 1 ? 1000 : 60'000));
    rig.scheduler.download.set_not_after_ms(slot_ends.back());
  };
  std::vector<TimeMs> fetched_at;
  rig.downloader.on_fetch = [&](int) { fetched_at.push_back(rig.scheduler.ServerNow()); };
  rig.RunToEnd(400);
  REQUIRE(fetched_at.size() == 1);
  REQUIRE(rig.scheduler.check_times.size() == 2);
  CHECK(fetched_at[0] < slot_ends[1]);
  CHECK(fetched_at[0] > slot_ends[0]);  // not in the first slot, which had ended
  CHECK(rig.agent->current_version() == "2.0");
  CHECK(rig.agent->ServerEarliestMs() <= rig.scheduler.ServerNow());
  CHECK(rig.agent->ServerLatestMs() >= rig.scheduler.ServerNow());
}

// The same run after the fix above: 19 starts were still 2-190 ms late at
// nginx although the GO had come 30-400 ms before the slot's end; the agent
// had judged the slot before its progress message, a publish through a busy
// shared client. The slot is judged again right before the request.
TEST_CASE("a start delayed past the slot's end after the GO (a slow progress publish) is not made") {
  Rig rig;
  rig.scheduler.server_offset_ms = 0;
  rig.scheduler.progress_latency_ms = 500;
  std::vector<TimeMs> slot_ends;
  rig.scheduler.on_check = [&](int n) {
    slot_ends.push_back(rig.scheduler.ServerNow() + (n == 1 ? 200 : 60'000));
    rig.scheduler.download.set_not_after_ms(slot_ends.back());
  };
  std::vector<TimeMs> fetched_at;
  rig.downloader.on_fetch = [&](int) { fetched_at.push_back(rig.scheduler.ServerNow()); };
  rig.RunToEnd(400);
  REQUIRE(fetched_at.size() == 1);
  REQUIRE(slot_ends.size() == 2);
  CHECK(fetched_at[0] > slot_ends[0]);
  CHECK(fetched_at[0] < slot_ends[1]);
  CHECK(rig.agent->current_version() == "2.0");
}

TEST_CASE("server clock: the latest the scheduler's clock can be is the interval's top") {
  ServerClock clock;
  CHECK(clock.Latest(50, 1'000'000) == 1'000'000);  // no stamp yet: the wall clock
  clock.Observe(5'000'000, 100, 300);               // stamped in [100, 300]
  CHECK(clock.Latest(300, 0) == 5'000'200);         // stamped at 100 at the earliest
  CHECK(clock.Earliest(300, 0) == 5'000'000);
  clock.Observe(5'000'850, 1000, 1010);  // offset in [4'999'840, 4'999'850]
  CHECK(clock.Latest(2000, 0) == 5'001'850);
}

TEST_CASE("busy until the slot ended: a later slot, not counted as a re-check") {
  Rig rig;
  rig.config.max_rechecks = 0;
  rig.config.busy_retry = std::chrono::seconds(1);
  rig.scheduler.server_offset_ms = 0;
  rig.scheduler.on_check = [&](int n) {
    rig.scheduler.download.set_not_after_ms(rig.scheduler.ServerNow() + (n == 1 ? 500 : 60'000));
    rig.scheduler.verdicts = {CheckResult::GO};
  };
  rig.busy.busy_calls = 2;
  rig.RunToEnd(400);
  CHECK(rig.scheduler.check_times.size() == 2);
  CHECK(rig.agent->current_version() == "2.0");
}

// Finding 5: the state file was lost; the broker kept the session, so the
// retained notice never comes again. The inventory Ack's notices bring it.
TEST_CASE("lost state: the notice from the inventory Ack gets the terminal back into its campaign") {
  v1::AgentState empty;
  empty.set_phase(v1::AgentState::IDLE);
  Rig rig(empty);  // session present: no retained notice is delivered
  v1::Notice notice;
  REQUIRE(notice.ParseFromString(NoticeBytes("C1")));
  rig.scheduler.inventory_notices = {notice};
  rig.RunToEnd();
  CHECK(Join(rig.scheduler.received).starts_with("report check"));
  CHECK(rig.agent->current_version() == "2.0");
}

TEST_CASE("an inventory notice for a campaign finished or under way changes nothing") {
  v1::Notice notice;
  REQUIRE(notice.ParseFromString(NoticeBytes("C1")));
  SUBCASE("finished") {
    v1::AgentState saved;
    saved.set_phase(v1::AgentState::IDLE);
    saved.add_finished_campaigns("C1");
    Rig rig(saved);
    rig.scheduler.inventory_notices = {notice};
    rig.RunToEnd();
    CHECK(rig.scheduler.received.empty());
    CHECK(rig.agent->phase() == v1::AgentState::IDLE);
  }
  SUBCASE("waiting for its slot") {
    Rig first;
    first.scheduler.start_delay_ms = 600'000;
    first.Make();
    REQUIRE(first.agent->Start().ok());
    for (int i = 0; i < 10 && first.agent->phase() != v1::AgentState::WAITING; ++i) first.agent->Step();
    REQUIRE(first.agent->phase() == v1::AgentState::WAITING);
    Rig rig(first.agent->state());
    rig.scheduler.inventory_notices = {notice};
    rig.Make();
    REQUIRE(rig.agent->Start().ok());
    for (int i = 0; i < 10; ++i) rig.agent->Step();
    CHECK(rig.scheduler.received.empty());  // no second report
    CHECK(rig.agent->phase() == v1::AgentState::WAITING);
    CHECK(rig.agent->state().assignment().SerializeAsString() == first.agent->state().assignment().SerializeAsString());
  }
}

}  // namespace
}  // namespace slotwise::agent::testing
