// SchedulerService: the facade. Dispatches each request to the collaborator
// that owns its step (service.h has the map), loads the state, and frames
// group commits. No scheduling rule lives here.
#include "slotwise/scheduler/service.h"

#include <set>

#include "keys.h"
#include "console_views.h"
#include "operator_views.h"
#include "replies.h"
#include "slotwise/scheduler/artifact_choice.h"
#include "slotwise/log.h"
#include "slotwise/scheduler/notices.h"
#include "slotwise/v1/store.pb.h"
#include "validation.h"

#include <algorithm>

namespace slotwise::scheduler {
namespace {

constexpr std::uint32_t kStoreFormat = 1;

}  // namespace

SchedulerService::SchedulerService(Store& store, const Clock& clock, ServiceOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      grid_(options_.slot_ms),
      journal_(store_),
      registry_(journal_, grid_, clock_, options_),
      bookings_(registry_, table_, journal_, grid_, clock_, options_),
      lifecycle_(table_, bookings_, journal_, grid_, clock_, options_),
      campaigns_(table_, bookings_, lifecycle_, registry_, journal_, grid_, clock_, options_),
      urls_(grid_, options_),
      terminals_(table_, bookings_, campaigns_, lifecycle_, registry_, journal_, urls_, grid_, clock_) {}

Status SchedulerService::Load() {
  auto meta_bytes = store_.Get(keys::kMeta);
  if (!meta_bytes) return meta_bytes.error();
  if (meta_bytes->has_value()) {
    v1::StoreMeta meta;
    if (!ParseInto(**meta_bytes, meta)) return MakeError(v1::INTERNAL, "store meta record is corrupt");
    if (meta.slot_ms() != options_.slot_ms) {
      return MakeError(v1::FAILED_PRECONDITION,
                       "the store was written with slot length " + std::to_string(meta.slot_ms()) +
                           " ms, not " + std::to_string(options_.slot_ms) +
                           " ms; bookings would move. Use the same --slot-seconds or a new --db");
    }
  } else {
    v1::StoreMeta meta;
    meta.set_slot_ms(options_.slot_ms);
    meta.set_format(kStoreFormat);
    WriteBatch b;
    b.Put(std::string(keys::kMeta), meta.SerializeAsString());
    if (auto s = journal_.Write(b); !s) return s;
  }
  if (auto s = registry_.Load(store_); !s) return s;
  if (auto s = table_.Load(store_); !s) return s;
  audit_.clear();
  bool corrupt_audit = false;
  if (auto s = store_.Scan(keys::kAudit, [&](std::string_view, std::string_view value) {
        v1::AuditEntry e;
        if (!ParseInto(value, e)) {
          corrupt_audit = true;
          return;
        }
        audit_.push_back(std::move(e));
      });
      !s) {
    return s;
  }
  if (corrupt_audit) return MakeError(v1::INTERNAL, "an audit record in the store could not be parsed");
  bookings_.Rebuild();
  lifecycle_.Rebuild();
  return OkStatus();
}

v1::OperatorReply SchedulerService::HandleOperator(const v1::OperatorRequest& request, Outbox& out) {
  using R = v1::OperatorRequest;
  switch (request.command_case()) {
    case R::kAddCluster: return registry_.AddCluster(request.add_cluster());
    case R::kListClusters: return registry_.ListClusters();
    case R::kAddNode: return registry_.AddNode(request.add_node());
    case R::kSetNodeState: return registry_.SetNodeState(request.set_node_state());
    case R::kListNodes: return registry_.ListNodes();
    case R::kAddArtifact: return registry_.AddArtifact(request.add_artifact());
    case R::kListArtifacts: return registry_.ListArtifacts();
    case R::kCreateCampaign: return campaigns_.Create(request.create_campaign(), out);
    case R::kQueryWindows: return campaigns_.QueryWindows(request.query_windows());
    case R::kScheduleCampaign: return campaigns_.Schedule(request.schedule_campaign(), out);
    case R::kGetCampaign: return campaigns_.Get(request.get_campaign());
    case R::kListCampaignTerminals: {
      const auto& req = request.list_campaign_terminals();
      // Filtered by outcome only (the console's failures): the total is the
      // summary's counts (cached), not a second pass over the campaign.
      const bool by_outcome = !req.outcomes().empty() && req.node_id().empty() && req.cluster_id().empty() &&
                              req.state() == v1::Status::STATE_UNSPECIFIED;
      auto reply = views::ListCampaignTerminals(table_, registry_, req, !by_outcome);
      if (by_outcome && !reply.has_error()) {
        v1::GetCampaignSummary s;
        s.set_campaign_id(req.campaign_id());
        const auto summary = CachedSummary(s);
        std::uint32_t total = 0;
        std::set<int> seen;
        for (int o : req.outcomes()) {
          if (!seen.insert(o).second) continue;
          auto it = summary.summary().outcomes().find(
              v1::TerminalProgress::Outcome_Name(static_cast<v1::TerminalProgress::Outcome>(o)));
          if (it != summary.summary().outcomes().end()) total += it->second;
        }
        reply.mutable_campaign_terminals()->set_total(total);
      }
      return reply;
    }
    case R::kGetCampaignSummary: return CachedSummary(request.get_campaign_summary());
    case R::kListAudit: return views::ListAudit(audit_, request.list_audit());
    case R::kGetCapacity:
      return views::Capacity(registry_, bookings_.ledger(), grid_, clock_.NowMs(), request.get_capacity());
    case R::kQueryWindowLoad: return campaigns_.WindowLoad(request.query_window_load());
    case R::kGetCampaignDownloads: {
      // O(terminals) to compute; cached until the next write, as the summary.
      const std::string& id = request.get_campaign_downloads().campaign_id();
      const std::string key = id + "\n" + request.get_campaign_downloads().SerializeAsString();
      auto cached = downloads_.find(key);
      if (cached != downloads_.end() && cached->second.first == journal_.generation()) return cached->second.second;
      auto reply = views::Downloads(table_, grid_, request.get_campaign_downloads());
      if (!reply.has_error()) {
        if (downloads_.size() > 64) downloads_.clear();
        downloads_[key] = {journal_.generation(), reply};
      }
      return reply;
    }
    case R::kPauseCampaign: return campaigns_.Pause(request.pause_campaign(), out);
    case R::kResumeCampaign: return campaigns_.Resume(request.resume_campaign(), out);
    case R::kCancelCampaign: return campaigns_.Cancel(request.cancel_campaign(), out);
    case R::kListCampaigns:
      if (request.list_campaigns().page_size() == 0 && request.list_campaigns().page_token().empty() &&
          request.list_campaigns().state() == v1::CAMPAIGN_STATE_UNSPECIFIED) {
        return campaigns_.List();
      }
      return views::ListCampaignsPage(table_, request.list_campaigns());
    case R::kListTerminals:
      if (request.list_terminals().ByteSizeLong() == 0) return registry_.ListTerminals();
      return views::ListTerminalsPage(registry_, request.list_terminals());
    case R::kAddTerminals: return campaigns_.AddTerminals(request.add_terminals(), out);
    case R::kRemoveTerminals: return campaigns_.RemoveTerminals(request.remove_terminals(), out);
    case R::COMMAND_NOT_SET: break;
  }
  return Refuse(v1::INVALID_ARGUMENT, "request names no command this scheduler knows");
}

v1::OperatorReply SchedulerService::CachedSummary(const v1::GetCampaignSummary& req) {
  // O(terminals) to compute; cached until the next write of any kind.
  const std::string& id = req.campaign_id();
  auto cached = summaries_.find(id);
  if (cached != summaries_.end() && cached->second.first == journal_.generation()) return cached->second.second;
  auto reply = views::Summary(table_, registry_, grid_.slot_ms(), req);
  if (!reply.has_error()) summaries_[id] = {journal_.generation(), reply};
  return reply;
}

namespace {

// The command compactly for the audit trail: text format, at most 400
// characters (a long terminal list is cut, with its count).
std::string Compact(const v1::OperatorRequest& request) {
  std::string text = request.ShortDebugString();
  constexpr std::size_t kMax = 400;
  if (text.size() > kMax) text = text.substr(0, kMax) + "... (" + std::to_string(text.size()) + " characters)";
  return text;
}

}  // namespace

v1::OperatorReply SchedulerService::HandleOperatorAs(const Caller& caller, const v1::OperatorRequest& request,
                                                     Outbox& out) {
  const Role needed = RequiredRole(request);
  const bool allowed = caller.role >= needed;
  v1::OperatorReply reply;
  if (!allowed) {
    reply = Refuse(v1::PERMISSION_DENIED, "user '" + caller.who + "' has role " + std::string(RoleName(caller.role)) +
                                              "; " + CommandName(request) + " needs " + std::string(RoleName(needed)));
  } else {
    reply = HandleOperator(request, out);
  }
  if (allowed && !ChangesState(request)) return reply;
  v1::AuditEntry e;
  e.set_seq(audit_.empty() ? 1 : audit_.back().seq() + 1);
  e.set_time_ms(clock_.NowMs());
  e.set_who(caller.who);
  e.set_channel(caller.channel);
  e.set_role(std::string(RoleName(caller.role)));
  e.set_command(CommandName(request));
  e.set_request(Compact(request));
  if (reply.has_error()) {
    e.set_code(reply.error().code());
    e.set_message(reply.error().message());
  }
  char key[32];
  std::snprintf(key, sizeof key, "%020llu", static_cast<unsigned long long>(e.seq()));
  WriteBatch b;
  b.Put(keys::Of(keys::kAudit, key), e.SerializeAsString());
  audit_.push_back(std::move(e));
  // Staged with the change inside a group commit; undone with it.
  (void)journal_.Write(b, [this] { audit_.pop_back(); });
  return reply;
}

v1::TerminalReply SchedulerService::HandleReport(std::string_view terminal_id, const v1::Report& report,
                                                 Outbox& out) {
  return terminals_.Report(terminal_id, report, out);
}

v1::TerminalReply SchedulerService::HandleCheck(std::string_view terminal_id, const v1::Check& check, Outbox& out) {
  return terminals_.Check(terminal_id, check, out);
}

v1::TerminalReply SchedulerService::HandleReport(std::string_view terminal_id, const v1::Report& report) {
  Outbox dropped;
  return HandleReport(terminal_id, report, dropped);
}

v1::TerminalReply SchedulerService::HandleCheck(std::string_view terminal_id, const v1::Check& check) {
  Outbox dropped;
  return HandleCheck(terminal_id, check, dropped);
}

v1::TerminalReply SchedulerService::HandleStatus(std::string_view terminal_id, const v1::Status& status,
                                                 Outbox& out) {
  return terminals_.Status(terminal_id, status, out);
}

void SchedulerService::HandlePresence(std::string_view terminal_id, const v1::Presence& presence) {
  terminals_.Presence(terminal_id, presence);
}

std::size_t SchedulerService::Tick(Outbox& out) {
  registry_.RebuildTopology();  // the near slots move with time
  return bookings_.ReleaseDue() + lifecycle_.Tick(out);
}

std::map<std::string, std::string> SchedulerService::StatusUrls() const { return registry_.StatusUrls(); }

std::size_t SchedulerService::ObserveNodeLoad(const std::string& node_id,
                                              std::optional<std::uint32_t> active_connections,
                                              std::string_view failure) {
  using Health = Registry::HealthChange;
  const Health change = registry_.ObserveLoad(node_id, active_connections, failure, bookings_.ledger());
  if (change == Health::kNone) return 0;
  if (change == Health::kBecameHealthy) {
    log::Info("scheduler") << "node " << node_id << " is HEALTHY again: " << registry_.HealthDetail(node_id);
    return 0;
  }
  const std::size_t moved = bookings_.MoveOff(node_id);
  log::Warn("scheduler") << "node " << node_id << " is UNREACHABLE: " << registry_.HealthDetail(node_id)
                         << "; out of capacity until it answers, " << moved << " bookings moved off it";
  return moved;
}

void SchedulerService::BeginBatch() { journal_.Begin(); }

Status SchedulerService::CommitBatch() { return journal_.Commit(); }

void SchedulerService::PendingNotices(Outbox& out) const { scheduler::PendingNotices(grid_, table_, out); }

void SchedulerService::TerminalNotices(std::string_view terminal_id, bool with_clears, Outbox& out) const {
  scheduler::TerminalNotices(grid_, table_, terminal_id, with_clears, out);
}

std::uint64_t SchedulerService::BytesFor(std::string_view terminal_id, std::string_view campaign_id) const {
  const CampaignRecord* record = table_.Find(campaign_id);
  if (record == nullptr) return 0;
  const auto progress = record->progress.find(terminal_id);
  if (progress == record->progress.end()) return 0;
  return scheduler::BytesFor(registry_, record->campaign, progress->second);
}

ServiceGauges SchedulerService::Gauges(std::size_t recent_final, std::size_t max_open) const {
  ServiceGauges g;
  g.now_ms = clock_.NowMs();
  g.current_slot = grid_.SlotAt(g.now_ms);
  const Topology& topology = registry_.topology();
  std::map<std::string_view, const NodeCapacity*> capacity;
  for (const auto& c : topology.clusters()) {
    for (const auto& n : c.nodes) capacity[n.id] = &n;
  }
  const CapacityLedger& ledger = bookings_.ledger();
  const std::int64_t bucket_ms = std::max<std::int64_t>(1, grid_.slot_ms() / kBucketsPerSlot);
  auto fill = [&](const v1::Node& node, Slot slot, NodeSlotGauges& out) {
    out.booked = ledger.Booked(node.id(), slot);
    const auto cap = capacity.find(node.id());
    out.capacity = cap == capacity.end() ? 0 : topology.Capacity(*cap->second, slot);
    const std::int64_t first = grid_.Start(slot) / bucket_ms;
    const std::int64_t end = grid_.End(slot) / bucket_ms;
    out.reserved_bps = ledger.PeakRate(node.id(), first, end);
    out.reserved_connections = ledger.PeakConnections(node.id(), first, end);
  };
  for (const auto& [id, node] : registry_.nodes()) {
    NodeGauges n;
    n.id = id;
    n.cluster = node.cluster_id();
    n.state = node.state();
    n.per_slot = node.per_slot();
    n.bandwidth_bps = node.bandwidth_bps();
    n.max_connections = node.max_connections();
    if (const LiveLoad* live = registry_.LiveOf(id)) {
      n.polled = true;
      n.reachable = live->reachable;
      n.active_connections = live->active;
    }
    fill(node, g.current_slot, n.current);
    fill(node, g.current_slot + 1, n.next);
    g.nodes.push_back(std::move(n));
  }
  std::vector<const CampaignRecord*> open;
  std::vector<const CampaignRecord*> final;
  for (const auto& [id, record] : table_.all()) {
    const auto state = record.campaign.state();
    if (state >= 0 && state < v1::CampaignState_ARRAYSIZE) ++g.campaigns_by_state[static_cast<std::size_t>(state)];
    (IsFinalCampaign(state) ? final : open).push_back(&record);
  }
  auto newest_first = [](const CampaignRecord* a, const CampaignRecord* b) {
    if (a->campaign.created_ms() != b->campaign.created_ms()) return a->campaign.created_ms() > b->campaign.created_ms();
    return a->campaign.id() < b->campaign.id();
  };
  auto take = [&](std::vector<const CampaignRecord*>& from, std::size_t most) {
    const std::size_t n = std::min(most, from.size());
    std::partial_sort(from.begin(), from.begin() + static_cast<std::ptrdiff_t>(n), from.end(), newest_first);
    for (std::size_t i = 0; i < n; ++i) {
      CampaignGauges c;
      c.id = from[i]->campaign.id();
      c.state = from[i]->campaign.state();
      c.outcomes = from[i]->outcomes;
      g.campaigns.push_back(std::move(c));
    }
  };
  take(open, max_open);
  take(final, recent_final);
  g.terminals_known = registry_.terminals().size();
  g.terminals_online = registry_.online_terminals();
  g.audit_entries = audit_.size();
  return g;
}

}  // namespace slotwise::scheduler
