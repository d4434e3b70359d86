#include "slotwise/agent/config.h"

#include <array>
#include <cctype>
#include <charconv>
#include <map>
#include <optional>

#include "slotwise/agent/atomic_file.h"
#include "slotwise/geo.h"
#include "slotwise/topics.h"

namespace slotwise::agent {
namespace {

constexpr std::string_view kBlank = " \t\r";

std::string_view Trim(std::string_view s) {
  const auto first = s.find_first_not_of(kBlank);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kBlank) - first + 1);
}

struct KeySpec {
  std::string_view name;
  bool required;
};

constexpr std::array<KeySpec, 27> kKeys{{
    {"broker", true},
    {"terminal_id", true},
    {"state_dir", true},
    {"version_file", true},
    {"location", false},  // or location_command
    {"system_id", false},
    {"install_command", true},
    {"install_timeout_s", false},
    {"download_dir", false},
    {"keepalive_s", false},
    {"reconnect_spread_s", false},
    {"password", false},
    {"tls_ca_file", false},
    {"tls_cert_file", false},
    {"tls_key_file", false},
    {"public_key_file", false},
    {"location_command", false},
    {"busy_file", false},
    {"busy_command", false},
    {"busy_retry_s", false},
    {"download_rate_limit_kbps", false},
    {"download_attempts", false},
    {"verify_attempts", false},
    {"max_rechecks", false},
    {"min_free_mb", false},
    {"image_path", false},
    {"link_kind", false},
}};

// component.NAME.FIELD: a component other than the system image (whose
// keys are version_file and install_command, as before components).
constexpr std::string_view kComponentPrefix = "component.";
constexpr std::array<std::string_view, 3> kComponentFields{"version_file", "install_command", "image_path"};

struct ComponentKey {
  std::string_view name;
  std::string_view field;
};

std::optional<ComponentKey> ParseComponentKey(std::string_view key) {
  if (!key.starts_with(kComponentPrefix)) return std::nullopt;
  key.remove_prefix(kComponentPrefix.size());
  const auto dot = key.rfind('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const ComponentKey parsed{key.substr(0, dot), key.substr(dot + 1)};
  for (std::string_view field : kComponentFields) {
    if (parsed.field == field) return parsed;
  }
  return std::nullopt;
}

bool IsKnownKey(std::string_view key) {
  for (const KeySpec& spec : kKeys) {
    if (spec.name == key) return true;
  }
  return ParseComponentKey(key).has_value();
}

struct Setting {
  std::string value;
  std::string where;  // "file:line" or "command line", for messages
};

Error Invalid(const Setting& s, std::string_view key, std::string_view why) {
  return MakeError(v1::INVALID_ARGUMENT,
                   s.where + ": " + std::string(key) + " = '" + s.value + "': " + std::string(why));
}

std::optional<double> ParseDouble(std::string_view s) {
  s = Trim(s);
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<long> ParseSeconds(std::string_view s, long max) {
  long v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty() || v < 1 || v > max) {
    return std::nullopt;
  }
  return v;
}

std::optional<std::uint64_t> ParseCount(std::string_view s, std::uint64_t min, std::uint64_t max) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty() || v < min || v > max) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

std::optional<LatLon> ParseLatLon(std::string_view v) {
  const auto comma = v.find(',');
  const auto lat = ParseDouble(v.substr(0, comma));
  const auto lon = comma == std::string_view::npos ? std::nullopt : ParseDouble(v.substr(comma + 1));
  if (!lat || !lon || !geo::IsValid(*lat, *lon)) return std::nullopt;
  return LatLon{*lat, *lon};
}

