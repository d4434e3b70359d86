// What the long-running steps of S11 (download_step.h, install_step.h) share:
// the context their agent hands them and the outcome they hand back. A step
// does the I/O and decides what happened; the agent turns the outcome into a
// transition (agent.cpp, Agent::RunWork), so the steps never touch the
// saved state or the transition table.
//
// Private to slotwise_agent. A step runs on its agent's thread and blocks
// only that agent.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>

#include "slotwise/agent/agent_log.h"
#include "slotwise/agent/config.h"
#include "slotwise/clock.h"
#include "slotwise/v1/terminal.pb.h"

namespace slotwise::agent {

struct StepContext {
  const AgentConfig& config;
  const AgentLog& log;
  const Clock& clock;
  std::mt19937_64& rng;
  std::stop_token stop;
  // The installed version of the component the current job installs.
  std::string_view current_version;
  // That component: its install command and version file (AgentConfig::Component).
  ComponentConfig component;
  std::string_view public_key_pem;  // empty: signatures are not checked
  // The latest the scheduler's clock can be now (slot times are on it;
  // server_clock.h): a download starts only while this is before the slot's end.
  std::function<TimeMs()> server_latest;
  // Is a payment in progress? (the agent logs the first "busy" of a phase)
  std::function<bool()> is_busy;
  // Best-effort progress on .../status.
  std::function<void(v1::Status::State state, std::uint32_t percent)> progress;
};

struct StepOutcome {
  enum class Kind {
    kDone,          // download: verified and in place; install: installed and recorded
    kBusy,          // a payment is running: run the step again after busy_retry
    kFailed,        // final FAILED with `detail`
    kRetry,         // download: fetch again after `delay`
    kRecheck,       // download: ask the scheduler again (URL refused, node unreachable)
    kWindowMissed,  // download: the slot ended before it could start
    kInterrupted,   // a stop was requested during the fetch; the saved phase stands
  };
  Kind kind = Kind::kDone;
  std::string detail;
  // kRetry: the wait, the saved attempt count, and whether a verification failed.
  std::chrono::milliseconds delay{0};
  std::uint32_t attempts = 0;
  bool verify_failed = false;
  // Install kDone: the version now installed.
  std::string version;
  // Download kDone: the bytes this step's transfers received and the time
  // they took (DownloadRequest::on_measured); 0 when nothing was fetched.
  std::uint64_t download_bytes = 0;
  std::uint64_t download_micros = 0;

  static StepOutcome Of(Kind kind, std::string detail = {}) {
    StepOutcome out;
    out.kind = kind;
    out.detail = std::move(detail);
    return out;
  }
};

}  // namespace slotwise::agent
