// `slotwise-fleet live`: see fleet/README.md.
#pragma once

namespace slotwise::fleet {

// argv[0] is "live". Returns the process exit code: 0 ok, 1 failure,
// 2 bad command line.
int RunLiveCommand(int argc, char** argv);

}  // namespace slotwise::fleet
