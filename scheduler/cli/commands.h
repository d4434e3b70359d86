// The `slotwise` operator CLI: parses the command line (CLI11), turns it into
// one or more OperatorRequests, and prints the replies as tables or, with
// --json, as the proto3 JSON mapping of the reply messages.
//
// Exit codes: 0 done; 1 the scheduler refused (its message on stderr);
// 2 usage error; 3 the broker or the scheduler could not be reached; 4 the
// broker refused our credentials (CONNACK 134 bad user name or password,
// 135 not authorized).
//
// Errors go to stderr as "slotwise: ..." lines; diagnostics (slotwise/log.h,
// debug level) only with --verbose or SLOTWISE_LOG_LEVEL=debug.
#pragma once

namespace slotwise::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 3;
inline constexpr int kExitNotAuthorized = 4;

int RunCli(int argc, char** argv);

}  // namespace slotwise::cli
