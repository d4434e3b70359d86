// delta_tool: the delta benchmark's two halves without a broker.
//   delta_tool build BASE NEW DELTA   the CLI's code (`version add --delta-from`,
//                                     scheduler/cli/delta_args.h) builds DELTA
//   delta_tool apply BASE DELTA OUT SIZE   core ApplyDelta, the call the agent's
//                                     download step makes (agent/src/delta_download.cpp)
// Prints `name: value` lines; exit 0 on success.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>

#include "delta_args.h"
#include "slotwise/delta.h"
#include "slotwise/sha256.h"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  using Clock = std::chrono::steady_clock;
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "build" && argc == 5) {
    slotwise::v1::Artifact a;
    a.set_version("new");
    a.set_path("/" + fs::path(argv[4]).filename().string() + ".unused");
    const fs::path dir = fs::path(argv[4]).parent_path();
    const fs::path staged = dir / "delta_tool_new";
    fs::copy_file(argv[3], staged, fs::copy_options::overwrite_existing);
    const auto t0 = Clock::now();
    auto ok = slotwise::cli::AddDeltas(a, staged, {{"old", argv[2], "/" + fs::path(argv[4]).filename().string()}}, {});
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    fs::remove(staged);
    if (!ok) {
      std::cerr << "delta_tool: " << ok.error().message << "\n";
      return 1;
    }
    std::cout << "delta_bytes: " << a.deltas(0).size() << "\nbuild_seconds: " << s << "\n";
    return 0;
  }
  if (mode == "apply" && argc == 6) {
    const auto t0 = Clock::now();
    auto ok = slotwise::ApplyDelta(argv[2], argv[3], argv[4], std::stoull(argv[5]));
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!ok) {
      std::cerr << "delta_tool: " << ok.error().message << "\n";
      return 1;
    }
    std::cout << "apply_seconds: " << s << "\n";
    return 0;
  }
  std::cerr << "usage: delta_tool build BASE NEW DELTA | apply BASE DELTA OUT SIZE\n";
  return 2;
}
