#include "stack_thread.h"

#include <cstring>
#include <string>

namespace slotwise::fleet {

Result<std::unique_ptr<StackThread>> StackThread::Start(std::size_t stack_bytes, std::function<void()> body) {
  std::unique_ptr<StackThread> thread(new StackThread(std::move(body)));
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  int rc = pthread_attr_setstacksize(&attr, stack_bytes);
  if (rc == 0) rc = pthread_create(&thread->thread_, &attr, &StackThread::Trampoline, thread.get());
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    return MakeError(v1::INTERNAL, "cannot start a thread with a " + std::to_string(stack_bytes / 1024) +
                                       " KiB stack: " + std::strerror(rc));
  }
  return thread;
}

StackThread::~StackThread() { pthread_join(thread_, nullptr); }

void* StackThread::Trampoline(void* self) {
  static_cast<StackThread*>(self)->body_();
  return nullptr;
}

}  // namespace slotwise::fleet
