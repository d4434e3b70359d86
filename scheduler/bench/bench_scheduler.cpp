// bench_scheduler: prints one `name: value` line per figure.
//
//   durable_assignments_per_s   S7-S8 reports answered by SchedulerService on
//                               RocksDB, group commit (one synced WriteBatch
//                               per batch of reports), sync on
//   raw_synced_writes_per_s     plain RocksDB synced WriteBatches of the same
//                               size (records per second)
//   durable_over_raw            the ratio of the two
//   window_query_s              QueryWindows for 1,000,000 terminals x 100
//                               nodes (10 clusters), 288 slots of capacity
//   makespan_over_lower_bound   slots the earliest window's placement uses
//                               when every terminal reports at once, over
//                               ceil(N / capacity per slot)
//   filter_create_s             CreateCampaign with a filter over N known
//                               terminals (MemoryStore; the one pass over the
//                               fleet); filter_taken_in: how many matched
//   inventory_reports_per_s_{0,8}_filters   inventory Reports of N new
//                               terminals (MemoryStore) with no filter
//                               campaign and with 8 open ones (each report is
//                               matched against them; half the terminals join one)
//
// Options: --terminals N (durable run, default 200000), --batch B (default
// 256), --dir PATH (RocksDB scratch directory, default under /tmp; removed),
// --only filter (just the filter figures, N terminals).
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "slotwise/clock.h"
#include "slotwise/scheduler/service.h"
#include "slotwise/scheduler/rocksdb_store.h"
#include "slotwise/scheduler/store.h"
#include "slotwise/scheduler/windows.h"

using namespace slotwise;
using namespace slotwise::scheduler;

