// Journal: the only way the scheduler's logic writes to its Store. Every
// change goes through Write(batch, undo); outside a group commit the batch is
// written (synced) at once, inside one (Begin() .. Commit()) it is staged and
// Commit() writes everything staged as one synced batch.
//
// The rule the collaborators follow: make the change in memory, then Write()
// its records with an `undo` that puts memory back. The journal keeps the
// change if the batch becomes durable, otherwise it runs `undo`: at once when
// a direct write fails, or at a failed Commit() for every change staged since
// Begin(), newest first. So memory never runs ahead of the store, and a
// failed group commit costs no reload.
//
// The journal knows nothing of what it stores: no service, no records, only
// batches and closures.
//
// Ownership: holds a reference to the Store, which must outlive it.
// Threading: not thread-safe; the scheduler thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "slotwise/result.h"
#include "slotwise/scheduler/store.h"

namespace slotwise::scheduler {

class Journal {
 public:
  using Undo = std::function<void()>;

  explicit Journal(Store& store) : store_(store) {}
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Makes `batch` durable (or stages it inside a group commit). On a failed
  // direct write runs `undo` and returns the error; a staged write always
  // succeeds here and may be undone by Commit(). An empty batch is a no-op.
  Status Write(const WriteBatch& batch, Undo undo = {});

  // Group commit: stage every Write() until Commit().
  void Begin() { staging_ = true; }
  // Writes everything staged as one synced batch. On failure runs the undos
  // of the staged changes, newest first, and returns the error.
  Status Commit();
  bool staging() const { return staging_; }
  // Number of store records staged since Begin(), for tests and logs.
  std::size_t staged() const { return staged_.size(); }
  // Bumped by every Write() and Commit(): memory may have changed since a
  // reader saw another value (the summary cache of SchedulerService).
  std::uint64_t generation() const { return generation_; }

 private:
  Store& store_;
  bool staging_ = false;
  std::uint64_t generation_ = 0;
  WriteBatch staged_;
  std::vector<Undo> undos_;
};

}  // namespace slotwise::scheduler
