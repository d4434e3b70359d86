// ServerClock: the scheduler's clock as this terminal can know it. Slot times
// (Assignment.start_at_ms, Download.not_after_ms) are on the scheduler's
// clock; a terminal's own clock is often wrong (drift, a battery swap), so the
// agent never compares them with its own wall clock.
//
// How the offset is learned: every TerminalReply carries server_time_ms, the
// scheduler's clock when it answered. The request went out at monotonic time
// `sent` and the reply came back at `received`; the scheduler's stamp is
// taken to belong to the midpoint of that round trip (error at most half the
// round trip). The clock is then anchored there and runs on the monotonic
// clock: ServerNow = stamp + (monotonic now - midpoint). So a jump of the
// wall clock (NTP, the user, faketime) changes nothing until it is observed.
// A reply to a request that was resent may answer an earlier copy (its round
// trip is unknown): it is used only while there is no better sample.
// Without any stamp (a scheduler that sends none) ServerNow is the local wall
// clock, as before.
//
// Pure; owned by one Agent, its thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "slotwise/clock.h"
#include "slotwise/slots.h"

namespace slotwise::agent {

// std::chrono::steady_clock in ms: never jumps (and faketime with
// DONT_FAKE_MONOTONIC=1 leaves it alone). Its epoch is arbitrary.
class SteadyClock final : public Clock {
 public:
  TimeMs NowMs() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
  }
};

class ServerClock {
 public:
  // A reply stamped `server_ms` to a request sent at monotonic `sent_mono`
  // (the last transmission) arrived at monotonic `received_mono`.
  // `retransmitted`: the request went out more than once. A stamp <= 0 is
  // no stamp and is ignored.
  void Observe(TimeMs server_ms, TimeMs sent_mono, TimeMs received_mono, bool retransmitted) {
    if (server_ms <= 0 || received_mono < sent_mono) return;
    if (retransmitted && anchor_ && !anchor_->retransmitted) return;
    const TimeMs rtt = received_mono - sent_mono;
    anchor_ = Anchor{server_ms, sent_mono + rtt / 2, rtt, retransmitted};
  }

  bool synced() const { return anchor_.has_value(); }
  // The round trip of the sample in use (its uncertainty is half of it).
  std::optional<TimeMs> round_trip_ms() const {
    if (!anchor_) return std::nullopt;
    return anchor_->rtt;
  }

  // The scheduler's clock now.
  TimeMs Now(TimeMs mono_now, TimeMs wall_now) const {
    if (!anchor_) return wall_now;
    return anchor_->server_ms + (mono_now - anchor_->mono_ms);
  }
  // The scheduler's clock minus the local wall clock (0 before any stamp).
  TimeMs OffsetMs(TimeMs mono_now, TimeMs wall_now) const { return Now(mono_now, wall_now) - wall_now; }

 private:
  struct Anchor {
    TimeMs server_ms;
    TimeMs mono_ms;  // the midpoint of the round trip
    TimeMs rtt;
    bool retransmitted;
  };
  std::optional<Anchor> anchor_;
};

}  // namespace slotwise::agent
