// The PostgreSQL store: the Store contract (store.h) on a PostgreSQL
// database, for a pair of schedulers (one leader, one standby: leadership.h)
// that share one database. RocksDB stays the embedded default for one
// machine.
//
// Layout: one table `slotwise_store (key bytea PRIMARY KEY, value bytea)`.
// bytea compares as unsigned bytes, shorter first on a common prefix, which
// is RocksDB's BytewiseComparator, so Scan returns keys in the order the
// RocksDB store does. The table `slotwise_leader` (leadership.h) lives in the
// same database.
//
// Durability: every Write() is one transaction, committed with
// synchronous_commit = on (set on the store's session, whatever the server's
// default), so Write() returns only once the server has flushed the commit
// to its WAL (and, with synchronous standbys, to them). The store warns at
// open when the server runs with fsync off.
//
// Fencing: when PostgresStoreOptions::epoch is set, every Write() first
// reads the leader row inside its transaction with FOR KEY SHARE and
// commits only when the row still holds that epoch. A takeover (leadership.h)
// locks the row FOR UPDATE, which waits for every Write in flight and makes
// every later one see the new epoch: a Write commits either before the
// takeover (and the new leader loads it) or not at all. A fenced Write
// changes nothing, returns INTERNAL and calls on_fenced.
//
// At open (OpenPostgresStore), mirroring the RocksDB store's marker:
//   - a database without the tables gets them and a marker (the key
//     "\0slotwise-store" in slotwise_store, hidden from Scan, and its store
//     id in the leader row);
//   - a slotwise_store table that holds rows but no marker is refused
//     (FAILED_PRECONDITION: not a Slotwise store, or its marker was deleted);
//   - a store whose marker is gone while the leader row names a store id
//     (the table was emptied), or whose marker names another store id than
//     the leader row, is refused unless accept_empty_store;
//   - nothing is changed in a refused database.
// The slot length is checked by SchedulerService::Load (StoreMeta), and by
// the daemon before a standby waits (daemon_main.cpp).
//
// Errors: a broken connection fails the call (INTERNAL) and the next call
// connects again. A commit whose outcome is unknown (connection lost during
// COMMIT) is reported as failed; it was never acknowledged.
//
// Threading: as store.h, one thread at a time (one connection per store).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "slotwise/result.h"
#include "slotwise/scheduler/store.h"

namespace slotwise::scheduler {

struct PostgresStoreOptions {
  // Fence every Write on this leadership epoch (leadership.h). Default: none
  // (unfenced, for tests and tools; the daemon always fences).
  std::optional<std::int64_t> epoch;
  // Called (on the writer's thread) when a Write found another epoch in the
  // leader row: this process is no longer the leader. Default: none.
  std::function<void(const std::string& why)> on_fenced;
  // Open a store whose marker is missing although the leader row says the
  // database held one (emptied table), as a new empty store, and mark it
  // anew. For the one start after deciding to begin again. Default: false.
  bool accept_empty_store = false;
};

// True for a libpq URL: postgresql://... or postgres://...
bool IsPostgresUrl(std::string_view url);

// Connects (libpq URL or key=value string), creates the tables on a first
// start and checks the marker.
Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url, const PostgresStoreOptions& options = {});

}  // namespace slotwise::scheduler
