// TerminalRequests: what a terminal asks of the scheduler, one file per step:
//   S7  Report (terminal_report.cpp): registers the terminal (location,
//       time zone, version) and, inside a campaign, answers with its booking
//       -- S8, the placement answer: a node, a slot and a start time,
//       booked by Bookings::Assign if it had none or its slot has passed;
//   S10 Check (terminal_check.cpp): at slot time, GO with a (signed) URL,
//       TOO_EARLY, STAND_DOWN, ALREADY_CURRENT or RESCHEDULED;
//   S11 Status (terminal_status.cpp): progress and outcome; retries, DONE,
//       the failure threshold; and Presence (online / offline).
// Each returns the reply; publications (notices) go to the Outbox.
//
// Durability: a request's records are written through the Journal as one
// batch before the reply exists; a refused request changes nothing.
//
// Arrows: TerminalRequests -> Campaigns, Lifecycle (outcomes, retries, the
// failure threshold), Bookings, Registry, CampaignTable, Journal, DownloadUrls, notices.
// Threading: not thread-safe; the scheduler thread only.
#pragma once

#include <string_view>

#include "slotwise/clock.h"
#include "slotwise/scheduler/bookings.h"
#include "slotwise/scheduler/campaign_table.h"
#include "slotwise/scheduler/campaigns.h"
#include "slotwise/scheduler/download_urls.h"
#include "slotwise/scheduler/journal.h"
#include "slotwise/scheduler/lifecycle.h"
#include "slotwise/scheduler/registry.h"
#include "slotwise/scheduler/service_options.h"
#include "slotwise/slots.h"
#include "slotwise/v1/terminal.pb.h"

namespace slotwise::scheduler {

class TerminalRequests {
 public:
  TerminalRequests(CampaignTable& table, Bookings& bookings, Campaigns& campaigns, Lifecycle& lifecycle,
                   Registry& registry, Journal& journal, const DownloadUrls& urls, const SlotGrid& grid,
                   const Clock& clock)
      : table_(table), bookings_(bookings), campaigns_(campaigns), lifecycle_(lifecycle), registry_(registry),
        journal_(journal), urls_(urls), grid_(grid), clock_(clock) {}

  // Report and Check may end a terminal's work (ALREADY_CURRENT): its
  // notice is cleared through `out`.
  v1::TerminalReply Report(std::string_view terminal_id, const v1::Report& report, Outbox& out);  // S7, S8
  v1::TerminalReply Check(std::string_view terminal_id, const v1::Check& check, Outbox& out);     // S10
  v1::TerminalReply Status(std::string_view terminal_id, const v1::Status& status, Outbox& out);  // S11
  void Presence(std::string_view terminal_id, const v1::Presence& presence);

 private:
  CampaignTable& table_;
  Bookings& bookings_;
  Campaigns& campaigns_;
  Lifecycle& lifecycle_;
  Registry& registry_;
  Journal& journal_;
  const DownloadUrls& urls_;
  const SlotGrid& grid_;
  const Clock& clock_;
};

}  // namespace slotwise::scheduler
