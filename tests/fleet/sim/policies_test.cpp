// The baselines keep their own rules, and no policy loses a terminal.
#include <doctest/doctest.h>

#include <cmath>
#include <map>

#include "sim_fixtures.h"

namespace slotwise::fleet::sim::testing {
namespace {

TEST_CASE("every terminal that arrives is upgraded under every policy") {
  const Fleet fleet = MakeFleet(Busy(3));
  for (const auto& name : PolicyNames()) {
    CAPTURE(name);
    const RunResult r = RunPolicy(fleet, name);
    CHECK(r.upgraded == fleet.terminals.size());
    CHECK(r.never_upgraded == 0);
    CHECK(r.failed_attempts > 0);  // the fleet did fail now and then
    for (TerminalIndex t = 0; t < fleet.terminals.size(); ++t) {
      CHECK(r.upgraded_at[t] >= r.first_start[t]);
      CHECK(r.first_start[t] >= CampaignStart(fleet.scenario) + fleet.terminals[t].arrival_ms);
    }
  }
}

TEST_CASE("fixed rate never starts more than R per minute") {
  const Fleet fleet = MakeFleet(Busy(4));
  PolicyOptions options;
  options.rate_per_minute = 7;
  const RunResult r = RunPolicy(fleet, "fixed-rate", options);
  CHECK(r.max_starts_per_minute == 7);  // reached, never passed
  CHECK(r.never_upgraded == 0);
  // Default: the fleet's capacity per minute (6 nodes x 5 per one-minute slot).
  const RunResult fair = RunPolicy(fleet, "fixed-rate");
  CHECK(fair.max_starts_per_minute <= 30);
}

TEST_CASE("period cap never starts more than K per period in a cluster") {
  const Fleet fleet = MakeFleet(Busy(5));
  PolicyOptions options;
  options.period_cap = 4;
  options.period_ms = 120'000;
  const RunResult r = RunPolicy(fleet, "period-cap", options);
  CHECK(r.never_upgraded == 0);
  // First starts alone already show the rule (retries only add to them).
  std::map<std::pair<std::uint32_t, std::int64_t>, int> starts;  // (cluster, period)
  const TimeMs start = CampaignStart(fleet.scenario);
  for (TerminalIndex t = 0; t < fleet.terminals.size(); ++t) {
    ++starts[{fleet.terminals[t].nearest_cluster, (r.first_start[t] - start) / options.period_ms}];
  }
  for (const auto& [key, count] : starts) CHECK(count <= 4);
}

TEST_CASE("percentage groups: group k+1 starts only once group k reached its threshold") {
  const Fleet fleet = MakeFleet(Busy(6, 1000));
  PolicyOptions options;
  options.group_percents = {5, 20};
  options.success_threshold = 0.9;
  PercentGroupsPolicy policy(fleet, options);
  Engine engine(fleet, policy, 60'000);
  auto run = engine.Run();
  REQUIRE(run.ok());
  const RunResult& r = *run;
  const auto& groups = policy.groups();
  REQUIRE(groups.size() == 3);
  CHECK(groups[0].end - groups[0].first == 50);
  CHECK(groups[1].end - groups[1].first == 200);
  CHECK(groups[2].end == fleet.terminals.size());
  for (std::size_t k = 0; k < groups.size(); ++k) {
    CAPTURE(k);
    REQUIRE(groups[k].started_at >= 0);
    for (TerminalIndex t = groups[k].first; t < groups[k].end; ++t) CHECK(r.first_start[t] >= groups[k].started_at);
    if (k == 0) continue;
    std::uint32_t done_before = 0;
    for (TerminalIndex t = groups[k - 1].first; t < groups[k - 1].end; ++t) {
      if (r.upgraded_at[t] >= 0 && r.upgraded_at[t] <= groups[k].started_at) ++done_before;
    }
    CHECK(done_before >= groups[k - 1].needed);
    CHECK(groups[k - 1].needed == static_cast<std::uint32_t>(std::ceil(0.9 * (groups[k - 1].end - groups[k - 1].first))));
  }
  CHECK(r.never_upgraded == 0);
}

}  // namespace
}  // namespace slotwise::fleet::sim::testing
