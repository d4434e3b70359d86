// Plots of a virtual run as SVG, drawn by gnuplot (Debian: gnuplot-nox):
//   load.svg      per policy, the highest and the mean node load / capacity
//                 per time bucket (log scale: push-all is tens of times over)
//   calendar.svg  the Slotwise capacity calendar: node x slot, booked / per_slot
// Beside them the data (.dat) and the gnuplot scripts (.gp), so a plot can be
// redrawn or restyled by hand. Runs gnuplot as a child process (no shell).
#pragma once

#include <filesystem>

#include "slotwise/fleet/sim/report.h"
#include "slotwise/result.h"

namespace slotwise::fleet::sim {

// FAILED_PRECONDITION with a clear message when gnuplot is not installed
// (the data and scripts are written anyway).
Status WritePlots(const std::filesystem::path& dir, const Run& run);

}  // namespace slotwise::fleet::sim
