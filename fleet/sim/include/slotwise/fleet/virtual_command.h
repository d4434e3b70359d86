// `slotwise-fleet virtual`: the scheduler's core in virtual time against the
// peers' pacing policies; see fleet/sim/README.md.
#pragma once

namespace slotwise::fleet {

// argv[0] is "virtual". Returns the process exit code: 0 ok, 1 failure,
// 2 bad command line.
int RunVirtualCommand(int argc, char** argv);

}  // namespace slotwise::fleet
