// S2 create, S5 schedule (+ S6 notices), pause / resume / cancel, progress.
// S3-S4 (window queries) are in campaign_windows.cpp.
#include "slotwise/scheduler/campaigns.h"

#include <set>
#include <utility>
#include <vector>

#include "keys.h"
#include "replies.h"
#include "slotwise/scheduler/notices.h"
#include "validation.h"

namespace slotwise::scheduler {
namespace {

constexpr Slot kMaxWindowSlots = 1'000'000;

v1::OperatorReply UnknownCampaign(const std::string& id) {
  return Refuse(v1::NOT_FOUND, "unknown campaign '" + id + "'");
}

}  // namespace

v1::OperatorReply Campaigns::Create(const v1::CreateCampaign& req) {
  if (!IsValidId(req.id())) return Refuse(v1::INVALID_ARGUMENT, "campaign id must be 1-64 of [A-Za-z0-9._-]");
  if (table_.Contains(req.id())) return Refuse(v1::ALREADY_EXISTS, "campaign " + req.id() + " already exists");
  if (registry_.FindArtifact(req.target_version()) == nullptr) {
    return Refuse(v1::NOT_FOUND, "unknown version '" + req.target_version() + "'");
  }
  if (req.terminal_ids().empty()) return Refuse(v1::INVALID_ARGUMENT, "a campaign needs at least one terminal");
  std::set<std::string_view> seen;
  for (const auto& t : req.terminal_ids()) {
    if (!IsValidId(t)) return Refuse(v1::INVALID_ARGUMENT, "invalid terminal id '" + t + "'");
    if (!seen.insert(t).second) return Refuse(v1::INVALID_ARGUMENT, "terminal " + t + " is listed twice");
  }
  if (req.allowed_from_minute() >= 24 * 60 || req.allowed_to_minute() >= 24 * 60) {
    return Refuse(v1::INVALID_ARGUMENT, "allowed hours must be minutes of the day, 0-1439");
  }
  CampaignRecord record;
  v1::Campaign& c = record.campaign;
  c.set_id(req.id());
  c.set_target_version(req.target_version());
  c.set_allow_downgrade(req.allow_downgrade());
  *c.mutable_terminal_ids() = req.terminal_ids();
  c.set_state(v1::DRAFT);
  c.set_created_ms(clock_.NowMs());
  c.set_allowed_from_minute(req.allowed_from_minute());
  c.set_allowed_to_minute(req.allowed_to_minute());
  c.set_max_failures(req.max_failures());
  c.set_max_retries(req.max_retries());
  WriteBatch b;
  b.Put(keys::Of(keys::kCampaign, req.id()), c.SerializeAsString());
  for (const auto& t : req.terminal_ids()) {
    v1::TerminalProgress p;
    p.set_terminal_id(t);
    p.set_updated_ms(c.created_ms());
    b.Put(keys::Progress(req.id(), t), p.SerializeAsString());
    record.progress.emplace(t, std::move(p));
  }
  record.not_done = record.progress.size();
  table_.Add(std::move(record));
  if (auto s = journal_.Write(b, [this, id = req.id()] { table_.Remove(id); }); !s) return Refuse(s.error());
  return AckReply();
}

v1::OperatorReply Campaigns::Schedule(const v1::ScheduleCampaign& req, Outbox& out) {
  CampaignRecord* record = table_.Find(req.campaign_id());
  if (record == nullptr) return UnknownCampaign(req.campaign_id());
  if (record->campaign.state() != v1::DRAFT) {
    return Refuse(v1::FAILED_PRECONDITION, "campaign " + req.campaign_id() + " is already " +
                                               std::string(CampaignStateName(record->campaign.state())));
  }
  const Slot now_slot = grid_.SlotAt(clock_.NowMs());
  if (req.start_slot() <= now_slot) {
    return Refuse(v1::INVALID_ARGUMENT, "the window must start after the current slot " +
                                            std::to_string(now_slot) + "; ask for windows again");
  }
  if (req.end_slot() <= req.start_slot() || req.end_slot() - req.start_slot() > kMaxWindowSlots) {
    return Refuse(v1::INVALID_ARGUMENT, "the window must end after it starts and span at most " +
                                            std::to_string(kMaxWindowSlots) + " slots");
  }
  if (!(req.max_utilisation() >= 0 && req.max_utilisation() <= 1)) {
    return Refuse(v1::INVALID_ARGUMENT, "max_utilisation must be between 0 and 1");
  }
  if (req.core_end_slot() != 0 && (req.core_end_slot() <= req.start_slot() || req.core_end_slot() > req.end_slot())) {
    return Refuse(v1::INVALID_ARGUMENT, "core_end_slot must lie in (start_slot, end_slot]");
  }
  const v1::Campaign before = record->campaign;
  v1::Campaign& c = record->campaign;
  c.set_core_end_slot(req.core_end_slot());
  c.set_state(v1::SCHEDULED);
  c.set_max_utilisation(req.max_utilisation());
  c.set_window_start_slot(req.start_slot());
  c.set_window_end_slot(req.end_slot());
  WriteBatch b;
  b.Put(keys::Of(keys::kCampaign, c.id()), c.SerializeAsString());
  if (auto s = journal_.Write(b, [record, before] { record->campaign = before; }); !s) return Refuse(s.error());
  for (const auto& t : record->campaign.terminal_ids()) NoticeFor(grid_, *record, t, out);  // S6
  return AckReply();
}

v1::OperatorReply Campaigns::Get(const v1::GetCampaign& req) const {
  const CampaignRecord* record = table_.Find(req.campaign_id());
  if (record == nullptr) return UnknownCampaign(req.campaign_id());
  v1::OperatorReply r;
  auto* report = r.mutable_campaign();
  *report->mutable_campaign() = record->campaign;
  report->set_slot_ms(grid_.slot_ms());
  for (const auto& t : record->campaign.terminal_ids()) {
    const auto& p = record->progress.find(t)->second;
    *report->add_terminals() = p;
    if (p.state() == v1::Status::SUCCEEDED) {
      report->set_succeeded(report->succeeded() + 1);
    } else if (p.state() == v1::Status::FAILED) {
      report->set_failed(report->failed() + 1);
    } else if (p.assigned()) {
      report->set_assigned(report->assigned() + 1);
    } else {
      report->set_pending(report->pending() + 1);
    }
  }
  return r;
}

v1::OperatorReply Campaigns::List() const {
  v1::OperatorReply r;
  for (const auto& [id, record] : table_.all()) {
    v1::Campaign summary = record.campaign;
    summary.clear_terminal_ids();  // Get has them; a listing stays small
    *r.mutable_campaigns()->add_campaigns() = std::move(summary);
  }
  return r;
}

Status Campaigns::Pause(CampaignRecord& record, const std::string& reason) {
  const v1::Campaign before = record.campaign;
  record.campaign.set_state(v1::PAUSED);
  record.campaign.set_paused_reason(reason);
  WriteBatch b;
  b.Put(keys::Of(keys::kCampaign, record.campaign.id()), record.campaign.SerializeAsString());
  std::vector<std::pair<v1::TerminalProgress*, v1::TerminalProgress>> released;  // (live, before)
  for (auto& [tid, p] : record.progress) {
    if (!p.assigned() || p.checked_in() || !Unfinished(p)) continue;
    released.emplace_back(&p, p);
    bookings_.Release(p);
    b.Put(keys::Progress(record.campaign.id(), tid), p.SerializeAsString());
  }
  return journal_.Write(b, [this, &record, before, released] {
    for (auto it = released.rbegin(); it != released.rend(); ++it) bookings_.Undo(*it->first, it->second);
    record.campaign = before;
  });
}

v1::OperatorReply Campaigns::Pause(const v1::PauseCampaign& req) {
  CampaignRecord* record = table_.Find(req.campaign_id());
  if (record == nullptr) return UnknownCampaign(req.campaign_id());
  const auto state = record->campaign.state();
  if (state == v1::PAUSED) return AckReply();  // idempotent
  if (state != v1::SCHEDULED) {
    return Refuse(v1::FAILED_PRECONDITION, "only a SCHEDULED campaign can be paused; " + req.campaign_id() +
                                               " is " + std::string(CampaignStateName(state)));
  }
  if (auto s = Pause(*record, "paused by the operator"); !s) return Refuse(s.error());
  return AckReply();
}

v1::OperatorReply Campaigns::Resume(const v1::ResumeCampaign& req, Outbox& out) {
  CampaignRecord* record = table_.Find(req.campaign_id());
  if (record == nullptr) return UnknownCampaign(req.campaign_id());
  const auto state = record->campaign.state();
  if (state == v1::SCHEDULED) return AckReply();  // idempotent
  if (state != v1::PAUSED) {
    return Refuse(v1::FAILED_PRECONDITION, "only a PAUSED campaign can be resumed; " + req.campaign_id() +
                                               " is " + std::string(CampaignStateName(state)));
  }
  const TimeMs now = clock_.NowMs();
  if (record->campaign.window_end_slot() <= grid_.SlotAt(now) + 1) {
    return Refuse(v1::FAILED_PRECONDITION, "the campaign's window is over; create a new campaign");
  }
  const v1::Campaign before = record->campaign;
  record->campaign.set_state(v1::SCHEDULED);
  record->campaign.clear_paused_reason();
  WriteBatch b;
  b.Put(keys::Of(keys::kCampaign, record->campaign.id()), record->campaign.SerializeAsString());
  // Terminals that stood down while paused get their work back.
  std::vector<std::pair<v1::TerminalProgress*, v1::TerminalProgress>> revived;  // (live, before)
  for (auto& [tid, p] : record->progress) {
    if (p.state() != v1::Status::STOOD_DOWN) continue;
    revived.emplace_back(&p, p);
    p.set_state(v1::Status::STATE_UNSPECIFIED);
    p.set_updated_ms(now);
    b.Put(keys::Progress(record->campaign.id(), tid), p.SerializeAsString());
  }
  auto undo = [record, before, revived] {
    for (const auto& [p, old] : revived) *p = old;  // no booking changed
    record->campaign = before;
  };
  if (auto s = journal_.Write(b, std::move(undo)); !s) return Refuse(s.error());
  for (const auto& [tid, p] : record->progress) {
    if (Unfinished(p)) NoticeFor(grid_, *record, tid, out);
  }
  return AckReply();
}

v1::OperatorReply Campaigns::Cancel(const v1::CancelCampaign& req, Outbox& out) {
  CampaignRecord* record = table_.Find(req.campaign_id());
  if (record == nullptr) return UnknownCampaign(req.campaign_id());
  const auto state = record->campaign.state();
  if (state == v1::CANCELLED) return AckReply();  // idempotent
  if (state == v1::DONE) return Refuse(v1::FAILED_PRECONDITION, "campaign " + req.campaign_id() + " is DONE");
  const v1::Campaign before = record->campaign;
  record->campaign.set_state(v1::CANCELLED);
  WriteBatch b;
  b.Put(keys::Of(keys::kCampaign, record->campaign.id()), record->campaign.SerializeAsString());
  std::vector<std::pair<v1::TerminalProgress*, v1::TerminalProgress>> released;  // (live, before)
  for (auto& [tid, p] : record->progress) {
    if (!p.assigned()) continue;
    released.emplace_back(&p, p);
    bookings_.Release(p);
    b.Put(keys::Progress(record->campaign.id(), tid), p.SerializeAsString());
  }
  auto undo = [this, record, before, released] {
    for (auto it = released.rbegin(); it != released.rend(); ++it) bookings_.Undo(*it->first, it->second);
    record->campaign = before;
  };
  if (auto s = journal_.Write(b, std::move(undo)); !s) return Refuse(s.error());
  if (state != v1::DRAFT) {  // a DRAFT sent no notices
    for (const auto& [tid, p] : record->progress) {
      if (Unfinished(p)) ClearNotice(tid, out);
    }
  }
  return AckReply();
}

}  // namespace slotwise::scheduler