namespace {

using Seconds = std::chrono::duration<double>;

double Since(std::chrono::steady_clock::time_point t0) {
  return Seconds(std::chrono::steady_clock::now() - t0).count();
}

struct Fleet {
  std::vector<std::pair<std::string, LatLon>> clusters;
  std::vector<LatLon> terminals;
};

// `clusters` sites spread over Europe; terminals scattered around a site
// chosen uniformly at random (demand roughly proportional to capacity).
Fleet MakeFleet(int clusters, std::size_t terminals, std::uint32_t seed) {
  Fleet f;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> lat(38, 58), lon(-8, 25), jitter(-1.5, 1.5);
  for (int c = 0; c < clusters; ++c) f.clusters.emplace_back("c" + std::to_string(c), LatLon{lat(rng), lon(rng)});
  std::uniform_int_distribution<int> pick(0, clusters - 1);
  f.terminals.reserve(terminals);
  for (std::size_t i = 0; i < terminals; ++i) {
    const LatLon at = f.clusters[static_cast<std::size_t>(pick(rng))].second;
    f.terminals.push_back(LatLon{at.lat + jitter(rng), at.lon + jitter(rng)});
  }
  return f;
}

void Fail(const std::string& what) {
  std::cerr << "bench_scheduler: " << what << "\n";
  std::exit(1);
}

v1::OperatorReply Op(SchedulerService& svc, const v1::OperatorRequest& req) {
  Outbox out;
  auto r = svc.HandleOperator(req, out);
  if (r.has_error()) Fail("operator request refused: " + r.error().message());
  return r;
}

void Register(SchedulerService& svc, const Fleet& fleet, int nodes_per_cluster, std::uint32_t per_slot) {
  for (const auto& [id, at] : fleet.clusters) {
    v1::OperatorRequest r;
    auto* c = r.mutable_add_cluster()->mutable_cluster();
    c->set_id(id);
    c->mutable_location()->set_lat(at.lat);
    c->mutable_location()->set_lon(at.lon);
    Op(svc, r);
    for (int n = 0; n < nodes_per_cluster; ++n) {
      v1::OperatorRequest a;
      auto* node = a.mutable_add_node()->mutable_node();
      node->set_id(id + "-n" + std::to_string(n));
      node->set_cluster_id(id);
      node->set_base_url("http://" + node->id() + ".example:8080");
      node->set_per_slot(per_slot);
      Op(svc, a);
    }
  }
  v1::OperatorRequest a;
  auto* art = a.mutable_add_artifact()->mutable_artifact();
  art->set_version("2.0.0");
  art->set_path("/fw/2.0.0.bin");
  art->set_sha256(std::string(64, 'a'));
  art->set_size(50'000'000);
  Op(svc, a);
}

// S7-S8 through SchedulerService on RocksDB with group commit (batches of
// `batch` reports), beside plain RocksDB synced WriteBatches of the same
// records (terminal info and progress per report). The two run interleaved,
// chunk by chunk, so a noisy disk or CPU affects both alike.
struct DurableFigures {
  double durable_per_s = 0;
  double raw_per_s = 0;
  double makespan_ratio = 0;
};

DurableFigures DurableAndRaw(const std::string& dir, std::size_t n, std::size_t batch) {
  std::filesystem::remove_all(dir + "-svc");
  std::filesystem::remove(StoreMarkerBeside(dir + "-svc"));  // else the next run is refused as an emptied store
  std::filesystem::remove_all(dir + "-raw");
  auto store = OpenRocksDbStore(dir + "-svc");
  if (!store) Fail(store.error().message);
  FakeClock clock(1'800'000'000'000);
  SchedulerService svc(**store, clock, ServiceOptions{600'000, 1});
  if (!svc.Load()) Fail("load");
  const Fleet fleet = MakeFleet(20, n, 1);
  Register(svc, fleet, 5, 200);  // 20,000 starts per slot
  v1::OperatorRequest create;
  auto* cc = create.mutable_create_campaign();
  cc->set_id("bench");
  cc->set_target_version("2.0.0");
  for (std::size_t i = 0; i < n; ++i) cc->add_terminal_ids("T" + std::to_string(i));
  Op(svc, create);
  v1::OperatorRequest q;
  q.mutable_query_windows()->set_campaign_id("bench");
  const auto windows = Op(svc, q).windows();
  const auto& w = windows.windows(0);
  v1::OperatorRequest s;
  s.mutable_schedule_campaign()->set_campaign_id("bench");
  s.mutable_schedule_campaign()->set_start_slot(w.start_slot());
  s.mutable_schedule_campaign()->set_end_slot(w.end_slot());
  s.mutable_schedule_campaign()->set_core_end_slot(w.core_end_slot());
  Op(svc, s);

  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(options, dir + "-raw", &raw).ok()) Fail("cannot open RocksDB at " + dir + "-raw");
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions sync;
  sync.sync = true;
  const std::string info(70, 'i'), progress(60, 'p');

  std::vector<v1::Report> reports(n);
  for (std::size_t i = 0; i < n; ++i) {
    reports[i].set_campaign_id("bench");
    reports[i].set_current_version("1.0.0");
    reports[i].set_target_version("2.0.0");
    reports[i].mutable_location()->set_lat(fleet.terminals[i].lat);
    reports[i].mutable_location()->set_lon(fleet.terminals[i].lon);
    reports[i].set_system_id("pos-os");
  }
  Slot last = w.start_slot();
  double durable_s = 0, raw_s = 0;
  const std::size_t chunk = batch * 40;
  for (std::size_t c0 = 0; c0 < n; c0 += chunk) {
    const std::size_t c1 = std::min(n, c0 + chunk);
    auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = c0; i < c1;) {
      rocksdb::WriteBatch wb;
      const std::size_t end = std::min(c1, i + batch);
      for (; i < end; ++i) {
        wb.Put("terminal/T" + std::to_string(i), info);
        wb.Put("progress/bench/T" + std::to_string(i), progress);
      }
      if (!db->Write(sync, &wb).ok()) Fail("rocksdb write");
    }
    raw_s += Since(t0);
    t0 = std::chrono::steady_clock::now();
    for (std::size_t i = c0; i < c1;) {
      svc.BeginBatch();
      const std::size_t end = std::min(c1, i + batch);
      for (; i < end; ++i) {
        const auto r = svc.HandleReport("T" + std::to_string(i), reports[i]);
        if (!r.has_assignment()) Fail("a report was refused: " + r.error().message());
        last = std::max(last, r.assignment().slot());
      }
      if (auto c = svc.CommitBatch(); !c) Fail(c.error().message);
    }
    durable_s += Since(t0);
  }
  db.reset();
  std::filesystem::remove_all(dir + "-svc");
  std::filesystem::remove(StoreMarkerBeside(dir + "-svc"));  // else the next run is refused as an emptied store
  std::filesystem::remove_all(dir + "-raw");
  DurableFigures f;
  f.durable_per_s = static_cast<double>(n) / durable_s;
  f.raw_per_s = static_cast<double>(n) / raw_s;
  f.makespan_ratio = static_cast<double>(last - w.start_slot() + 1) / windows.lower_bound_slots();
  return f;
}

// S3-S4 for a million terminals: 10 clusters x 10 nodes, 288 slots.
double WindowQuerySeconds(double& makespan_ratio) {
  const std::size_t n = 1'000'000;
  const Fleet fleet = MakeFleet(10, n, 2);
  std::map<std::string, v1::Cluster> clusters;
  std::map<std::string, v1::Node> nodes;
  for (const auto& [id, at] : fleet.clusters) {
    v1::Cluster c;
    c.set_id(id);
    c.mutable_location()->set_lat(at.lat);
    c.mutable_location()->set_lon(at.lon);
    clusters[id] = c;
    for (int k = 0; k < 10; ++k) {
      v1::Node node;
      node.set_id(id + "-n" + std::to_string(k));
      node.set_cluster_id(id);
      node.set_per_slot(50);  // 5,000 starts per slot: the lower bound is 200 of 288 slots
      node.set_state(v1::ACTIVE);
      nodes[node.id()] = node;
    }
  }
  const Topology topology = Topology::FromRegistry(clusters, nodes);
  CapacityLedger ledger;
  WindowRequest req;
  req.earliest_start = 1000;
  req.horizon = 288;
  req.slack = 0;
  req.terminals.reserve(n);
  for (const auto& t : fleet.terminals) req.terminals.emplace_back(t);
  const auto t0 = std::chrono::steady_clock::now();
  const WindowPlan plan = PlanWindows(topology, ledger, req);
  const double elapsed = Since(t0);
  if (plan.candidates.empty()) Fail("no window for the million-terminal fleet");
  makespan_ratio = static_cast<double>(plan.candidates.front().slots_used) / plan.lower_bound_slots;
  return elapsed;
}

// Inventory reports (the one every agent sends on connect) of `n` terminals
// ids prefix+i, half of them PAX; returns reports per second.
double InventoryRate(SchedulerService& svc, const Fleet& fleet, const std::string& prefix) {
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < fleet.terminals.size(); ++i) {
    v1::Report r;
    r.set_current_version("1.0.0");
    r.set_system_id(i % 2 == 0 ? "PAX-A920" : "ING-M70");
    r.mutable_location()->set_lat(fleet.terminals[i].lat);
    r.mutable_location()->set_lon(fleet.terminals[i].lon);
    Outbox out;
    if (!svc.HandleReport(prefix + std::to_string(i), r, out).has_ack()) Fail("inventory report refused");
  }
  return static_cast<double>(fleet.terminals.size()) / Since(t0);
}

