// The RocksDB store; what it refuses at start and how it degrades and
// resumes are described in rocksdb_store.h.
#include "slotwise/scheduler/rocksdb_store.h"

#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <system_error>
#include <vector>

#include "slotwise/log.h"

namespace slotwise::scheduler {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view kLog = "store";
// Outside the scheduler's key layout (keys.h) and hidden from Scan.
constexpr std::string_view kMarkerKey{"\0slotwise-store", 15};
constexpr std::string_view kMarkerInside = "SLOTWISE-STORE";
constexpr std::string_view kRecoveryHint =
    "see \"Storage faults and recovery\" in scheduler/README.md: restore the directory from a backup, "
    "or move it aside and start deliberately with an empty store (--accept-empty-store)";

Error FromRocks(const rocksdb::Status& s, std::string_view what) {
  return MakeError(v1::INTERNAL, std::string(what) + ": " + s.ToString());
}

// RocksDB's info log, into the Slotwise log: no LOG file on the store's disk
// (a LOG writer that hit ENOSPC aborts the process on its next line).
class LogToSlotwise final : public rocksdb::Logger {
 public:
  LogToSlotwise() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override { Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel() || level == rocksdb::InfoLogLevel::HEADER_LEVEL) return;
    char buf[1024];
    va_list copy;
    va_copy(copy, ap);
    const int n = std::vsnprintf(buf, sizeof buf, format, copy);
    va_end(copy);
    if (n <= 0) return;
    std::string_view line(buf, std::min(static_cast<std::size_t>(n), sizeof buf - 1));
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.remove_suffix(1);
    log::Write(level >= rocksdb::InfoLogLevel::FATAL_LEVEL ? log::Level::kError : log::Level::kWarn, "rocksdb", line);
  }
};

// RocksDB's automatic recovery from a full disk waits for write_buffer_size
// (64 MB) free and makes DB::Resume() return Busy meanwhile: the store
// resumes itself instead.
class NoAutoRecovery final : public rocksdb::EventListener {
 public:
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status bg_error, bool* auto_recovery) override {
    bg_error.PermitUncheckedError();
    *auto_recovery = false;
  }
};

// SLOTWISE-WAL-NOTE: one block, created at open and later only overwritten
// in place (which needs no new space on a full disk). While the store is
// degraded it names the newest WAL and its size after the failed write: a
// write that failed for lack of space can leave its record half written at
// the end of that WAL, and if the process dies before the store resumes, the
// next start would see a truncated WAL. When the WAL is exactly as the note
// left it (same size, nothing newer written), that torn record is the
// refused write and only it is dropped at start.
constexpr std::string_view kWalNote = "SLOTWISE-WAL-NOTE";
constexpr std::size_t kNoteSize = 512;

struct TornTail {
  std::string wal;  // file name, e.g. 000004.log
  std::uintmax_t size = 0;
};

std::vector<fs::path> WalPaths(const fs::path& dir) {
  std::vector<fs::path> logs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".log") logs.push_back(e.path());
  }
  std::sort(logs.begin(), logs.end());  // zero-padded numbers: by name is by age
  return logs;
}

