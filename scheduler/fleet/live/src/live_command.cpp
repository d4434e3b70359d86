#include "slotwise/fleet/live_command.h"

#include <cstdio>

namespace slotwise::fleet {

int RunLiveCommand(int /*argc*/, char** /*argv*/) {
  std::fputs("slotwise-fleet live: not built yet\n", stderr);
  return 1;
}

}  // namespace slotwise::fleet
