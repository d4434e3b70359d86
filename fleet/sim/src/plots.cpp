#include "slotwise/fleet/sim/plots.h"

#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>

extern char** environ;

namespace slotwise::fleet::sim {
namespace {

// One block per policy (gnuplot `index`): minutes from the start, the
// highest node's load / per_slot, the mean over nodes of the time-average
// load / per_slot.
void WriteLoadData(std::ostream& out, const Run& run) {
  for (const RunResult& r : run.results) {
    out << "# " << r.policy << "\n";
    for (std::size_t b = 0; b < r.load.buckets(); ++b) {
      double max = 0, mean = 0;
      for (NodeIndex n = 0; n < r.load.nodes(); ++n) {
        const double per_slot = run.fleet.nodes[n].per_slot;
        max = std::max(max, r.load.Max(n, b) / per_slot);
        mean += r.load.Mean(n, b) / per_slot;
      }
      out << static_cast<double>(b) * static_cast<double>(r.load.bucket_ms()) / 60'000 << ' ' << max << ' '
          << mean / static_cast<double>(r.load.nodes()) << '\n';
    }
    out << "\n\n";
  }
}

// rate.dat, one block per policy: minutes from the start, then per bucket
// the busiest node's highest rate asked of it (the sum over its active
// downloads of min(link, per-connection rate)) in Mbit/s and / its
// bandwidth, and the mean over nodes of the time-average rate / bandwidth.
void WriteRateData(std::ostream& out, const Run& run) {
  for (const RunResult& r : run.results) {
    out << "# " << r.policy << "\n";
    for (std::size_t b = 0; b < r.rate.buckets(); ++b) {
      double max_mbps = 0, max_ratio = 0, mean = 0;
      for (NodeIndex n = 0; n < r.rate.nodes(); ++n) {
        const double bandwidth = run.fleet.nodes[n].bandwidth;
        max_mbps = std::max(max_mbps, r.rate.Max(n, b) * 8000 / 1e6);
        max_ratio = std::max(max_ratio, r.rate.Max(n, b) / bandwidth);
        mean += r.rate.Mean(n, b) / bandwidth;
      }
      out << static_cast<double>(b) * static_cast<double>(r.rate.bucket_ms()) / 60'000 << ' ' << max_mbps << ' '
          << max_ratio << ' ' << mean / static_cast<double>(r.rate.nodes()) << '\n';
    }
    out << "\n\n";
  }
}

// One panel: `column` of `file` for every policy, Slotwise drawn last (on
// top), with `limit` as the dashed red capacity line.
std::string Panel(const Run& run, int column, const char* style, const std::string& file = "load.dat",
                  const std::string& limit = "1") {
  std::string s = "plot " + limit + " with lines dt 2 lw 1 lc rgb 'red' title 'capacity'";
  for (std::size_t pass = 0; pass < 2; ++pass) {
    for (std::size_t i = 0; i < run.results.size(); ++i) {
      if ((run.results[i].policy == "slotwise") != (pass == 1)) continue;
      s += ", '" + file + "' index " + std::to_string(i) + " using 1:" + std::to_string(column) + " with " + style +
           " lw " + (pass == 1 ? "3" : "2") + " title '" + run.results[i].policy + "'";
    }
  }
  return s + "\n";
}

std::string LoadScript(const Run& run) {
  return "set terminal svg size 1200,1300 dynamic enhanced font 'sans,12' background rgb 'white'\n"
         "set output 'load.svg'\n"
         "set multiplot layout 3,1 title 'Node load over time: downloads active on a node / its per-slot capacity "
         "(1 = full)'\n"
         "set grid\nset key outside right\nset xlabel 'minutes from the campaign start'\n"
         "set logscale y\nset ylabel 'busiest node (log scale)'\n" +
         Panel(run, 2, "steps") +
         "unset logscale y\nset yrange [0:2.5]\nset ylabel 'busiest node, near capacity'\n" + Panel(run, 2, "steps") +
         "set yrange [0.01:*]\nset format y '%g'\nset logscale y\nset ylabel 'mean over nodes (log scale)'\n" +
         Panel(run, 3, "lines") +
         "unset multiplot\n";
}

std::string RateScript(const Run& run) {
  double bandwidth_mbps = 0;
  for (const auto& n : run.fleet.nodes) bandwidth_mbps = std::max(bandwidth_mbps, n.bandwidth * 8000 / 1e6);
  return "set terminal svg size 1200,1300 dynamic enhanced font 'sans,12' background rgb 'white'\n"
         "set output 'rate.svg'\n"
         "set multiplot layout 3,1 title 'Bytes/s per node over time: the rate the active downloads ask of a node "
         "(each min(link, bandwidth / connection limit))'\n"
         "set grid\nset key outside right\nset xlabel 'minutes from the campaign start'\n"
         "set logscale y\nset ylabel 'busiest node, Mbit/s (log scale)'\n" +
         Panel(run, 2, "steps", "rate.dat", std::to_string(bandwidth_mbps)) +
         "unset logscale y\nset yrange [0:2.5]\nset ylabel 'busiest node / bandwidth'\n" +
         Panel(run, 3, "steps", "rate.dat") +
         "set yrange [0:1.2]\nset ylabel 'mean over nodes / bandwidth'\n" + Panel(run, 4, "lines", "rate.dat") +
         "unset multiplot\n";
}

// Rows are nodes, cluster by cluster; columns slots from the window's first;
// booked / per_slot.
bool WriteCalendarData(std::ostream& out, const Run& run) {
  for (const RunResult& r : run.results) {
    std::size_t slots = 0;
    for (const auto& row : r.calendar.booked) slots = std::max(slots, row.size());
    if (slots == 0) continue;
    for (const SimCluster& cluster : run.fleet.clusters) {
      for (NodeIndex n : cluster.nodes) {
        const auto& row = r.calendar.booked[n];
        for (std::size_t k = 0; k < slots; ++k) {
          out << (k ? " " : "") << (k < row.size() ? static_cast<double>(row[k]) / run.fleet.nodes[n].per_slot : 0.0);
        }
        out << '\n';
      }
    }
    return true;
  }
  return false;
}

constexpr char kCalendarScript[] =
    "set terminal svg size 1200,700 dynamic enhanced font 'sans,12' background rgb 'white'\n"
    "set output 'calendar.svg'\n"
    "set title 'Slotwise capacity calendar: booked / per-slot capacity, per node and slot'\n"
    "set xlabel 'slot from the window start'\nset ylabel 'node (rows cluster by cluster)'\n"
    "set cbrange [0:1]\nset cblabel 'booked / capacity'\n"
    "set palette defined (0 'white', 0.5 '#7fb3d5', 0.9 '#1f618d', 1 '#0b2545')\n"
    "set autoscale xfix\nset autoscale yfix\n"
    "plot 'calendar.dat' matrix with image notitle\n";

Status Write(const std::filesystem::path& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  f.flush();
  if (!f) return MakeError(v1::INTERNAL, "cannot write " + path.string());
  return OkStatus();
}

// Runs `gnuplot script` in `dir`; an error when it cannot start or fails.
Status Gnuplot(const std::filesystem::path& dir, const std::string& script) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  std::string program = "gnuplot", arg = script;
  char* argv[] = {program.data(), arg.data(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return MakeError(v1::FAILED_PRECONDITION,
                     "gnuplot is not installed (apt-get install gnuplot-nox); the plot data and scripts are in " +
                         dir.string() + ", run `gnuplot " + script + "` there later");
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return MakeError(v1::INTERNAL, "gnuplot failed on " + (dir / script).string());
  }
  return OkStatus();
}

}  // namespace

Status WritePlots(const std::filesystem::path& dir, const Run& run) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return MakeError(v1::INTERNAL, "cannot create " + dir.string() + ": " + ec.message());
  {
    std::ofstream data(dir / "load.dat");
    WriteLoadData(data, run);
    if (!data) return MakeError(v1::INTERNAL, "cannot write " + (dir / "load.dat").string());
  }
  if (auto s = Write(dir / "load.gp", LoadScript(run)); !s) return s;
  {
    std::ofstream data(dir / "rate.dat");
    WriteRateData(data, run);
    if (!data) return MakeError(v1::INTERNAL, "cannot write " + (dir / "rate.dat").string());
  }
  if (auto s = Write(dir / "rate.gp", RateScript(run)); !s) return s;
  bool calendar = false;
  {
    std::ofstream data(dir / "calendar.dat");
    calendar = WriteCalendarData(data, run);
    if (!data) return MakeError(v1::INTERNAL, "cannot write " + (dir / "calendar.dat").string());
  }
  if (calendar) {
    if (auto s = Write(dir / "calendar.gp", kCalendarScript); !s) return s;
  }
  if (auto s = Gnuplot(dir, "load.gp"); !s) return s;
  if (auto s = Gnuplot(dir, "rate.gp"); !s) return s;
  return calendar ? Gnuplot(dir, "calendar.gp") : OkStatus();
}

}  // namespace slotwise::fleet::sim
