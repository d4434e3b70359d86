#include <doctest/doctest.h>

#include <map>
#include <set>
#include <utility>

#include "slotwise/agent/state_machine.h"

namespace slotwise::agent {
namespace {

using v1::AgentState;

const Phase kPhases[] = {AgentState::IDLE,        AgentState::NOTIFIED,   AgentState::WAITING,
                         AgentState::CHECKING,    AgentState::DOWNLOADING, AgentState::INSTALLING,
                         AgentState::REPORTING};

TEST_CASE("transition table: deterministic, resumable from every phase, everything reachable") {
  std::set<std::pair<Phase, Event>> keys;
  for (const Transition& t : TransitionTable()) {
    CHECK_MESSAGE(keys.insert({t.from, t.event}).second, "two rules for ", PhaseName(t.from), " + ",
                  EventName(t.event));
  }
  for (Phase p : kPhases) CHECK_MESSAGE(NextPhase(p, Event::kResumed).has_value(), PhaseName(p));

  std::set<Phase> reached{AgentState::IDLE};
  for (bool grew = true; grew;) {
    grew = false;
    for (const Transition& t : TransitionTable()) {
      if (reached.count(t.from) && reached.insert(t.to).second) grew = true;
    }
  }
  CHECK(reached.size() == std::size(kPhases));
  // Every phase but IDLE can get back to IDLE (no dead ends).
  for (Phase p : kPhases) {
    std::set<Phase> from{p};
    for (bool grew = true; grew;) {
      grew = false;
      for (const Transition& t : TransitionTable()) {
        if (from.count(t.from) && from.insert(t.to).second) grew = true;
      }
    }
    CHECK_MESSAGE(from.count(AgentState::IDLE), PhaseName(p));
  }
}

TEST_CASE("transition table: the moves of S6-S11") {
  struct Case {
    Phase from;
    Event event;
    std::optional<Phase> to;
  };
  const Case kCases[] = {
      {AgentState::IDLE, Event::kNoticeReceived, AgentState::NOTIFIED},
      {AgentState::NOTIFIED, Event::kAssignmentReceived, AgentState::WAITING},
      {AgentState::WAITING, Event::kStartTimeReached, AgentState::CHECKING},
      {AgentState::CHECKING, Event::kCheckGo, AgentState::DOWNLOADING},
      {AgentState::CHECKING, Event::kCheckTooEarly, AgentState::WAITING},
      {AgentState::CHECKING, Event::kCheckRescheduled, AgentState::WAITING},
      {AgentState::CHECKING, Event::kCheckAlreadyCurrent, AgentState::REPORTING},
      {AgentState::CHECKING, Event::kCheckStandDown, AgentState::REPORTING},
      {AgentState::DOWNLOADING, Event::kDownloadVerified, AgentState::INSTALLING},
      {AgentState::DOWNLOADING, Event::kDownloadFailed, AgentState::REPORTING},
      {AgentState::INSTALLING, Event::kInstallSucceeded, AgentState::REPORTING},
      {AgentState::INSTALLING, Event::kInstallFailed, AgentState::REPORTING},
      {AgentState::REPORTING, Event::kFinalStatusAcked, AgentState::IDLE},
      {AgentState::DOWNLOADING, Event::kResumed, AgentState::CHECKING},
      {AgentState::INSTALLING, Event::kResumed, AgentState::CHECKING},
      {AgentState::WAITING, Event::kResumed, AgentState::WAITING},
      {AgentState::REPORTING, Event::kResumed, AgentState::REPORTING},
      // Not allowed: stale or out-of-order events are ignored.
      {AgentState::IDLE, Event::kStartTimeReached, std::nullopt},
      {AgentState::WAITING, Event::kCheckGo, std::nullopt},
      {AgentState::WAITING, Event::kNoticeReceived, AgentState::NOTIFIED},  // another component's campaign
      {AgentState::CHECKING, Event::kNoticeReceived, std::nullopt},
      {AgentState::DOWNLOADING, Event::kFinalStatusAcked, std::nullopt},
      {AgentState::IDLE, Event::kFinalStatusAcked, std::nullopt},
  };
  for (const Case& c : kCases) {
    INFO(PhaseName(c.from), " + ", EventName(c.event));
    CHECK(NextPhase(c.from, c.event) == c.to);
  }
}

}  // namespace
}  // namespace slotwise::agent
