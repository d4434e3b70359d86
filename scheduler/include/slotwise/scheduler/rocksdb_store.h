// The RocksDB store: its open options, the faults it refuses at start and
// how it lives through a full disk. The Store contract is store.h's.
//
// At start (OpenRocksDbStore):
//   - the write-ahead log is replayed with WALRecoveryMode::kAbsoluteConsistency
//     and paranoid_checks: a damaged, truncated or torn WAL (and a damaged
//     CURRENT / MANIFEST / table file) refuses the open, naming the files, and
//     changes nothing on disk. RocksDB's default would open silently with what
//     it could read up to the damage.
//   - a marker records that the store once held data: a key in the store and
//     two small files, `SLOTWISE-STORE` inside the directory and
//     `<dir>.slotwise-store` beside it. A store that is missing or empty while
//     a marker says it held data (deleted WAL, emptied or deleted directory) is
//     refused rather than taken for a first start, unless
//     RocksDbStoreOptions::accept_empty_store says to start fresh deliberately.
//   - a second process on the same directory is refused (RocksDB's LOCK).
//   A refused store is checked read-only first and left as it was found.
//
// After a failed write (disk full, I/O error) the store is degraded: it
// refuses every write (INTERNAL, with the first error) without calling into
// RocksDB's write path, and before a write, at most once per back-off
// (0.1 s doubling to 5 s), calls DB::Resume(). When Resume succeeds (space
// came back) it logs that it resumed and writes again. A refused write is
// applied nowhere (RocksDB flushes its memtable and starts a new WAL on
// resume, so the torn record of the failed write is never replayed; when
// Resume flushed nothing, RocksDB keeps the WAL writer that failed, and the
// store closes and reopens the DB instead of writing through it). While
// degraded, `SLOTWISE-WAL-NOTE` (one block, overwritten in place) names the
// WAL and its size: if the process dies before resuming, the next start
// drops the torn record of the refused write, only when the WAL is exactly
// as noted.
// RocksDB's own automatic recovery is switched off (it waits for 64 MB free
// and makes Resume() busy meanwhile), and RocksDB's info log goes to the
// Slotwise log (warn and above) instead of a LOG file on the full disk.
//
// Threading: as store.h, one thread at a time.
#pragma once

#include <memory>
#include <string>

#include "slotwise/result.h"
#include "slotwise/scheduler/store.h"

namespace slotwise::scheduler {

struct RocksDbStoreOptions {
  // Open a store that is missing or empty although its marker says it held
  // data, as a new empty store (and mark it anew). For the one start after an
  // operator decided to begin again; never leave it on. Default: false.
  bool accept_empty_store = false;
  // Replay the WAL with kTolerateCorruptedTailRecords instead of
  // kAbsoluteConsistency: an incomplete last record (a write torn by a crash
  // or power loss while it was written, hence never acknowledged) is dropped
  // instead of refusing the store; a checksum mismatch anywhere is still
  // refused. It cannot tell a torn write from a WAL truncated by damage, so
  // it is the operator's call, for one start. Default: false.
  bool accept_torn_wal_tail = false;
};

Result<std::unique_ptr<Store>> OpenRocksDbStore(const std::string& path, const RocksDbStoreOptions& options);

// `<dir>.slotwise-store`, the marker file beside the store directory `path`.
std::string StoreMarkerBeside(const std::string& path);

}  // namespace slotwise::scheduler
