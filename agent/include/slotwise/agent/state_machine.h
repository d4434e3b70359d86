// The agent's state machine, as data: the phases (AgentState.Phase from
// schemas/slotwise/v1/agent_state.proto, so the saved phase is the wire
// enum), the events that move between them, and the one table holding every
// allowed transition. agent.h performs the actions; this file only says
// which moves are legal, so the whole protocol can be read in one place.
//
// Threading: constant data and pure functions, safe from any thread.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "slotwise/v1/agent_state.pb.h"

namespace slotwise::agent {

using Phase = v1::AgentState::Phase;

enum class Event {
  kNoticeReceived,        // S6 notice for a campaign not yet finished
  kNoticeCleared,         // empty retained notice: the scheduler withdrew it
  kAssignmentReceived,    // S8 reply to the report
  kStartTimeReached,      // S9 keep-alive timer reached Assignment.start_at_ms
  kCheckGo,               // S10 verdict GO, with a Download
  kCheckTooEarly,         // S10 verdict TOO_EARLY, wait (for the returned slot)
  kCheckRescheduled,      // S10 verdict RESCHEDULED, wait for the new slot
  kCheckAlreadyCurrent,   // S10 verdict ALREADY_CURRENT -> final SUCCEEDED
  kCheckStandDown,        // S10 verdict STAND_DOWN -> final STOOD_DOWN
  kDownloadVerified,      // S11 file fetched, size and SHA-256 match
  kDownloadFailed,        // S11 fetch or verification failed -> final FAILED
  kDownloadWindowMissed,  // GO came after Download.not_after_ms: ask again
  kDownloadRetry,         // a fetch was cut or a file failed SHA-256: fetch again (resumes)
  kDownloadRefused,       // URL refused/expired, or node unreachable after retries: ask again
  kInstallSucceeded,      // install command exited 0, version file written
  kInstallFailed,         // install command failed or timed out -> final FAILED
  kFinalStatusAcked,      // the scheduler acknowledged the final Status
  kRequestRefused,        // the scheduler answered a request with a permanent error
  kResumed,               // the agent started with this phase saved on disk
};

struct Transition {
  Phase from;
  Event event;
  Phase to;
};

// Every legal transition; anything not listed is ignored (and logged).
std::span<const Transition> TransitionTable();

// The phase `event` leads to from `from`, or nullopt if the table has no
// such move.
std::optional<Phase> NextPhase(Phase from, Event event);

std::string_view PhaseName(Phase phase);
std::string_view EventName(Event event);

}  // namespace slotwise::agent
