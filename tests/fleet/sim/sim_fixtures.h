// Shared by the fleet simulation tests: small scenarios and a one-call run.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "slotwise/fleet/sim/engine.h"
#include "slotwise/fleet/sim/policies.h"
#include "slotwise/fleet/sim/scenario.h"

namespace slotwise::fleet::sim::testing {

// One cluster of `nodes` nodes, everyone online at the start, no no-shows,
// no failures, timeouts that never fire: every figure can be worked out by
// hand. One-minute slots, a download takes a slot at full speed.
inline Scenario Tiny(std::uint32_t terminals, std::uint32_t nodes, std::uint32_t per_slot) {
  Scenario s;
  s.terminals = terminals;
  s.nodes = nodes;
  s.clusters = 1;
  s.per_slot = per_slot;
  s.slot_ms = 60'000;
  s.download_ms = 60'000;
  s.artifact_bytes = 6'000'000;
  s.online_share = 1;
  s.arrival_ms = 0;
  s.no_show_share = 0;
  s.failure_share = 0;
  s.timeout_factor = 1000;
  s.horizon_ms = 24 * 3'600'000LL;
  return s;
}

// A small fleet with everything that can go wrong: arrivals, no-shows,
// failures, timeouts.
inline Scenario Busy(std::uint64_t seed, std::uint32_t terminals = 600) {
  Scenario s;
  s.terminals = terminals;
  s.nodes = 6;
  s.clusters = 3;
  s.per_slot = 5;
  s.slot_ms = 60'000;
  s.download_ms = 60'000;
  s.artifact_bytes = 6'000'000;
  s.online_share = 0.7;
  s.arrival_ms = 5 * 60'000;
  s.no_show_share = 0.05;
  s.no_show_lead_ms = 5 * 60'000;
  s.no_show_return_ms = 4 * 60'000;
  s.failure_share = 0.03;
  s.timeout_factor = 3;
  s.horizon_ms = 7 * 24 * 3'600'000LL;
  s.seed = seed;
  return s;
}

inline RunResult RunPolicy(const Fleet& fleet, const std::string& name, const PolicyOptions& options = {}) {
  auto policy = MakePolicy(name, fleet, options);
  REQUIRE(policy != nullptr);
  Engine engine(fleet, *policy, 60'000);
  auto result = engine.Run();
  REQUIRE_MESSAGE(result.ok(), (result.ok() ? "" : result.error().message));
  return std::move(*result);
}

}  // namespace slotwise::fleet::sim::testing
