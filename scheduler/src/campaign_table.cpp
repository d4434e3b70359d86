#include "slotwise/scheduler/campaign_table.h"

#include <algorithm>
#include <set>

#include "keys.h"
#include "validation.h"

namespace slotwise::scheduler {

Status CampaignTable::Load(Store& store) {
  records_.clear();
  filtered_.clear();
  bool corrupt = false;
  auto s = store.Scan(keys::kCampaign, [&](std::string_view key, std::string_view value) {
    v1::Campaign c;
    if (!ParseInto(value, c)) {
      corrupt = true;
      return;
    }
    records_[std::string(key.substr(keys::kCampaign.size()))].campaign = std::move(c);
  });
  if (!s) return s;
  for (auto& [id, record] : records_) {
    auto ps = store.Scan(keys::Progress(id, ""), [&](std::string_view, std::string_view value) {
      v1::TerminalProgress p;
      if (!ParseInto(value, p)) {
        corrupt = true;
        return;
      }
      // Records written before outcomes existed: their final state is their outcome.
      if (p.outcome() == v1::TerminalProgress::OUTCOME_PENDING) {
        if (p.state() == v1::Status::SUCCEEDED) p.set_outcome(v1::TerminalProgress::SUCCEEDED);
        if (p.state() == v1::Status::FAILED) p.set_outcome(v1::TerminalProgress::FAILED);
      }
      if (!HasOutcome(p)) ++record.not_done;
      ++record.outcomes[p.outcome()];
      record.progress.emplace(p.terminal_id(), std::move(p));
    });
    if (!ps) return ps;
    if (record.progress.size() != static_cast<std::size_t>(record.campaign.terminal_ids_size())) {
      std::set<std::string_view> named(record.campaign.terminal_ids().begin(), record.campaign.terminal_ids().end());
      for (const auto& [tid, p] : record.progress) {
        if (!named.contains(tid)) record.joined.insert(tid);
      }
    }
    IndexFilter(record);
  }
  if (corrupt) return MakeError(v1::INTERNAL, "a record in the store could not be parsed");
  return OkStatus();
}

CampaignRecord* CampaignTable::Find(std::string_view id) {
  auto it = records_.find(id);
  return it == records_.end() ? nullptr : &it->second;
}

const CampaignRecord* CampaignTable::Find(std::string_view id) const {
  auto it = records_.find(id);
  return it == records_.end() ? nullptr : &it->second;
}

bool CampaignTable::Add(CampaignRecord record) {
  const std::string id = record.campaign.id();
  auto [it, added] = records_.emplace(id, std::move(record));
  if (added) IndexFilter(it->second);
  return added;
}

void CampaignTable::Remove(std::string_view id) {
  auto it = records_.find(id);
  if (it == records_.end()) return;
  std::erase(filtered_, &it->second);
  records_.erase(it);
}

void CampaignTable::IndexFilter(CampaignRecord& record) {
  if (!record.campaign.has_filter()) return;
  auto older = [](const CampaignRecord* a, const CampaignRecord* b) {
    return std::pair(a->campaign.created_ms(), a->campaign.id()) < std::pair(b->campaign.created_ms(), b->campaign.id());
  };
  filtered_.insert(std::upper_bound(filtered_.begin(), filtered_.end(), &record, older), &record);
}

Result<std::pair<CampaignRecord*, v1::TerminalProgress*>> CampaignTable::FindWork(std::string_view terminal_id,
                                                                                  std::string_view campaign_id) {
  auto it = records_.find(campaign_id);
  if (it == records_.end()) {
    return MakeError(v1::NOT_FOUND, "unknown campaign '" + std::string(campaign_id) + "'");
  }
  auto p = it->second.progress.find(terminal_id);
  if (p == it->second.progress.end()) {
    return MakeError(v1::NOT_IN_CAMPAIGN, "terminal " + std::string(terminal_id) + " is not in campaign " +
                                              std::string(campaign_id));
  }
  return std::pair{&it->second, &p->second};
}

}  // namespace slotwise::scheduler
