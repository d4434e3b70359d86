// Notices (S6): the retained message on terminals/{id}/notice that tells a
// terminal it has work in a campaign, and its window. Pure functions: they
// only add publications to an Outbox, which the caller sends after the
// change behind them is durable.
#pragma once

#include <string_view>

#include "slotwise/scheduler/campaign_table.h"
#include "slotwise/scheduler/service_options.h"
#include "slotwise/slots.h"

namespace slotwise::scheduler {

// The campaign's notice for one terminal.
void NoticeFor(const SlotGrid& grid, const CampaignRecord& record, std::string_view terminal_id, Outbox& out);
// Clears the terminal's retained notice (its work is over or cancelled).
void ClearNotice(std::string_view terminal_id, Outbox& out);
// The notices every terminal with unfinished work in a SCHEDULED campaign
// must have; sent again after each (re)connect to the broker.
void PendingNotices(const SlotGrid& grid, const CampaignTable& campaigns, Outbox& out);

}  // namespace slotwise::scheduler
