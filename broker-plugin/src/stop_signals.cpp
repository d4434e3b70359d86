// Whether the broker is shutting down (see plugin_context.h BrokerStopping).
// mosquitto 2.0.11 stops on SIGINT / SIGTERM: its handler clears `run`, the
// main loop ends, and then it sends the will of every connection still open
// (mosquitto.c, after mosquitto_main_loop) with no plugin event before. To
// tell those wills from live publishes the plugin chains a handler in
// front of mosquitto's own, which only sets a flag and calls it. mosquitto
// installs its handlers after loading plugins, so this happens at the first
// TICK; cleanup puts mosquitto's back.
// The handler is async-signal-safe: it stores a sig_atomic_t and calls the
// previous handler.
#include <csignal>

#include "plugin_context.h"

namespace slotwise::broker {
namespace {

volatile std::sig_atomic_t g_stopping = 0;
bool g_installed = false;
struct sigaction g_previous_int {};
struct sigaction g_previous_term {};

void OnStopSignal(int sig) {
  g_stopping = 1;
  const struct sigaction& previous = sig == SIGINT ? g_previous_int : g_previous_term;
  if (previous.sa_flags & SA_SIGINFO) {
    previous.sa_sigaction(sig, nullptr, nullptr);
    return;
  }
  if (previous.sa_handler == SIG_IGN) return;
  if (previous.sa_handler == SIG_DFL) {  // nobody handled it: die as it would have
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  previous.sa_handler(sig);  // mosquitto's handle_sigint (a plain handler)
}

void Chain(int sig, struct sigaction& previous) {
  struct sigaction ours {};
  ours.sa_handler = OnStopSignal;
  sigemptyset(&ours.sa_mask);
  ours.sa_flags = SA_RESTART;
  sigaction(sig, &ours, &previous);
}

}  // namespace

void WatchStopSignals() {
  if (g_installed) return;
  g_installed = true;
  Chain(SIGINT, g_previous_int);
  Chain(SIGTERM, g_previous_term);
}

void UnwatchStopSignals() {
  if (!g_installed) return;
  sigaction(SIGINT, &g_previous_int, nullptr);
  sigaction(SIGTERM, &g_previous_term, nullptr);
  g_installed = false;
}

bool BrokerStopping() { return g_stopping != 0; }

}  // namespace slotwise::broker
