#include "slotwise/fleet/virtual_command.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <iostream>

#include "slotwise/fleet/sim/engine.h"
#include "slotwise/fleet/sim/regions.h"
#include "slotwise/fleet/sim/plots.h"
#include "slotwise/fleet/sim/policies.h"
#include "slotwise/fleet/sim/report.h"

namespace slotwise::fleet {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitTargetMissed = 3;  // --check: a target line says FAIL

struct Options {
  sim::Scenario scenario;
  sim::PolicyOptions policy;
  std::vector<std::string> policies = sim::PolicyNames();
  bool json = false;
  bool check = false;
  std::string csv_dir;
  std::string plots_dir;
  std::int64_t bucket_s = 60;
  unsigned jobs = 2;
};

// Fills `o` from the command line; the exit code when it should not run.
std::optional<int> Parse(int argc, char** argv, Options& o) {
  CLI::App app{"slotwise-fleet virtual: the scheduler's core in virtual time against the peers' pacing policies"};
  app.name("slotwise-fleet virtual");
  sim::Scenario& s = o.scenario;
  double slot_s = static_cast<double>(s.slot_ms) / 1000, download_s = static_cast<double>(s.download_ms) / 1000;
  double artifact_mb = static_cast<double>(s.artifact_bytes) / 1e6;
  double arrival_min = static_cast<double>(s.arrival_ms) / 60'000, horizon_h = static_cast<double>(s.horizon_ms) / 3.6e6;
  double no_show_return_min = static_cast<double>(s.no_show_return_ms) / 60'000;
  double no_show_lead_min = static_cast<double>(s.no_show_lead_ms) / 60'000;
  double period_s = 0, poll_s = static_cast<double>(o.policy.poll_ms) / 1000;
  app.add_option("--terminals", s.terminals, "terminals in the campaign")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--nodes", s.nodes, "download nodes")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--clusters", s.clusters, "clusters the nodes are spread over")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--per-slot", s.per_slot, "downloads a node takes per slot (its capacity)")->capture_default_str();
  app.add_option("--slot-seconds", slot_s, "slot length")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--download-seconds", download_s, "one download at full speed (at most a slot)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--artifact-mb", artifact_mb, "artifact size in MB")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--online-share", s.online_share, "share online at the start")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app.add_option("--arrival-minutes", arrival_min, "the others arrive uniformly over this period")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--no-show-share", s.no_show_share, "share of terminals away once when they are first due")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app.add_option("--no-show-lead-minutes", no_show_lead_min, "a no-show goes away up to this long before it is due")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--no-show-return-minutes", no_show_return_min, "a no-show is back after U(1/2, 1) of this")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--failure-share", s.failure_share, "probability that an attempt fails")->capture_default_str()->check(CLI::Range(0.0, 0.99));
  app.add_option("--timeout-factor", s.timeout_factor, "an attempt times out after this many full-speed download times")->capture_default_str()->check(CLI::Range(1.0, 1000.0));
  app.add_option("--max-retries", s.max_retries, "attempts after the first before a terminal gives up")->capture_default_str();
  app.add_option("--horizon-hours", horizon_h, "stop the clock after this long")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--seed", s.seed, "seed of every random draw")->capture_default_str();
  app.add_option("--policies", o.policies, "policies to run, comma-separated")
      ->delimiter(',')->capture_default_str()->check(CLI::IsMember(sim::PolicyNames()));
  app.add_option("--window", o.policy.window, "slotwise: the QueryWindows label to schedule")->capture_default_str();
  app.add_option("--rate-per-minute", o.policy.rate_per_minute, "fixed-rate: starts per minute fleet-wide (0 = the fleet's capacity per minute)")->capture_default_str();
  app.add_option("--period-cap", o.policy.period_cap, "period-cap: starts per period per cluster (0 = the cluster's capacity per slot)")->capture_default_str();
  app.add_option("--period-seconds", period_s, "period-cap: period (0 = one slot)")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--groups", o.policy.group_percents, "pct-groups: group sizes in percent, comma-separated; the rest is the last group")
      ->delimiter(',')->capture_default_str()->check(CLI::Range(0.001, 100.0));
  app.add_option("--success-threshold", o.policy.success_threshold, "pct-groups: share of a group upgraded before the next starts")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app.add_option("--poll-seconds", poll_s, "pct-groups: polling interval of the terminals")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--bucket-seconds", o.bucket_s, "resolution of the load timeline")->capture_default_str()->check(CLI::Range(1, 86400));
  app.add_option("--jobs", o.jobs, "policies simulated at the same time (threads)")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_flag("--json", o.json, "print the results as JSON instead of the table");
  app.add_flag("--byte-capacity", o.policy.byte_capacity,
               "slotwise: nodes declare their bandwidth, bookings reserve rates (capacity in bytes)");
  app.add_flag("--check", o.check, "exit with status 3 when a target line says FAIL");
  double node_mbps = static_cast<double>(s.node_bandwidth_bps) / 1e6;
  double small_mb = static_cast<double>(s.small_artifact_bytes) / 1e6;
  double large_mb = static_cast<double>(s.large_artifact_bytes) / 1e6;
  app.add_flag("--mixed", s.mixed,
               "the mixed fleet: links from GPRS (40 kbit/s) to Ethernet (100 Mbit/s), two campaigns at once (a "
               "parameter file and an OS image, deltas for a share), nodes with a bandwidth and a connection limit; "
               "its defaults: --terminals 20000 --nodes 10 --clusters 2 --slot-seconds 60 --per-slot 500");
  app.add_option("--node-bandwidth-mbps", node_mbps, "mixed: each node's bandwidth")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-connections", s.max_connections, "mixed: each node's connection limit")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--small-artifact-mb", small_mb, "mixed: the parameter file")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--large-artifact-mb", large_mb, "mixed: the OS image")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--params-share", s.params_share, "mixed: share of the fleet in the parameter-file campaign (every GPRS and 3G terminal is)")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app.add_option("--delta-share", s.delta_share, "mixed: share of the OS campaign on the delta's base version")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app.add_option("--delta-ratio", s.delta_ratio, "mixed: delta bytes / full image bytes")->capture_default_str()->check(CLI::Range(0.0001, 1.0));
  app.add_option("--csv", o.csv_dir, "write summary.csv, load.csv and calendar.csv into this directory");
  app.add_option("--plots", o.plots_dir, "write SVG plots (gnuplot) into this directory");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (s.mixed) {
    // The mixed fleet's own defaults, for what the command line left unset.
    if (app.count("--terminals") == 0) s.terminals = 20'000;
    if (app.count("--nodes") == 0) s.nodes = 10;
    if (app.count("--clusters") == 0) s.clusters = 2;
    if (app.count("--slot-seconds") == 0) slot_s = 60;
    if (app.count("--per-slot") == 0) s.per_slot = 500;
    if (app.count("--download-seconds") == 0) download_s = std::min(download_s, slot_s);
  }
  s.node_bandwidth_bps = static_cast<std::uint64_t>(node_mbps * 1e6);
  s.small_artifact_bytes = static_cast<std::uint64_t>(small_mb * 1e6);
  s.large_artifact_bytes = static_cast<std::uint64_t>(large_mb * 1e6);
  s.slot_ms = static_cast<std::int64_t>(slot_s * 1000);
  s.download_ms = static_cast<std::int64_t>(download_s * 1000);
  s.artifact_bytes = static_cast<std::uint64_t>(artifact_mb * 1e6);
  s.arrival_ms = static_cast<std::int64_t>(arrival_min * 60'000);
  s.no_show_return_ms = static_cast<std::int64_t>(no_show_return_min * 60'000);
  s.no_show_lead_ms = static_cast<std::int64_t>(no_show_lead_min * 60'000);
  s.horizon_ms = static_cast<std::int64_t>(horizon_h * 3.6e6);
  o.policy.period_ms = static_cast<std::int64_t>(period_s * 1000);
  o.policy.poll_ms = static_cast<std::int64_t>(poll_s * 1000);
  if (const std::string why = sim::ValidateScenario(s); !why.empty()) {
    std::cerr << "slotwise-fleet virtual: " << why << "\n";
    return kExitUsage;
  }
  return std::nullopt;
}

// Simulates every policy of `o`, `o.jobs` at a time (each run has its own
// Engine and policy; the fleet is shared read-only). Results in --policies order.
Result<std::vector<sim::RunResult>> Simulate(const sim::Fleet& fleet, const Options& o) {
  std::vector<std::optional<Result<sim::RunResult>>> results(o.policies.size());
  std::atomic<std::size_t> next{0};
  std::mutex log;
  auto work = [&] {
    for (std::size_t i = next++; i < o.policies.size(); i = next++) {
      auto policy = sim::MakePolicy(o.policies[i], fleet, o.policy);
      sim::Engine engine(fleet, *policy, o.bucket_s * 1000);
      results[i] = engine.Run();
      if (!o.json && *results[i]) {
        const std::lock_guard lock(log);
        std::cerr << "  " << o.policies[i] << ": simulated in " << (*results[i])->wall_s << " s\n";
      }
    }
  };
  std::vector<std::jthread> workers;
  for (unsigned j = 1; j < std::min<std::size_t>(o.jobs, o.policies.size()); ++j) workers.emplace_back(work);
  work();
  workers.clear();  // joins
  std::vector<sim::RunResult> out;
  for (auto& r : results) {
    if (!*r) return r->error();
    out.push_back(std::move(r->value()));
  }
  return out;
}

}  // namespace

int RunVirtualCommand(int argc, char** argv) {
  // Regional cells (sim/regions.h): their own model and options.
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]).starts_with("--regions")) return sim::RunRegionsCommand(argc, argv);
  }
  const auto t0 = std::chrono::steady_clock::now();
  Options o;
  if (auto code = Parse(argc, argv, o)) return *code;
  sim::Run run{sim::MakeFleet(o.scenario), {}, 0};
  auto results = Simulate(run.fleet, o);
  if (!results) {
    std::cerr << "slotwise-fleet virtual: " << results.error().message << "\n";
    return kExitFailure;
  }
  run.results = std::move(*results);
  if (!o.csv_dir.empty()) {
    if (auto s = sim::WriteCsv(o.csv_dir, run); !s) {
      std::cerr << "slotwise-fleet virtual: " << s.error().message << "\n";
      return kExitFailure;
    }
  }
  if (!o.plots_dir.empty()) {
    if (auto s = sim::WritePlots(o.plots_dir, run); !s) {
      std::cerr << "slotwise-fleet virtual: " << s.error().message << "\n";
      return kExitFailure;
    }
  }
  run.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto targets = sim::Targets(run);
  if (o.json) {
    sim::WriteJson(std::cout, run, targets);
  } else {
    sim::PrintTable(std::cout, run);
    sim::PrintTargets(std::cout, targets);
  }
  // Every campaign ends with a final outcome for every terminal: one that
  // does not is a scheduler defect, whatever the figures say.
  int code = kExitOk;
  for (const auto& r : run.results) {
    if (r.without_outcome == 0) continue;
    std::cerr << "slotwise-fleet virtual: " << r.policy << ": the campaign left " << r.without_outcome
              << " terminals without a final outcome at the horizon\n";
    code = kExitFailure;
  }
  if (o.check && code == kExitOk) {
    for (const auto& t : targets) {
      if (t.met) continue;
      std::cerr << "slotwise-fleet virtual: target missed: " << t.name << " = " << t.value << " (" << t.goal << ")\n";
      code = kExitTargetMissed;
    }
  }
  return code;
}

}  // namespace slotwise::fleet
