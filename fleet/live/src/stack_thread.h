// A joinable thread with a chosen stack size, which std::thread cannot set:
// ten thousand terminal threads with glibc's default 8 MiB stacks would
// reserve 80 GiB of address space for a few KiB of use each.
//
// Threading: Start and Join from the owning thread.
#pragma once

#include <pthread.h>

#include <cstddef>
#include <functional>
#include <memory>

#include "slotwise/result.h"

namespace slotwise::fleet {

class StackThread {
 public:
  // RESOURCE_EXHAUSTED-like INTERNAL error when the thread cannot be made
  // (pthread_create's EAGAIN: thread or memory limits).
  static Result<std::unique_ptr<StackThread>> Start(std::size_t stack_bytes, std::function<void()> body);
  // Joins.
  ~StackThread();
  StackThread(const StackThread&) = delete;
  StackThread& operator=(const StackThread&) = delete;

 private:
  explicit StackThread(std::function<void()> body) : body_(std::move(body)) {}
  static void* Trampoline(void* self);

  std::function<void()> body_;
  pthread_t thread_{};
};

}  // namespace slotwise::fleet
