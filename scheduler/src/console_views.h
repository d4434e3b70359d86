// Internal (issue 13, the console): node x slot aggregates for the web
// console, computed server-side and bounded in size: the capacity calendar
// (GetCapacity), the rows of what a window would add (QueryWindowLoad) and
// a campaign's downloads (GetCampaignDownloads). Pure reads.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "slotwise/scheduler/campaign_table.h"
#include "slotwise/scheduler/ledger.h"
#include "slotwise/scheduler/registry.h"
#include "slotwise/slots.h"
#include "slotwise/v1/operator.pb.h"

namespace slotwise::scheduler::views {

inline constexpr std::int64_t kMaxCalendarSlots = 2016;     // a week of 5-minute slots
inline constexpr std::int64_t kMaxCalendarCells = 500'000;  // nodes x slots
inline constexpr std::int64_t kDefaultCalendarSlots = 96;

// Fills in the range's defaults (from = `default_from` when 0, to = from +
// kDefaultCalendarSlots when 0) and checks its limits for `rows` rows; the
// refusal's message when it is out of them.
std::optional<std::string> CheckRange(std::int64_t& from, std::int64_t& to, std::int64_t default_from,
                                      std::size_t rows);

// The nodes of the calendar (of `cluster`, or all), by id; NOT_FOUND for an
// unknown cluster is the caller's.
std::vector<const v1::Node*> CalendarNodes(const Registry& registry, const std::string& cluster);

// Rows for `nodes` over [from, to), each with its node's figures and
// booked[] from `booked` (nullptr: the ledger's starts).
void FillCalendar(const Registry& registry, const std::vector<const v1::Node*>& nodes, const SlotGrid& grid,
                  std::int64_t from, std::int64_t to, const CapacityLedger* ledger,
                  const std::map<std::string, std::map<Slot, std::uint32_t>, std::less<>>* booked,
                  v1::CapacityCalendar& out);

v1::OperatorReply Capacity(const Registry& registry, const CapacityLedger& ledger, const SlotGrid& grid,
                           TimeMs now, const v1::GetCapacity& req);

v1::OperatorReply Downloads(const CampaignTable& table, const SlotGrid& grid, const v1::GetCampaignDownloads& req);

}  // namespace slotwise::scheduler::views
