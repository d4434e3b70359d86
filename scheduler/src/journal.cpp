#include "slotwise/scheduler/journal.h"

#include <utility>

namespace slotwise::scheduler {

Status Journal::Write(const WriteBatch& batch, Undo undo) {
  if (batch.empty()) return OkStatus();
  ++generation_;
  if (staging_) {
    staged_.Append(batch);
    if (undo) undos_.push_back(std::move(undo));
    return OkStatus();
  }
  auto s = store_.Write(batch);
  if (!s && undo) undo();
  return s;
}

Status Journal::Commit() {
  staging_ = false;
  WriteBatch batch;
  std::swap(batch, staged_);
  std::vector<Undo> undos;
  std::swap(undos, undos_);
  // Nothing staged (a batch of reads): memory is as it was, the generation
  // too, so the readers' caches stay valid.
  if (batch.empty()) return OkStatus();
  ++generation_;  // a failed commit's undos change memory too
  auto s = store_.Write(batch);
  if (!s) {
    // Memory ran ahead of the store: take back what the batch held.
    for (auto it = undos.rbegin(); it != undos.rend(); ++it) (*it)();
  }
  return s;
}

}  // namespace slotwise::scheduler
