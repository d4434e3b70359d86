// Token buckets and flood detection (see rate_limit.h).
#include "slotwise/broker/rate_limit.h"

#include <algorithm>

namespace slotwise::broker {

void RateLimiter::Refill(Bucket& b, TimeMs now_ms) const {
  if (now_ms <= b.refilled_ms) return;  // a clock step back adds nothing
  const double elapsed_s = static_cast<double>(now_ms - b.refilled_ms) / 1000.0;
  b.tokens = std::min(static_cast<double>(options_.burst),
                      b.tokens + elapsed_s * options_.per_second);
  b.refilled_ms = now_ms;
}

RateDecision RateLimiter::Admit(std::string_view terminal_id, TimeMs now_ms) {
  auto it = buckets_.find(terminal_id);
  if (it == buckets_.end()) {
    Bucket fresh;
    fresh.tokens = static_cast<double>(options_.burst);
    fresh.refilled_ms = now_ms;
    it = buckets_.emplace(std::string(terminal_id), fresh).first;
  }
  Bucket& b = it->second;
  Refill(b, now_ms);
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return RateDecision::kAccept;
  }
  if (options_.flood_after == 0) return RateDecision::kLimited;
  if (b.strikes == 0 || now_ms - b.window_start_ms >= options_.flood_window_ms) {
    b.window_start_ms = now_ms;
    b.strikes = 0;
  }
  ++b.strikes;
  if (b.strikes >= options_.flood_after) {
    b.strikes = 0;  // counted once; a reconnecting flooder starts a new window
    return RateDecision::kDisconnect;
  }
  return RateDecision::kLimited;
}

void RateLimiter::Prune(TimeMs now_ms) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    Bucket& b = it->second;
    Refill(b, now_ms);
    const bool window_over = b.strikes == 0 || now_ms - b.window_start_ms >= options_.flood_window_ms;
    if (b.tokens >= static_cast<double>(options_.burst) && window_over) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace slotwise::broker
