// What `slotwise-fleet live` reports about a FleetRun: a summary (printed
// as a table, and in the JSON), one CSV row per terminal, and the JSON
// document {"summary": {...}, "terminals": [{...}, ...]} with the same
// per-terminal fields as the CSV (times in ms since the Unix epoch, 0 =
// never). fleet/live/README.md lists the fields.
//
// Threading: pure functions (the writers only touch their file).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "slotwise/fleet/live_fleet.h"
#include "slotwise/result.h"

namespace slotwise::fleet {

struct FleetSummary {
  int terminals = 0;
  int finished = 0;    // final status acknowledged
  int succeeded = 0;
  int failed = 0;      // FAILED or STOOD_DOWN
  int unfinished = 0;  // no final status acknowledged ("lost")
  int upgraded = 0;    // final version == target (when a target is given)
  int offline_at_start = 0;
  int dropouts = 0;         // dropout events
  int rescheduled = 0;      // terminals with more than one assignment
  int connects = 0;
  double elapsed_s = 0;
  bool timed_out = false;
  std::string target_version;  // "" = not checked
  long peak_rss_mb = 0;        // of the whole fleet process
};

FleetSummary Summarize(const FleetRun& run, std::string_view target_version, long peak_rss_mb);
std::string SummaryTable(const FleetSummary& summary);
std::string FleetJson(const FleetSummary& summary, const FleetRun& run);
Status WriteTerminalCsv(const std::filesystem::path& file, const FleetRun& run);
Status WriteTextFile(const std::filesystem::path& file, const std::string& text);

}  // namespace slotwise::fleet
