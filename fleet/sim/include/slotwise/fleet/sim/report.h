// Output of a virtual run: the summary table and the target lines on the
// terminal, --json, and --csv files. Pure formatting of RunResults.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "slotwise/fleet/sim/metrics.h"
#include "slotwise/fleet/sim/scenario.h"
#include "slotwise/result.h"

namespace slotwise::fleet::sim {

struct Run {
  Fleet fleet;
  std::vector<RunResult> results;  // in --policies order
  double wall_s = 0;               // the whole command: fleet, every policy, output
};

// The targets, each as `name: value` plus PASS/FAIL, measured on
// this run; a target whose policies were not run is left out.
struct Target {
  std::string name;
  std::string value;
  std::string goal;
  bool met = false;
};
std::vector<Target> Targets(const Run& run);

void PrintTable(std::ostream& out, const Run& run);
void PrintTargets(std::ostream& out, const std::vector<Target>& targets);
void WriteJson(std::ostream& out, const Run& run, const std::vector<Target>& targets);

// summary.csv, load.csv (policy, node, cluster, minute, max and mean active
// over per_slot) and calendar.csv (Slotwise: node, slot, booked, per_slot).
Status WriteCsv(const std::filesystem::path& dir, const Run& run);

}  // namespace slotwise::fleet::sim
