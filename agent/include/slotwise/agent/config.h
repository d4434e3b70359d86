// The agent's configuration: a `key = value` file (one setting per line,
// lines whose first non-blank character is `#` are comments), read once at
// start-up into AgentConfig and validated; a few keys may be overridden from
// the command line. agent/slotwise-agent.conf.sample documents every key.
//
// Threading: pure functions, safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "slotwise/geo.h"
#include "slotwise/result.h"
#include "slotwise/v1/terminal.pb.h"

namespace slotwise::agent {

// A component other than the system image (schemas/README.md "Components"):
// `component.NAME.version_file` and `component.NAME.install_command`.
struct ComponentConfig {
  // 1-32 characters of [a-z0-9._-], not "system" (topics::IsValidComponentName).
  std::string name;
  // Holds the component's installed version (first line), like version_file.
  std::filesystem::path version_file;
  // Installs it: /bin/sh -c, SLOTWISE_FILE, SLOTWISE_VERSION and
  // SLOTWISE_COMPONENT in the environment; exit 0 = installed.
  std::string install_command;
  // The installed image, kept as the base of delta downloads (schemas/README.md
  // "Delta artifacts"): the agent applies a delta to this file when its
  // SHA-256 is the delta's base, and replaces it with each image it
  // installs. Default: none (no deltas: full images only).
  std::filesystem::path image_path{};
};

// A Report carries at most this many components besides the system image
// (Report.components, terminal.proto).
inline constexpr std::size_t kMaxComponents = 32;

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
  // How the terminal reaches the network (`link_kind = gprs|edge|umts|lte|
  // wifi|ethernet`), reported in S7 for the scheduler's capacity in bytes.
  // Default: unspecified (not reported).
  v1::LinkKind link_kind = v1::LINK_KIND_UNSPECIFIED;
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
  // The first reconnect after losing an established connection waits a
  // random time up to this (AgentOptions::reconnect_spread): a broker
  // restart drops a whole fleet at once, and this is what spreads its
  // return. 0 = no spread. Default: 60 s.
  std::chrono::seconds reconnect_spread{60};
  // MQTT password (the username is the terminal id). Default: none.
  std::string password;
  // TLS (Paho ssl options; used with an ssl:// or mqtts:// broker URI): the
  // CA bundle that verifies the broker, and the client certificate + key
  // (PEM) whose CN is the terminal id. Default: none (empty).
  std::filesystem::path tls_ca_file;
  std::filesystem::path tls_cert_file;
  std::filesystem::path tls_key_file;
  // Ed25519 public key (PEM) that artifact manifests must be signed with
  // (schemas/README.md, "Artifact signatures"). When set, an unsigned or
  // badly signed artifact is refused. Default: none (SHA-256 only).
  std::filesystem::path public_key_file;
  // Alternative to `location`: a /bin/sh command whose first output line is
  // `lat,lon`, run once at start. Default: none.
  std::string location_command;
  // Busy check, consulted before a download and before an install: the
  // terminal is busy while `busy_file` exists, or while `busy_command`
  // exits 0. Either, both or neither. Default: none (never busy).
  std::filesystem::path busy_file;
  std::string busy_command;
  // While busy, look again after this long. Default: 10 s.
  std::chrono::seconds busy_retry{10};
  // Download speed limit in KiB/s; 0 = unlimited. Default: 0.
  std::uint64_t download_rate_limit_kbps = 0;
  // Fetch attempts per GO (each resumes what is on disk), with exponential
  // backoff and full jitter between them; then the agent asks the scheduler
  // again. Default: 6.
  std::uint32_t download_attempts = 6;
  // Downloads whose size or SHA-256 mismatch before the campaign is
  // reported FAILED. Default: 3.
  std::uint32_t verify_attempts = 3;
  // Times a refused URL (HTTP 401/403/404/410) or an unreachable node sends
  // the agent back to the scheduler before the campaign is reported FAILED.
  // Default: 5.
  std::uint32_t max_rechecks = 5;
  // Disk space that must remain free after the download. Default: 1 MiB.
  std::uint64_t min_free_bytes = 1024 * 1024;
  // The system image's installed image, the base of its deltas
  // (ComponentConfig::image_path). Default: none (full images only).
  std::filesystem::path image_path;
  // Components besides the system image (whose keys are version_file and
  // install_command above), sorted by name. Default: none (a v1 terminal).
  std::vector<ComponentConfig> components;

  // The component `name` names (canonical: "" or "system" is the system
  // image, whose entry is made from version_file / install_command, with the
  // name ""); nullopt for a component this terminal does not have.
  std::optional<ComponentConfig> Component(std::string_view name) const;
};

// (key, value) pairs applied after the file, as if they were its last lines,
// but allowed to replace a key the file already set.
using ConfigOverrides = std::vector<std::pair<std::string, std::string>>;

// `source_name` only labels error messages ("agent.conf:7: unknown key ...").
// Every problem is INVALID_ARGUMENT with a message fit for an operator.
Result<AgentConfig> ParseAgentConfig(std::string_view text, std::string_view source_name,
                                     const ConfigOverrides& overrides = {});

// `lat,lon` in decimal degrees, in range; nullopt otherwise.
std::optional<LatLon> ParseLatLon(std::string_view text);

// NOT_FOUND if the file cannot be read; otherwise as ParseAgentConfig.
Result<AgentConfig> LoadAgentConfig(const std::filesystem::path& file,
                                    const ConfigOverrides& overrides = {});

}  // namespace slotwise::agent
