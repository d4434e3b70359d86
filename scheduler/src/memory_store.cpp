#include "slotwise/scheduler/store.h"

namespace slotwise::scheduler {

Result<std::optional<std::string>> MemoryStore::Get(std::string_view key) {
  auto it = data_.find(key);
  if (it == data_.end()) return std::optional<std::string>{};
  return std::optional<std::string>{it->second};
}

Status MemoryStore::Write(const WriteBatch& batch) {
  for (const auto& [key, value] : batch.ops()) {
    if (value) {
      data_.insert_or_assign(key, *value);
    } else {
      data_.erase(key);
    }
  }
  return OkStatus();
}

Status MemoryStore::Scan(std::string_view prefix,
                         const std::function<void(std::string_view, std::string_view)>& visit) {
  for (auto it = data_.lower_bound(prefix); it != data_.end() && it->first.starts_with(prefix);
       ++it) {
    visit(it->first, it->second);
  }
  return OkStatus();
}

}  // namespace slotwise::scheduler