Result<AgentConfig> ParseAgentConfig(std::string_view text, std::string_view source_name,
                                     const ConfigOverrides& overrides) {
  const std::string source(source_name);
  std::map<std::string, Setting, std::less<>> settings;

  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const auto newline = text.find('\n');
    const std::string_view raw = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);

    const std::string_view line = Trim(raw);
    // Only whole-line comments: install_command is shell and may contain '#'.
    if (line.empty() || line.front() == '#') continue;
    const std::string where = source + ":" + std::to_string(line_number);
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      return MakeError(v1::INVALID_ARGUMENT, where + ": expected 'key = value', got '" + std::string(line) + "'");
    }
    const std::string key(Trim(line.substr(0, eq)));
    if (!IsKnownKey(key)) return MakeError(v1::INVALID_ARGUMENT, where + ": unknown key '" + key + "'");
    if (auto it = settings.find(key); it != settings.end()) {
      return MakeError(v1::INVALID_ARGUMENT,
                       where + ": '" + key + "' is already set at " + it->second.where);
    }
    settings[key] = Setting{std::string(Trim(line.substr(eq + 1))), where};
  }
  for (const auto& [key, value] : overrides) {
    if (!IsKnownKey(key)) return MakeError(v1::INVALID_ARGUMENT, "command line: unknown key '" + key + "'");
    settings[key] = Setting{value, "command line"};
  }

  for (const KeySpec& spec : kKeys) {
    auto it = settings.find(spec.name);
    if (spec.required && (it == settings.end() || it->second.value.empty())) {
      return MakeError(v1::INVALID_ARGUMENT,
                       source + ": missing required key '" + std::string(spec.name) + "'");
    }
  }

  AgentConfig config;
  std::map<std::string, ComponentConfig, std::less<>> components;
  for (const auto& [key, setting] : settings) {
    const std::string& v = setting.value;
    if (const auto component = ParseComponentKey(key)) {
      if (!topics::IsValidComponentName(component->name) || topics::IsSystemComponent(component->name)) {
        return Invalid(setting, key,
                       "a component name is 1-32 characters of [a-z0-9._-], and not 'system' (the system "
                       "image's keys are version_file and install_command)");
      }
      if (v.empty()) return Invalid(setting, key, "must not be empty");
      ComponentConfig& c = components[std::string(component->name)];
      c.name = component->name;
      if (component->field == "version_file") c.version_file = v;
      else if (component->field == "image_path") c.image_path = v;
      else c.install_command = v;
      continue;
    }
    if (key == "broker") {
      if (v.find("://") == std::string::npos) return Invalid(setting, key, "expected a URI such as tcp://host:1883");
      config.broker = v;
    } else if (key == "terminal_id") {
      if (!topics::IsValidTerminalId(v)) return Invalid(setting, key, "expected 1-64 characters of [A-Za-z0-9._-]");
      config.terminal_id = v;
    } else if (key == "state_dir") {
      config.state_dir = v;
    } else if (key == "version_file") {
      config.version_file = v;
    } else if (key == "location") {
      const auto where = ParseLatLon(v);
      if (!where) {
        return Invalid(setting, key,
                       "expected 'lat,lon' in decimal degrees, latitude in [-90, 90], longitude in [-180, 180]");
      }
      config.location = *where;
    } else if (key == "system_id") {
      config.system_id = v;
    } else if (key == "link_kind") {
      v1::LinkKind kind = v1::LINK_KIND_UNSPECIFIED;
      std::string upper(v);
      for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (!v1::LinkKind_Parse(upper, &kind) || kind == v1::LINK_KIND_UNSPECIFIED) {
        return Invalid(setting, key, "expected gprs, edge, umts, lte, wifi or ethernet");
      }
      config.link_kind = kind;
    } else if (key == "install_command") {
      config.install_command = v;
    } else if (key == "install_timeout_s") {
      const auto s = ParseSeconds(v, 7 * 24 * 3600);
      if (!s) return Invalid(setting, key, "expected a whole number of seconds, at least 1");
      config.install_timeout = std::chrono::seconds(*s);
    } else if (key == "download_dir") {
      if (v.empty()) return Invalid(setting, key, "must not be empty");
      config.download_dir = v;
    } else if (key == "keepalive_s") {
      // MQTT's keep-alive field is 16 bits.
      const auto s = ParseSeconds(v, 65535);
      if (!s) return Invalid(setting, key, "expected a whole number of seconds in [1, 65535]");
      config.keepalive = std::chrono::seconds(*s);
    } else if (key == "reconnect_spread_s") {
      const auto n = ParseCount(v, 0, 3600);
      if (!n) return Invalid(setting, key, "expected a whole number of seconds in [0, 3600]");
      config.reconnect_spread = std::chrono::seconds(*n);
    } else if (key == "password") {
      config.password = v;
    } else if (key == "tls_ca_file") {
      config.tls_ca_file = v;
    } else if (key == "tls_cert_file") {
      config.tls_cert_file = v;
    } else if (key == "tls_key_file") {
      config.tls_key_file = v;
    } else if (key == "public_key_file") {
      config.public_key_file = v;
    } else if (key == "location_command") {
      config.location_command = v;
    } else if (key == "busy_file") {
      config.busy_file = v;
    } else if (key == "busy_command") {
      config.busy_command = v;
    } else if (key == "busy_retry_s") {
      const auto s = ParseSeconds(v, 24 * 3600);
      if (!s) return Invalid(setting, key, "expected a whole number of seconds, at least 1");
      config.busy_retry = std::chrono::seconds(*s);
    } else if (key == "download_rate_limit_kbps") {
      const auto n = ParseCount(v, 0, 1u << 30);
      if (!n) return Invalid(setting, key, "expected KiB/s, 0 = unlimited");
      config.download_rate_limit_kbps = *n;
    } else if (key == "download_attempts") {
      const auto n = ParseCount(v, 1, 1000);
      if (!n) return Invalid(setting, key, "expected a whole number in [1, 1000]");
      config.download_attempts = static_cast<std::uint32_t>(*n);
    } else if (key == "verify_attempts") {
      const auto n = ParseCount(v, 1, 100);
      if (!n) return Invalid(setting, key, "expected a whole number in [1, 100]");
      config.verify_attempts = static_cast<std::uint32_t>(*n);
    } else if (key == "max_rechecks") {
      const auto n = ParseCount(v, 0, 1000);
      if (!n) return Invalid(setting, key, "expected a whole number in [0, 1000]");
      config.max_rechecks = static_cast<std::uint32_t>(*n);
    } else if (key == "image_path") {
      config.image_path = v;
    } else if (key == "min_free_mb") {
      const auto n = ParseCount(v, 0, 1u << 30);
      if (!n) return Invalid(setting, key, "expected a whole number of MiB");
      config.min_free_bytes = *n * 1024 * 1024;
    }
  }
  if (!settings.contains("location") && config.location_command.empty()) {
    return MakeError(v1::INVALID_ARGUMENT, source + ": missing required key 'location' (or 'location_command')");
  }
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    return MakeError(v1::INVALID_ARGUMENT,
                     source + ": tls_cert_file and tls_key_file must be set together");
  }
  if (config.download_dir.empty()) config.download_dir = config.state_dir / "downloads";
  for (auto& [name, c] : components) {
    if (c.version_file.empty() || c.install_command.empty()) {
      return MakeError(v1::INVALID_ARGUMENT, source + ": component '" + name + "' needs both component." + name +
                                                 ".version_file and component." + name + ".install_command");
    }
    config.components.push_back(std::move(c));
  }
  if (config.components.size() > kMaxComponents) {
    return MakeError(v1::INVALID_ARGUMENT, source + ": at most " + std::to_string(kMaxComponents) +
                                               " components (schemas/README.md)");
  }
  return config;
}

std::optional<ComponentConfig> AgentConfig::Component(std::string_view name) const {
  if (topics::IsSystemComponent(name)) return ComponentConfig{"", version_file, install_command, image_path};
  for (const ComponentConfig& c : components) {
    if (c.name == name) return c;
  }
  return std::nullopt;
}

Result<AgentConfig> LoadAgentConfig(const std::filesystem::path& file, const ConfigOverrides& overrides) {
  auto text = ReadWholeFile(file);
  if (!text) return MakeError(v1::NOT_FOUND, "cannot read config file: " + text.error().message);
  return ParseAgentConfig(*text, file.string(), overrides);
}

}  // namespace slotwise::agent
