// S6: a notice arrives on slotwise/v1/t/{tid}/notice (the system image) or
// .../notice/{component} (retained, QoS 1), or in the inventory report's Ack
// (treated the same way).
//
// One job per campaign (jobs.h). A notice for a campaign the terminal has
// not finished starts it when IDLE (IDLE -> NOTIFIED, whose entry sends the
// Report of S7); while NOTIFIED for another campaign of the same component
// it replaces it (a newer notice on a component's topic replaces the older
// one); otherwise it is kept as a pending job, persisted. A pending job of
// another component while WAITING is reported at once (WAITING -> NOTIFIED),
// so every job holds a booking and the earliest booked slot is served first.
// An empty retained notice drops what is pending for its component (and
// the current job, if it had only reported).
//
// A notice of a component this terminal does not have (not in its config)
// is ignored with a warning: the terminal reports no such component, so
// the scheduler has nothing to place (agent/README.md, schemas/README.md).
// Agent's thread only (called from Agent::Handle).
#include <algorithm>

#include "slotwise/agent/agent.h"
#include "slotwise/agent/jobs.h"

namespace slotwise::agent {

using v1::AgentState;

void Agent::HandleNotice(const InboundMessage& message) {
  const auto topic_component = topics::NoticeComponentOf(message.topic);
  if (!topic_component) return;
  const std::string component(topics::CanonicalComponent(*topic_component));
  if (message.payload.empty()) {
    if (state_.phase() == AgentState::NOTIFIED && JobComponent(state_.notice()) == component) {
      Fire(Event::kNoticeCleared, [&](AgentState& s) {
        DropPending(s, component);
        s.clear_notice();
      });
      return;
    }
    const auto& pending = state_.pending();
    if (std::any_of(pending.begin(), pending.end(),
                    [&](const auto& job) { return JobComponent(job.notice()) == component; })) {
      SaveState([&](AgentState& s) { DropPending(s, component); });
    }
    return;
  }
  v1::Notice notice;
  if (!notice.ParseFromString(message.payload) || notice.campaign_id().empty()) {
    log_.Warn("ignoring a notice that is not a valid Notice");
    return;
  }
  // The topic says which component; a notice naming another is not trusted.
  if (topics::CanonicalComponent(notice.component()) != component) {
    log_.Warn("ignoring a notice for component '" + notice.component() + "' on the topic of component '" + component +
              "'");
    return;
  }
  notice.set_component(component);
  if (!config_.Component(component)) {
    if (unknown_component_campaigns_.insert(notice.campaign_id()).second) {
      log_.Warn("ignoring campaign " + notice.campaign_id() + " for component '" + component +
                "': this terminal has no such component (no component." + component + ".* in its config)");
    }
    return;
  }
  if (IsFinished(notice.campaign_id())) {
    // The scheduler clears the notice after our final status; until then it
    // is still retained. Nothing is left to do for it: that also counts as
    // done for exit_when_idle (a restart after finishing).
    if (state_.phase() == AgentState::IDLE) finished_a_campaign_ = true;
    return;
  }
  const Phase phase = state_.phase();
  const std::string& current = state_.notice().campaign_id();
  if (notice.campaign_id() == current && phase != AgentState::IDLE) return;  // already on it
  const bool same_component = JobComponent(state_.notice()) == component;
  if (phase == AgentState::IDLE || (phase == AgentState::NOTIFIED && same_component)) {
    StartNotice(notice);
    return;
  }
  if (phase == AgentState::WAITING && !same_component) {
    // Get this campaign's booking now, so the earliest slot is served first;
    // the waiting job keeps its booking as a pending job.
    Fire(Event::kNoticeReceived, [&](AgentState& s) {
      AddPending(s, notice);
      SwitchToPending(s, *UnbookedPendingJob(s));
    });
    return;
  }
  log_.Info("notice for campaign " + notice.campaign_id() + " kept for later; busy with campaign " + current);
  SaveState([&](AgentState& s) { AddPending(s, notice); });
}

void Agent::StartPendingJob(int index) {
  Fire(Event::kNoticeReceived, [&](AgentState& s) {
    s.clear_notice();
    s.clear_assignment();
    SwitchToPending(s, index);
    s.clear_assignment();  // NOTIFIED reports again: the same booking comes back, or a new one
  });
}

void Agent::StartNotice(const v1::Notice& notice) {
  Fire(Event::kNoticeReceived, [&](AgentState& s) {
    DropPendingCampaign(s, notice.campaign_id());
    *s.mutable_notice() = notice;
    s.clear_assignment();
    s.clear_download();
    s.clear_final_status();
    s.set_download_attempts(0);
    s.set_verify_failures(0);
    s.set_rechecks(0);
    s.set_download_bytes(0);
    s.set_download_ms(0);
  });
}

}  // namespace slotwise::agent
