#include "slotwise/fleet/live_command.h"

#include <sys/resource.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>

#include "slotwise/agent/stop_signals.h"
#include "slotwise/fleet/fleet_results.h"
#include "slotwise/fleet/live_fleet.h"
#include "slotwise/fleet/terminal_file.h"

namespace slotwise::fleet {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

void PrintError(const std::string& message) { std::fprintf(stderr, "slotwise-fleet live: %s\n", message.c_str()); }

// Each terminal holds one MQTT socket and, while downloading, one HTTP
// socket: the soft limit goes up to the hard one. Returns the new soft limit.
rlim_t RaiseOpenFilesLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  getrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur;
}

// VmHWM of this process, in MB (0 if unknown).
long PeakRssMb() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmHWM:") {
      long kib = 0;
      status >> kib;
      return kib / 1024;
    }
    status.ignore(1 << 16, '\n');
  }
  return 0;
}

void PrintProgress(const FleetProgress& p) {
  std::printf("fleet %7.1fs  running %d  connected %d  connects %d  assigned %d  go %d  finished %d/%d  away %d\n",
              p.elapsed_s, p.running, p.connected, p.connects, p.assigned, p.downloading, p.finished, p.terminals,
              p.dropped_out);
  std::fflush(stdout);
}

}  // namespace

int RunLiveCommand(int argc, char** argv) {
  agent::BlockStopSignals();  // before any thread exists

  CLI::App app{"slotwise-fleet live: many real agents in this process against a running Slotwise stack"};
  LiveFleetOptions options;
  std::string terminals_file, state_root, public_key, agent_log, csv_file, json_file, target_version, until = "done";
  double offline_for_s = 20, dropout_for_s = 10, ramp_up_s = 0;
  long timeout_s = 0;
  std::size_t stack_kib = 256;
  bool no_jitter = false, quiet = false;
  app.add_option("--broker", options.broker, "MQTT broker URI, e.g. tcp://127.0.0.1:1883")->required();
  app.add_option("--terminals-file", terminals_file, "CSV lines id,password,lat,lon")->required();
  app.add_option("--state-root", state_root, "directory for the terminals' state/, downloads/ and version files")
      ->required();
  app.add_option("--public-key", public_key, "Ed25519 public key (PEM) artifacts must be signed with")
      ->check(CLI::ExistingFile);
  app.add_option("--initial-version", options.initial_version, "installed version of a terminal seen first")
      ->capture_default_str();
  app.add_option("--target-version", target_version, "the campaign's version, counted in the summary");
  app.add_option("--ramp-up", ramp_up_s, "terminals switch on within this many seconds")
      ->check(CLI::Range(0.0, 86400.0))->capture_default_str();
  app.add_option("--offline-share", options.offline_share, "share offline when the campaign starts")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--offline-for", offline_for_s, "they come online within this many seconds of its start")
      ->check(CLI::Range(0.0, 86400.0))->capture_default_str();
  app.add_option("--dropout-share", options.dropout_share, "share that goes away once, mid-wait")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--dropout-for", dropout_for_s, "a dropout lasts 0.5-1x this many seconds")
      ->check(CLI::Range(0.0, 86400.0))->capture_default_str();
  app.add_option("--seed", options.seed, "chooses the offline and dropout terminals and their times")
      ->capture_default_str();
  app.add_option("--until", until, "done: exit when every terminal finished; signal: run until SIGINT/SIGTERM")
      ->check(CLI::IsMember({"done", "signal"}))->capture_default_str();
  app.add_option("--timeout", timeout_s, "give up after this many seconds (0 = never)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--max-connecting", options.max_connecting,
                 "connection attempts in flight at once, fleet-wide (a limit of the simulator, see README)")
      ->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_flag("--no-reconnect-jitter", no_jitter, "reconnect on Paho's schedule (1 s, doubling, no jitter)");
  app.add_option("--stack-kib", stack_kib, "stack size of each terminal's thread")
      ->check(CLI::Range(64, 8192))->capture_default_str();
  app.add_option("--agent-log", agent_log, "append every agent's log lines to this file (default: dropped)");
  app.add_option("--csv", csv_file, "write one row per terminal to this file");
  app.add_option("--json", json_file, "write the summary and every terminal to this file as JSON");
  app.add_flag("--quiet", quiet, "no progress line every second");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (options.offline_share + options.dropout_share > 1.0) {
    PrintError("--offline-share + --dropout-share must not exceed 1");
    return kExitUsage;
  }
  if (options.offline_share >= 1.0 && until == "done") {
    PrintError("--offline-share 1 leaves nobody to start the campaign");
    return kExitUsage;
  }

  auto terminals = LoadTerminalFile(terminals_file);
  if (!terminals) {
    PrintError(terminals.error().message);
    return kExitUsage;
  }
  std::FILE* log_file = nullptr;
  if (!agent_log.empty()) {
    log_file = std::fopen(agent_log.c_str(), "a");
    if (log_file == nullptr) {
      PrintError("cannot open --agent-log " + agent_log);
      return kExitUsage;
    }
    options.agent_log = [log_file](std::string_view line) {
      std::string out(line);
      out += '\n';
      std::fwrite(out.data(), 1, out.size(), log_file);  // stdio locks per call
    };
  }
  options.state_root = state_root;
  options.public_key_file = public_key;
  options.offline_for = std::chrono::milliseconds(static_cast<long long>(offline_for_s * 1000));
  options.ramp_up = std::chrono::milliseconds(static_cast<long long>(ramp_up_s * 1000));
  options.dropout_for = std::chrono::milliseconds(static_cast<long long>(dropout_for_s * 1000));
  options.until_done = until == "done";
  options.timeout = std::chrono::seconds(timeout_s);
  options.reconnect_jitter = !no_jitter;
  options.thread_stack_bytes = stack_kib * 1024;
  if (!quiet) options.on_progress = PrintProgress;

  const rlim_t open_files = RaiseOpenFilesLimit();
  if (!quiet) {
    std::printf("fleet: %zu terminals against %s (open files limit %llu, reconnect %s)\n", terminals->size(),
                options.broker.c_str(), static_cast<unsigned long long>(open_files),
                options.reconnect_jitter ? "jittered" : "without jitter");
  }
  LiveFleet fleet(std::move(*terminals), std::move(options));
  Result<FleetRun> run = [&] {
    agent::StopSignalThread signals([&fleet] { fleet.Stop(); });
    return fleet.Run();
  }();
  if (log_file != nullptr) std::fclose(log_file);
  if (!run) {
    PrintError(run.error().message);
    return kExitFailure;
  }

  const FleetSummary summary = Summarize(*run, target_version, PeakRssMb());
  std::printf("\n%s", SummaryTable(summary).c_str());
  std::fflush(stdout);
  for (const auto& [file, written] :
       {std::pair{csv_file, csv_file.empty() ? OkStatus() : WriteTerminalCsv(csv_file, *run)},
        std::pair{json_file, json_file.empty() ? OkStatus() : WriteTextFile(json_file, FleetJson(summary, *run))}}) {
    if (!written) {
      PrintError(written.error().message);
      return kExitFailure;
    }
  }
  if (run->timed_out) return kExitFailure;
  if (until == "done" && !run->stopped && summary.unfinished > 0) return kExitFailure;
  return kExitOk;
}

}  // namespace slotwise::fleet
