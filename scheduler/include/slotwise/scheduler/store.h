// Store: the scheduler's durable key-value state, behind a small interface so
// the same scheduler logic runs on RocksDB (the daemon) and in memory (unit
// tests, virtual-time simulation).
//
// Contract: Write() applies a whole batch atomically and, for a durable store,
// returns only once the batch is on stable storage (synced). Callers persist
// before they answer, so an answer is a promise that survives a crash.
// A Store is used from one thread at a time.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "slotwise/result.h"

namespace slotwise::scheduler {

class WriteBatch {
 public:
  void Put(std::string key, std::string value) {
    ops_.emplace_back(std::move(key), std::move(value));
  }
  void Delete(std::string key) { ops_.emplace_back(std::move(key), std::nullopt); }
  void Append(const WriteBatch& other) {
    ops_.insert(ops_.end(), other.ops_.begin(), other.ops_.end());
  }
  void Clear() { ops_.clear(); }
  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }
  // (key, value) pairs in order; nullopt value = delete.
  const std::vector<std::pair<std::string, std::optional<std::string>>>& ops() const {
    return ops_;
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> ops_;
};

class Store {
 public:
  virtual ~Store() = default;
  virtual Result<std::optional<std::string>> Get(std::string_view key) = 0;
  virtual Status Write(const WriteBatch& batch) = 0;
  // Calls visit(key, value) for every key starting with prefix, in key order.
  virtual Status Scan(std::string_view prefix,
                      const std::function<void(std::string_view, std::string_view)>& visit) = 0;
};

// Everything in a hash map; "durable" for the lifetime of the object.
// Get and Write are O(1), as the scheduler's hot path (one Write per
// request) needs with millions of keys; Scan sorts what matches, which is
// fine for Load() and tests.
class MemoryStore final : public Store {
 public:
  Result<std::optional<std::string>> Get(std::string_view key) override;
  Status Write(const WriteBatch& batch) override;
  Status Scan(std::string_view prefix,
              const std::function<void(std::string_view, std::string_view)>& visit) override;

 private:
  std::unordered_map<std::string, std::string> data_;
};

// RocksDB on disk, every Write() synced (WriteOptions::sync).
// Open() creates the database directory if it does not exist.
Result<std::unique_ptr<Store>> OpenRocksDbStore(const std::string& path);

}  // namespace slotwise::scheduler
