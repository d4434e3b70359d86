// The RocksDB store against real storage faults, in a temporary directory:
// a damaged, truncated or deleted write-ahead log and an emptied store
// directory are refused at start with a message that names the file and the
// way to recover (never opened as a smaller or brand-new store); a first
// start still works. And a full disk (a real tmpfs, mounted here; skipped
// with a message where mounting is not allowed): writes are refused, then
// accepted again once space returns, without reopening the store.
#include <doctest/doctest.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <filesystem>
#include <fstream>
#include <thread>

#include "slotwise/scheduler/rocksdb_store.h"
#include "harness.h"

using namespace slotwise;
using namespace slotwise::scheduler;
using namespace slotwise::scheduler::testing;
namespace fs = std::filesystem;

namespace {

// A scheduler with 32 clusters and a scheduled campaign whose terminals
// reported, all of it in the WAL (one session, nothing flushed), then closed.
void FillAndClose(Harness& h) {
  for (int i = 0; i < 28; ++i) REQUIRE(h.Op(AddCluster("c" + std::to_string(i), 40 + i * 0.1, 2)).has_ack());
  SetUpScheduledCampaign(h, 16);
  for (int i = 0; i < 16; ++i) REQUIRE(h.svc().HandleReport("T" + std::to_string(i), ReportFor("c1", 48.9, 2.4)).has_assignment());
  h.Close();
}

fs::path TheWal(const fs::path& dir) {
  fs::path wal;
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".log") {
      wal = e.path();
      ++n;
    }
  }
  REQUIRE(n == 1);
  return wal;
}

void FlipByte(const fs::path& file, std::uintmax_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x5a));
  REQUIRE(f);
}

// Every file of the directory with its size: "nothing was changed".
std::string Listing(const fs::path& dir) {
  std::map<std::string, std::uintmax_t> files;
  if (fs::exists(dir)) {
    for (const auto& e : fs::directory_iterator(dir)) files[e.path().filename().string()] = e.file_size();
  }
  std::string out;
  for (const auto& [name, size] : files) out += name + ":" + std::to_string(size) + " ";
  return out;
}

void CheckRefused(const fs::path& dir, const std::string& names) {
  const std::string before = Listing(dir);
  auto s = OpenRocksDbStore(dir.string());
  REQUIRE_FALSE(s.ok());
  const std::string& m = s.error().message;
  CAPTURE(m);
  CHECK(s.error().code == v1::FAILED_PRECONDITION);
  CHECK(m.find("refusing to start") != std::string::npos);
  CHECK(m.find(names) != std::string::npos);
  CHECK(m.find("Storage faults and recovery") != std::string::npos);
  CHECK(m.find("--accept-empty-store") != std::string::npos);
  CHECK(Listing(dir) == before);
}

std::size_t Clusters(Store& store) {
  std::size_t n = 0;
  REQUIRE(store.Scan("cluster/", [&](std::string_view, std::string_view) { ++n; }).ok());
  return n;
}

}  // namespace

TEST_CASE("a first start on a missing or empty directory works, and marks the store") {
  TempDir dir;
  const fs::path db = dir.path() / "db";
  {
    auto s = OpenRocksDbStore(db.string());  // missing: created (parents too)
    REQUIRE(s.ok());
  }
  CHECK(fs::exists(db / "SLOTWISE-STORE"));
  CHECK(fs::exists(StoreMarkerBeside(db.string())));
  CHECK(StoreMarkerBeside(db.string() + "/") == StoreMarkerBeside(db.string()));
  fs::create_directories(dir.path() / "empty");
  auto s = OpenRocksDbStore((dir.path() / "empty").string());
  REQUIRE(s.ok());
  CHECK(Snapshot(**s).empty());  // the marker key is not the scheduler's
}

TEST_CASE("the store holds everything after a restart (the WAL is replayed)") {
  Harness h(true);
  FillAndClose(h);
  h.Reopen();
  CHECK(Clusters(h.store()) == 30);
  CHECK(h.Op(Get("c1")).campaign().terminals_size() == 16);
}

TEST_CASE("a WAL with a byte flipped in the middle is refused, naming the file") {
  Harness h(true);
  FillAndClose(h);
  const fs::path wal = TheWal(h.dir());
  REQUIRE(fs::file_size(wal) > 4096);
  FlipByte(wal, fs::file_size(wal) / 2);
  CheckRefused(h.dir(), wal.string());
}

