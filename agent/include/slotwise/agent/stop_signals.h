// SIGINT/SIGTERM for programs that run agents: blocked in every thread and
// received with sigwait on a thread of its own, so nothing
// async-signal-unsafe runs in a signal handler and Paho's and curl's threads
// never see them. Used by slotwise-agent (program.h) and slotwise-fleet live.
//
// Threading: BlockStopSignals must be called before any other thread exists
// (threads inherit the mask). `on_stop` runs on the signal thread, at most
// once, and must not block for long.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

namespace slotwise::agent {

void BlockStopSignals();

class StopSignalThread {
 public:
  explicit StopSignalThread(std::function<void()> on_stop);
  // Ends the thread (a directed SIGTERM wakes its sigwait) without calling
  // on_stop.
  ~StopSignalThread();
  StopSignalThread(const StopSignalThread&) = delete;
  StopSignalThread& operator=(const StopSignalThread&) = delete;

 private:
  std::atomic<bool> finished_{false};
  std::function<void()> on_stop_;
  std::thread thread_;
};

}  // namespace slotwise::agent
