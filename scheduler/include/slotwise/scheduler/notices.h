// Notices (S6): the retained message that tells a terminal it has work in a
// campaign, and its window: one per component, on topics::Notice(tid,
// component) (the system image's on slotwise/v1/t/{tid}/notice, where v1
// terminals look). A terminal has unfinished work for a component in at most
// one campaign (campaigns.h refuses overlaps), so that campaign owns the
// topic and clearing it never takes another campaign's notice away. Pure functions: they
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
// Clears the terminal's retained notice for the campaign's component (its
// work there is over).
void ClearNotice(const CampaignRecord& record, std::string_view terminal_id, Outbox& out);
// The notices every terminal with unfinished work in a SCHEDULED campaign
// must have; sent again after each (re)connect to the broker.
void PendingNotices(const SlotGrid& grid, const CampaignTable& campaigns, Outbox& out);
// What one terminal's notice topics must hold now: with `with_clears`, first
// a clear of the topic of every campaign the terminal is in, then (as for
// PendingNotices) the notice of each SCHEDULED campaign where its work is
// unfinished, so that, sent in order or coalesced per topic, each topic ends
// with the truth. For a terminal that shows up on another broker shard
// (shard_routes.h), whose retained store may hold nothing or an old notice.
void TerminalNotices(const SlotGrid& grid, const CampaignTable& campaigns, std::string_view terminal_id,
                     bool with_clears, Outbox& out);

}  // namespace slotwise::scheduler
