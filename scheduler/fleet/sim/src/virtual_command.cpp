#include "slotwise/fleet/virtual_command.h"

#include <cstdio>

namespace slotwise::fleet {

int RunVirtualCommand(int /*argc*/, char** /*argv*/) {
  std::fputs("slotwise-fleet virtual: not built yet\n", stderr);
  return 1;
}

}  // namespace slotwise::fleet
