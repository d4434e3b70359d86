// Exponential backoff arithmetic shared by the reconnect policy, the request
// channel and the download step. Private to slotwise_agent. Pure.
#pragma once

#include <algorithm>
#include <chrono>

namespace slotwise::agent {

// base * 2^exponent, capped at `cap` (and safe from overflow).
inline std::chrono::milliseconds Doubled(std::chrono::milliseconds base, int exponent,
                                         std::chrono::milliseconds cap) {
  std::chrono::milliseconds delay = base;
  for (int i = 0; i < exponent && delay < cap; ++i) delay *= 2;
  return std::min(delay, cap);
}

}  // namespace slotwise::agent
