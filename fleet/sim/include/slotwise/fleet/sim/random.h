// Deterministic draws keyed by what they are for (terminal, attempt,
// purpose) instead of by the order they are asked in, so a terminal meets the
// same luck (failure of its 3rd attempt, backoff, ...) under every policy,
// whatever order events happen in. splitmix64 mixing. Pure, thread-safe.
#pragma once

#include <cstdint>

namespace slotwise::fleet::sim {

enum class Draw : std::uint64_t {
  kClusterPick = 1,
  kJitterLat,
  kJitterLon,
  kOnline,
  kArrival,
  kNoShow,
  kReturn,
  kAway,
  kFails,
  kFailPoint,
  kBackoff,
  kPoll,
  kSite,
  kLink,
  kCampaign,
  kDelta,
};

constexpr std::uint64_t Mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Uniform in [0, 1).
constexpr double Uniform(std::uint64_t seed, Draw what, std::uint64_t subject, std::uint64_t n = 0) {
  const std::uint64_t h =
      Mix(Mix(Mix(seed ^ Mix(static_cast<std::uint64_t>(what))) ^ subject) ^ Mix(n + 0x51ed27ULL));
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

}  // namespace slotwise::fleet::sim
