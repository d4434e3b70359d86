// The broker plugin's configuration: every `plugin_opt_*` line, parsed and
// validated once at plugin init into PluginConfig, then only read.
//
// Pure code with no mosquitto dependency, so the unit tests exercise it
// directly. ParseConfig is safe from any thread; a PluginConfig is immutable
// after parsing, so concurrent reads are safe.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "slotwise/result.h"

namespace slotwise::broker {

// Which rules a connection is held to (schemas/README.md, "Access").
enum class Role { kTerminal, kOperator, kService };

std::string_view RoleName(Role role);

// One `plugin_opt_KEY value` line, with the `plugin_opt_` prefix already
// stripped by mosquitto.
struct Option {
  std::string_view key;
  std::string_view value;
};

// How a terminal authenticates (plugin_opt_terminal_auth).
enum class TerminalAuth {
  kPassword,               // "password": username + password from the file
  kCertificate,            // "certificate": TLS client certificate, CN = id
  kPasswordOrCertificate,  // "password_or_certificate" (default)
  kUsernameOnly,           // "username_only": NO secret; trusted networks only
};

std::string_view TerminalAuthName(TerminalAuth mode);

inline constexpr std::string_view kDefaultStatsTopic = "slotwise/v1/stats/broker";

struct PluginConfig {
  // Usernames of the scheduler service. plugin_opt_services.
  // Default: {"slotwise-scheduler"}.
  std::set<std::string, std::less<>> services{"slotwise-scheduler"};
  // Usernames of operators (the `slotwise` CLI). plugin_opt_operators.
  // Default: empty (no operator can connect).
  std::set<std::string, std::less<>> operators;

  // mosquitto_passwd-format file holding the (hashed) passwords of services,
  // operators and terminals. plugin_opt_password_file. Required.
  std::string password_file;
  // How a terminal proves its id. plugin_opt_terminal_auth.
  // Default: kPasswordOrCertificate.
  TerminalAuth terminal_auth = TerminalAuth::kPasswordOrCertificate;
  // Largest payload accepted on a terminal upstream topic; larger gets 0x95.
  // plugin_opt_max_payload_bytes. Default: 8192.
  std::size_t max_payload_bytes = 8192;
  // Per-terminal token bucket for upstream messages: refill rate and size.
  // plugin_opt_rate_limit_per_second (default 5), plugin_opt_rate_limit_burst
  // (default 20).
  double rate_per_second = 5.0;
  std::uint32_t rate_burst = 20;
  // A terminal with this many rate-limited messages inside one window of
  // flood_window_ms is disconnected. plugin_opt_flood_disconnect_after
  // (default 100, 0 = never), plugin_opt_flood_window_seconds (default 10).
  std::uint32_t flood_disconnect_after = 100;
  std::int64_t flood_window_ms = 10'000;
  // Counters are published every stats_interval_ms on stats_topic.
  // plugin_opt_stats_interval_seconds (default 10, 0 = never),
  // plugin_opt_stats_topic (default slotwise/v1/stats/broker).
  std::int64_t stats_interval_ms = 10'000;
  std::string stats_topic{kDefaultStatsTopic};

  // Every username not named above is held to the terminal rules.
  Role RoleOf(std::string_view username) const;
};

// The option keys this version understands, for error messages and docs.
inline constexpr std::string_view kOptServices = "services";
inline constexpr std::string_view kOptOperators = "operators";
inline constexpr std::string_view kOptPasswordFile = "password_file";
inline constexpr std::string_view kOptTerminalAuth = "terminal_auth";
inline constexpr std::string_view kOptMaxPayloadBytes = "max_payload_bytes";
inline constexpr std::string_view kOptRatePerSecond = "rate_limit_per_second";
inline constexpr std::string_view kOptRateBurst = "rate_limit_burst";
inline constexpr std::string_view kOptFloodDisconnectAfter = "flood_disconnect_after";
inline constexpr std::string_view kOptFloodWindowSeconds = "flood_window_seconds";
inline constexpr std::string_view kOptStatsIntervalSeconds = "stats_interval_seconds";
inline constexpr std::string_view kOptStatsTopic = "stats_topic";

// Parses and validates every option. Fails (INVALID_ARGUMENT, message naming
// the option) on an unknown key, a key given twice, a malformed username
// list, an empty service list, a username that is in both lists, a missing
// password_file, or a number out of range: a typo in
// a security setting must stop the broker rather than be ignored.
Result<PluginConfig> ParseConfig(const std::vector<Option>& options);

// Splits "a, b,c" into {"a","b","c"}, trimming spaces around each name.
// An empty or all-space value gives an empty list. Fails on an empty entry
// ("a,,b", "a,") or a name that is not a usable MQTT username here (control
// characters, spaces inside, MQTT wildcards '+' '#').
Result<std::vector<std::string>> ParseUsernameList(std::string_view option,
                                                   std::string_view value);

}  // namespace slotwise::broker
