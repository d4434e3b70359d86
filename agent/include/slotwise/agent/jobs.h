// Jobs: one per campaign the terminal has work in (AgentState, fields 1-9
// the current job, `pending` the others; schemas/slotwise/v1/agent_state.proto).
// The agent works on one at a time; these pure functions decide which, so
// the order is tested on its own (tests/agent/jobs_test.cpp).
//
// Order: a job with no booking yet comes first (it must report to get one;
// notices in the order they came), then the booked jobs by slot start
// (Assignment.slot_start_ms), ties by campaign id. So once every job holds a
// booking, the agent waits for the earliest booked slot.
//
// Pure; safe from any thread on distinct states.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "slotwise/v1/agent_state.pb.h"

namespace slotwise::agent {

// The job's component, canonical ("" = the system image).
std::string_view JobComponent(const v1::Notice& notice);

// The index in state.pending() of the job to work on next; nullopt when
// nothing is pending.
std::optional<int> NextPendingJob(const v1::AgentState& state);
// The index of a pending job with no booking yet; nullopt if every one has one.
std::optional<int> UnbookedPendingJob(const v1::AgentState& state);
// The index of the pending job whose booked slot starts before the current
// job's assignment; nullopt when the current job is the earliest.
std::optional<int> EarlierBookedJob(const v1::AgentState& state);

// Makes pending[index] the current job: the current one (if it has a
// notice) goes into pending with its notice and assignment; the per-job
// counters and the download and final status start afresh.
void SwitchToPending(v1::AgentState& state, int index);

// Keeps `notice` for later: it replaces a pending job of the same campaign
// or the same component (a newer notice on a component's topic replaces the
// older one), else it is added. Its booking, if it had one, is dropped when
// the campaign changed.
void AddPending(v1::AgentState& state, const v1::Notice& notice);
// Drops the pending jobs of `component` (its notice was cleared).
void DropPending(v1::AgentState& state, std::string_view component);
// Drops the pending job of `campaign_id`, if any.
void DropPendingCampaign(v1::AgentState& state, std::string_view campaign_id);

// A verified download's measurement (the bytes its transfers received and
// their time) into `state`: download_bytes / download_ms for the job's
// final status (at most 1 TiB and 30 days, the scheduler's bounds), and the
// link rate the agent reports (link_bps, at most 10 Gbit/s) as an EWMA with
// weight 1/2 when it moved at least 64 KiB in at least 1 s.
void NoteDownload(v1::AgentState& state, std::uint64_t bytes, std::uint64_t micros);

}  // namespace slotwise::agent
