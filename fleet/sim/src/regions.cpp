#include "slotwise/fleet/sim/regions.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <iostream>

#include <CLI/CLI.hpp>

#include "slotwise/clock.h"
#include "slotwise/scheduler/service.h"
#include "slotwise/scheduler/store.h"

namespace slotwise::fleet::sim {
namespace {

constexpr char kCampaign[] = "regional";
constexpr char kTarget[] = "2.0.0";

struct Region {
  int index = 0;
  double lat = 0, lon = 0;            // the region's centre; its clusters around it
  std::int64_t home = 0;              // terminals whose home is here
  std::int64_t own = 0;               // of them, booked here
  std::vector<std::pair<int, std::int64_t>> guests;  // (home region, count) booked here
  std::uint64_t capacity = 0;         // per slot
  std::unique_ptr<scheduler::MemoryStore> store;
  std::unique_ptr<FakeClock> clock;
  std::unique_ptr<scheduler::SchedulerService> service;
  std::vector<std::string> node_ids;
  // results
  std::map<std::pair<std::string, std::int64_t>, std::uint32_t> booked;
  std::int64_t start_slot = 0, last_slot = -1, refused = 0, assigned = 0;
  std::string error;
};

std::string Tid(int home, std::int64_t i) { return "R" + std::to_string(home) + "T" + std::to_string(i); }

bool Operator(Region& r, const v1::OperatorRequest& req, v1::OperatorReply* reply = nullptr) {
  scheduler::Outbox out;
  v1::OperatorReply rep = r.service->HandleOperator(req, out);
  if (rep.has_error()) {
    r.error = rep.error().message();
    return false;
  }
  if (reply) *reply = std::move(rep);
  return true;
}

bool SetUp(Region& r, const RegionsOptions& o, TimeMs t0) {
  r.store = std::make_unique<scheduler::MemoryStore>();
  r.clock = std::make_unique<FakeClock>(t0);
  scheduler::ServiceOptions so;
  so.slot_ms = o.slot_ms;
  so.lead_slots = 1;
  r.service = std::make_unique<scheduler::SchedulerService>(*r.store, *r.clock, so);
  if (auto s = r.service->Load(); !s) {
    r.error = s.error().message;
    return false;
  }
  for (int c = 0; c < o.clusters_per_region; ++c) {
    v1::OperatorRequest req;
    auto* cl = req.mutable_add_cluster()->mutable_cluster();
    cl->set_id("r" + std::to_string(r.index) + "c" + std::to_string(c));
    cl->set_region("region" + std::to_string(r.index));
    cl->mutable_location()->set_lat(r.lat + 2.0 * c);
    cl->mutable_location()->set_lon(r.lon + 2.0 * c);
    if (!Operator(r, req)) return false;
    for (int n = 0; n < o.nodes_per_cluster; ++n) {
      v1::OperatorRequest nr;
      auto* node = nr.mutable_add_node()->mutable_node();
      node->set_id(cl->id() + "n" + std::to_string(n));
      node->set_cluster_id(cl->id());
      node->set_base_url("http://" + node->id() + ".example");
      node->set_per_slot(o.per_slot);
      r.node_ids.push_back(node->id());
      r.capacity += o.per_slot;
      if (!Operator(r, nr)) return false;
    }
  }
  v1::OperatorRequest a;
  auto* art = a.mutable_add_artifact()->mutable_artifact();
  art->set_version(kTarget);
  art->set_path("/fw/2.0.0.bin");
  art->set_sha256(std::string(64, 'a'));
  art->set_size(100'000'000);
  return Operator(r, a);
}

}  // namespace

int RunRegions(const RegionsOptions& o, std::ostream& out) {
  const auto wall0 = std::chrono::steady_clock::now();
  const int R = std::max(1, o.regions);
  std::vector<double> shares = o.shares;
  if (shares.empty()) {
    for (int r = 0; r < R; ++r) shares.push_back(static_cast<double>(R - r));
  }
  shares.resize(static_cast<std::size_t>(R), 0.0);
  double total_share = 0;
  for (double s : shares) total_share += s;
  std::vector<Region> regions(static_cast<std::size_t>(R));
  std::int64_t assigned_home = 0;
  const TimeMs t0 = (1'800'000'000'000LL / o.slot_ms) * o.slot_ms;
  for (int r = 0; r < R; ++r) {
    Region& g = regions[static_cast<std::size_t>(r)];
    g.index = r;
    g.lat = 20.0 + 10.0 * (r % 2);
    g.lon = -150.0 + 300.0 * r / R;
    g.home = r + 1 == R ? o.terminals - assigned_home
                        : static_cast<std::int64_t>(std::llround(static_cast<double>(o.terminals) *
                                                                 shares[static_cast<std::size_t>(r)] / total_share));
    assigned_home += g.home;
    if (!SetUp(g, o, t0)) {
      out << "regions: set-up of region " << r << " failed: " << g.error << "\n";
      return 2;
    }
  }
  std::uint64_t capacity = 0;
  for (const auto& g : regions) capacity += g.capacity;
  const auto bound = static_cast<std::int64_t>((static_cast<std::uint64_t>(o.terminals) + capacity - 1) / capacity);

  // The regional plan: each region keeps what it can serve within the bound;
  // the overflow goes to the neighbours with room, nearest (ring) first.
  std::vector<std::int64_t> spare(static_cast<std::size_t>(R));
  for (auto& g : regions) {
    const auto room = bound * static_cast<std::int64_t>(g.capacity);
    g.own = o.fallback ? std::min(g.home, room) : g.home;
    spare[static_cast<std::size_t>(g.index)] = room - g.own;
  }
  // guests_of[n]: (home, first index, count) booked in n
  std::vector<std::vector<std::array<std::int64_t, 3>>> guests_of(static_cast<std::size_t>(R));
  for (auto& g : regions) {
    std::int64_t next = g.own, left = g.home - g.own;
    for (int d = 1; d < R && left > 0; ++d) {
      for (int n : {(g.index + d) % R, (g.index - d + R) % R}) {
        auto& room = spare[static_cast<std::size_t>(n)];
        const auto take = std::min(left, std::max<std::int64_t>(room, 0));
        if (take <= 0) continue;
        guests_of[static_cast<std::size_t>(n)].push_back({g.index, next, take});
        regions[static_cast<std::size_t>(n)].guests.emplace_back(g.index, take);
        next += take;
        left -= take;
        room -= take;
        if (left == 0) break;
      }
    }
    if (left > 0) {
      // No room anywhere within the bound: they stay home, after it.
      guests_of[static_cast<std::size_t>(g.index)].push_back({g.index, next, left});
    }
  }

  std::atomic<bool> failed{false};
  auto run_region = [&](Region& g) {
    v1::OperatorRequest create;
    auto* c = create.mutable_create_campaign();
    c->set_id(kCampaign);
    c->set_target_version(kTarget);
    for (std::int64_t i = 0; i < g.own; ++i) c->add_terminal_ids(Tid(g.index, i));
    for (const auto& [home, first, count] : guests_of[static_cast<std::size_t>(g.index)]) {
      for (std::int64_t i = first; i < first + count; ++i) c->add_terminal_ids(Tid(static_cast<int>(home), i));
    }
    if (!Operator(g, create)) return failed.store(true);
    v1::OperatorRequest query;
    query.mutable_query_windows()->set_campaign_id(kCampaign);
    v1::OperatorReply windows;
    if (!Operator(g, query, &windows)) return failed.store(true);
    const v1::Window* chosen = nullptr;
    for (const auto& w : windows.windows().windows()) {
      if (w.label() == "earliest") chosen = &w;
    }
    if (!chosen) {
      g.error = "no earliest window";
      return failed.store(true);
    }
    v1::OperatorRequest schedule;
    auto* s = schedule.mutable_schedule_campaign();
    s->set_campaign_id(kCampaign);
    s->set_start_slot(chosen->start_slot());
    s->set_end_slot(chosen->end_slot());
    s->set_max_utilisation(chosen->max_utilisation());
    s->set_core_end_slot(chosen->core_end_slot());
    if (!Operator(g, schedule)) return failed.store(true);
    g.start_slot = chosen->start_slot();
    v1::Report report;
    report.set_campaign_id(kCampaign);
    report.set_current_version("1.0.0");
    report.set_target_version(kTarget);
    report.set_system_id("pos-os");
    auto one = [&](int home, std::int64_t i) {
      const Region& h = regions[static_cast<std::size_t>(home)];
      // Near one of its home region's clusters.
      const double k = 2.0 * static_cast<double>(i % o.clusters_per_region);
      report.mutable_location()->set_lat(h.lat + k + 0.001 * static_cast<double>(i % 97));
      report.mutable_location()->set_lon(h.lon + k + 0.001 * static_cast<double>(i % 89));
      const v1::TerminalReply reply = g.service->HandleReport(Tid(home, i), report);
      if (!reply.has_assignment()) {
        ++g.refused;
        return;
      }
      const auto& as = reply.assignment();
      ++g.assigned;
      ++g.booked[{as.node_id(), as.slot()}];
      g.last_slot = std::max<std::int64_t>(g.last_slot, as.slot());
    };
    for (std::int64_t i = 0; i < g.own; ++i) one(g.index, i);
    for (const auto& [home, first, count] : guests_of[static_cast<std::size_t>(g.index)]) {
      for (std::int64_t i = first; i < first + count; ++i) one(static_cast<int>(home), i);
    }
  };
  {
    std::vector<std::jthread> threads;
    for (auto& g : regions) threads.emplace_back([&] { run_region(g); });
  }
  if (failed) {
    for (const auto& g : regions) {
      if (!g.error.empty()) out << "regions: region " << g.index << ": " << g.error << "\n";
    }
    return 2;
  }
  double peak = 0;
  std::int64_t first_slot = regions[0].start_slot, last_slot = -1, refused = 0, assigned = 0;
  for (const auto& g : regions) {
    first_slot = std::min(first_slot, g.start_slot);
    last_slot = std::max(last_slot, g.last_slot);
    refused += g.refused;
    assigned += g.assigned;
    for (const auto& [key, n] : g.booked) {
      // The ledger's own count, not only ours: the service is the authority.
      const auto ledger = g.service->ledger().Booked(key.first, key.second);
      peak = std::max(peak, static_cast<double>(std::max(n, ledger)) / o.per_slot);
    }
  }
  const std::int64_t makespan = last_slot - first_slot + 1;
  out << "regions: " << R << " regions, " << o.terminals << " terminals, " << o.clusters_per_region << " clusters x "
      << o.nodes_per_cluster << " nodes x per_slot " << o.per_slot << " per region ("
      << capacity << " per slot in all), fallback " << (o.fallback ? "on" : "off") << "\n";
  out << "region  home      booked here  of them guests  capacity/slot  last slot - start + 1\n";
  for (const auto& g : regions) {
    std::int64_t guests = 0;
    for (const auto& gq : guests_of[static_cast<std::size_t>(g.index)]) {
      if (gq[0] != g.index) guests += gq[2];
    }
    char line[200];
    std::snprintf(line, sizeof line, "%-7d %-9lld %-12lld %-15lld %-14llu %lld\n", g.index,
                  static_cast<long long>(g.home), static_cast<long long>(g.assigned), static_cast<long long>(guests),
                  static_cast<unsigned long long>(g.capacity), static_cast<long long>(g.last_slot - g.start_slot + 1));
    out << line;
  }
  const double ratio = static_cast<double>(makespan) / static_cast<double>(bound);
  char l1[200], l2[200];
  std::snprintf(l1, sizeof l1, "target peak/capacity %.3f <= 1.00 %s\n", peak, peak <= 1.0 ? "PASS" : "FAIL");
  std::snprintf(l2, sizeof l2, "target makespan/bound %.3f <= 1.05 %s (makespan %lld slots, bound %lld)\n", ratio,
                ratio <= 1.05 ? "PASS" : "FAIL", static_cast<long long>(makespan), static_cast<long long>(bound));
  out << "assigned " << assigned << ", refused " << refused << "; "
      << std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count() << " s wall\n"
      << l1 << l2;
  return peak <= 1.0 && ratio <= 1.05 && refused == 0 ? 0 : 1;
}

int RunRegionsCommand(int argc, char** argv) {
  RegionsOptions o;
  double slot_s = static_cast<double>(o.slot_ms) / 1000.0;
  bool no_fallback = false;
  CLI::App app{"slotwise-fleet virtual --regions: regional cells, each with its own ledger (regions.h)"};
  app.add_option("--regions", o.regions, "regions (cells)")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--terminals", o.terminals, "terminals over all regions")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--clusters-per-region", o.clusters_per_region, "clusters in each region")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--nodes-per-cluster", o.nodes_per_cluster, "nodes in each cluster")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--per-slot", o.per_slot, "downloads a node takes per slot")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--slot-seconds", slot_s, "slot length")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--shares", o.shares, "home share of each region, comma-separated (default R, R-1, ..., 1)")->delimiter(',');
  app.add_flag("--no-fallback", no_fallback, "each region books only its own terminals");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  o.slot_ms = static_cast<std::int64_t>(slot_s * 1000);
  o.fallback = !no_fallback;
  return RunRegions(o, std::cout);
}

}  // namespace slotwise::fleet::sim
