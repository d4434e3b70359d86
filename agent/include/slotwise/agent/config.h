// The agent's configuration: a `key = value` file (one setting per line,
// lines whose first non-blank character is `#` are comments), read once at
// start-up into AgentConfig and validated; a few keys may be overridden from
// the command line. agent/slotwise-agent.conf.sample documents every key.
//
// Threading: pure functions, safe from any thread.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "slotwise/geo.h"
#include "slotwise/result.h"

namespace slotwise::agent {

struct AgentConfig {
  // MQTT broker URI, e.g. tcp://127.0.0.1:1883. Required.
  std::string broker;
  // 1-64 of [A-Za-z0-9._-]; also the MQTT client id and username. Required.
  std::string terminal_id;
  // Where state.pb (the saved state machine) lives; created if missing.
  // Required.
  std::filesystem::path state_dir;
  // File holding the installed version string; read at start, rewritten
  // atomically after a successful install. Must exist. Required.
  std::filesystem::path version_file;
  // The terminal's position, reported in S7 so the scheduler picks the
  // nearest cluster. `lat,lon` in decimal degrees. Required.
  LatLon location;
  // Reported in S7 (the terminal's system / model identifier). Default: "".
  std::string system_id;
  // Run with /bin/sh -c; environment SLOTWISE_FILE (the verified download)
  // and SLOTWISE_VERSION (the target version); exit code 0 = installed.
  // Required.
  std::string install_command;
  // The install command is killed after this long and counts as failed.
  // Default: 300 s.
  std::chrono::seconds install_timeout{300};
  // Where downloads are written. Default: state_dir/downloads.
  std::filesystem::path download_dir;
  // MQTT keep-alive interval. Default: 30 s.
  std::chrono::seconds keepalive{30};
};

// (key, value) pairs applied after the file, as if they were its last lines,
// but allowed to replace a key the file already set.
using ConfigOverrides = std::vector<std::pair<std::string, std::string>>;

// `source_name` only labels error messages ("agent.conf:7: unknown key ...").
// Every problem is INVALID_ARGUMENT with a message fit for an operator.
Result<AgentConfig> ParseAgentConfig(std::string_view text, std::string_view source_name,
                                     const ConfigOverrides& overrides = {});

// NOT_FOUND if the file cannot be read; otherwise as ParseAgentConfig.
Result<AgentConfig> LoadAgentConfig(const std::filesystem::path& file,
                                    const ConfigOverrides& overrides = {});

}  // namespace slotwise::agent
