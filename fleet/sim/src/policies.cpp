#include "slotwise/fleet/sim/policies.h"

#include "baselines.h"
#include "slotwise_policy.h"

namespace slotwise::fleet::sim {

const std::vector<std::string>& PolicyNames() {
  static const std::vector<std::string> names = {"slotwise", "push-all", "fixed-rate", "period-cap", "pct-groups"};
  return names;
}

std::unique_ptr<Policy> MakePolicy(const std::string& name, const Fleet& fleet, const PolicyOptions& options) {
  if (name == "slotwise") return std::make_unique<SlotwisePolicy>(fleet, options);
  if (name == "push-all") return std::make_unique<PushAllPolicy>(fleet);
  if (name == "fixed-rate") return std::make_unique<FixedRatePolicy>(fleet, options.rate_per_minute);
  if (name == "period-cap") return std::make_unique<PeriodCapPolicy>(fleet, options.period_cap, options.period_ms);
  if (name == "pct-groups") return std::make_unique<PercentGroupsPolicy>(fleet, options);
  return nullptr;
}

}  // namespace slotwise::fleet::sim
