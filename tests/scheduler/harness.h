// Test harness shared by the scheduler's service tests: a SchedulerService
// over a MemoryStore or a RocksDB store in a temporary directory, a fake
// clock, and request builders.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "slotwise/clock.h"
#include "slotwise/scheduler/service.h"
#include "slotwise/scheduler/store.h"
#include "slotwise/topics.h"

namespace slotwise::scheduler::testing {
using namespace slotwise;

inline constexpr std::int64_t kSlotMs = 2000;
inline constexpr TimeMs kT0 = 1'800'000'000'000;  // a slot boundary (divisible by 2000)

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> n{0};
    path_ = std::filesystem::temp_directory_path() /
            ("slotwise-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + "-" + std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    std::filesystem::remove_all(path_);
  }
  ~TempDir() {
    std::filesystem::remove_all(path_);
    std::error_code ec;
    std::filesystem::remove(path_.string() + ".slotwise-store", ec);  // the store's marker beside it
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// One scheduler over one store; Reopen() simulates a restart.
class Harness {
 public:
  explicit Harness(bool rocksdb, ServiceOptions options = ServiceOptions{kSlotMs, 1})
      : rocksdb_(rocksdb), options_(std::move(options)), clock_(kT0 + 100) {
    Reopen();
  }

  void Reopen() {
    service_.reset();
    store_.reset();
    if (rocksdb_) {
      auto s = OpenRocksDbStore(dir_.path().string());
      REQUIRE(s.ok());
      store_ = std::move(*s);
    } else if (!memory_) {
      memory_ = std::make_unique<MemoryStore>();
    }
    service_ = std::make_unique<SchedulerService>(rocksdb_ ? *store_ : *memory_, clock_,
                                                  options_);
    REQUIRE(service_->Load().ok());
  }

  // Stops the scheduler and closes the store (as a crash would leave the
  // disk: RocksDB keeps the WAL; nothing is flushed on close).
  void Close() {
    service_.reset();
    store_.reset();
  }
  const std::filesystem::path& dir() const { return dir_.path(); }

  SchedulerService& svc() { return *service_; }
  FakeClock& clock() { return clock_; }
  Store& store() { return rocksdb_ ? *store_ : *memory_; }

  v1::OperatorReply Op(const v1::OperatorRequest& req) {
    Outbox out;
    auto r = service_->HandleOperator(req, out);
    last_outbox_ = std::move(out);
    return r;
  }
  const Outbox& outbox() const { return last_outbox_; }

 private:
  bool rocksdb_;
  ServiceOptions options_;
  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<MemoryStore> memory_;
  std::unique_ptr<SchedulerService> service_;
  Outbox last_outbox_;
};

inline v1::OperatorRequest AddCluster(const std::string& id, double lat, double lon) {
  v1::OperatorRequest r;
  auto* c = r.mutable_add_cluster()->mutable_cluster();
  c->set_id(id);
  c->mutable_location()->set_lat(lat);
  c->mutable_location()->set_lon(lon);
  return r;
}

inline v1::OperatorRequest AddNode(const std::string& id, const std::string& cluster, std::uint32_t per_slot) {
  v1::OperatorRequest r;
  auto* n = r.mutable_add_node()->mutable_node();
  n->set_id(id);
  n->set_cluster_id(cluster);
  n->set_base_url("http://127.0.0.1:9000/" + id + "/");
  n->set_per_slot(per_slot);
  return r;
}

inline v1::OperatorRequest AddArtifact(const std::string& version) {
  v1::OperatorRequest r;
  auto* a = r.mutable_add_artifact()->mutable_artifact();
  a->set_version(version);
  a->set_path("/fw/" + version + ".bin");
  a->set_sha256(std::string(64, 'a'));
  a->set_size(1234);
  return r;
}

inline v1::OperatorRequest CreateCampaign(const std::string& id, const std::string& version,
                                   const std::vector<std::string>& terminals) {
  v1::OperatorRequest r;
  auto* c = r.mutable_create_campaign();
  c->set_id(id);
  c->set_target_version(version);
  for (const auto& t : terminals) c->add_terminal_ids(t);
  return r;
}

inline v1::OperatorRequest Get(const std::string& id) {
  v1::OperatorRequest r;
  r.mutable_get_campaign()->set_campaign_id(id);
  return r;
}

inline v1::Report ReportFor(const std::string& campaign, double lat, double lon) {
  v1::Report r;
  r.set_campaign_id(campaign);
  r.set_current_version("1.0.0");
  r.set_target_version("2.0.0");
  r.mutable_location()->set_lat(lat);
  r.mutable_location()->set_lon(lon);
  r.set_system_id("pos-os");
  return r;
}

inline std::vector<std::string> Ids(int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back("T" + std::to_string(i));
  return ids;
}

// Registers 2 clusters x 2 nodes (per_slot 2) and version 2.0.0, creates a
// campaign for `n` terminals and schedules its earliest window.
inline v1::Window SetUpScheduledCampaign(Harness& h, int n) {
  REQUIRE(h.Op(AddCluster("paris", 48.85, 2.35)).has_ack());
  REQUIRE(h.Op(AddCluster("munich", 48.14, 11.58)).has_ack());
  for (const char* id : {"p1", "p2"}) REQUIRE(h.Op(AddNode(id, "paris", 2)).has_ack());
  for (const char* id : {"m1", "m2"}) REQUIRE(h.Op(AddNode(id, "munich", 2)).has_ack());
  REQUIRE(h.Op(AddArtifact("2.0.0")).has_ack());
  REQUIRE(h.Op(CreateCampaign("c1", "2.0.0", Ids(n))).has_ack());
  v1::OperatorRequest q;
  q.mutable_query_windows()->set_campaign_id("c1");
  const auto windows = h.Op(q);
  REQUIRE(windows.has_windows());
  REQUIRE(windows.windows().windows_size() >= 1);
  const v1::Window w = windows.windows().windows(0);
  CHECK(w.label() == "earliest");
  v1::OperatorRequest s;
  s.mutable_schedule_campaign()->set_campaign_id("c1");
  s.mutable_schedule_campaign()->set_start_slot(w.start_slot());
  s.mutable_schedule_campaign()->set_end_slot(w.end_slot());
  s.mutable_schedule_campaign()->set_core_end_slot(w.core_end_slot());
  REQUIRE(h.Op(s).has_ack());
  return w;
}

// Serialized store contents, to prove a refused request changed nothing.
inline std::string Snapshot(Store& store) {
  std::string all;
  REQUIRE(store.Scan("", [&](std::string_view k, std::string_view v) {
    all.append(k).append("=").append(v).append(";");
  }).ok());
  return all;
}

}  // namespace slotwise::scheduler::testing
