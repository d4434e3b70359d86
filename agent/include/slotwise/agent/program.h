// The slotwise-agent program: command line, configuration, wiring of the
// real implementations (Paho transport, libcurl downloader, shell installer,
// file state store, system clock) and SIGINT/SIGTERM handling. main() only
// calls RunAgentProgram.
//
// Threading: call once, from main(), before any other thread exists (it
// blocks SIGINT/SIGTERM for the whole process so that only its signal
// thread receives them).
#pragma once

namespace slotwise::agent {

// Exit codes.
inline constexpr int kExitOk = 0;       // stopped by a signal, or --exit-when-idle and done
inline constexpr int kExitFailure = 1;  // could not start, or state could not be saved
inline constexpr int kExitUsage = 2;    // bad command line or configuration

int RunAgentProgram(int argc, char** argv);

}  // namespace slotwise::agent
