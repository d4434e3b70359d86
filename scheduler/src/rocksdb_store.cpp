#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "slotwise/scheduler/store.h"

namespace slotwise::scheduler {
namespace {

Error FromRocks(const rocksdb::Status& s, std::string_view what) {
  return MakeError(v1::INTERNAL, std::string(what) + ": " + s.ToString());
}

class RocksDbStore final : public Store {
 public:
  explicit RocksDbStore(std::unique_ptr<rocksdb::DB> db) : db_(std::move(db)) {
    sync_.sync = true;
  }

  Result<std::optional<std::string>> Get(std::string_view key) override {
    std::string value;
    const auto s = db_->Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return std::optional<std::string>{};
    if (!s.ok()) return FromRocks(s, "rocksdb get");
    return std::optional<std::string>{std::move(value)};
  }

  Status Write(const WriteBatch& batch) override {
    rocksdb::WriteBatch wb;
    for (const auto& [key, value] : batch.ops()) {
      const auto s = value ? wb.Put(key, *value) : wb.Delete(key);
      if (!s.ok()) return FromRocks(s, "rocksdb batch");
    }
    const auto s = db_->Write(sync_, &wb);
    if (!s.ok()) return FromRocks(s, "rocksdb write");
    return OkStatus();
  }

  Status Scan(std::string_view prefix,
              const std::function<void(std::string_view, std::string_view)>& visit) override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    const rocksdb::Slice p(prefix.data(), prefix.size());
    for (it->Seek(p); it->Valid() && it->key().starts_with(p); it->Next()) {
      visit(std::string_view(it->key().data(), it->key().size()),
            std::string_view(it->value().data(), it->value().size()));
    }
    if (!it->status().ok()) return FromRocks(it->status(), "rocksdb scan");
    return OkStatus();
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions sync_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenRocksDbStore(const std::string& path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  const auto s = rocksdb::DB::Open(options, path, &raw);
  if (!s.ok()) return FromRocks(s, "cannot open RocksDB at " + path);
  return std::unique_ptr<Store>(new RocksDbStore(std::unique_ptr<rocksdb::DB>(raw)));
}

}  // namespace slotwise::scheduler
