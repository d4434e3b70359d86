// Per-terminal rate limits for upstream messages: a token bucket per terminal
// id (rate, burst), plus flood detection: a terminal whose messages keep
// hitting the empty bucket is to be disconnected.
//
// Keyed by terminal id, not connection, so reconnecting does not refill the
// bucket. Time comes in as an argument (the plugin passes its own clock: TICK
// time fields are zero in mosquitto 2.0.11), so tests drive it directly.
//
// Pure code. NOT thread-safe: the plugin uses it from the broker's main
// thread only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "slotwise/slots.h"

namespace slotwise::broker {

struct RateLimitOptions {
  double per_second = 5.0;           // token refill rate
  std::uint32_t burst = 20;          // bucket size (and initial fill)
  std::uint32_t flood_after = 100;   // limited messages in one window -> disconnect; 0 = never
  TimeMs flood_window_ms = 10'000;
};

enum class RateDecision {
  kAccept,      // a token was taken
  kLimited,     // no token: drop with 0x96
  kDisconnect,  // no token, and this terminal keeps flooding: drop and disconnect
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimitOptions options) : options_(options) {}

  RateDecision Admit(std::string_view terminal_id, TimeMs now_ms);

  // Drops buckets that are full again and hold no flood strikes (they behave
  // exactly like a fresh bucket), so the table does not grow without bound.
  void Prune(TimeMs now_ms);
  std::size_t tracked() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    TimeMs refilled_ms = 0;
    std::uint32_t strikes = 0;     // limited messages in the current window
    TimeMs window_start_ms = 0;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  void Refill(Bucket& b, TimeMs now_ms) const;

  RateLimitOptions options_;
  std::unordered_map<std::string, Bucket, Hash, std::equal_to<>> buckets_;
};

}  // namespace slotwise::broker
