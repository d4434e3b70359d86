#include "slotwise/agent/stop_signals.h"

#include <pthread.h>
#include <signal.h>

#include <utility>

namespace slotwise::agent {
namespace {

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

void BlockStopSignals() {
  const sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

StopSignalThread::StopSignalThread(std::function<void()> on_stop)
    : on_stop_(std::move(on_stop)), thread_([this] {
        const sigset_t set = StopSignals();
        int signal_number = 0;
        if (sigwait(&set, &signal_number) == 0 && !finished_.load()) on_stop_();
      }) {}

StopSignalThread::~StopSignalThread() {
  finished_.store(true);
  // The thread is in sigwait (or about to be): a directed SIGTERM ends it.
  pthread_kill(thread_.native_handle(), SIGTERM);
  thread_.join();
}

}  // namespace slotwise::agent