TEST_CASE("a WAL with a byte flipped near its start is refused, naming the file") {
  Harness h(true);
  FillAndClose(h);
  const fs::path wal = TheWal(h.dir());
  FlipByte(wal, 10);
  CheckRefused(h.dir(), wal.string());
}

TEST_CASE("a truncated WAL is refused, naming the file") {
  for (int cut : {0, 1}) {
    CAPTURE(cut);
    Harness h(true);
    FillAndClose(h);
    const fs::path wal = TheWal(h.dir());
    const auto size = fs::file_size(wal);
    fs::resize_file(wal, cut == 0 ? size / 2 + 3 : size - 5);  // mid-file, and a torn last record
    CheckRefused(h.dir(), wal.string());
  }
}

TEST_CASE("a deleted WAL is refused, not taken for a first start") {
  Harness h(true);
  FillAndClose(h);
  fs::remove(TheWal(h.dir()));
  CheckRefused(h.dir(), "deleted or lost");
}

TEST_CASE("an emptied or deleted store directory is refused, not taken for a first start") {
  Harness h(true);
  FillAndClose(h);
  for (const auto& e : fs::directory_iterator(h.dir())) fs::remove_all(e.path());
  CheckRefused(h.dir(), StoreMarkerBeside(h.dir().string()));
  fs::remove_all(h.dir());
  CheckRefused(h.dir(), "is missing or empty");
  CHECK_FALSE(fs::exists(h.dir()));  // refused before anything was created
}

TEST_CASE("--accept-empty-store starts fresh deliberately, once") {
  Harness h(true);
  FillAndClose(h);
  fs::remove(TheWal(h.dir()));
  {
    auto s = OpenRocksDbStore(h.dir().string(), RocksDbStoreOptions{true});
    REQUIRE(s.ok());
    CHECK(Clusters(**s) == 0);
    WriteBatch b;
    b.Put("cluster/x", "1");
    REQUIRE((*s)->Write(b).ok());
  }
  auto s = OpenRocksDbStore(h.dir().string());  // marked anew: opens without the flag
  REQUIRE(s.ok());
  CHECK(Clusters(**s) == 1);
}

TEST_CASE("a damaged CURRENT file and a second opener stay refused") {
  Harness h(true);
  FillAndClose(h);
  {
    auto first = OpenRocksDbStore(h.dir().string());
    REQUIRE(first.ok());
    auto second = OpenRocksDbStore(h.dir().string());
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().message.find("LOCK") != std::string::npos);
  }
  std::ofstream(h.dir() / "CURRENT") << "MANIFEST-999999\n";
  auto s = OpenRocksDbStore(h.dir().string());
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message.find("MANIFEST-999999") != std::string::npos);
}

TEST_CASE("a full disk refuses writes, and they are accepted again once space returns") {
  TempDir dir;
  const fs::path mnt = dir.path() / "mnt";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=8m") != 0) {
    MESSAGE("SKIPPED: cannot mount a tmpfs here (" << std::strerror(errno) << "); the disk-full case needs one");
    return;
  }
  struct Unmount {
    fs::path at;
    ~Unmount() { ::umount2(at.c_str(), MNT_DETACH); }
  } unmount{mnt};
  const fs::path db = mnt / "db";
  const fs::path filler = mnt / "filler";
  const std::string value(2000, 'v');
  auto put = [&](Store& store, const std::string& key) {
    WriteBatch b;
    b.Put(key, value);
    return store.Write(b);
  };
  {
    auto s = OpenRocksDbStore(db.string());
    REQUIRE(s.ok());
    Store& store = **s;
    for (int i = 0; i < 20; ++i) REQUIRE(put(store, "ok/" + std::to_string(i)).ok());
    {
      std::FILE* f = std::fopen(filler.c_str(), "w");
      REQUIRE(f);
      static const char block[4096] = {};
      while (std::fwrite(block, 1, sizeof block, f) == sizeof block) {}
      std::fclose(f);
    }
    const auto refused = put(store, "refused/0");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == v1::INTERNAL);
    CHECK(refused.error().message.find("No space left") != std::string::npos);
    for (int i = 1; i < 5; ++i) {
      const auto again = put(store, "refused/" + std::to_string(i));
      REQUIRE_FALSE(again.ok());
      CHECK(again.error().code == v1::INTERNAL);
      CHECK(again.error().message.find("degraded") != std::string::npos);
      std::this_thread::sleep_for(std::chrono::milliseconds(60));  // past the first back-off: a resume is tried
    }
    fs::remove(filler);
    // Space is back: a write succeeds within the back-off, same store object.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    Status s2 = put(store, "after/0");
    while (!s2.ok() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      s2 = put(store, "after/0");
    }
    CAPTURE(s2.ok() ? std::string() : s2.error().message);
    REQUIRE(s2.ok());
    for (int i = 1; i < 20; ++i) REQUIRE(put(store, "after/" + std::to_string(i)).ok());
  }
  // Everything acknowledged survives a restart; nothing refused appears.
  auto s = OpenRocksDbStore(db.string());
  REQUIRE(s.ok());
  std::size_t ok = 0, after = 0, refused = 0;
  REQUIRE((*s)->Scan("", [&](std::string_view k, std::string_view) {
    if (k.starts_with("ok/")) ++ok;
    if (k.starts_with("after/")) ++after;
    if (k.starts_with("refused/")) ++refused;
  }).ok());
  CHECK(ok == 20);
  CHECK(after == 20);
  CHECK(refused == 0);
}

