// Parsing and validation of plugin_opt_* (see config.h).
#include "slotwise/broker/config.h"

#include <algorithm>
#include <exception>
#include <iterator>
#include <sstream>
#include <string>

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

namespace {

Result<double> ParseNumber(std::string_view key, std::string_view raw, double min, double max) {
  const std::string value(Trim(raw));
  std::size_t used = 0;
  double number = 0;
  try {
    number = std::stod(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (value.empty() || used != value.size() || !(number >= min && number <= max)) {
    std::ostringstream msg;
    msg << "plugin_opt_" << key << ": '" << value << "' is not a number in [" << min << ", "
        << max << "]";
    return Invalid(msg.str());
  }
  return number;
}

Result<std::uint64_t> ParseWhole(std::string_view key, std::string_view raw, std::uint64_t min,
                                 std::uint64_t max) {
  auto number = ParseNumber(key, raw, static_cast<double>(min), static_cast<double>(max));
  if (!number) return number.error();
  if (*number != static_cast<double>(static_cast<std::uint64_t>(*number))) {
    return Invalid("plugin_opt_" + std::string(key) + ": '" + std::string(Trim(raw)) +
                   "' is not a whole number");
  }
  return static_cast<std::uint64_t>(*number);
}

}  // namespace

std::string_view TerminalAuthName(TerminalAuth mode) {
  switch (mode) {
    case TerminalAuth::kPassword: return "password";
    case TerminalAuth::kCertificate: return "certificate";
    case TerminalAuth::kPasswordOrCertificate: return "password_or_certificate";
    case TerminalAuth::kUsernameOnly: return "username_only";
  }
  return "unknown";
}

Result<PluginConfig> ParseConfig(const std::vector<Option>& options) {
  static constexpr std::string_view kKnown[] = {
      kOptServices,         kOptOperators,          kOptPasswordFile,
      kOptTerminalAuth,     kOptMaxPayloadBytes,    kOptRatePerSecond,
      kOptRateBurst,        kOptFloodDisconnectAfter, kOptFloodWindowSeconds,
      kOptStatsIntervalSeconds, kOptStatsTopic};
  PluginConfig config;
  std::set<std::string, std::less<>> seen;
  for (const Option& opt : options) {
    if (std::find(std::begin(kKnown), std::end(kKnown), opt.key) == std::end(kKnown)) {
      std::string known;
      for (const auto k : kKnown) known += (known.empty() ? "" : ", ") + ("plugin_opt_" + std::string(k));
      return Invalid("unknown option plugin_opt_" + std::string(opt.key) + " (known: " + known +
                     ")");
    }
    if (!seen.emplace(opt.key).second) {
      return Invalid("plugin_opt_" + std::string(opt.key) + " is given more than once");
    }
    const std::string_view key = opt.key;
    if (key == kOptServices || key == kOptOperators) {
      auto names = ParseUsernameList(key, opt.value);
      if (!names) return names.error();
      auto& target = key == kOptServices ? config.services : config.operators;
      target.clear();
      target.insert(names->begin(), names->end());
    } else if (key == kOptPasswordFile) {
      config.password_file = std::string(Trim(opt.value));
    } else if (key == kOptTerminalAuth) {
      const std::string_view v = Trim(opt.value);
      bool found = false;
      for (const auto mode : {TerminalAuth::kPassword, TerminalAuth::kCertificate,
                              TerminalAuth::kPasswordOrCertificate, TerminalAuth::kUsernameOnly}) {
        if (v == TerminalAuthName(mode)) {
          config.terminal_auth = mode;
          found = true;
        }
      }
      if (!found) {
        return Invalid("plugin_opt_terminal_auth: '" + std::string(v) +
                       "' is not one of password, certificate, password_or_certificate, "
                       "username_only");
      }
    } else if (key == kOptMaxPayloadBytes) {
      auto n = ParseWhole(key, opt.value, 1, 268'435'455);
      if (!n) return n.error();
      config.max_payload_bytes = static_cast<std::size_t>(*n);
    } else if (key == kOptRatePerSecond) {
      auto n = ParseNumber(key, opt.value, 0.001, 1'000'000);
      if (!n) return n.error();
      config.rate_per_second = *n;
    } else if (key == kOptRateBurst) {
      auto n = ParseWhole(key, opt.value, 1, 1'000'000);
      if (!n) return n.error();
      config.rate_burst = static_cast<std::uint32_t>(*n);
    } else if (key == kOptFloodDisconnectAfter) {
      auto n = ParseWhole(key, opt.value, 0, 1'000'000'000);
      if (!n) return n.error();
      config.flood_disconnect_after = static_cast<std::uint32_t>(*n);
    } else if (key == kOptFloodWindowSeconds) {
      auto n = ParseNumber(key, opt.value, 0.001, 86'400);
      if (!n) return n.error();
      config.flood_window_ms = static_cast<std::int64_t>(*n * 1000.0);
    } else if (key == kOptStatsIntervalSeconds) {
      auto n = ParseNumber(key, opt.value, 0, 86'400);
      if (!n) return n.error();
      config.stats_interval_ms = static_cast<std::int64_t>(*n * 1000.0);
    } else if (key == kOptStatsTopic) {
      const std::string_view v = Trim(opt.value);
      if (!v.starts_with("slotwise/") || v.size() <= 9 ||
          v.find_first_of("+#") != std::string_view::npos || !IsUsableUsername(v)) {
        return Invalid("plugin_opt_stats_topic: '" + std::string(v) +
                       "' must be a topic name under slotwise/ without wildcards or spaces");
      }
      config.stats_topic = std::string(v);
    }
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
  if (config.password_file.empty()) {
    return Invalid("plugin_opt_password_file is required (mosquitto_passwd format)");
  }
  return config;
}

}  // namespace slotwise::broker
