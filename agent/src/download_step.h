// S11, the download step: from a GO's v1::Download to a verified file at
// DownloadPath (artifact.h), ready for the install step.
//
// In order: the manifest check (signature, anti-rollback; nothing is
// fetched if it fails); a file verified before an interrupted install is
// verified again, never trusted; the slot's not_after_ms bounds when a
// download may start (not when a resumed one may go on); the busy check;
// free disk space; the fetch, resumed with Range from the .part on disk;
// then size and SHA-256 against the Download, and the rename into place.
// Failures by kind are in agent/README.md ("What it does", 7-8).
//
// Private to slotwise_agent. Runs on the agent's thread and blocks it for
// the transfer; a stop request (StepContext::stop) interrupts the fetch.
#pragma once

#include <chrono>

#include "slotwise/agent/downloader.h"
#include "slotwise/v1/agent_state.pb.h"
#include "step.h"

namespace slotwise::agent {

struct DownloadRetry {
  // Between fetch attempts: full jitter, a random delay in
  // [0, min(max, min * 2^(attempt-1))] (AgentOptions::download_retry_*).
  std::chrono::milliseconds min;
  std::chrono::milliseconds max;
};

// `state` is the saved DOWNLOADING state: its download, download_attempts
// and verify_failures.
StepOutcome RunDownloadStep(const StepContext& context, const v1::AgentState& state, Downloader& downloader,
                            DownloadRetry retry);

}  // namespace slotwise::agent
