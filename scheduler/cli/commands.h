// The `slotwise` operator CLI: parses the command line (CLI11), turns it into
// one or more OperatorRequests, and prints the replies as tables or, with
// --json, as the proto3 JSON mapping of the reply messages.
//
// Exit codes: 0 done; 1 the scheduler refused (its message on stderr);
// 2 usage error; 3 the broker or the scheduler could not be reached.
#pragma once

namespace slotwise::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 3;

int RunCli(int argc, char** argv);

}  // namespace slotwise::cli
