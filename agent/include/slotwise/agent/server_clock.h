// ServerClock: the scheduler's clock as this terminal can know it. Slot times
// (Assignment.start_at_ms, Download.not_after_ms) are on the scheduler's
// clock; a terminal's own clock is often wrong (drift, a battery swap), so the
// agent never compares them with its own wall clock.
//
// How it is learned: every TerminalReply carries server_time_ms, the
// scheduler's clock when it handled the request. That happened after the
// request first went out (monotonic `sent`) and before the reply came back
// (`received`), so the scheduler's clock minus the monotonic clock lies in
// [stamp - received, stamp - sent]. Each reply narrows that interval (the
// intersection with the ones before), so a slow round trip -- a broker or
// scheduler under load -- can never make the estimate worse; the estimate is
// the interval's middle (ServerNow), its lower end is the earliest the
// scheduler's clock can be (ServerEarliest), its upper end the latest
// (ServerLatest): a slot's end is judged on that, so a reply that spent long
// on its way back (a loaded broker shard) cannot make a start look in time. Measured on the monotonic
// clock, a jump of the wall clock (NTP, the user, faketime) changes nothing.
// When a new interval does not meet the old one (the scheduler's clock was
// set, or drift after a long time) or the old one is older than max_age, the
// new one replaces it. Without any stamp (a scheduler that sends none) every
// reading is the local wall clock, as before.
//
// Pure; owned by one Agent, its thread only.
#pragma once

#include <algorithm>
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
  // An interval older than this is replaced by the next reply's (clock drift).
  static constexpr TimeMs kMaxAgeMs = 10 * 60 * 1000;

  // A reply stamped `server_ms` to a request first sent at monotonic
  // `sent_mono` arrived at monotonic `received_mono`. A stamp <= 0 is no
  // stamp and is ignored, and so is a reply before its request.
  void Observe(TimeMs server_ms, TimeMs sent_mono, TimeMs received_mono) {
    if (server_ms <= 0 || received_mono < sent_mono) return;
    const TimeMs lo = server_ms - received_mono;
    const TimeMs hi = server_ms - sent_mono;
    if (!bounds_ || lo > bounds_->hi || hi < bounds_->lo || received_mono - bounds_->since_mono > kMaxAgeMs) {
      bounds_ = Bounds{lo, hi, received_mono};
      return;
    }
    bounds_->lo = std::max(bounds_->lo, lo);
    bounds_->hi = std::min(bounds_->hi, hi);
  }

  bool synced() const { return bounds_.has_value(); }
  // How wide the estimate is (the estimate is off by at most half of it).
  std::optional<TimeMs> uncertainty_ms() const {
    if (!bounds_) return std::nullopt;
    return bounds_->hi - bounds_->lo;
  }

  // The scheduler's clock now: the middle of what it can be.
  TimeMs Now(TimeMs mono_now, TimeMs wall_now) const {
    if (!bounds_) return wall_now;
    return mono_now + bounds_->lo + (bounds_->hi - bounds_->lo) / 2;
  }
  // The earliest the scheduler's clock can be now: a start time reached on
  // this reading is reached on the scheduler's clock.
  TimeMs Earliest(TimeMs mono_now, TimeMs wall_now) const {
    if (!bounds_) return wall_now;
    return mono_now + bounds_->lo;
  }
  // The latest the scheduler's clock can be now: a time not reached on this
  // reading is not reached on the scheduler's clock either (a download may
  // still start before a slot's end).
  TimeMs Latest(TimeMs mono_now, TimeMs wall_now) const {
    if (!bounds_) return wall_now;
    return mono_now + bounds_->hi;
  }
  // The scheduler's clock minus the local wall clock (0 before any stamp).
  TimeMs OffsetMs(TimeMs mono_now, TimeMs wall_now) const { return Now(mono_now, wall_now) - wall_now; }

 private:
  struct Bounds {
    TimeMs lo;  // scheduler clock - monotonic clock, at least
    TimeMs hi;  // ... at most
    TimeMs since_mono;
  };
  std::optional<Bounds> bounds_;
};

}  // namespace slotwise::agent
