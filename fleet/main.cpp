// slotwise-fleet: dispatches to the virtual-time simulator or the live fleet.
#include <cstdio>
#include <string_view>

#include "slotwise/build_info.h"
#include "slotwise/fleet/live_command.h"
#include "slotwise/fleet/virtual_command.h"

namespace {

constexpr int kExitUsage = 2;

void PrintUsage(std::FILE* to) {
  std::fputs(
      "usage: slotwise-fleet <command> [options]\n"
      "\n"
      "commands:\n"
      "  virtual   simulate a campaign in virtual time: the scheduler's core against\n"
      "            the peers' pacing policies (push-all, fixed rate, per-period cap,\n"
      "            percentage groups)\n"
      "  live      run many real agents in this process against a running stack\n"
      "\n"
      "`slotwise-fleet <command> --help` lists a command's options; --version the version.\n",
      to);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return kExitUsage;
  }
  const std::string_view command = argv[1];
  if (command == "--version") {
    std::printf("%s\n", slotwise::VersionLine("slotwise-fleet").c_str());
    return 0;
  }
  if (command == "-h" || command == "--help" || command == "help") {
    PrintUsage(stdout);
    return 0;
  }
  if (command == "virtual") return slotwise::fleet::RunVirtualCommand(argc - 1, argv + 1);
  if (command == "live") return slotwise::fleet::RunLiveCommand(argc - 1, argv + 1);
  std::fprintf(stderr, "slotwise-fleet: unknown command '%.*s'\n\n", static_cast<int>(command.size()),
               command.data());
  PrintUsage(stderr);
  return kExitUsage;
}