class WalNote {
 public:
  explicit WalNote(const fs::path& dir) : path_(dir / kWalNote) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0 && !Write("clean")) {
      ::close(fd_);
      fd_ = -1;
    }
    if (fd_ < 0) log::Warn(kLog) << "cannot write " << path_.string() << ": a restart after a failed write may need --accept-torn-wal-tail";
  }
  ~WalNote() {
    if (fd_ >= 0) ::close(fd_);
  }
  WalNote(const WalNote&) = delete;
  WalNote& operator=(const WalNote&) = delete;

  void Degraded(const fs::path& dir) {
    const auto logs = WalPaths(dir);
    std::error_code ec;
    if (logs.empty()) return;
    const auto size = fs::file_size(logs.back(), ec);
    if (ec || !Write("degraded " + logs.back().filename().string() + " " + std::to_string(size))) {
      log::Warn(kLog) << "cannot note the WAL's size in " << path_.string();
    }
  }
  void Clean() { Write("clean"); }

  // The note's torn tail, if the store was degraded and its WAL is as noted.
  static std::optional<TornTail> Matching(const fs::path& dir) {
    std::ifstream in(dir / kWalNote);
    std::string word;
    TornTail t;
    if (!(in >> word >> t.wal >> t.size) || word != "degraded") return std::nullopt;
    std::error_code ec;
    bool seen = false;
    for (const auto& log : WalPaths(dir)) {
      const auto size = fs::file_size(log, ec);
      if (ec) return std::nullopt;
      if (log.filename() == t.wal) {
        if (size != t.size) return std::nullopt;
        seen = true;
      } else if (log.filename().string() > t.wal && size != 0) {
        return std::nullopt;  // written after the note
      }
    }
    return seen ? std::optional<TornTail>(t) : std::nullopt;
  }

 private:
  bool Write(const std::string& text) {
    if (fd_ < 0) return false;
    std::string block = text;
    block.resize(kNoteSize, ' ');
    block.back() = '\n';
    return ::pwrite(fd_, block.data(), block.size(), 0) == static_cast<ssize_t>(block.size()) && ::fdatasync(fd_) == 0;
  }

  fs::path path_;
  int fd_ = -1;
};

class RocksDbStore final : public Store {
 public:
  RocksDbStore(std::unique_ptr<rocksdb::DB> db, std::string path, rocksdb::Options options)
      : db_(std::move(db)), path_(std::move(path)), options_(std::move(options)), note_(path_) {
    sync_.sync = true;
  }

  Result<std::optional<std::string>> Get(std::string_view key) override {
    if (!db_) return MakeError(v1::INTERNAL, "store " + path_ + " is closed until it resumes");
    std::string value;
    const auto s = db_->Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return std::optional<std::string>{};
    if (!s.ok()) return FromRocks(s, "rocksdb get");
    return std::optional<std::string>{std::move(value)};
  }

  Status Write(const WriteBatch& batch) override {
    if (degraded_ && !TryResume()) {
      ++refused_;
      return MakeError(v1::INTERNAL, "store " + path_ + " is degraded, writes are refused until it resumes (" +
                                         std::to_string(refused_) + " refused since: " + first_error_ +
                                         "; last resume attempt: " + last_resume_error_ + ")");
    }
    rocksdb::WriteBatch wb;
    for (const auto& [key, value] : batch.ops()) {
      const auto s = value ? wb.Put(key, *value) : wb.Delete(key);
      if (!s.ok()) return FromRocks(s, "rocksdb batch");
    }
    const auto s = db_->Write(sync_, &wb);
    if (!s.ok()) {
      EnterDegraded(s);
      return FromRocks(s, "rocksdb write (the store refuses writes until it resumes)");
    }
    return OkStatus();
  }

  Status Scan(std::string_view prefix,
              const std::function<void(std::string_view, std::string_view)>& visit) override {
    if (!db_) return MakeError(v1::INTERNAL, "store " + path_ + " is closed until it resumes");
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    const rocksdb::Slice p(prefix.data(), prefix.size());
    for (it->Seek(p); it->Valid() && it->key().starts_with(p); it->Next()) {
      const std::string_view key(it->key().data(), it->key().size());
      if (key == kMarkerKey) continue;
      visit(key, std::string_view(it->value().data(), it->value().size()));
    }
    if (!it->status().ok()) return FromRocks(it->status(), "rocksdb scan");
    return OkStatus();
  }

 private:
  using SteadyClock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kFirstBackoff{100};
  static constexpr std::chrono::milliseconds kMaxBackoff{5000};

