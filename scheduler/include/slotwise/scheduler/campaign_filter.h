// Filter campaigns (schemas/README.md "Filter campaigns"): which terminals a
// CampaignFilter takes in. Pure rules on what the Registry knows of one
// terminal; the joining itself (overlap, notice, durability) is
// Campaigns::TakeIn (campaign_membership.cpp).
//
// Cost: one match looks at the terminal's record, its version of one
// component and, only for a cluster or region condition, its home cluster
// (a pass over the registered clusters, computed once per terminal).
//
// Threading: not thread-safe; the scheduler thread only.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "slotwise/result.h"
#include "slotwise/scheduler/registry.h"
#include "slotwise/v1/operator.pb.h"

namespace slotwise::scheduler {

// Longest CampaignFilter.system_id_prefix, most cluster ids / regions.
inline constexpr std::size_t kMaxSystemIdPrefix = 64;
inline constexpr int kMaxFilterValues = 64;

// INVALID_ARGUMENT (malformed, empty) or NOT_FOUND (a cluster or region no
// registered cluster has) for a filter CreateCampaign must refuse.
Status ValidateFilter(const v1::CampaignFilter& filter, const Registry& registry);

// What a filter looks at of one known terminal, read from the Registry.
class TerminalFacts {
 public:
  TerminalFacts(const Registry& registry, const v1::TerminalInfo& info) : registry_(registry), info_(info) {}
  const v1::TerminalInfo& info() const { return info_; }
  // Its last reported version of `component` ("" = the system image); ""
  // when it reported none.
  std::string VersionOf(std::string_view component) const;
  // Its home cluster (cached); nullptr without a location.
  const v1::Cluster* Home() const;

 private:
  const Registry& registry_;
  const v1::TerminalInfo& info_;
  mutable std::optional<const v1::Cluster*> home_;
};

// True when the terminal matches `campaign.filter()` (false without one).
bool MatchesFilter(const v1::Campaign& campaign, const TerminalFacts& terminal);

}  // namespace slotwise::scheduler
