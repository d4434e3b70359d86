// When an agent connects again after its MQTT link went down: backoff with
// full jitter, and a wide spread for the first reconnect after losing an
// established connection (a broker restart drops the whole fleet at one
// instant; this is what spreads its return). The settings and their
// defaults are documented on AgentOptions::reconnect_* (agent.h).
//
// Owned by one Agent, used on the agent's thread only. It draws from the
// agent's random generator, so a seeded agent is reproducible. No I/O: the
// agent asks for the delay and schedules the attempt itself.
#pragma once

#include <chrono>
#include <random>
#include <string>

#include "slotwise/clock.h"

namespace slotwise::agent {

class ReconnectPolicy {
 public:
  struct Settings {
    std::chrono::milliseconds min;     // the ceiling starts here ...
    std::chrono::milliseconds max;     // ... doubles up to here, and a link up this long resets it
    std::chrono::milliseconds floor;   // no delay is shorter
    std::chrono::milliseconds spread;  // the first reconnect after losing an established link
    bool jitter;                       // false: Paho's own schedule, exactly min * 2^n
  };
  struct Delay {
    std::chrono::milliseconds delay;
    std::string rule;  // for the log line: "spread 30000 ms", "ceiling 4000 ms", ...
  };

  ReconnectPolicy(Settings settings, std::mt19937_64& rng) : settings_(settings), rng_(rng) {}

  // The link came up at `now`.
  void Connected(TimeMs now) { connected_at_ = now; }
  // The wait before the next connect attempt, after the link went down at
  // `now`; `lost_established`: it was up, not a refused or failed attempt.
  // The backoff starts again from `min` only after a link that stayed up
  // for `max`: a broker that accepts and drops at once (two terminals with
  // the same id taking the session from each other) is not hammered.
  Delay Next(TimeMs now, bool lost_established);

 private:
  const Settings settings_;
  std::mt19937_64& rng_;
  int attempts_ = 0;  // attempts since the backoff last started again
  TimeMs connected_at_ = 0;
};

}  // namespace slotwise::agent
