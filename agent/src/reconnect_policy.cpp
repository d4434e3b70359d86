#include "slotwise/agent/reconnect_policy.h"

#include <algorithm>

#include "backoff.h"

namespace slotwise::agent {

ReconnectPolicy::Delay ReconnectPolicy::Next(TimeMs now, bool lost_established) {
  if (lost_established && now - connected_at_ >= settings_.max.count()) attempts_ = 0;
  const auto ceiling = Doubled(settings_.min, attempts_, settings_.max);
  const bool first = attempts_ == 0;
  attempts_ = std::min(attempts_ + 1, 64);
  const std::string ceiling_ms = std::to_string(ceiling.count()) + " ms";
  if (!settings_.jitter) return {ceiling, "no jitter, ceiling " + ceiling_ms};
  // A connection that had been fine and is lost is most likely the broker
  // going away under the whole fleet at once: spread the return widely.
  const bool spread_wide = lost_established && first && settings_.spread > ceiling;
  const auto upper = spread_wide ? settings_.spread : ceiling;
  // Full jitter: anywhere up to the upper bound, so a fleet that lost the
  // broker at one instant comes back spread over the whole interval.
  const long long floor = std::min(settings_.floor.count(), upper.count());
  std::uniform_int_distribution<long long> draw(floor, upper.count());
  return {std::chrono::milliseconds(draw(rng_)),
          spread_wide ? "spread " + std::to_string(upper.count()) + " ms" : "ceiling " + ceiling_ms};
}

}  // namespace slotwise::agent
