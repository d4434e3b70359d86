// S2 create, S5 schedule (+ S6 notices), pause / resume / cancel, progress.
// S3-S4 (window queries) are in campaign_windows.cpp.
#include "slotwise/scheduler/campaigns.h"

#include <set>
#include <utility>
#include <vector>

#include "keys.h"
#include "replies.h"
#include "slotwise/scheduler/change.h"
#include "slotwise/scheduler/notices.h"
#include "validation.h"

namespace slotwise::scheduler {
namespace {

constexpr Slot kMaxWindowSlots = 1'000'000;

v1::OperatorReply UnknownCampaign(const std::string& id) {
  return Refuse(v1::NOT_FOUND, "unknown campaign '" + id + "'");
}

}  // namespace

std::vector<std::pair<CampaignRecord*, v1::TerminalProgress*>> Campaigns::Overlaps(
    const google::protobuf::RepeatedPtrField<std::string>& ids, const std::string& component,
    std::string_view except) {
  std::vector<std::pair<CampaignRecord*, v1::TerminalProgress*>> found;
  for (auto& [cid, record] : table_.all()) {
    if (cid == except || record.campaign.component() != component || IsFinalCampaign(record.campaign.state())) {
      continue;
    }
    for (const auto& t : ids) {
      auto p = record.progress.find(t);
      if (p != record.progress.end() && !HasOutcome(p->second)) found.emplace_back(&record, &p->second);
    }
  }
  return found;
}

v1::OperatorReply Campaigns::RefuseOverlaps(
    const std::vector<std::pair<CampaignRecord*, v1::TerminalProgress*>>& overlaps, const std::string& component) {
  std::string list;
  for (std::size_t i = 0; i < overlaps.size() && i < 20; ++i) {
    list += (i == 0 ? "" : ", ") + overlaps[i].second->terminal_id() + " (" + overlaps[i].first->campaign.id() + ")";
  }
  if (overlaps.size() > 20) list += " and " + std::to_string(overlaps.size() - 20) + " more";
  return Refuse(v1::FAILED_PRECONDITION,
                std::to_string(overlaps.size()) + " terminals have unfinished work for " +
                    (component.empty() ? std::string("the system image") : "component " + component) +
                    " in another campaign: " + list + "; ask to supersede it (--supersede) or leave them out");
}

v1::OperatorReply Campaigns::Create(const v1::CreateCampaign& req, Outbox& out) {
  if (!IsValidId(req.id())) return Refuse(v1::INVALID_ARGUMENT, "campaign id must be 1-64 of [A-Za-z0-9._-]");
  if (table_.Contains(req.id())) return Refuse(v1::ALREADY_EXISTS, "campaign " + req.id() + " already exists");
  if (!req.component().empty() && !topics::IsValidComponentName(req.component())) {
    return Refuse(v1::INVALID_ARGUMENT, "component must be 1-32 of [a-z0-9._-] (\"\" or \"system\" = the system image)");
  }
  const std::string component(topics::CanonicalComponent(req.component()));
  if (registry_.FindArtifact(component, req.target_version()) == nullptr) {
    return Refuse(v1::NOT_FOUND, "unknown version '" + req.target_version() + "'" +
                                     (component.empty() ? "" : " of component " + component));
  }
  if (req.terminal_ids().empty() && !req.has_filter()) {
    return Refuse(v1::INVALID_ARGUMENT, "a campaign needs at least one terminal or a filter");
  }
  if (req.has_filter()) {
    if (auto s = ValidateFilter(req.filter(), registry_); !s) return Refuse(s.error());
  }
  std::set<std::string_view> seen;
  for (const auto& t : req.terminal_ids()) {
    if (!IsValidId(t)) return Refuse(v1::INVALID_ARGUMENT, "invalid terminal id '" + t + "'");
    if (!seen.insert(t).second) return Refuse(v1::INVALID_ARGUMENT, "terminal " + t + " is listed twice");
  }
  if (req.allowed_from_minute() >= 24 * 60 || req.allowed_to_minute() >= 24 * 60) {
    return Refuse(v1::INVALID_ARGUMENT, "allowed hours must be minutes of the day, 0-1439");
  }
  if (req.allowed_weekdays() > 0x7f) {
    return Refuse(v1::INVALID_ARGUMENT, "allowed_weekdays has bits 0 (Monday) to 6 (Sunday) only");
  }
  const TimeMs now = clock_.NowMs();
  if (req.deadline_ms() < 0 || (req.deadline_ms() != 0 && req.deadline_ms() <= now)) {
    return Refuse(v1::INVALID_ARGUMENT, "the deadline must lie in the future");
  }
  const auto overlaps = Overlaps(req.terminal_ids(), component, req.id());
  if (!overlaps.empty() && !req.supersede()) return RefuseOverlaps(overlaps, component);
  CampaignRecord record;
  v1::Campaign& c = record.campaign;
  c.set_id(req.id());
  c.set_target_version(req.target_version());
  c.set_component(component);
  c.set_allow_downgrade(req.allow_downgrade());
  *c.mutable_terminal_ids() = req.terminal_ids();
  c.set_state(v1::DRAFT);
  c.set_created_ms(now);
  c.set_allowed_from_minute(req.allowed_from_minute());
  c.set_allowed_to_minute(req.allowed_to_minute());
  c.set_allowed_weekdays(req.allowed_weekdays());
  c.set_max_failures(req.max_failures());
  c.set_max_retries(req.max_retries());
  c.set_deadline_ms(req.deadline_ms());
  c.set_supersede(req.supersede());
  if (req.has_filter()) *c.mutable_filter() = req.filter();
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
  record.outcomes[v1::TerminalProgress::OUTCOME_PENDING] = record.progress.size();
  table_.Add(std::move(record));
  CampaignRecord& added = *table_.Find(req.id());
  Change change(bookings_);
  change.Also(b, nullptr);
  change.UndoLast([this, id = req.id()] { table_.Remove(id); });  // after the joins are taken out
  for (auto [older, p] : overlaps) {
    lifecycle_.End(change, *older, *p, v1::TerminalProgress::SUPERSEDED, "superseded by campaign " + req.id());
  }
  // A filter campaign takes in the known terminals that match now (one pass
  // over the registry, at create only); later ones join at their reports.
  if (added.campaign.has_filter()) {
    for (const auto& [tid, info] : registry_.terminals()) Join(change, added, TerminalFacts(registry_, info));
  }
  if (auto s = change.Commit(journal_, out); !s) return Refuse(s.error());
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
  if (record->campaign.deadline_ms() != 0 && grid_.End(req.start_slot()) > record->campaign.deadline_ms()) {
    return Refuse(v1::INVALID_ARGUMENT, "the window's first slot ends after the campaign's deadline");
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
  // S6: only to terminals whose work is not over (a DRAFT's terminals may
  // already have ended: ALREADY_CURRENT, SUPERSEDED).
  for (const auto& [tid, p] : record->progress) {
    if (Unfinished(p)) NoticeFor(grid_, *record, tid, out);
  }
  return AckReply();
}

v1::OperatorReply Campaigns::Get(const v1::GetCampaign& req) const {
  const CampaignRecord* record = table_.Find(req.campaign_id());
  if (record == nullptr) return UnknownCampaign(req.campaign_id());
  v1::OperatorReply r;
  auto* report = r.mutable_campaign();
  *report->mutable_campaign() = record->campaign;
  report->set_slot_ms(grid_.slot_ms());
  report->set_terminals_omitted(req.omit_terminals());
  ForEachMember(*record, [&](const v1::TerminalProgress& p) {
    if (!req.omit_terminals()) *report->add_terminals() = p;
    auto bump = [](std::uint32_t n) { return n + 1; };
    using P = v1::TerminalProgress;
    switch (p.outcome()) {
      case P::SUCCEEDED: report->set_succeeded(bump(report->succeeded())); break;
      case P::FAILED: report->set_failed(bump(report->failed())); break;
      case P::ALREADY_CURRENT: report->set_already_current(bump(report->already_current())); break;
      case P::EXPIRED: report->set_expired(bump(report->expired())); break;
      case P::SUPERSEDED: report->set_superseded(bump(report->superseded())); break;
      case P::CANCELLED: report->set_cancelled(bump(report->cancelled())); break;
      case P::REMOVED: report->set_removed(bump(report->removed())); break;
      case P::TIMED_OUT: report->set_timed_out(bump(report->timed_out())); break;
      default: break;
    }
    if (HasOutcome(p)) return;
    report->set_outcome_pending(bump(report->outcome_pending()));
    if (p.assigned()) {
      report->set_assigned(bump(report->assigned()));
    } else {
      report->set_pending(bump(report->pending()));
    }
  });
  return r;
}

v1::OperatorReply Campaigns::List() const {
  v1::OperatorReply r;
  r.mutable_campaigns();  // an empty list is a list, not a reply without a body
  for (const auto& [id, record] : table_.all()) {
    v1::Campaign summary = record.campaign;
    summary.clear_terminal_ids();  // Get has them; a listing stays small
    *r.mutable_campaigns()->add_campaigns() = std::move(summary);
  }
  return r;
}

v1::OperatorReply Campaigns::Pause(const v1::PauseCampaign& req, Outbox& out) {
  CampaignRecord* record = table_.Find(req.campaign_id());
  if (record == nullptr) return UnknownCampaign(req.campaign_id());
  const auto state = record->campaign.state();
  if (state == v1::PAUSED) return AckReply();  // idempotent
  if (state != v1::SCHEDULED) {
    return Refuse(v1::FAILED_PRECONDITION, "only a SCHEDULED campaign can be paused; " + req.campaign_id() +
                                               " is " + std::string(CampaignStateName(state)));
  }
  Change change(bookings_);
  lifecycle_.Pause(change, *record, "paused by the operator");
  if (auto s = change.Commit(journal_, out); !s) return Refuse(s.error());
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
  // The window is a plan, not a wall: terminals are placed after it too (up
  // to the deadline), so a resume after the window is fine.
  const TimeMs now = clock_.NowMs();
  Change change(bookings_);
  v1::Campaign& c = change.Campaign(*record);
  c.set_state(v1::SCHEDULED);
  c.clear_paused_reason();
  // Terminals that stood down while paused get their work back.
  for (auto& [tid, p] : record->progress) {
    if (p.state() != v1::Status::STOOD_DOWN || HasOutcome(p)) continue;
    change.Progress(*record, p);
    p.set_state(v1::Status::STATE_UNSPECIFIED);
    p.set_updated_ms(now);
  }
  for (const auto& [tid, p] : record->progress) {
    if (!Unfinished(p)) continue;
    Outbox notice;
    NoticeFor(grid_, *record, tid, notice);
    for (auto& n : notice) change.Publish(std::move(n));
  }
  if (auto s = change.Commit(journal_, out); !s) return Refuse(s.error());  // DONE if nothing is left
  return AckReply();
}

v1::OperatorReply Campaigns::Cancel(const v1::CancelCampaign& req, Outbox& out) {
  CampaignRecord* record = table_.Find(req.campaign_id());
  if (record == nullptr) return UnknownCampaign(req.campaign_id());
  const auto state = record->campaign.state();
  if (state == v1::CANCELLED) return AckReply();  // idempotent
  if (state == v1::DONE) return Refuse(v1::FAILED_PRECONDITION, "campaign " + req.campaign_id() + " is DONE");
  Change change(bookings_);
  change.Campaign(*record).set_state(v1::CANCELLED);
  // Only this campaign's work ends: another campaign's notices and bookings
  // (other components) are not touched.
  for (auto& [tid, p] : record->progress) {
    lifecycle_.End(change, *record, p, v1::TerminalProgress::CANCELLED, "the campaign was cancelled");
  }
  if (auto s = change.Commit(journal_, out); !s) return Refuse(s.error());
  return AckReply();
}

}  // namespace slotwise::scheduler