void FilterFigures(std::size_t n) {
  const Fleet fleet = MakeFleet(10, n, 11);
  MemoryStore store;
  FakeClock clock(1'800'000'000'000);
  SchedulerService svc(store, clock, ServiceOptions{60'000, 1});
  if (!svc.Load().ok()) Fail("load");
  Register(svc, fleet, 2, 100);
  const double rate0 = InventoryRate(svc, fleet, "A");
  // 8 filter campaigns: one PAX below the target for the system image (takes
  // half the known fleet), seven for one cluster each that match too (their
  // overlap keeps them out), so every report is matched against all 8.
  auto create = [&](const std::string& id, const std::string& cluster) {
    v1::OperatorRequest r;
    auto* c = r.mutable_create_campaign();
    c->set_id(id);
    c->set_target_version("2.0.0");
    c->mutable_filter()->set_system_id_prefix("PAX-");
    c->mutable_filter()->set_below_target(true);
    if (!cluster.empty()) c->mutable_filter()->add_cluster_ids(cluster);
    Op(svc, r);
  };
  const auto t0 = std::chrono::steady_clock::now();
  create("f0", "");
  const double create_s = Since(t0);
  v1::OperatorRequest get;
  get.mutable_get_campaign()->set_campaign_id("f0");
  const auto taken = Op(svc, get).campaign().terminals_size();
  for (int k = 1; k < 8; ++k) create("f" + std::to_string(k), "c" + std::to_string(k));
  const double rate8 = InventoryRate(svc, fleet, "B");
  std::cout << "filter_terminals: " << n << "\n"
            << "filter_create_s: " << create_s << "\n"
            << "filter_taken_in: " << taken << "\n"
            << "inventory_reports_per_s_0_filters: " << static_cast<long long>(rate0) << "\n"
            << "inventory_reports_per_s_8_filters: " << static_cast<long long>(rate8) << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t terminals = 200'000;
  std::size_t batch = 256;
  std::string dir = (std::filesystem::temp_directory_path() / ("bench-scheduler-" + std::to_string(::getpid()))).string();
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--terminals") terminals = std::stoul(argv[i + 1]);
    else if (flag == "--batch") batch = std::stoul(argv[i + 1]);
    else if (flag == "--dir") dir = argv[i + 1];
    else if (flag == "--only") only = argv[i + 1];
    else Fail("unknown option " + flag + " (--terminals N, --batch B, --dir PATH, --only filter)");
  }
  if (only == "filter") {
    FilterFigures(terminals);
    return 0;
  }
  if (!only.empty()) Fail("--only takes: filter");
  const DurableFigures d = DurableAndRaw(dir, terminals, batch);
  double makespan = 0;
  const double window_s = WindowQuerySeconds(makespan);
  std::cout << "terminals: " << terminals << "\n"
            << "batch: " << batch << "\n"
            << "durable_assignments_per_s: " << static_cast<long long>(d.durable_per_s) << "\n"
            << "raw_synced_writes_per_s: " << static_cast<long long>(d.raw_per_s) << "\n"
            << "durable_over_raw: " << d.durable_per_s / d.raw_per_s << "\n"
            << "window_query_s: " << window_s << "\n"
            << "makespan_over_lower_bound: " << makespan << "\n"
            << "makespan_over_lower_bound_durable_run: " << d.makespan_ratio << "\n";
  FilterFigures(terminals);
  return 0;
}
