// Parsing and validation of plugin_opt_* (see config.h).
#include "slotwise/broker/config.h"

#include <algorithm>

namespace slotwise::broker {
namespace {

std::string_view Trim(std::string_view s) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Control characters and spaces would make log lines and config files
// ambiguous; '+' and '#' in a username are refused by mosquitto's own ACL
// code for older plugin versions for the same reason: pattern attacks.
bool IsUsableUsername(std::string_view name) {
  return std::none_of(name.begin(), name.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f || c == '+' || c == '#';
  });
}

Error Invalid(std::string message) {
  return MakeError(v1::INVALID_ARGUMENT, std::move(message));
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kTerminal: return "terminal";
    case Role::kOperator: return "operator";
    case Role::kService: return "service";
  }
  return "unknown";
}

Role PluginConfig::RoleOf(std::string_view username) const {
  if (services.contains(username)) return Role::kService;
  if (operators.contains(username)) return Role::kOperator;
  return Role::kTerminal;
}

Result<std::vector<std::string>> ParseUsernameList(std::string_view option,
                                                   std::string_view value) {
  std::vector<std::string> names;
  if (Trim(value).empty()) return names;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = value.find(',', start);
    const std::string_view raw =
        value.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                            : comma - start);
    const std::string_view name = Trim(raw);
    if (name.empty()) {
      return Invalid("plugin_opt_" + std::string(option) +
                     ": empty username in list '" + std::string(value) + "'");
    }
    if (!IsUsableUsername(name)) {
      return Invalid("plugin_opt_" + std::string(option) + ": username '" +
                     std::string(name) +
                     "' holds a space, a control character, '+' or '#'");
    }
    names.emplace_back(name);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return names;
}

Result<PluginConfig> ParseConfig(const std::vector<Option>& options) {
  PluginConfig config;
  bool seen_services = false;
  bool seen_operators = false;
  for (const Option& opt : options) {
    bool* seen = nullptr;
    std::set<std::string, std::less<>>* target = nullptr;
    if (opt.key == kOptServices) {
      seen = &seen_services;
      target = &config.services;
    } else if (opt.key == kOptOperators) {
      seen = &seen_operators;
      target = &config.operators;
    } else {
      return Invalid("unknown option plugin_opt_" + std::string(opt.key) +
                     " (known: plugin_opt_services, plugin_opt_operators)");
    }
    if (*seen) {
      return Invalid("plugin_opt_" + std::string(opt.key) + " is given more than once");
    }
    *seen = true;
    auto names = ParseUsernameList(opt.key, opt.value);
    if (!names) return names.error();
    target->clear();
    target->insert(names->begin(), names->end());
  }
  if (config.services.empty()) {
    return Invalid("plugin_opt_services must name at least one username");
  }
  for (const std::string& name : config.operators) {
    if (config.services.contains(name)) {
      return Invalid("username '" + name +
                     "' is in both plugin_opt_services and plugin_opt_operators");
    }
  }
  return config;
}

}  // namespace slotwise::broker