  void EnterDegraded(const rocksdb::Status& s) {
    if (degraded_) return;
    degraded_ = true;
    note_.Degraded(path_);
    degraded_since_ = SteadyClock::now();
    first_error_ = s.ToString();
    last_resume_error_ = "none yet";
    refused_ = 0;
    backoff_ = kFirstBackoff;
    next_resume_ = degraded_since_ + backoff_;
    log::Error(kLog) << "write to " << path_ << " failed: " << first_error_
                     << "; writes are refused until the store resumes (tried again with back-off)";
  }

  // Resume() flushes the memtable to a new table file and starts a new WAL:
  // the old WAL writer, which saw the error, is never written through again.
  // With an empty memtable it flushes nothing and keeps that writer (a write
  // through it aborts inside RocksDB): then the store is closed and reopened,
  // which also gives it a new WAL.
  bool TryResume() {
    const auto now = SteadyClock::now();
    if (now < next_resume_) return false;
    rocksdb::Status s;
    if (db_) {
      const std::string wal_before = NewestWal();
      s = db_->Resume();
      if (s.ok() && NewestWal() == wal_before) s = Reopen();
    } else {
      s = Reopen();
    }
    if (!s.ok()) {
      last_resume_error_ = s.ToString();
      backoff_ = std::min(backoff_ * 2, kMaxBackoff);
      next_resume_ = now + backoff_;
      return false;
    }
    degraded_ = false;
    note_.Clean();
    const double secs = std::chrono::duration<double>(now - degraded_since_).count();
    log::Info(kLog) << "store " << path_ << " resumed: writes accepted again after " << secs << " s ("
                    << refused_ << " writes refused; first error: " << first_error_ << ")";
    return true;
  }

  std::string NewestWal() const {
    const auto logs = WalPaths(path_);
    return logs.empty() ? std::string() : logs.back().filename().string();
  }

  rocksdb::Status Reopen() {
    db_.reset();
    rocksdb::Options options = options_;
    rocksdb::DB* raw = nullptr;
    auto s = rocksdb::DB::Open(options, path_, &raw);
    if (s.IsCorruption() && s.ToString().find("truncated") != std::string::npos && WalNote::Matching(path_)) {
      log::Warn(kLog) << "the last record of the WAL of " << path_ << " is the write refused when the store failed: "
                      << "dropping just that record";
      options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
      s = rocksdb::DB::Open(options, path_, &raw);
    }
    if (s.ok()) db_.reset(raw);
    return s;
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::string path_;
  rocksdb::Options options_;
  WalNote note_;
  rocksdb::WriteOptions sync_;
  bool degraded_ = false;
  SteadyClock::time_point degraded_since_;
  SteadyClock::time_point next_resume_;
  std::chrono::milliseconds backoff_{kFirstBackoff};
  std::string first_error_;
  std::string last_resume_error_;
  std::uint64_t refused_ = 0;
};

fs::path Normal(const std::string& path) {
  fs::path p = fs::path(path).lexically_normal();
  if (p.filename().empty() && p.has_parent_path()) p = p.parent_path();  // "db/" -> "db"
  return p;
}

std::string NewStoreId() {
  std::random_device rd;
  char buf[33];
  for (int i = 0; i < 4; ++i) std::snprintf(buf + 8 * i, 9, "%08x", rd());
  return std::string(buf, 32);
}

// Writes `text` to `file` and syncs it and its directory.
bool WriteSynced(const fs::path& file, const std::string& text) {
  const fs::path tmp = file.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  std::error_code ec;
  if (ok) fs::rename(tmp, file, ec);
  if (!ok || ec) {
    fs::remove(tmp, ec);
    return false;
  }
  const fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

// The marker: the key (synced) first, then the two files.
Status Mark(rocksdb::DB& db, const fs::path& dir, const fs::path& beside) {
  const std::string text = "slotwise scheduler store\nid " + NewStoreId() + "\ndirectory " + dir.string() + "\n";
  rocksdb::WriteOptions sync;
  sync.sync = true;
  if (const auto s = db.Put(sync, rocksdb::Slice(kMarkerKey.data(), kMarkerKey.size()), text); !s.ok()) {
    return FromRocks(s, "cannot mark the store at " + dir.string());
  }
  if (!WriteSynced(dir / kMarkerInside, text)) {
    return MakeError(v1::INTERNAL, "cannot write " + (dir / kMarkerInside).string());
  }
  if (!WriteSynced(beside, text)) {
    log::Warn(kLog) << "cannot write the marker " << beside.string()
                    << " beside the store: an emptied or deleted store directory will not be recognised";
  }
  return OkStatus();
}

std::string WalFiles(const fs::path& dir) {
  std::vector<std::string> logs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".log") {
      logs.push_back(e.path().string() + " (" + std::to_string(e.file_size(ec)) + " bytes)");
    }
  }
  std::sort(logs.begin(), logs.end());
  std::string out;
  for (const auto& l : logs) out += (out.empty() ? "" : ", ") + l;
  return out.empty() ? "none" : out;
}

