// S11, the install step: the verified file at DownloadPath (artifact.h)
// handed to the install hook, and the new version recorded.
//
// In order: the manifest check again (signature, anti-rollback; the file is
// deleted if it fails); the busy check; the install command (killed after
// install_timeout); the file is removed, used or not; version_file is
// rewritten atomically. A failure after the command succeeded but before the
// version is recorded is FAILED: the next campaign installs again (install
// commands must be idempotent, agent/README.md "Design notes").
//
// Private to slotwise_agent. Runs on the agent's thread and blocks it for
// the install; a stop request does not interrupt the command (a
// half-flashed terminal is worse than a slow shutdown).
#pragma once

#include "slotwise/agent/installer.h"
#include "slotwise/v1/agent_state.pb.h"
#include "step.h"

namespace slotwise::agent {

// `state` is the saved INSTALLING state: its notice and download. kDone
// carries the version now installed.
StepOutcome RunInstallStep(const StepContext& context, const v1::AgentState& state, Installer& installer);

}  // namespace slotwise::agent