TEST_CASE("--accept-torn-wal-tail drops an incomplete last record, and refuses any other damage") {
  Harness h(true);
  FillAndClose(h);
  const fs::path wal = TheWal(h.dir());
  const auto size = fs::file_size(wal);
  const fs::path copy = h.dir().string() + "-flipped";
  fs::copy(h.dir(), copy);
  struct Remove {
    fs::path p;
    ~Remove() { fs::remove_all(p); }
  } remove_copy{copy};
  FlipByte(copy / wal.filename(), size / 2);
  fs::resize_file(wal, size - 5);  // the last record torn
  RocksDbStoreOptions torn;
  torn.accept_torn_wal_tail = true;
  {
    auto plain = OpenRocksDbStore(h.dir().string());
    REQUIRE_FALSE(plain.ok());
    CHECK(plain.error().message.find("--accept-torn-wal-tail") != std::string::npos);
    auto s = OpenRocksDbStore(h.dir().string(), torn);
    REQUIRE(s.ok());
    CHECK(Clusters(**s) == 30);  // the torn record was a terminal's report
  }
  auto flipped = OpenRocksDbStore(copy.string(), torn);
  REQUIRE_FALSE(flipped.ok());
  CHECK(flipped.error().message.find("checksum mismatch") != std::string::npos);
  CHECK(flipped.error().message.find("--accept-torn-wal-tail") == std::string::npos);
}

