#include "slotwise/agent/jobs.h"

#include <algorithm>
#include <tuple>

#include "slotwise/topics.h"

namespace slotwise::agent {
namespace {

using Job = v1::AgentState::Job;

bool Booked(const Job& job) { return job.has_assignment() && job.assignment().slot_start_ms() > 0; }

// Earlier sorts first: slot start, then campaign id.
bool BookedBefore(const v1::Assignment& a, std::string_view a_id, const v1::Assignment& b, std::string_view b_id) {
  return std::tuple(a.slot_start_ms(), a_id) < std::tuple(b.slot_start_ms(), b_id);
}

}  // namespace

std::string_view JobComponent(const v1::Notice& notice) { return topics::CanonicalComponent(notice.component()); }

std::optional<int> UnbookedPendingJob(const v1::AgentState& state) {
  for (int i = 0; i < state.pending_size(); ++i) {
    if (!Booked(state.pending(i))) return i;
  }
  return std::nullopt;
}

std::optional<int> NextPendingJob(const v1::AgentState& state) {
  if (auto unbooked = UnbookedPendingJob(state)) return unbooked;
  std::optional<int> best;
  for (int i = 0; i < state.pending_size(); ++i) {
    const Job& job = state.pending(i);
    if (!best || BookedBefore(job.assignment(), job.notice().campaign_id(), state.pending(*best).assignment(),
                              state.pending(*best).notice().campaign_id())) {
      best = i;
    }
  }
  return best;
}

std::optional<int> EarlierBookedJob(const v1::AgentState& state) {
  std::optional<int> best;
  const v1::Assignment* best_assignment = &state.assignment();
  std::string_view best_id = state.notice().campaign_id();
  for (int i = 0; i < state.pending_size(); ++i) {
    const Job& job = state.pending(i);
    if (!Booked(job)) continue;
    if (BookedBefore(job.assignment(), job.notice().campaign_id(), *best_assignment, best_id)) {
      best = i;
      best_assignment = &job.assignment();
      best_id = job.notice().campaign_id();
    }
  }
  return best;
}

void SwitchToPending(v1::AgentState& state, int index) {
  Job next = state.pending(index);
  state.mutable_pending()->DeleteSubrange(index, 1);
  if (state.has_notice() && !state.notice().campaign_id().empty()) {
    Job* previous = state.add_pending();
    *previous->mutable_notice() = state.notice();
    if (state.has_assignment()) *previous->mutable_assignment() = state.assignment();
  }
  *state.mutable_notice() = next.notice();
  if (next.has_assignment()) {
    *state.mutable_assignment() = next.assignment();
  } else {
    state.clear_assignment();
  }
  state.clear_download();
  state.clear_final_status();
  state.set_download_attempts(0);
  state.set_verify_failures(0);
  state.set_rechecks(0);
  state.set_download_bytes(0);
  state.set_download_ms(0);
}

void NoteDownload(v1::AgentState& state, std::uint64_t bytes, std::uint64_t micros) {
  constexpr std::uint64_t kMaxBytes = 1ULL << 40;
  constexpr std::uint64_t kMaxMs = 30ULL * 24 * 3600 * 1000;
  constexpr std::uint64_t kMaxBps = 10'000'000'000ULL;
  const std::uint64_t ms = std::min(kMaxMs, micros / 1000);
  state.set_download_bytes(std::min(kMaxBytes, bytes));
  state.set_download_ms(ms);
  if (bytes < 64 * 1024 || ms < 1000) return;  // latency, not the link
  const long double rate = static_cast<long double>(state.download_bytes()) * 8000.0L / static_cast<long double>(ms);
  const std::uint64_t bps = rate >= static_cast<long double>(kMaxBps) ? kMaxBps : static_cast<std::uint64_t>(rate);
  const std::uint64_t old = state.link_bps();
  state.set_link_bps(old == 0 ? bps : old / 2 + bps / 2 + (old % 2 + bps % 2) / 2);
}

void AddPending(v1::AgentState& state, const v1::Notice& notice) {
  for (Job& job : *state.mutable_pending()) {
    const bool same_campaign = job.notice().campaign_id() == notice.campaign_id();
    if (same_campaign || JobComponent(job.notice()) == JobComponent(notice)) {
      if (!same_campaign) job.clear_assignment();
      *job.mutable_notice() = notice;
      return;
    }
  }
  *state.add_pending()->mutable_notice() = notice;
}

void DropPending(v1::AgentState& state, std::string_view component) {
  auto* pending = state.mutable_pending();
  for (int i = pending->size() - 1; i >= 0; --i) {
    if (JobComponent(pending->Get(i).notice()) == component) pending->DeleteSubrange(i, 1);
  }
}

void DropPendingCampaign(v1::AgentState& state, std::string_view campaign_id) {
  auto* pending = state.mutable_pending();
  for (int i = pending->size() - 1; i >= 0; --i) {
    if (pending->Get(i).notice().campaign_id() == campaign_id) pending->DeleteSubrange(i, 1);
  }
}

}  // namespace slotwise::agent
