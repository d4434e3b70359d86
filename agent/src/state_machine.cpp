#include "slotwise/agent/state_machine.h"

#include <array>

namespace slotwise::agent {
namespace {

using S = v1::AgentState;

// The whole protocol of the terminal side, S6-S11. Restart rules (kResumed):
// a phase whose action is a request is simply re-entered (the request is
// sent again, which the scheduler treats idempotently); a download or install
// cut short by power loss is not trusted and goes back to the check, so the
// scheduler decides again (GO, or ALREADY_CURRENT if the install finished).
constexpr std::array kTable{
    Transition{S::IDLE, Event::kNoticeReceived, S::NOTIFIED},
    // A newer campaign of the same component replaces it; or, booked, the
    // next pending job reports (jobs.h).
    Transition{S::NOTIFIED, Event::kNoticeReceived, S::NOTIFIED},
    Transition{S::NOTIFIED, Event::kNoticeCleared, S::IDLE},
    Transition{S::NOTIFIED, Event::kAssignmentReceived, S::WAITING},
    Transition{S::NOTIFIED, Event::kRequestRefused, S::IDLE},
    Transition{S::WAITING, Event::kStartTimeReached, S::CHECKING},
    // A notice of another component while waiting: report it now (the
    // waiting job keeps its booking, pending), then wait for the earliest.
    Transition{S::WAITING, Event::kNoticeReceived, S::NOTIFIED},
    Transition{S::CHECKING, Event::kCheckGo, S::DOWNLOADING},
    Transition{S::CHECKING, Event::kCheckTooEarly, S::WAITING},
    Transition{S::CHECKING, Event::kCheckRescheduled, S::WAITING},
    Transition{S::CHECKING, Event::kCheckAlreadyCurrent, S::REPORTING},
    Transition{S::CHECKING, Event::kCheckStandDown, S::REPORTING},
    Transition{S::CHECKING, Event::kRequestRefused, S::IDLE},
    Transition{S::DOWNLOADING, Event::kDownloadVerified, S::INSTALLING},
    Transition{S::DOWNLOADING, Event::kDownloadFailed, S::REPORTING},
    // Never start a download outside the slot: the node's capacity in the
    // next slot belongs to other terminals. The check gets a new slot.
    Transition{S::DOWNLOADING, Event::kDownloadWindowMissed, S::CHECKING},
    // A cut connection or a corrupted file: the phase is saved again with
    // the attempt counted, and the fetch resumes from what is on disk.
    Transition{S::DOWNLOADING, Event::kDownloadRetry, S::DOWNLOADING},
    // An expired or refused URL is not a failure: the scheduler may hand
    // out a fresh URL or another node (bounded by AgentConfig::max_rechecks).
    Transition{S::DOWNLOADING, Event::kDownloadRefused, S::CHECKING},
    Transition{S::INSTALLING, Event::kInstallSucceeded, S::REPORTING},
    Transition{S::INSTALLING, Event::kInstallFailed, S::REPORTING},
    Transition{S::REPORTING, Event::kFinalStatusAcked, S::IDLE},
    Transition{S::REPORTING, Event::kRequestRefused, S::IDLE},
    Transition{S::IDLE, Event::kResumed, S::IDLE},
    Transition{S::NOTIFIED, Event::kResumed, S::NOTIFIED},
    Transition{S::WAITING, Event::kResumed, S::WAITING},
    Transition{S::CHECKING, Event::kResumed, S::CHECKING},
    Transition{S::DOWNLOADING, Event::kResumed, S::CHECKING},
    Transition{S::INSTALLING, Event::kResumed, S::CHECKING},
    Transition{S::REPORTING, Event::kResumed, S::REPORTING},
};

}  // namespace

std::span<const Transition> TransitionTable() { return kTable; }

std::optional<Phase> NextPhase(Phase from, Event event) {
  for (const Transition& t : kTable) {
    if (t.from == from && t.event == event) return t.to;
  }
  return std::nullopt;
}

std::string_view PhaseName(Phase phase) {
  switch (phase) {
    case S::IDLE: return "IDLE";
    case S::NOTIFIED: return "NOTIFIED";
    case S::WAITING: return "WAITING";
    case S::CHECKING: return "CHECKING";
    case S::DOWNLOADING: return "DOWNLOADING";
    case S::INSTALLING: return "INSTALLING";
    case S::REPORTING: return "REPORTING";
    default: return "PHASE_UNSPECIFIED";
  }
}

std::string_view EventName(Event event) {
  switch (event) {
    case Event::kNoticeReceived: return "notice-received";
    case Event::kNoticeCleared: return "notice-cleared";
    case Event::kAssignmentReceived: return "assignment-received";
    case Event::kStartTimeReached: return "start-time-reached";
    case Event::kCheckGo: return "check-go";
    case Event::kCheckTooEarly: return "check-too-early";
    case Event::kCheckRescheduled: return "check-rescheduled";
    case Event::kCheckAlreadyCurrent: return "check-already-current";
    case Event::kCheckStandDown: return "check-stand-down";
    case Event::kDownloadVerified: return "download-verified";
    case Event::kDownloadFailed: return "download-failed";
    case Event::kDownloadWindowMissed: return "download-window-missed";
    case Event::kDownloadRetry: return "download-retry";
    case Event::kDownloadRefused: return "download-refused";
    case Event::kInstallSucceeded: return "install-succeeded";
    case Event::kInstallFailed: return "install-failed";
    case Event::kFinalStatusAcked: return "final-status-acked";
    case Event::kRequestRefused: return "request-refused";
    case Event::kResumed: return "resumed";
  }
  return "unknown";
}

}  // namespace slotwise::agent
