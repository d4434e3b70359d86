// Internal (issue 13): the paginated and summarised reads of the operator
// commands, and the audit trail's page. Pure reads of the tables.
#pragma once

#include <vector>

#include "slotwise/scheduler/campaign_table.h"
#include "slotwise/scheduler/registry.h"
#include "slotwise/v1/operator.pb.h"

namespace slotwise::scheduler::views {

inline constexpr std::uint32_t kMaxPage = 1000;
inline constexpr std::uint32_t kDefaultPage = 100;

// `count_total` false leaves CampaignTerminalPage.total for the caller to set.
v1::OperatorReply ListCampaignTerminals(const CampaignTable& table, const Registry& registry,
                                        const v1::ListCampaignTerminals& req, bool count_total = true);
v1::OperatorReply Summary(const CampaignTable& table, const Registry& registry, std::int64_t slot_ms,
                          const v1::GetCampaignSummary& req);
// page_size > 0 only (0 keeps the unpaged replies of before).
v1::OperatorReply ListTerminalsPage(const Registry& registry, const v1::ListTerminals& req);
v1::OperatorReply ListCampaignsPage(const CampaignTable& table, const v1::ListCampaigns& req);
v1::OperatorReply ListAudit(const std::vector<v1::AuditEntry>& audit, const v1::ListAudit& req);

}  // namespace slotwise::scheduler::views
