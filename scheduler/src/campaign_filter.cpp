// Filter campaigns: the matching rules (campaign_filter.h).
#include "slotwise/scheduler/campaign_filter.h"

#include <algorithm>
#include <set>

#include "slotwise/topics.h"
#include "slotwise/version.h"
#include "validation.h"

namespace slotwise::scheduler {

Status ValidateFilter(const v1::CampaignFilter& f, const Registry& registry) {
  if (f.system_id_prefix().empty() && f.cluster_ids().empty() && f.regions().empty() && !f.below_target()) {
    return MakeError(v1::INVALID_ARGUMENT,
                     "a filter needs at least one condition (system id prefix, cluster, region or below-target)");
  }
  if (f.system_id_prefix().size() > kMaxSystemIdPrefix) {
    return MakeError(v1::INVALID_ARGUMENT, "the system id prefix is longer than 64 bytes");
  }
  if (f.cluster_ids_size() > kMaxFilterValues || f.regions_size() > kMaxFilterValues) {
    return MakeError(v1::INVALID_ARGUMENT, "a filter names at most 64 clusters and 64 regions");
  }
  std::set<std::string_view> seen;
  for (const auto& c : f.cluster_ids()) {
    if (!seen.insert(c).second) return MakeError(v1::INVALID_ARGUMENT, "cluster " + c + " is named twice in the filter");
    if (!registry.HasCluster(c)) return MakeError(v1::NOT_FOUND, "unknown cluster '" + c + "' in the filter");
  }
  seen.clear();
  for (const auto& r : f.regions()) {
    if (r.empty()) return MakeError(v1::INVALID_ARGUMENT, "an empty region in the filter");
    if (!seen.insert(r).second) return MakeError(v1::INVALID_ARGUMENT, "region " + r + " is named twice in the filter");
    if (!registry.HasRegion(r)) return MakeError(v1::NOT_FOUND, "no cluster has region '" + r + "' (filter)");
  }
  return OkStatus();
}

std::string TerminalFacts::VersionOf(std::string_view component) const {
  if (component.empty()) return info_.current_version();
  if (const v1::TerminalComponents* cs = registry_.ComponentsOf(info_.id())) {
    for (const auto& c : cs->components()) {
      if (topics::CanonicalComponent(c.component()) == component) return c.version();
    }
  }
  return {};
}

const v1::Cluster* TerminalFacts::Home() const {
  if (!home_) home_ = registry_.HomeCluster(info_);
  return *home_;
}

bool MatchesFilter(const v1::Campaign& campaign, const TerminalFacts& t) {
  if (!campaign.has_filter()) return false;
  const v1::CampaignFilter& f = campaign.filter();
  if (!f.system_id_prefix().empty() && !t.info().system_id().starts_with(f.system_id_prefix())) return false;
  if (!f.cluster_ids().empty() || !f.regions().empty()) {
    const v1::Cluster* home = t.Home();
    if (home == nullptr) return false;
    if (!f.cluster_ids().empty() &&
        std::find(f.cluster_ids().begin(), f.cluster_ids().end(), home->id()) == f.cluster_ids().end()) {
      return false;
    }
    if (!f.regions().empty() &&
        std::find(f.regions().begin(), f.regions().end(), home->region()) == f.regions().end()) {
      return false;
    }
  }
  if (f.below_target()) {
    const std::string version = t.VersionOf(campaign.component());
    if (version.empty() || CompareVersions(version, campaign.target_version()) >= 0) return false;
  }
  return true;
}

}  // namespace slotwise::scheduler
