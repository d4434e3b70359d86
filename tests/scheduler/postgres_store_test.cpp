// The PostgreSQL store against a real PostgreSQL 15 (started by
// with_postgres.py, which passes its URL in SLOTWISE_TEST_PG_URL): the Store
// contract RocksDB and MemoryStore keep, the same key order as RocksDB, the
// marker and slot-length refusals, the service on it across a restart, and
// fencing on the leader epoch. Each case gets its own database.
#include <doctest/doctest.h>

#include <pqxx/pqxx>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "harness.h"
#include "slotwise/scheduler/leadership.h"
#include "slotwise/scheduler/postgres_store.h"
#include "slotwise/scheduler/rocksdb_store.h"

using namespace slotwise;
using namespace slotwise::scheduler;
using namespace slotwise::scheduler::testing;

namespace {

std::string ServerUrl() {
  const char* url = std::getenv("SLOTWISE_TEST_PG_URL");
  REQUIRE_MESSAGE(url != nullptr, "SLOTWISE_TEST_PG_URL is not set: run through tests/scheduler/with_postgres.py");
  return url;
}

// A fresh database on the test server; its URL.
std::string FreshDatabase() {
  static std::atomic<int> n{0};
  const std::string base = ServerUrl();
  const std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(n++);
  pqxx::connection conn(base);
  pqxx::nontransaction tx(conn);
  tx.exec("DROP DATABASE IF EXISTS " + name);
  tx.exec("CREATE DATABASE " + name);
  return base.substr(0, base.rfind('/') + 1) + name;
}

std::unique_ptr<Store> Open(const std::string& url, PostgresStoreOptions o = {}) {
  auto s = OpenPostgresStore(url, o);
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
  return std::move(*s);
}

std::vector<std::string> Keys(Store& store, std::string_view prefix) {
  std::vector<std::string> keys;
  REQUIRE(store.Scan(prefix, [&](std::string_view k, std::string_view) { keys.emplace_back(k); }).ok());
  return keys;
}

}  // namespace

TEST_CASE("postgresql store: Get, atomic Write (last operation wins) and prefix Scan") {
  auto store = Open(FreshDatabase());
  CHECK_FALSE(store->Get("a/1")->has_value());
  WriteBatch b;
  b.Put("a/1", "one");
  b.Put("a/2", std::string("t\0wo\xff", 5));
  b.Put("b/1", "bee");
  b.Put("a/3", "gone");
  b.Delete("a/3");
  b.Put("a/1", "uno");
  REQUIRE(store->Write(b).ok());
  CHECK(**store->Get("a/1") == "uno");
  CHECK(**store->Get("a/2") == std::string("t\0wo\xff", 5));
  CHECK_FALSE(store->Get("a/3")->has_value());
  CHECK(Keys(*store, "a/") == std::vector<std::string>{"a/1", "a/2"});
  CHECK(Keys(*store, "") == std::vector<std::string>{"a/1", "a/2", "b/1"});  // the marker is hidden
  WriteBatch d;
  d.Delete("a/1");
  REQUIRE(store->Write(d).ok());
  CHECK(Keys(*store, "a/") == std::vector<std::string>{"a/2"});
}

TEST_CASE("postgresql store: keys scan in RocksDB's byte order, across pages") {
  const std::string url = FreshDatabase();
  TempDir dir;
  auto pg = Open(url);
  auto opened = OpenRocksDbStore(dir.path().string());
  REQUIRE(opened.ok());
  auto rocks = std::move(*opened);
  WriteBatch b;
  const std::vector<std::string> odd = {"p/", "p/\x7f", "p/\x80", "p/\xff", "p/\xff\xff", "p/a", "p/a/b", "p/A",
                                        std::string("p/\0", 3), "p/progress/c1/T9", "p/progress/c1/T10", "q"};
  for (const auto& k : odd) b.Put(k, "v");
  for (int i = 0; i < 25000; ++i) b.Put("p/many/" + std::to_string(i), std::string(40, 'x'));
  REQUIRE(pg->Write(b).ok());
  REQUIRE(rocks->Write(b).ok());
  const auto from_pg = Keys(*pg, "p/");
  CHECK(from_pg.size() == odd.size() - 1 + 25000);
  CHECK(from_pg == Keys(*rocks, "p/"));
  CHECK(Keys(*pg, "p/\xff") == Keys(*rocks, "p/\xff"));
}

TEST_CASE("postgresql store: what the service stored is loaded again by a new process") {
  const std::string url = FreshDatabase();
  FakeClock clock(kT0 + 100);
  {
    auto store = Open(url);
    SchedulerService svc(*store, clock, ServiceOptions{kSlotMs, 1});
    REQUIRE(svc.Load().ok());
    Outbox out;
    REQUIRE(svc.HandleOperator(AddCluster("paris", 48.86, 2.35), out).has_ack());
    REQUIRE(svc.HandleOperator(AddNode("p1", "paris", 2), out).has_ack());
  }
  auto store = Open(url);
  SchedulerService svc(*store, clock, ServiceOptions{kSlotMs, 1});
  REQUIRE(svc.Load().ok());
  Outbox out;
  v1::OperatorRequest list;
  list.mutable_list_nodes();
  const auto nodes = svc.HandleOperator(list, out);
  REQUIRE(nodes.has_nodes());
  REQUIRE(nodes.nodes().nodes_size() == 1);
  CHECK(nodes.nodes().nodes(0).id() == "p1");
}

