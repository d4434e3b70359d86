// Membership of a running campaign: AddTerminals (with the overlap rule and
// supersession of CreateCampaign), RemoveTerminals (outcome REMOVED), and the
// terminals a filter campaign takes in (Join, TakeIn).
#include <set>

#include "keys.h"
#include "replies.h"
#include "slotwise/scheduler/campaigns.h"
#include "slotwise/scheduler/change.h"
#include "slotwise/scheduler/notices.h"
#include "validation.h"

namespace slotwise::scheduler {
namespace {

Result<CampaignRecord*> OpenCampaign(CampaignTable& table, const std::string& id) {
  CampaignRecord* record = table.Find(id);
  if (record == nullptr) return MakeError(v1::NOT_FOUND, "unknown campaign '" + id + "'");
  if (IsFinalCampaign(record->campaign.state())) {
    return MakeError(v1::FAILED_PRECONDITION,
                     "campaign " + id + " is " + std::string(CampaignStateName(record->campaign.state())));
  }
  return record;
}

}  // namespace

v1::OperatorReply Campaigns::AddTerminals(const v1::AddTerminals& req, Outbox& out) {
  auto open = OpenCampaign(table_, req.campaign_id());
  if (!open) return Refuse(open.error());
  CampaignRecord& record = **open;
  if (req.terminal_ids().empty()) return Refuse(v1::INVALID_ARGUMENT, "name at least one terminal");
  std::set<std::string_view> seen;
  google::protobuf::RepeatedPtrField<std::string> fresh;  // not in the campaign yet
  for (const auto& t : req.terminal_ids()) {
    if (!IsValidId(t)) return Refuse(v1::INVALID_ARGUMENT, "invalid terminal id '" + t + "'");
    if (!seen.insert(t).second) return Refuse(v1::INVALID_ARGUMENT, "terminal " + t + " is listed twice");
    if (!record.progress.contains(t)) *fresh.Add() = t;
  }
  if (fresh.empty()) return AckReply();  // idempotent
  const std::string& component = record.campaign.component();
  const auto overlaps = Overlaps(fresh, component, record.campaign.id());
  if (!overlaps.empty() && !req.supersede()) return RefuseOverlaps(overlaps, component);

  Change change(bookings_);
  v1::Campaign& c = change.Campaign(record);
  const TimeMs now = clock_.NowMs();
  WriteBatch b;
  for (const auto& t : fresh) {
    c.add_terminal_ids(t);
    v1::TerminalProgress p;
    p.set_terminal_id(t);
    p.set_updated_ms(now);
    b.Put(keys::Progress(c.id(), t), p.SerializeAsString());
    record.progress.emplace(t, std::move(p));
  }
  record.not_done += static_cast<std::size_t>(fresh.size());
  record.outcomes[v1::TerminalProgress::OUTCOME_PENDING] += static_cast<std::size_t>(fresh.size());
  change.Also(b, [&record, fresh] {
    for (const auto& t : fresh) record.progress.erase(t);
    record.not_done -= static_cast<std::size_t>(fresh.size());
    record.outcomes[v1::TerminalProgress::OUTCOME_PENDING] -= static_cast<std::size_t>(fresh.size());
  });
  for (auto [older, p] : overlaps) {
    lifecycle_.End(change, *older, *p, v1::TerminalProgress::SUPERSEDED, "superseded by campaign " + c.id());
  }
  if (record.campaign.state() == v1::SCHEDULED) {
    Outbox notices;
    for (const auto& t : fresh) NoticeFor(grid_, record, t, notices);
    for (auto& n : notices) change.Publish(std::move(n));
  }
  if (auto s = change.Commit(journal_, out); !s) return Refuse(s.error());
  return AckReply();
}

v1::OperatorReply Campaigns::RemoveTerminals(const v1::RemoveTerminals& req, Outbox& out) {
  auto open = OpenCampaign(table_, req.campaign_id());
  if (!open) return Refuse(open.error());
  CampaignRecord& record = **open;
  if (req.terminal_ids().empty()) return Refuse(v1::INVALID_ARGUMENT, "name at least one terminal");
  for (const auto& t : req.terminal_ids()) {
    if (!record.progress.contains(t)) {
      return Refuse(v1::NOT_IN_CAMPAIGN, "terminal " + t + " is not in campaign " + req.campaign_id());
    }
  }
  Change change(bookings_);
  for (const auto& t : req.terminal_ids()) {
    lifecycle_.End(change, record, record.progress.find(t)->second, v1::TerminalProgress::REMOVED,
                   "removed from the campaign");
  }
  if (auto s = change.Commit(journal_, out); !s) return Refuse(s.error());  // DONE if nothing is left
  return AckReply();
}

bool Campaigns::Join(Change& change, CampaignRecord& record, const TerminalFacts& terminal) {
  const std::string& tid = terminal.info().id();
  if (!TakesIn(record.campaign) || record.progress.contains(tid) || !MatchesFilter(record.campaign, terminal)) {
    return false;
  }
  const std::string& component = record.campaign.component();
  google::protobuf::RepeatedPtrField<std::string> ids;
  *ids.Add() = tid;
  const auto overlaps = Overlaps(ids, component, record.campaign.id());
  if (!overlaps.empty() && !record.campaign.supersede()) return false;  // taken at a later report
  // At or above the target: it joins with its outcome (no notice, no
  // booking) and takes nothing away from another campaign.
  const std::string version = terminal.VersionOf(component);
  const bool current = Lifecycle::AlreadyCurrent(record.campaign, version);
  for (auto [older, p] : overlaps) {
    if (current) break;
    lifecycle_.End(change, *older, *p, v1::TerminalProgress::SUPERSEDED,
                   "superseded by campaign " + record.campaign.id());
  }
  v1::TerminalProgress fresh;
  fresh.set_terminal_id(tid);
  fresh.set_updated_ms(clock_.NowMs());
  if (current) {
    fresh.set_outcome(v1::TerminalProgress::ALREADY_CURRENT);
    fresh.set_detail("the terminal runs " + version);
  }
  const auto joined_as = fresh.outcome();
  v1::TerminalProgress& p = record.progress.emplace(tid, std::move(fresh)).first->second;
  record.joined.insert(tid);
  change.Progress(record, p);  // before not_done changes: the undo puts it back
  if (!current) ++record.not_done;
  ++record.outcomes[joined_as];
  change.UndoLast([&record, tid, joined_as] {
    record.joined.erase(tid);
    record.progress.erase(tid);
    --record.outcomes[joined_as];
  });
  if (!current && record.campaign.state() == v1::SCHEDULED) {
    Outbox notice;
    NoticeFor(grid_, record, tid, notice);
    for (auto& n : notice) change.Publish(std::move(n));
  }
  return true;
}

void Campaigns::TakeIn(Change& change, const v1::TerminalInfo& info) {
  if (table_.filtered().empty()) return;
  const TerminalFacts facts(registry_, info);
  for (CampaignRecord* record : table_.filtered()) Join(change, *record, facts);
}

}  // namespace slotwise::scheduler
