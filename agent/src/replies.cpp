// What each reply does: TerminalReply on slotwise/v1/t/{tid}/reply, matched
// to its request by correlation data (request_channel.h).
//
//   inventory report -> ack: its notices are taken as retained notices
//                       (permanent errors are logged, the rest retried)
//   every reply      -> server_time_ms teaches the scheduler's clock
//   Report (S7)      -> Assignment (S8): saved, WAITING until start_at_ms (S9)
//   Check (S10)      -> CheckResult: GO starts the download (S11); TOO_EARLY
//                       and RESCHEDULED wait again; ALREADY_CURRENT and
//                       STAND_DOWN go straight to the final status
//   final Status     -> ack: the campaign is finished, IDLE
//   any              -> Error: permanent codes abandon the campaign, the
//                       rest are retried by the request's resend timer
//
// A reply missing the part its kind needs is ignored; the resend timer
// stands. Agent's thread only (called from Agent::Handle).
#include "slotwise/agent/agent.h"
#include "slotwise/agent/jobs.h"

namespace slotwise::agent {
namespace {

using v1::AgentState;

// Refusals that a resend cannot change: the campaign is abandoned. The rest
// (NO_CAPACITY, INTERNAL, unknown codes) are retried with backoff.
bool IsPermanentRefusal(v1::ErrorCode code) {
  switch (code) {
    case v1::MALFORMED:
    case v1::INVALID_ARGUMENT:
    case v1::NOT_FOUND:
    case v1::NOT_IN_CAMPAIGN:
    case v1::FAILED_PRECONDITION:
      return true;
    default:
      return false;
  }
}

}  // namespace

void Agent::HandleReply(const InboundMessage& message) {
  // Replies to an earlier request (answered late, or answered twice after a
  // resend) carry other correlation data and are stale by construction.
  const RequestChannel::Match match = requests_.Classify(message.correlation_data);
  if (match == RequestChannel::Match::kNone) return;
  v1::TerminalReply reply;
  if (!reply.ParseFromString(message.payload)) {
    log_.Warn("ignoring a reply that is not a valid TerminalReply");
    return;
  }
  LearnServerTime(reply, match);
  if (match == RequestChannel::Match::kInventory) {
    HandleInventoryReply(reply);
    return;
  }
  const topics::Leaf leaf = *requests_.phase_leaf();
  if (reply.has_error()) {
    HandleErrorReply(leaf, reply.error());
    return;
  }
  switch (leaf) {
    case topics::Leaf::kReport: HandleAssignmentReply(reply); break;
    case topics::Leaf::kCheck: HandleCheckReply(reply); break;
    case topics::Leaf::kStatus: HandleStatusReply(reply); break;
    default: break;
  }
}

// The inventory report's answer. Its notices (schemas/README.md: every notice
// the terminal should hold now) go through the same path as a retained
// notice, so one for a campaign finished or under way changes nothing.
void Agent::HandleInventoryReply(const v1::TerminalReply& reply) {
  if (reply.has_error()) {
    const std::string what = "inventory report refused: " + v1::ErrorCode_Name(reply.error().code()) + " " +
                             reply.error().message();
    if (!IsPermanentRefusal(reply.error().code())) {
      log_.Warn(what + "; will retry");  // its resend timer stands
      return;
    }
    log_.Warn(what);
  }
  requests_.InventoryAnswered();
  for (const v1::Notice& notice : reply.notices()) {
    InboundMessage message;
    message.topic = topics::Notice(config_.terminal_id, notice.component());
    message.payload = notice.SerializeAsString();
    HandleNotice(message);
    if (fatal_) return;
  }
  inventory_acked_ = true;
}

void Agent::HandleErrorReply(topics::Leaf leaf, const v1::Error& error) {
  const std::string what = std::string(topics::LeafName(leaf)) + " refused: " + v1::ErrorCode_Name(error.code()) +
                           " " + error.message();
  if (!IsPermanentRefusal(error.code())) {
    log_.Warn(what + "; will retry");  // the pending request's resend timer stands
    return;
  }
  log_.Warn(what + "; abandoning campaign " + state_.notice().campaign_id());
  Fire(Event::kRequestRefused, [](AgentState& s) {
    s.clear_notice();
    s.clear_assignment();
    s.clear_download();
    s.clear_final_status();
  });
}

// S8: the assignment of a slot, a node and a start time.
void Agent::HandleAssignmentReply(const v1::TerminalReply& reply) {
  if (!reply.has_assignment()) {
    log_.Warn("report answered without an assignment; will retry");
    return;
  }
  earliest_check_ms_ = 0;
  // Every pending job gets its booking first (one report at a time); then
  // the agent waits for the earliest booked slot (jobs.h).
  AgentState booked = state_;
  *booked.mutable_assignment() = reply.assignment();
  if (const auto unbooked = UnbookedPendingJob(booked)) {
    Fire(Event::kNoticeReceived, [&](AgentState& s) {
      *s.mutable_assignment() = reply.assignment();
      SwitchToPending(s, *unbooked);
    });
    return;
  }
  const auto earlier = EarlierBookedJob(booked);
  Fire(Event::kAssignmentReceived, [&](AgentState& s) {
    *s.mutable_assignment() = reply.assignment();
    if (earlier) SwitchToPending(s, *earlier);
  });
}

// S10: the scheduler's verdict on the check.
void Agent::HandleCheckReply(const v1::TerminalReply& reply) {
  if (!reply.has_check_result()) {
    log_.Warn("check answered without a result; will retry");
    return;
  }
  const v1::CheckResult& result = reply.check_result();
  const TimeMs now = io_.clock.NowMs();
  switch (result.verdict()) {
    case v1::CheckResult::GO:
      if (result.download().url().empty()) {
        log_.Warn("GO without a download URL; will retry");
        return;
      }
      early_checks_ = 0;
      Fire(Event::kCheckGo, [&](AgentState& s) {
        *s.mutable_download() = result.download();
        s.set_download_attempts(0);
        s.set_download_bytes(0);
        s.set_download_ms(0);
      });
      return;
    case v1::CheckResult::TOO_EARLY: {
      const v1::Assignment& next = result.has_assignment() ? result.assignment() : state_.assignment();
      // A start time already past on the scheduler's clock as we know it
      // (the estimate is off by up to half a round trip, or the scheduler
      // has its own reasons): never ask again at once.
      if (next.start_at_ms() <= ServerEarliestMs()) {
        const auto delay = RecheckDelay(++early_checks_);
        log_.Info("check too early although the start time has passed; checking again in " +
                  std::to_string(delay.count()) + " ms");
        if (next.SerializeAsString() == state_.assignment().SerializeAsString()) {
          // Nothing new to save: stay in CHECKING, no state write per round.
          requests_.CancelPhaseRequest();
          check_at_ = now + delay.count();
          check_waiting_ = true;
          return;
        }
        earliest_check_ms_ = now + delay.count();
      } else {
        earliest_check_ms_ = 0;
      }
      Fire(Event::kCheckTooEarly, [&](AgentState& s) { *s.mutable_assignment() = next; });
      return;
    }
    case v1::CheckResult::RESCHEDULED:
      if (!result.has_assignment()) {
        log_.Warn("RESCHEDULED without an assignment; will retry");
        return;
      }
      // A new slot whose start has passed already (by our estimate of the
      // scheduler's clock) is checked after the backoff, not at once.
      earliest_check_ms_ = result.assignment().start_at_ms() <= ServerEarliestMs()
                               ? now + RecheckDelay(++early_checks_).count()
                               : 0;
      Fire(Event::kCheckRescheduled, [&](AgentState& s) { *s.mutable_assignment() = result.assignment(); });
      return;
    case v1::CheckResult::ALREADY_CURRENT:
      Fire(Event::kCheckAlreadyCurrent, [&](AgentState& s) {
        *s.mutable_final_status() = FinalStatus(v1::Status::SUCCEEDED, JobVersion(), result.reason());
      });
      return;
    case v1::CheckResult::STAND_DOWN:
      Fire(Event::kCheckStandDown, [&](AgentState& s) {
        *s.mutable_final_status() = FinalStatus(v1::Status::STOOD_DOWN, JobVersion(), result.reason());
      });
      return;
    default:
      log_.Warn("check answered with an unknown verdict; will retry");
      return;
  }
}

// The final status was acknowledged: the campaign is over for this terminal.
void Agent::HandleStatusReply(const v1::TerminalReply& reply) {
  if (!reply.has_ack()) return;
  const std::string campaign = state_.notice().campaign_id();
  // A campaign the terminal stood down from (paused or cancelled) is not
  // finished: if the operator resumes it, its notice comes again and counts;
  // until then it is not taken up again from the notice already seen.
  const bool stood_down = state_.final_status().state() == v1::Status::STOOD_DOWN;
  finished_a_campaign_ = true;
  Fire(Event::kFinalStatusAcked, [&](AgentState& s) {
    if (!stood_down) {
      s.add_finished_campaigns(campaign);
      auto* finished = s.mutable_finished_campaigns();
      const auto excess = finished->size() - static_cast<int>(options_.max_finished_campaigns);
      if (excess > 0) finished->DeleteSubrange(0, excess);
    }
    s.clear_notice();
    s.clear_assignment();
    s.clear_download();
    s.clear_final_status();
  });
}

}  // namespace slotwise::agent