namespace {

// A tmpfs of `size` at dir/mnt, unmounted on destruction; !ok() where
// mounting is not allowed.
class Tmpfs {
 public:
  Tmpfs(const fs::path& dir, const char* size) : at_(dir / "mnt") {
    fs::create_directories(at_);
    ok_ = ::mount("tmpfs", at_.c_str(), "tmpfs", 0, (std::string("size=") + size).c_str()) == 0;
    if (!ok_) error_ = std::strerror(errno);
  }
  ~Tmpfs() {
    if (ok_) ::umount2(at_.c_str(), MNT_DETACH);
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const fs::path& path() const { return at_; }

 private:
  fs::path at_;
  bool ok_ = false;
  std::string error_;
};

void Fill(const fs::path& file) {
  std::FILE* f = std::fopen(file.c_str(), "w");
  REQUIRE(f);
  static const char block[4096] = {};
  while (std::fwrite(block, 1, sizeof block, f) == sizeof block) {}
  std::fclose(f);
}

// A child process writes `acked` records, fills the disk, has writes refused
// and dies without closing the store (as SIGKILL would).
void CrashWhileFull(const fs::path& db, const fs::path& filler, std::size_t value_size) {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto s = OpenRocksDbStore(db.string());
    if (!s.ok()) ::_exit(3);
    const std::string value(value_size, 'v');
    for (int i = 0; i < 20; ++i) {
      WriteBatch b;
      b.Put("ok/" + std::to_string(i), value);
      if (!(*s)->Write(b).ok()) ::_exit(4);
    }
    Fill(filler);
    int refused = 0;
    for (int i = 0; i < 400 && refused < 3; ++i) {
      WriteBatch b;
      b.Put("full/" + std::to_string(i), value);
      if (!(*s)->Write(b).ok()) ++refused;
      else if (refused > 0) ::_exit(5);  // accepted after a refusal, with no space
    }
    ::_exit(refused == 3 ? 0 : 6);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

}  // namespace

TEST_CASE("a process killed while the disk is full restarts once space is back, without the refused write") {
  TempDir dir;
  Tmpfs mnt(dir.path(), "8m");
  if (!mnt.ok()) {
    MESSAGE("SKIPPED: cannot mount a tmpfs here (" << mnt.error() << ")");
    return;
  }
  for (std::size_t value_size : {std::size_t{100}, std::size_t{2000}, std::size_t{100000}}) {
    CAPTURE(value_size);
    const fs::path db = mnt.path() / ("db" + std::to_string(value_size));
    const fs::path filler = mnt.path() / "filler";
    CrashWhileFull(db, filler, value_size);
    fs::remove(filler);
    auto s = OpenRocksDbStore(db.string());
    CAPTURE(s.ok() ? std::string() : s.error().message);
    REQUIRE(s.ok());
    std::size_t ok = 0, full = 0;
    REQUIRE((*s)->Scan("", [&](std::string_view k, std::string_view) {
      if (k.starts_with("ok/")) ++ok;
      if (k.starts_with("full/")) ++full;
    }).ok());
    CHECK(ok == 20);
    CHECK(full < 400);  // what fitted before the first refusal; nothing after it
  }
}

TEST_CASE("a WAL truncated after the note of a failed write is still refused") {
  TempDir dir;
  Tmpfs mnt(dir.path(), "8m");
  if (!mnt.ok()) {
    MESSAGE("SKIPPED: cannot mount a tmpfs here (" << mnt.error() << ")");
    return;
  }
  const fs::path db = mnt.path() / "db";
  const fs::path filler = mnt.path() / "filler";
  CrashWhileFull(db, filler, 2000);
  fs::remove(filler);
  const fs::path wal = TheWal(db);
  fs::resize_file(wal, fs::file_size(wal) - 1000);  // not as the note left it
  CheckRefused(db, wal.string());
}

TEST_CASE("a full disk right after a restart (nothing in memory to flush) is resumed too") {
  TempDir dir;
  Tmpfs mnt(dir.path(), "8m");
  if (!mnt.ok()) {
    MESSAGE("SKIPPED: cannot mount a tmpfs here (" << mnt.error() << ")");
    return;
  }
  const fs::path db = mnt.path() / "db";
  const fs::path filler = mnt.path() / "filler";
  const std::string value(2000, 'v');
  auto put = [&](Store& store, const std::string& key) {
    WriteBatch b;
    b.Put(key, value);
    return store.Write(b);
  };
  {
    auto s = OpenRocksDbStore(db.string());
    REQUIRE(s.ok());
    for (int i = 0; i < 10; ++i) REQUIRE(put(**s, "ok/" + std::to_string(i)).ok());
  }
  auto s = OpenRocksDbStore(db.string());  // replays and flushes: an empty memtable, a new WAL
  REQUIRE(s.ok());
  Fill(filler);
  REQUIRE_FALSE(put(**s, "refused/0").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  // A resume attempt while still full (it may even succeed: reopening purges
  // obsolete files; then the write is stored, synced, like any other).
  const bool fitted = put(**s, "maybe/1").ok();
  MESSAGE("a write after the first resume attempt with the disk still full " << std::string(fitted ? "fitted" : "was refused"));
  fs::remove(filler);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  Status w = put(**s, "after/0");
  while (!w.ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    w = put(**s, "after/0");
  }
  REQUIRE(w.ok());
  for (int i = 1; i < 10; ++i) REQUIRE(put(**s, "after/" + std::to_string(i)).ok());
  s = OpenRocksDbStore(db.string() + "-other");  // closes the store (a new one elsewhere on the tmpfs)
  auto again = OpenRocksDbStore(db.string());
  REQUIRE(again.ok());
  std::size_t ok = 0, after = 0, refused = 0;
  REQUIRE((*again)->Scan("", [&](std::string_view k, std::string_view) {
    if (k.starts_with("ok/")) ++ok;
    if (k.starts_with("after/")) ++after;
    if (k.starts_with("refused/")) ++refused;
  }).ok());
  CHECK(ok == 10);
  CHECK(after == 10);
  CHECK(refused == 0);
}
