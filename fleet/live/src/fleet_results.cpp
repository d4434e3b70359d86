#include "slotwise/fleet/fleet_results.h"

#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <utility>
#include <vector>

namespace slotwise::fleet {
namespace {

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// A CSV field: quoted when it holds a comma, quote or newline.
std::string CsvField(std::string_view s) {
  if (s.find_first_of(",\"\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// One per-terminal field: its name, and its value as JSON and as CSV text.
struct Field {
  const char* name;
  std::function<std::string(const TerminalOutcome&)> text;
  bool quoted;  // a string in JSON
};

const std::vector<Field>& TerminalFields() {
  using T = TerminalOutcome;
  auto num = [](auto member) {
    return [member](const T& t) { return std::to_string(t.*member); };
  };
  auto str = [](auto member) { return [member](const T& t) { return t.*member; }; };
  auto flag = [](auto member) { return [member](const T& t) { return std::string(t.*member ? "true" : "false"); }; };
  static const std::vector<Field> fields = {
      {"terminal", str(&T::id), true},
      {"offline_at_start", flag(&T::offline_at_start), false},
      {"dropout_planned", flag(&T::dropout_planned), false},
      {"dropouts", num(&T::dropouts), false},
      {"connects", num(&T::connects), false},
      {"assignments", num(&T::assignments), false},
      {"online_at_ms", num(&T::online_at_ms), false},
      {"node", str(&T::node_id), true},
      {"cluster", str(&T::cluster_id), true},
      {"slot", num(&T::slot), false},
      {"slot_start_ms", num(&T::slot_start_ms), false},
      {"slot_end_ms", num(&T::slot_end_ms), false},
      {"start_at_ms", num(&T::start_at_ms), false},
      {"go_at_ms", num(&T::go_at_ms), false},
      {"download_start_ms", num(&T::download_start_ms), false},
      {"download_end_ms", num(&T::download_end_ms), false},
      {"finished_at_ms", num(&T::finished_at_ms), false},
      {"result", str(&T::result), true},
      {"final_version", str(&T::final_version), true},
      {"detail", str(&T::detail), true},
  };
  return fields;
}

}  // namespace

FleetSummary Summarize(const FleetRun& run, std::string_view target_version, long peak_rss_mb) {
  FleetSummary s;
  s.terminals = static_cast<int>(run.terminals.size());
  s.elapsed_s = run.elapsed_s;
  s.timed_out = run.timed_out;
  s.target_version = std::string(target_version);
  s.peak_rss_mb = peak_rss_mb;
  for (const TerminalOutcome& t : run.terminals) {
    const bool finished = t.finished_at_ms != 0;
    s.finished += finished ? 1 : 0;
    s.succeeded += finished && t.result == "SUCCEEDED" ? 1 : 0;
    s.failed += finished && t.result != "SUCCEEDED" ? 1 : 0;
    s.unfinished += finished ? 0 : 1;
    s.upgraded += !target_version.empty() && t.final_version == target_version ? 1 : 0;
    s.offline_at_start += t.offline_at_start ? 1 : 0;
    s.dropouts += t.dropouts;
    s.rescheduled += t.assignments > 1 ? 1 : 0;
    s.connects += t.connects;
  }
  return s;
}

std::string SummaryTable(const FleetSummary& s) {
  std::vector<std::pair<std::string, std::string>> rows = {
      {"terminals", std::to_string(s.terminals)},
      {"finished (final status acked)", std::to_string(s.finished)},
      {"succeeded", std::to_string(s.succeeded)},
      {"failed or stood down", std::to_string(s.failed)},
      {"unfinished (lost)", std::to_string(s.unfinished)},
  };
  if (!s.target_version.empty()) rows.emplace_back("upgraded to " + s.target_version, std::to_string(s.upgraded));
  rows.emplace_back("offline at campaign start", std::to_string(s.offline_at_start));
  rows.emplace_back("dropouts mid-wait", std::to_string(s.dropouts));
  rows.emplace_back("rescheduled terminals", std::to_string(s.rescheduled));
  rows.emplace_back("MQTT connects", std::to_string(s.connects));
  char elapsed[32];
  std::snprintf(elapsed, sizeof elapsed, "%.1f s%s", s.elapsed_s, s.timed_out ? " (timed out)" : "");
  rows.emplace_back("elapsed", elapsed);
  rows.emplace_back("peak RSS of the fleet process", std::to_string(s.peak_rss_mb) + " MB");
  std::size_t width = 0;
  for (const auto& row : rows) width = std::max(width, row.first.size());
  std::ostringstream out;
  for (const auto& [name, value] : rows) out << name << std::string(width - name.size() + 2, ' ') << value << "\n";
  return out.str();
}

std::string FleetJson(const FleetSummary& s, const FleetRun& run) {
  std::ostringstream out;
  out << "{\"summary\": {"
      << "\"terminals\": " << s.terminals << ", \"finished\": " << s.finished << ", \"succeeded\": " << s.succeeded
      << ", \"failed\": " << s.failed << ", \"unfinished\": " << s.unfinished << ", \"upgraded\": " << s.upgraded
      << ", \"target_version\": " << JsonString(s.target_version) << ", \"offline_at_start\": " << s.offline_at_start
      << ", \"dropouts\": " << s.dropouts << ", \"rescheduled\": " << s.rescheduled
      << ", \"connects\": " << s.connects << ", \"elapsed_s\": " << s.elapsed_s
      << ", \"timed_out\": " << (s.timed_out ? "true" : "false") << ", \"peak_rss_mb\": " << s.peak_rss_mb
      << "},\n\"terminals\": [";
  const auto& fields = TerminalFields();
  for (std::size_t i = 0; i < run.terminals.size(); ++i) {
    out << (i == 0 ? "\n{" : ",\n{");
    for (std::size_t f = 0; f < fields.size(); ++f) {
      const std::string value = fields[f].text(run.terminals[i]);
      out << (f == 0 ? "" : ", ") << JsonString(fields[f].name) << ": "
          << (fields[f].quoted ? JsonString(value) : value);
    }
    out << "}";
  }
  out << "\n]}\n";
  return out.str();
}

Status WriteTextFile(const std::filesystem::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return MakeError(v1::INVALID_ARGUMENT, "cannot write " + file.string());
  return OkStatus();
}

Status WriteTerminalCsv(const std::filesystem::path& file, const FleetRun& run) {
  std::ostringstream out;
  const auto& fields = TerminalFields();
  for (std::size_t f = 0; f < fields.size(); ++f) out << (f == 0 ? "" : ",") << fields[f].name;
  out << "\n";
  for (const TerminalOutcome& t : run.terminals) {
    for (std::size_t f = 0; f < fields.size(); ++f) out << (f == 0 ? "" : ",") << CsvField(fields[f].text(t));
    out << "\n";
  }
  return WriteTextFile(file, out.str());
}

}  // namespace slotwise::fleet