TEST_CASE("postgresql store: another slot length is refused by Load") {
  const std::string url = FreshDatabase();
  FakeClock clock(kT0);
  {
    auto store = Open(url);
    SchedulerService svc(*store, clock, ServiceOptions{kSlotMs, 1});
    REQUIRE(svc.Load().ok());
  }
  auto store = Open(url);
  SchedulerService svc(*store, clock, ServiceOptions{kSlotMs * 2, 1});
  const auto loaded = svc.Load();
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().code == v1::FAILED_PRECONDITION);
}

TEST_CASE("postgresql store: a foreign table and an emptied store are refused, changing nothing") {
  const std::string url = FreshDatabase();
  {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    tx.exec("CREATE TABLE slotwise_store (key bytea PRIMARY KEY, value bytea NOT NULL)");
    tx.exec("INSERT INTO slotwise_store VALUES ('\\x6b'::bytea, '\\x76'::bytea)");
    tx.commit();
  }
  auto foreign = OpenPostgresStore(url);
  REQUIRE_FALSE(foreign.ok());
  CHECK(foreign.error().code == v1::FAILED_PRECONDITION);
  CHECK(foreign.error().message.find("no Slotwise marker") != std::string::npos);
  {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    CHECK(tx.exec("SELECT count(*) FROM slotwise_store")[0][0].as<int>() == 1);
    tx.exec("DELETE FROM slotwise_store");
    tx.commit();
  }
  { Open(url); }  // empty now: a first start, marked
  {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    tx.exec("DELETE FROM slotwise_store");  // emptied behind the scheduler's back
    tx.commit();
  }
  auto emptied = OpenPostgresStore(url);
  REQUIRE_FALSE(emptied.ok());
  CHECK(emptied.error().code == v1::FAILED_PRECONDITION);
  CHECK(emptied.error().message.find("emptied") != std::string::npos);
  PostgresStoreOptions fresh;
  fresh.accept_empty_store = true;
  Open(url, fresh);
  CHECK(OpenPostgresStore(url).ok());  // marked anew
}

TEST_CASE("fencing: after a takeover the old leader's write is refused and stores nothing") {
  const std::string url = FreshDatabase();
  const std::atomic<bool> stop{false};
  LeadershipOptions a_opts{url, "A", std::chrono::milliseconds(300), std::chrono::milliseconds(20)};
  auto a = Leadership::Acquire(a_opts, stop);
  REQUIRE(a.ok());
  std::string fenced_why;
  PostgresStoreOptions a_store;
  a_store.epoch = (*a)->epoch();
  a_store.on_fenced = [&](const std::string& why) { fenced_why = why; };
  auto old_leader = Open(url, a_store);
  WriteBatch first;
  first.Put("k", "from A");
  REQUIRE(old_leader->Write(first).ok());

  // A stops renewing (never Hold()): B takes over once the lease ran out.
  LeadershipOptions b_opts{url, "B", std::chrono::milliseconds(300), std::chrono::milliseconds(20)};
  auto b = Leadership::Acquire(b_opts, stop);
  REQUIRE(b.ok());
  CHECK((*b)->epoch() == (*a)->epoch() + 1);

  WriteBatch late;
  late.Put("k", "late from A");
  late.Put("k2", "late from A");
  const auto refused = old_leader->Write(late);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == v1::INTERNAL);
  CHECK(fenced_why.find("epoch") != std::string::npos);
  PostgresStoreOptions b_store;
  b_store.epoch = (*b)->epoch();
  auto new_leader = Open(url, b_store);
  CHECK(**new_leader->Get("k") == "from A");
  CHECK_FALSE(new_leader->Get("k2")->has_value());
  WriteBatch ok;
  ok.Put("k", "from B");
  CHECK(new_leader->Write(ok).ok());
  CHECK(**new_leader->Get("k") == "from B");
}

TEST_CASE("leadership: a held lease is not taken, a lost one is reported, a released one passes at once") {
  const std::string url = FreshDatabase();
  std::atomic<bool> stop{false};
  auto a = Leadership::Acquire({url, "A", std::chrono::milliseconds(400), std::chrono::milliseconds(20)}, stop);
  REQUIRE(a.ok());
  std::atomic<bool> a_lost{false};
  (*a)->Hold([&](const std::string&) { a_lost = true; });
  // B waits while A renews: stopped after several leases, it never led.
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    stop = true;
  });
  auto b = Leadership::Acquire({url, "B", std::chrono::milliseconds(400), std::chrono::milliseconds(20)}, stop);
  stopper.join();
  CHECK_FALSE(b.ok());
  CHECK_FALSE(a_lost.load());
  // A clean release hands over without waiting for the lease.
  (*a)->Release();
  stop = false;
  auto c = Leadership::Acquire({url, "C", std::chrono::milliseconds(60000), std::chrono::milliseconds(20)}, stop);
  REQUIRE(c.ok());
  CHECK((*c)->epoch() == (*a)->epoch() + 1);
}
