#include "slotwise/fleet/terminal_file.h"

#include <fstream>
#include <sstream>
#include <unordered_set>

#include "slotwise/agent/config.h"
#include "slotwise/topics.h"

namespace slotwise::fleet {
namespace {

std::vector<std::string_view> SplitCommas(std::string_view line) {
  std::vector<std::string_view> fields;
  while (true) {
    const auto comma = line.find(',');
    fields.push_back(line.substr(0, comma));
    if (comma == std::string_view::npos) return fields;
    line.remove_prefix(comma + 1);
  }
}

}  // namespace

Result<std::vector<TerminalSpec>> ParseTerminalFile(std::string_view text, std::string_view source_name) {
  std::vector<TerminalSpec> terminals;
  std::unordered_set<std::string> seen;
  int line_number = 0;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#' || (line_number == 1 && line.starts_with("id,"))) continue;
    auto invalid = [&](const std::string& why) {
      return MakeError(v1::INVALID_ARGUMENT,
                       std::string(source_name) + ":" + std::to_string(line_number) + ": " + why);
    };
    const auto fields = SplitCommas(line);
    if (fields.size() != 4) return invalid("expected id,password,lat,lon");
    TerminalSpec spec;
    spec.id = std::string(fields[0]);
    if (!topics::IsValidTerminalId(spec.id)) return invalid("terminal id '" + spec.id + "': expected 1-64 of [A-Za-z0-9._-]");
    if (!seen.insert(spec.id).second) return invalid("terminal id '" + spec.id + "' listed twice");
    spec.password = std::string(fields[1]);
    const std::string where = std::string(fields[2]) + "," + std::string(fields[3]);
    const auto location = agent::ParseLatLon(where);
    if (!location) return invalid("location '" + where + "': expected lat,lon in decimal degrees");
    spec.location = *location;
    terminals.push_back(std::move(spec));
  }
  if (terminals.empty()) return MakeError(v1::INVALID_ARGUMENT, std::string(source_name) + ": no terminals");
  return terminals;
}

Result<std::vector<TerminalSpec>> LoadTerminalFile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return MakeError(v1::NOT_FOUND, "cannot read terminals file " + file.string());
  std::ostringstream text;
  text << in.rdbuf();
  return ParseTerminalFile(text.str(), file.string());
}

}  // namespace slotwise::fleet
