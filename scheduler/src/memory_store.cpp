#include <algorithm>

#include "slotwise/scheduler/store.h"

namespace slotwise::scheduler {

Result<std::optional<std::string>> MemoryStore::Get(std::string_view key) {
  auto it = data_.find(std::string(key));
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
  std::vector<const std::pair<const std::string, std::string>*> matches;
  for (const auto& entry : data_) {
    if (entry.first.starts_with(prefix)) matches.push_back(&entry);
  }
  std::sort(matches.begin(), matches.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  for (const auto* entry : matches) visit(entry->first, entry->second);
  return OkStatus();
}

}  // namespace slotwise::scheduler
