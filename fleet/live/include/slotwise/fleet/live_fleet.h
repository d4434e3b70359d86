// LiveFleet: N simulated terminals in one process, each running the real
// slotwise::agent::Agent with the real PahoTransport (Paho's one send and
// one receive thread serve every client), one shared CurlDownloader, a
// FileStateStore in the terminal's own directory, and an in-process
// installer (terminal_io.h). Each terminal runs Agent::Run on a thread of
// its own with a small stack.
//
// Behaviours the fleet injects:
//  * offline at start: a share of the terminals is not started until the
//    campaign has begun (the first notice any terminal gets), then comes
//    online at a random moment within `offline_for`;
//  * dropouts: a share, once it holds an assignment, goes away at a random
//    moment of its wait (its agent stops and disconnects, as a terminal that
//    is switched off), stays away for a random time up to `dropout_for`,
//    then starts again from its saved state (the booking may have passed:
//    the scheduler then reschedules it).
//
// Per terminal it records (TerminalOutcome) the assignment its download
// started under, when the download actually started, the result and the
// final version.
//
// Threading: Run blocks the calling thread; Stop may be called from any
// thread (e.g. a signal thread) and makes Run return soon.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "slotwise/clock.h"
#include "slotwise/fleet/terminal_file.h"
#include "slotwise/result.h"

namespace slotwise::fleet {

struct LiveFleetOptions {
  // MQTT broker URI. Required.
  std::string broker;
  // Each terminal keeps state/, downloads/ and its version file in
  // state_root/<id>/ (created). Required.
  std::filesystem::path state_root;
  // Ed25519 public key that artifacts must be signed with. Default: none.
  std::filesystem::path public_key_file;
  // Written to a terminal's version file when it has none. Default: 1.0.0.
  std::string initial_version = "1.0.0";
  // The other terminals switch on at random moments within this time, as a
  // fleet does (thousands of simultaneous CONNECTs overflow the broker's
  // accept backlog and time out). Default: 0 (all at once).
  std::chrono::milliseconds ramp_up{0};
  // Shares in [0, 1], disjoint, chosen by `seed`. Default: 0.
  double offline_share = 0;
  std::chrono::milliseconds offline_for{20'000};
  double dropout_share = 0;
  std::chrono::milliseconds dropout_for{10'000};
  std::uint64_t seed = 1;
  // true: each agent exits once its campaign's final status is acknowledged,
  // and Run returns when all have. false: run until Stop (reconnect storms).
  bool until_done = true;
  // Run gives up (stops every agent) after this long; 0 = never.
  std::chrono::seconds timeout{0};
  // AgentOptions::reconnect_jitter (false: Paho's schedule, for a baseline).
  bool reconnect_jitter = true;
  // MQTT and request timing of every terminal. Paho's receive thread finds
  // the client of each incoming packet by a linear search over all clients
  // of the process, so at 10,000 terminals it reads about 2,000 packets a
  // second in all: keep-alive pings and resent requests must stay rare, or
  // latency grows, requests are resent and the fleet drowns in its own
  // traffic. Defaults: keep-alive 300 s, connect timeout 30 s, first resend
  // of an unanswered request after 120 s, agents look at the clock every
  // 10 s when idle (real terminals: 30 s, 10 s, 5 s, 1 s).
  std::chrono::seconds keepalive{300};
  std::chrono::seconds connect_timeout{30};
  std::chrono::milliseconds reply_timeout{120'000};
  std::chrono::milliseconds max_sleep{10'000};
  // Connection attempts in flight at once, fleet-wide (ConnectGate in
  // src/terminal_io.h: Paho's shared command queue does not scale to
  // thousands of pending connects). Default: 200.
  int max_connecting = 200;
  // Stack of each terminal's thread. Default: 256 KiB.
  std::size_t thread_stack_bytes = 256 * 1024;
  // Every agent's log lines; nullptr = dropped.
  std::function<void(std::string_view line)> agent_log;
  // Called from Run's thread every status_interval.
  std::chrono::milliseconds status_interval{1000};
  std::function<void(const struct FleetProgress&)> on_progress;
};

// Gauges and counters, at one instant.
struct FleetProgress {
  double elapsed_s = 0;
  int terminals = 0;
  int running = 0;     // agents started and not finished (dropped-out ones excluded)
  int connected = 0;   // MQTT links up
  int connects = 0;    // CONNACKs so far
  int assigned = 0;    // terminals that got an assignment
  int downloading = 0; // terminals that got GO at least once
  int finished = 0;    // final status acknowledged
  int dropped_out = 0; // away right now
};

struct TerminalOutcome {
  std::string id;
  bool offline_at_start = false;
  bool dropout_planned = false;
  int dropouts = 0;     // times it went away mid-wait
  int connects = 0;     // CONNACKs
  int assignments = 0;  // assignments received (the first and every reschedule)
  TimeMs online_at_ms = 0;  // first start of its agent; 0 = never started
  // The assignment the (last) GO was for.
  std::string node_id;
  std::string cluster_id;
  std::int64_t slot = 0;
  TimeMs slot_start_ms = 0;
  TimeMs slot_end_ms = 0;
  TimeMs start_at_ms = 0;
  TimeMs go_at_ms = 0;              // CHECKING -> DOWNLOADING
  TimeMs download_start_ms = 0;     // its first fetch after that GO
  TimeMs download_end_ms = 0;       // its last fetch's end
  std::string result;               // SUCCEEDED, FAILED, STOOD_DOWN; "" = unfinished
  std::string detail;               // the final status's detail, or why the agent stopped
  std::string final_version;        // installed version at the end
  TimeMs finished_at_ms = 0;        // final status acknowledged
};

struct FleetRun {
  std::vector<TerminalOutcome> terminals;  // in the order of the spec list
  bool timed_out = false;
  bool stopped = false;  // Stop() was called
  double elapsed_s = 0;
};

class LiveFleet {
 public:
  LiveFleet(std::vector<TerminalSpec> terminals, LiveFleetOptions options);
  ~LiveFleet();
  LiveFleet(const LiveFleet&) = delete;
  LiveFleet& operator=(const LiveFleet&) = delete;

  // Starts every terminal, waits as options say, stops the rest and joins.
  // Errors: the state root cannot be prepared, a thread cannot be started.
  Result<FleetRun> Run();
  // Any thread.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace slotwise::fleet