struct StoreState {
  std::optional<std::string> marker;  // the marker key's value
  bool empty = true;                  // no key at all (the marker included)
};

rocksdb::Status Inspect(rocksdb::DB& db, StoreState& state) {
  std::string value;
  const auto got = db.Get(rocksdb::ReadOptions(), rocksdb::Slice(kMarkerKey.data(), kMarkerKey.size()), &value);
  if (!got.ok() && !got.IsNotFound()) return got;
  if (got.ok()) state.marker = std::move(value);
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  it->SeekToFirst();
  state.empty = !it->Valid();
  return it->status();
}

}  // namespace

std::string StoreMarkerBeside(const std::string& path) {
  const fs::path dir = Normal(path);
  return (dir.parent_path() / (dir.filename().string() + ".slotwise-store")).string();
}

Result<std::unique_ptr<Store>> OpenRocksDbStore(const std::string& path) {
  return OpenRocksDbStore(path, RocksDbStoreOptions{});
}

Result<std::unique_ptr<Store>> OpenRocksDbStore(const std::string& path, const RocksDbStoreOptions& opts) {
  const fs::path dir = Normal(path);
  const fs::path beside = StoreMarkerBeside(path);
  std::error_code ec;
  const bool marked = fs::exists(beside, ec) || fs::exists(dir / kMarkerInside, ec);
  const std::string which = fs::exists(beside, ec) ? beside.string() : (dir / kMarkerInside).string();
  const bool has_db = fs::exists(dir / "CURRENT", ec);
  if (marked && !has_db && !opts.accept_empty_store) {
    return MakeError(v1::FAILED_PRECONDITION,
                     "refusing to start: the store " + dir.string() +
                         " is missing or empty (no CURRENT file) but " + which +
                         " says it held data; its files were deleted or --db names the wrong directory. "
                         "Nothing was changed; " + std::string(kRecoveryHint));
  }
  rocksdb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;
  options.wal_recovery_mode = opts.accept_torn_wal_tail ? rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords
                                                       : rocksdb::WALRecoveryMode::kAbsoluteConsistency;
  if (opts.accept_torn_wal_tail) {
    log::Warn(kLog) << "--accept-torn-wal-tail: an incomplete last record of the WAL of " << dir.string()
                    << " is dropped; any other damage is still refused";
  }
  options.info_log = std::make_shared<LogToSlotwise>();
  options.listeners.push_back(std::make_shared<NoAutoRecovery>());
  auto refuse_damaged = [&](const rocksdb::Status& s) {
    const std::string what = s.ToString();
    const bool torn = what.find("truncated") != std::string::npos;
    return MakeError(v1::FAILED_PRECONDITION,
                     "refusing to start: the store " + dir.string() + " is damaged (RocksDB: " + what +
                         "); its write-ahead log(s): " + WalFiles(dir) +
                         ". Opening it anyway would silently drop every write after the damage. "
                         "Nothing was changed; " + std::string(kRecoveryHint) +
                         (torn ? "; if the last write was torn by a crash or power loss during it (never "
                                 "acknowledged), --accept-torn-wal-tail drops just that record"
                               : ""));
  };

  // An existing store is checked read-only first, so that a refused one is
  // left exactly as it was found (a read-write open starts a new WAL and
  // MANIFEST).
  if (has_db) {
    rocksdb::DB* ro = nullptr;
    auto s = rocksdb::DB::OpenForReadOnly(options, dir.string(), &ro);
    if (s.IsCorruption() && s.ToString().find("truncated") != std::string::npos &&
        options.wal_recovery_mode == rocksdb::WALRecoveryMode::kAbsoluteConsistency) {
      if (const auto torn = WalNote::Matching(dir)) {
        log::Warn(kLog) << "the last record of " << (dir / torn->wal).string()
                        << " is the write refused when the store failed (" << kWalNote
                        << " says so, the WAL is as it left it): dropping just that record";
        options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
        s = rocksdb::DB::OpenForReadOnly(options, dir.string(), &ro);
      }
    }
    if (s.IsCorruption()) return refuse_damaged(s);
    if (!s.ok()) return FromRocks(s, "cannot open RocksDB at " + dir.string());
    StoreState state;
    if (const auto r = Inspect(*std::unique_ptr<rocksdb::DB>(ro), state); !r.ok()) {
      return FromRocks(r, "cannot read the store at " + dir.string());
    }
    if (!state.marker && state.empty && marked && !opts.accept_empty_store) {
      return MakeError(v1::FAILED_PRECONDITION,
                       "refusing to start: the store " + dir.string() + " holds nothing but " + which +
                           " says it held data; its write-ahead log (the only copy of the latest writes) was "
                           "deleted or lost (write-ahead logs now: " + WalFiles(dir) + "). Nothing was changed; " +
                           std::string(kRecoveryHint));
    }
  }

  fs::create_directories(dir, ec);  // RocksDB creates one level only
  rocksdb::DB* raw = nullptr;
  const auto s = rocksdb::DB::Open(options, dir.string(), &raw);
  if (s.IsCorruption()) return refuse_damaged(s);
  if (!s.ok()) return FromRocks(s, "cannot open RocksDB at " + dir.string());
  std::unique_ptr<rocksdb::DB> db(raw);
  StoreState state;
  if (const auto r = Inspect(*db, state); !r.ok()) return FromRocks(r, "cannot read the store at " + dir.string());
  if (state.marker) {
    if (!fs::exists(dir / kMarkerInside, ec) && !WriteSynced(dir / kMarkerInside, *state.marker)) {
      return MakeError(v1::INTERNAL, "cannot write " + (dir / kMarkerInside).string());
    }
    if (!fs::exists(beside, ec) && !WriteSynced(beside, *state.marker)) {
      log::Warn(kLog) << "cannot write the marker " << beside.string() << " beside the store";
    }
    if (opts.accept_empty_store) log::Warn(kLog) << "--accept-empty-store ignored: the store " << dir.string() << " is intact";
  } else {
    if (state.empty && marked) {
      // Only with accept_empty_store: refused above (or before opening) otherwise.
      log::Warn(kLog) << "starting with an empty store at " << dir.string() << " as --accept-empty-store asks";
    } else if (!state.empty) {
      log::Info(kLog) << "marking the store " << dir.string() << " (written before stores were marked)";
    }
    if (auto m = Mark(*db, dir, beside); !m) return m.error();
  }
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kAbsoluteConsistency;  // for reopens in degraded mode
  return std::unique_ptr<Store>(new RocksDbStore(std::move(db), dir.string(), options));
}

}  // namespace slotwise::scheduler
