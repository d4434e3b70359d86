#include "slotwise/fleet/sim/report.h"

#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iterator>
#include <sstream>

namespace slotwise::fleet::sim {
namespace {

const RunResult* Find(const Run& run, const std::string& policy) {
  for (const auto& r : run.results) {
    if (r.policy == policy) return &r;
  }
  return nullptr;
}

std::string Fixed(double v, int digits) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << v;
  return o.str();
}

std::string Minutes(std::int64_t ms) { return Fixed(static_cast<double>(ms) / 60'000, 1); }

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

bool Within(const Run& run, const RunResult& r) {
  if (!run.fleet.scenario.mixed) return r.WithinCapacity();
  return r.peak_rate_ratio <= 1.0 + 1e-9 && r.peak_connection_ratio <= 1.0 + 1e-9;
}

std::vector<Target> MixedTargets(const Run& run) {
  std::vector<Target> targets;
  const RunResult* slotwise = Find(run, "slotwise");
  if (slotwise) {
    targets.push_back({"slotwise_peak_bytes_ratio", Fixed(slotwise->peak_rate_ratio, 3),
                       "<= 1.00 (bytes/s asked of a node / its bandwidth)", slotwise->peak_rate_ratio <= 1.0 + 1e-9});
    targets.push_back({"slotwise_peak_connections_ratio", Fixed(slotwise->peak_connection_ratio, 3),
                       "<= 1.00 (downloads at once / the connection limit)",
                       slotwise->peak_connection_ratio <= 1.0 + 1e-9});
    targets.push_back({"slotwise_makespan_ratio", Fixed(slotwise->MakespanRatio(), 3),
                       "<= 1.05 (bound: max of bytes, count and presence bounds)",
                       slotwise->MakespanRatio() <= 1.05 && slotwise->never_upgraded == 0});
    std::string within;
    bool beats = true;
    for (const auto& r : run.results) {
      if (&r == slotwise || !Within(run, r)) continue;
      within += (within.empty() ? "" : ",") + r.policy + "=" + Fixed(r.MakespanRatio(), 3);
      beats = beats && (slotwise->MakespanRatio() < r.MakespanRatio() || r.never_upgraded > 0);
    }
    if (run.results.size() > 1) {
      targets.push_back({"slotwise_beats_baselines_within_capacity",
                         within.empty() ? "none of the baselines stayed within both peaks" : within,
                         "smaller makespan ratio than each", beats});
    }
  }
  targets.push_back({"wall_time_s", Fixed(run.wall_s, 1), "< 60", run.wall_s < 60});
  return targets;
}

}  // namespace

std::vector<Target> Targets(const Run& run) {
  if (run.fleet.scenario.mixed) return MixedTargets(run);
  std::vector<Target> targets;
  const RunResult* slotwise = Find(run, "slotwise");
  if (slotwise) {
    targets.push_back({"slotwise_peak_load_ratio", Fixed(slotwise->peak_load_ratio, 2), "<= 1.00",
                       slotwise->peak_load_ratio <= 1.0 + 1e-9});
  }
  if (const RunResult* push = Find(run, "push-all")) {
    targets.push_back({"push_all_peak_load_ratio", Fixed(push->peak_load_ratio, 2), ">= 10 (tens of times over)",
                       push->peak_load_ratio >= 10});
  }
  if (slotwise) {
    targets.push_back({"slotwise_makespan_ratio", Fixed(slotwise->MakespanRatio(), 3), "<= 1.05",
                       slotwise->MakespanRatio() <= 1.05 && slotwise->never_upgraded == 0});
    std::string within;
    bool beats = true;
    for (const auto& r : run.results) {
      if (&r == slotwise || !r.WithinCapacity()) continue;
      within += (within.empty() ? "" : ",") + r.policy + "=" + Fixed(r.MakespanRatio(), 3);
      beats = beats && (slotwise->MakespanRatio() < r.MakespanRatio() || r.never_upgraded > 0);
    }
    if (run.results.size() > 1) {
      targets.push_back({"slotwise_beats_baselines_within_capacity",
                         within.empty() ? "none of the baselines stayed within capacity" : within,
                         "smaller makespan ratio than each", beats});
    }
  }
  targets.push_back({"wall_time_s", Fixed(run.wall_s, 1), "< 60", run.wall_s < 60});
  return targets;
}

void PrintTable(std::ostream& out, const Run& run) {
  const Scenario& s = run.fleet.scenario;
  const Bounds bounds = LowerBounds(run.fleet);
  out << "slotwise-fleet virtual: " << s.terminals << " terminals, " << s.nodes << " nodes in " << s.clusters
      << " clusters, " << s.per_slot << " per node per " << Fixed(static_cast<double>(s.slot_ms) / 60'000, 1)
      << "-min slot (" << run.fleet.CapacityPerSlot() << " per slot), seed " << s.seed << "\n";
  if (s.mixed) {
    std::uint64_t per_kind[std::size(kLinkMix)] = {}, params = 0, deltas = 0;
    for (const auto& t : run.fleet.terminals) {
      ++per_kind[t.link_kind];
      params += t.campaign == 1;
      deltas += t.delta;
    }
    out << "mixed fleet: nodes of " << Fixed(static_cast<double>(s.node_bandwidth_bps) / 1e6, 1) << " Mbit/s and "
        << s.max_connections << " connections (" << Fixed(static_cast<double>(s.node_bandwidth_bps) / 1e6 / s.max_connections, 2)
        << " Mbit/s per connection); links:";
    for (std::size_t k = 0; k < std::size(kLinkMix); ++k) {
      out << " " << kLinkMix[k].kind << " " << Fixed(static_cast<double>(kLinkMix[k].bps) / 1e6, 2) << " Mbit/s x "
          << per_kind[k];
    }
    out << "\ncampaigns at once: parameter file " << Fixed(static_cast<double>(s.small_artifact_bytes) / 1e6, 1)
        << " MB to " << params << " terminals; OS image " << Fixed(static_cast<double>(s.large_artifact_bytes) / 1e6, 1)
        << " MB to " << s.terminals - params << ", of which " << deltas << " on the delta's base fetch "
        << Fixed(static_cast<double>(s.large_artifact_bytes) * s.delta_ratio / 1e6, 1) << " MB\n";
  }
  out << "lower bound on makespan: " << Minutes(bounds.Max()) << " min = max of bytes " << Minutes(bounds.bytes_ms)
      << " (total bytes / total bandwidth), count " << Minutes(bounds.count_ms)
      << " (ceil(N / total per_slot) - 1 slots + the shortest download), presence " << Minutes(bounds.presence_ms)
      << " (a terminal's arrival or a no-show's earliest return + its own shortest download)\n\n";
  char line[320];
  std::snprintf(line, sizeof line, "%-11s %9s %9s %9s %9s %9s %9s %8s %9s %9s %9s %8s %8s %9s\n", "policy", "peak/cap",
                "bytes/bw", "conn/lim", "makespan", "/bound", "/bytes", "nearest", "wait p50", "wait p99", "failures",
                "timeouts", "never", "upgraded");
  out << line;
  std::snprintf(line, sizeof line, "%-11s %9s %9s %9s %9s %9s %9s %8s %9s %9s %9s %8s %8s %9s\n", "", "", "", "",
                "(min)", "", "", "", "(min)", "(min)", "", "", "upgraded", "");
  out << line;
  for (const auto& r : run.results) {
    const double bytes_ratio =
        bounds.bytes_ms > 0 ? static_cast<double>(r.makespan_ms) / static_cast<double>(bounds.bytes_ms) : 0;
    const std::string conn = s.mixed ? Fixed(r.peak_connection_ratio, 2) : "-";
    std::snprintf(line, sizeof line, "%-11s %9.2f %9.2f %9s %9s %9.3f %9.3f %7.1f%% %9s %9s %9llu %8llu %8llu %9llu\n",
                  r.policy.c_str(), r.peak_load_ratio, r.peak_rate_ratio, conn.c_str(), Minutes(r.makespan_ms).c_str(),
                  r.MakespanRatio(), bytes_ratio, 100 * r.nearest_share, Minutes(r.wait_p50_ms).c_str(),
                  Minutes(r.wait_p99_ms).c_str(), static_cast<unsigned long long>(r.failed_attempts),
                  static_cast<unsigned long long>(r.timeouts), static_cast<unsigned long long>(r.never_upgraded),
                  static_cast<unsigned long long>(r.upgraded));
    out << line;
  }
  out << "\n";
  for (const auto& r : run.results) out << "  " << r.policy << ": " << r.parameters << "\n";
  out << "\n";
}

void PrintTargets(std::ostream& out, const std::vector<Target>& targets) {
  for (const auto& t : targets) {
    out << t.name << ": " << t.value << "  (target " << t.goal << ": " << (t.met ? "PASS" : "FAIL") << ")\n";
  }
}

void WriteJson(std::ostream& out, const Run& run, const std::vector<Target>& targets) {
  const Scenario& s = run.fleet.scenario;
  out << "{\n  \"scenario\": {\"terminals\": " << s.terminals << ", \"nodes\": " << s.nodes
      << ", \"clusters\": " << s.clusters << ", \"per_slot\": " << s.per_slot << ", \"slot_ms\": " << s.slot_ms
      << ", \"download_ms\": " << s.download_ms << ", \"artifact_bytes\": " << s.artifact_bytes
      << ", \"online_share\": " << s.online_share << ", \"arrival_ms\": " << s.arrival_ms
      << ", \"no_show_share\": " << s.no_show_share << ", \"failure_share\": " << s.failure_share
      << ", \"timeout_factor\": " << s.timeout_factor << ", \"max_retries\": " << s.max_retries
      << ", \"seed\": " << s.seed << ", \"capacity_per_slot\": " << run.fleet.CapacityPerSlot()
      << ", \"lower_bound_ms\": " << LowerBoundMs(run.fleet) << ", \"bytes_bound_ms\": " << LowerBounds(run.fleet).bytes_ms
      << ", \"presence_bound_ms\": " << LowerBounds(run.fleet).presence_ms << ", \"mixed\": " << (s.mixed ? "true" : "false")
      << "},\n  \"policies\": [";
  for (std::size_t i = 0; i < run.results.size(); ++i) {
    const RunResult& r = run.results[i];
    out << (i ? "," : "") << "\n    {\"policy\": " << JsonString(r.policy)
        << ", \"parameters\": " << JsonString(r.parameters) << ", \"peak_load_ratio\": " << r.peak_load_ratio
        << ", \"peak_bytes_ratio\": " << r.peak_rate_ratio << ", \"peak_connections_ratio\": " << r.peak_connection_ratio
        << ", \"within_capacity\": " << (r.WithinCapacity() ? "true" : "false")
        << ", \"makespan_ms\": " << r.makespan_ms << ", \"makespan_ratio\": " << r.MakespanRatio()
        << ", \"nearest_share\": " << r.nearest_share << ", \"wait_p50_ms\": " << r.wait_p50_ms
        << ", \"wait_p99_ms\": " << r.wait_p99_ms << ", \"failed_attempts\": " << r.failed_attempts
        << ", \"timeouts\": " << r.timeouts << ", \"upgraded\": " << r.upgraded
        << ", \"never_upgraded\": " << r.never_upgraded << ", \"max_starts_per_minute\": " << r.max_starts_per_minute
        << ", \"without_outcome\": " << r.without_outcome << ", \"sim_wall_s\": " << r.wall_s << "}";
  }
  out << "\n  ],\n  \"targets\": [";
  for (std::size_t i = 0; i < targets.size(); ++i) {
    out << (i ? "," : "") << "\n    {\"name\": " << JsonString(targets[i].name)
        << ", \"value\": " << JsonString(targets[i].value) << ", \"goal\": " << JsonString(targets[i].goal)
        << ", \"met\": " << (targets[i].met ? "true" : "false") << "}";
  }
  out << "\n  ],\n  \"wall_s\": " << run.wall_s << "\n}\n";
}

Status WriteCsv(const std::filesystem::path& dir, const Run& run) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return MakeError(v1::INTERNAL, "cannot create " + dir.string() + ": " + ec.message());
  std::ofstream summary(dir / "summary.csv"), load(dir / "load.csv"), calendar(dir / "calendar.csv");
  summary << "policy,peak_load_ratio,makespan_ms,lower_bound_ms,makespan_ratio,nearest_share,wait_p50_ms,"
             "wait_p99_ms,failed_attempts,timeouts,upgraded,never_upgraded,max_starts_per_minute\n";
  load << "policy,node,cluster,bucket_start_s,max_load_ratio,mean_load_ratio\n";
  calendar << "node,cluster,slot,booked,per_slot\n";
  for (const RunResult& r : run.results) {
    summary << r.policy << ',' << r.peak_load_ratio << ',' << r.makespan_ms << ',' << r.lower_bound_ms << ','
            << r.MakespanRatio() << ',' << r.nearest_share << ',' << r.wait_p50_ms << ',' << r.wait_p99_ms << ','
            << r.failed_attempts << ',' << r.timeouts << ',' << r.upgraded << ',' << r.never_upgraded << ','
            << r.max_starts_per_minute << '\n';
    for (NodeIndex n = 0; n < r.load.nodes(); ++n) {
      const SimNode& node = run.fleet.nodes[n];
      const double per_slot = node.per_slot;
      for (std::size_t b = 0; b < r.load.buckets(); ++b) {
        load << r.policy << ',' << node.id << ',' << run.fleet.clusters[node.cluster].id << ','
             << static_cast<std::int64_t>(b) * r.load.bucket_ms() / 1000 << ',' << r.load.Max(n, b) / per_slot << ','
             << r.load.Mean(n, b) / per_slot << '\n';
      }
    }
    for (NodeIndex n = 0; n < r.calendar.booked.size(); ++n) {
      const SimNode& node = run.fleet.nodes[n];
      const auto& row = r.calendar.booked[n];
      for (std::size_t k = 0; k < row.size(); ++k) {
        calendar << node.id << ',' << run.fleet.clusters[node.cluster].id << ','
                 << r.calendar.first_slot + static_cast<std::int64_t>(k) << ',' << row[k] << ',' << node.per_slot
                 << '\n';
      }
    }
  }
  for (auto* f : {&summary, &load, &calendar}) {
    f->flush();
    if (!*f) return MakeError(v1::INTERNAL, "cannot write the CSV files in " + dir.string());
  }
  return OkStatus();
}

}  // namespace slotwise::fleet::sim
