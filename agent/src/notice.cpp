// S6: a notice arrives on slotwise/v1/t/{tid}/notice (retained, QoS 1).
//
// A notice for a campaign the terminal has not finished starts it (IDLE ->
// NOTIFIED, whose entry sends the Report of S7), also while NOTIFIED for
// another campaign. While further along, the newest notice is kept and
// taken up once IDLE again. An empty retained notice means nothing to do.
// Agent's thread only (called from Agent::Handle).
#include "slotwise/agent/agent.h"

namespace slotwise::agent {

using v1::AgentState;

void Agent::HandleNotice(const InboundMessage& message) {
  if (message.payload.empty()) {
    latest_notice_.reset();
    if (state_.phase() == AgentState::NOTIFIED) {
      Fire(Event::kNoticeCleared, [](AgentState& s) { s.clear_notice(); });
    }
    return;
  }
  v1::Notice notice;
  if (!notice.ParseFromString(message.payload) || notice.campaign_id().empty()) {
    log_.Warn("ignoring a notice that is not a valid Notice");
    return;
  }
  if (IsFinished(notice.campaign_id())) {
    // The scheduler clears the notice after our final status; until then it
    // is still retained. Nothing is left to do for it: that also counts as
    // done for exit_when_idle (a restart after finishing).
    if (state_.phase() == AgentState::IDLE) finished_a_campaign_ = true;
    return;
  }
  latest_notice_ = notice;
  const Phase phase = state_.phase();
  if (phase == AgentState::IDLE ||
      (phase == AgentState::NOTIFIED && notice.campaign_id() != state_.notice().campaign_id())) {
    StartNotice(notice);
  } else if (notice.campaign_id() != state_.notice().campaign_id()) {
    log_.Info("notice for campaign " + notice.campaign_id() + " kept for later; busy with campaign " +
              state_.notice().campaign_id());
  }
}

void Agent::StartNotice(const v1::Notice& notice) {
  Fire(Event::kNoticeReceived, [&](AgentState& s) {
    *s.mutable_notice() = notice;
    s.clear_assignment();
    s.clear_download();
    s.clear_final_status();
    s.set_download_attempts(0);
    s.set_verify_failures(0);
    s.set_rechecks(0);
  });
}

}  // namespace slotwise::agent
