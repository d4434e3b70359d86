// The broker plugin's configuration: every `plugin_opt_*` line, parsed and
// validated once at plugin init into PluginConfig, then only read.
//
// Pure code with no mosquitto dependency, so the unit tests exercise it
// directly. ParseConfig is safe from any thread; a PluginConfig is immutable
// after parsing, so concurrent reads are safe.
#pragma once

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

struct PluginConfig {
  // Usernames of the scheduler service. plugin_opt_services.
  // Default: {"slotwise-scheduler"}.
  std::set<std::string, std::less<>> services{"slotwise-scheduler"};
  // Usernames of operators (the `slotwise` CLI). plugin_opt_operators.
  // Default: empty (no operator can connect).
  std::set<std::string, std::less<>> operators;

  // Every username not named above is held to the terminal rules.
  Role RoleOf(std::string_view username) const;
};

// The option keys this version understands, for error messages and docs.
inline constexpr std::string_view kOptServices = "services";
inline constexpr std::string_view kOptOperators = "operators";

// Parses and validates every option. Fails (INVALID_ARGUMENT, message naming
// the option) on an unknown key, a key given twice, a malformed username
// list, an empty service list, or a username that is in both lists: a typo in
// a security setting must stop the broker rather than be ignored.
Result<PluginConfig> ParseConfig(const std::vector<Option>& options);

// Splits "a, b,c" into {"a","b","c"}, trimming spaces around each name.
// An empty or all-space value gives an empty list. Fails on an empty entry
// ("a,,b", "a,") or a name that is not a usable MQTT username here (control
// characters, spaces inside, MQTT wildcards '+' '#').
Result<std::vector<std::string>> ParseUsernameList(std::string_view option,
                                                   std::string_view value);

}  // namespace slotwise::broker
