// S6: notices to the terminals of a scheduled campaign.
#include "slotwise/scheduler/notices.h"

#include <string>
#include <vector>

#include "slotwise/topics.h"
#include "slotwise/v1/terminal.pb.h"

namespace slotwise::scheduler {

void NoticeFor(const SlotGrid& grid, const CampaignRecord& record, std::string_view terminal_id, Outbox& out) {
  v1::Notice n;
  n.set_campaign_id(record.campaign.id());
  n.set_target_version(record.campaign.target_version());
  n.set_window_start_ms(grid.Start(record.campaign.window_start_slot()));
  n.set_window_end_ms(grid.Start(record.campaign.window_end_slot()));
  n.set_issued_ms(record.campaign.created_ms());
  n.set_component(record.campaign.component());
  n.set_deadline_ms(record.campaign.deadline_ms());
  out.push_back(Publication{topics::Notice(terminal_id, record.campaign.component()), n.SerializeAsString(), true});
}

void ClearNotice(const CampaignRecord& record, std::string_view terminal_id, Outbox& out) {
  out.push_back(Publication{topics::Notice(terminal_id, record.campaign.component()), "", true});
}

void PendingNotices(const SlotGrid& grid, const CampaignTable& campaigns, Outbox& out) {
  for (const auto& [id, record] : campaigns.all()) {
    if (record.campaign.state() != v1::SCHEDULED) continue;
    for (const auto& [tid, progress] : record.progress) {
      if (Unfinished(progress)) NoticeFor(grid, record, tid, out);
    }
  }
}

void TerminalNotices(const SlotGrid& grid, const CampaignTable& campaigns, std::string_view terminal_id,
                     bool with_clears, Outbox& out) {
  std::vector<const CampaignRecord*> pending;
  for (const auto& [id, record] : campaigns.all()) {
    const auto it = record.progress.find(terminal_id);
    if (it == record.progress.end()) continue;
    if (with_clears) ClearNotice(record, terminal_id, out);
    if (record.campaign.state() == v1::SCHEDULED && Unfinished(it->second)) pending.push_back(&record);
  }
  for (const auto* record : pending) NoticeFor(grid, *record, terminal_id, out);
}

}  // namespace slotwise::scheduler
