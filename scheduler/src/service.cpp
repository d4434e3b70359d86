#include "slotwise/scheduler/service.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "keys.h"
#include "slotwise/scheduler/windows.h"
#include "slotwise/topics.h"
#include "slotwise/v1/store.pb.h"

namespace slotwise::scheduler {
namespace {

// A progress record as it is written once its booking is released: what
// ReleaseBooking then makes of the in-memory one, once the write succeeded.
v1::TerminalProgress WithoutBooking(v1::TerminalProgress p, TimeMs now) {
  p.set_assigned(false);
  p.clear_node_id();
  p.clear_slot();
  p.clear_start_at_ms();
  p.set_checked_in(false);
  p.set_updated_ms(now);
  return p;
}

constexpr std::uint32_t kStoreFormat = 1;
constexpr std::uint32_t kMaxPerSlot = 1'000'000;
constexpr Slot kMaxWindowSlots = 1'000'000;

v1::OperatorReply Refuse(ErrorCode code, std::string message) {
  v1::OperatorReply r;
  *r.mutable_error() = MakeError(code, std::move(message)).ToProto();
  return r;
}

v1::OperatorReply Refuse(const Error& e) { return Refuse(e.code, e.message); }

v1::TerminalReply RefuseTerminal(const Error& e) {
  v1::TerminalReply r;
  *r.mutable_error() = e.ToProto();
  return r;
}

v1::OperatorReply AckReply() {
  v1::OperatorReply r;
  r.mutable_ack();
  return r;
}

v1::TerminalReply AckTerminal() {
  v1::TerminalReply r;
  r.mutable_ack();
  return r;
}

bool IsValidId(std::string_view id) { return topics::IsValidTerminalId(id); }

bool IsValidVersion(std::string_view v) {
  if (v.empty() || v.size() > 64) return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
           c == '+';
  });
}

bool IsSha256Hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool IsFinal(v1::Status::State s) {
  return s == v1::Status::SUCCEEDED || s == v1::Status::FAILED || s == v1::Status::STOOD_DOWN;
}

bool IsValidLocation(const v1::Location& l) {
  return l.lat() >= -90 && l.lat() <= 90 && l.lon() >= -180 && l.lon() <= 180;
}

template <class Msg>
bool ParseInto(std::string_view bytes, Msg& msg) {
  return msg.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

std::string_view CampaignStateName(v1::CampaignState s) {
  return v1::CampaignState_Name(s);
}

// nginx secure_link's token: base64url(md5(text)) without padding.
std::string SecureLinkToken(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_md5(), nullptr);
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned int i = 0; i < len; ++i) {
    acc = (acc << 8) | digest[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3f];
  return out;
}

// The path part of an http(s) URL ("" for none).
std::string UrlPath(const std::string& url) {
  const auto scheme = url.find("://");
  const auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return slash == std::string::npos ? std::string() : url.substr(slash);
}

bool Unfinished(const v1::TerminalProgress& p) { return !IsFinal(p.state()); }

// The outcomes that count towards a campaign being DONE (STOOD_DOWN does not).
bool IsDone(v1::Status::State s) { return s == v1::Status::SUCCEEDED || s == v1::Status::FAILED; }

}  // namespace

SchedulerService::SchedulerService(Store& store, const Clock& clock, ServiceOptions options)
    : store_(store), clock_(clock), options_(options), grid_(options.slot_ms) {}

Status SchedulerService::Persist(const WriteBatch& batch) {
  if (batch.empty()) return OkStatus();
  if (staging_) {
    staged_.Append(batch);
    return OkStatus();
  }
  return store_.Write(batch);
}

void SchedulerService::BeginBatch() { staging_ = true; }

Status SchedulerService::CommitBatch() {
  staging_ = false;
  if (staged_.empty()) return OkStatus();
  WriteBatch batch;
  std::swap(batch, staged_);
  auto s = store_.Write(batch);
  if (!s) {
    // Memory ran ahead of the store: go back to what is durable.
    ClearState();
    if (auto l = Load(); !l) return l;
  }
  return s;
}

void SchedulerService::ClearState() {
  clusters_.clear();
  nodes_.clear();
  artifacts_.clear();
  campaigns_.clear();
  terminals_.clear();
  booking_checks_.clear();
  offline_checks_.clear();
  topology_ = Topology();
  ledger_ = CapacityLedger();
}

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
    if (auto s = Persist(b); !s) return s;
  }

  bool corrupt = false;
  auto load = [&](std::string_view prefix, auto& into) {
    return store_.Scan(prefix, [&](std::string_view key, std::string_view value) {
      typename std::remove_reference_t<decltype(into)>::mapped_type msg;
      if (!ParseInto(value, msg)) {
        corrupt = true;
        return;
      }
      into.emplace(std::string(key.substr(prefix.size())), std::move(msg));
    });
  };
  std::map<std::string, v1::Campaign> campaigns;
  for (auto s : {load(keys::kCluster, clusters_), load(keys::kNode, nodes_),
                 load(keys::kArtifact, artifacts_), load(keys::kCampaign, campaigns),
                 load(keys::kTerminal, terminals_)}) {
    if (!s) return s;
  }
  for (auto& [id, c] : campaigns) campaigns_[id].campaign = std::move(c);
  for (auto& [id, record] : campaigns_) {
    auto ps = store_.Scan(keys::Progress(id, ""), [&](std::string_view, std::string_view value) {
      v1::TerminalProgress p;
      if (!ParseInto(value, p)) {
        corrupt = true;
        return;
      }
      if (p.assigned()) ledger_.Restore(p.node_id(), p.slot(), SpreadIndex(p));
      if (!IsDone(p.state())) ++record.not_done;
      record.progress.emplace(p.terminal_id(), std::move(p));
    });
    if (!ps) return ps;
  }
  if (corrupt) return MakeError(v1::INTERNAL, "a record in the store could not be parsed");
  for (const auto& [cid, record] : campaigns_) {
    for (const auto& [tid, p] : record.progress) WatchBooking(cid, p);
  }
  for (const auto& [tid, info] : terminals_) WatchOffline(info);
  RebuildTopology();
  return OkStatus();
}

// ---- operators ---------------------------------------------------------------

v1::OperatorReply SchedulerService::HandleOperator(const v1::OperatorRequest& request,
                                                   Outbox& out) {
  using R = v1::OperatorRequest;
  switch (request.command_case()) {
    case R::kAddCluster: return AddCluster(request.add_cluster());
    case R::kListClusters: return ListClusters();
    case R::kAddNode: return AddNode(request.add_node());
    case R::kSetNodeState: return SetNodeState(request.set_node_state());
    case R::kListNodes: return ListNodes();
    case R::kAddArtifact: return AddArtifact(request.add_artifact());
    case R::kListArtifacts: return ListArtifacts();
    case R::kCreateCampaign: return CreateCampaign(request.create_campaign());
    case R::kQueryWindows: return QueryWindows(request.query_windows());
    case R::kScheduleCampaign: return ScheduleCampaign(request.schedule_campaign(), out);
    case R::kGetCampaign: return GetCampaign(request.get_campaign());
    case R::kPauseCampaign: return PauseCampaign(request.pause_campaign());
    case R::kResumeCampaign: return ResumeCampaign(request.resume_campaign(), out);
    case R::kCancelCampaign: return CancelCampaign(request.cancel_campaign(), out);
    case R::kListCampaigns: return ListCampaigns();
    case R::kListTerminals: return ListTerminals();
    case R::COMMAND_NOT_SET: break;
  }
  return Refuse(v1::INVALID_ARGUMENT, "request names no command this scheduler knows");
}

v1::OperatorReply SchedulerService::AddCluster(const v1::AddCluster& req) {
  const auto& c = req.cluster();
  if (!IsValidId(c.id())) return Refuse(v1::INVALID_ARGUMENT, "cluster id must be 1-64 of [A-Za-z0-9._-]");
  if (!c.has_location() || !IsValidLocation(c.location())) {
    return Refuse(v1::INVALID_ARGUMENT, "cluster location must have lat in [-90,90] and lon in [-180,180]");
  }
  if (clusters_.contains(c.id())) return Refuse(v1::ALREADY_EXISTS, "cluster " + c.id() + " already exists");
  WriteBatch b;
  b.Put(keys::Of(keys::kCluster, c.id()), c.SerializeAsString());
  if (auto s = Persist(b); !s) return Refuse(s.error());
  clusters_[c.id()] = c;
  RebuildTopology();
  return AckReply();
}

v1::OperatorReply SchedulerService::AddNode(const v1::AddNode& req) {
  v1::Node n = req.node();
  if (!IsValidId(n.id())) return Refuse(v1::INVALID_ARGUMENT, "node id must be 1-64 of [A-Za-z0-9._-]");
  if (!clusters_.contains(n.cluster_id())) {
    return Refuse(v1::NOT_FOUND, "unknown cluster '" + n.cluster_id() + "'");
  }
  if (!n.base_url().starts_with("http://") && !n.base_url().starts_with("https://")) {
    return Refuse(v1::INVALID_ARGUMENT, "node url must begin with http:// or https://");
  }
  if (n.per_slot() == 0 || n.per_slot() > kMaxPerSlot) {
    return Refuse(v1::INVALID_ARGUMENT, "per_slot must be between 1 and " + std::to_string(kMaxPerSlot));
  }
  if (!n.status_url().empty() && !n.status_url().starts_with("http://") &&
      !n.status_url().starts_with("https://")) {
    return Refuse(v1::INVALID_ARGUMENT, "node status url must begin with http:// or https://");
  }
  if (nodes_.contains(n.id())) return Refuse(v1::ALREADY_EXISTS, "node " + n.id() + " already exists");
  while (n.base_url().ends_with('/')) n.mutable_base_url()->pop_back();
  if (n.state() == v1::NODE_STATE_UNSPECIFIED) n.set_state(v1::ACTIVE);
  WriteBatch b;
  b.Put(keys::Of(keys::kNode, n.id()), n.SerializeAsString());
  if (auto s = Persist(b); !s) return Refuse(s.error());
  nodes_[n.id()] = n;
  RebuildTopology();
  return AckReply();
}

v1::OperatorReply SchedulerService::SetNodeState(const v1::SetNodeState& req) {
  auto it = nodes_.find(req.node_id());
  if (it == nodes_.end()) return Refuse(v1::NOT_FOUND, "unknown node '" + req.node_id() + "'");
  if (req.state() == v1::NODE_STATE_UNSPECIFIED || !v1::NodeState_IsValid(req.state())) {
    return Refuse(v1::INVALID_ARGUMENT, "state must be ACTIVE, DRAINING or DOWN");
  }
  v1::Node n = it->second;
  n.set_state(req.state());
  WriteBatch b;
  b.Put(keys::Of(keys::kNode, n.id()), n.SerializeAsString());
  if (auto s = Persist(b); !s) return Refuse(s.error());
  it->second = n;
  RebuildTopology();
  return AckReply();
}

v1::OperatorReply SchedulerService::AddArtifact(const v1::AddArtifact& req) {
  const auto& a = req.artifact();
  if (!IsValidVersion(a.version())) {
    return Refuse(v1::INVALID_ARGUMENT, "version must be 1-64 of [A-Za-z0-9._+-]");
  }
  if (!a.path().starts_with('/') || a.path().find_first_of(" \t\r\n?#") != std::string::npos) {
    return Refuse(v1::INVALID_ARGUMENT, "artifact path must be a URL path beginning with '/'");
  }
  if (!IsSha256Hex(a.sha256())) return Refuse(v1::INVALID_ARGUMENT, "sha256 must be 64 lowercase hex digits");
  if (a.size() == 0) return Refuse(v1::INVALID_ARGUMENT, "artifact size must be positive");
  if (artifacts_.contains(a.version())) {
    return Refuse(v1::ALREADY_EXISTS, "version " + a.version() + " already exists");
  }
  WriteBatch b;
  b.Put(keys::Of(keys::kArtifact, a.version()), a.SerializeAsString());
  if (auto s = Persist(b); !s) return Refuse(s.error());
  artifacts_[a.version()] = a;
  return AckReply();
}

v1::OperatorReply SchedulerService::CreateCampaign(const v1::CreateCampaign& req) {
  if (!IsValidId(req.id())) return Refuse(v1::INVALID_ARGUMENT, "campaign id must be 1-64 of [A-Za-z0-9._-]");
  if (campaigns_.contains(req.id())) return Refuse(v1::ALREADY_EXISTS, "campaign " + req.id() + " already exists");
  if (!artifacts_.contains(req.target_version())) {
    return Refuse(v1::NOT_FOUND, "unknown version '" + req.target_version() + "'");
  }
  if (req.terminal_ids().empty()) return Refuse(v1::INVALID_ARGUMENT, "a campaign needs at least one terminal");
  std::set<std::string_view> seen;
  for (const auto& t : req.terminal_ids()) {
    if (!IsValidId(t)) return Refuse(v1::INVALID_ARGUMENT, "invalid terminal id '" + t + "'");
    if (!seen.insert(t).second) return Refuse(v1::INVALID_ARGUMENT, "terminal " + t + " is listed twice");
  }
  CampaignRecord record;
  record.campaign.set_id(req.id());
  record.campaign.set_target_version(req.target_version());
  record.campaign.set_allow_downgrade(req.allow_downgrade());
  *record.campaign.mutable_terminal_ids() = req.terminal_ids();
  record.campaign.set_state(v1::DRAFT);
  record.campaign.set_created_ms(clock_.NowMs());
  if (req.allowed_from_minute() >= 24 * 60 || req.allowed_to_minute() >= 24 * 60) {
    return Refuse(v1::INVALID_ARGUMENT, "allowed hours must be minutes of the day, 0-1439");
  }
  record.campaign.set_allowed_from_minute(req.allowed_from_minute());
  record.campaign.set_allowed_to_minute(req.allowed_to_minute());
  record.campaign.set_max_failures(req.max_failures());
  record.campaign.set_max_retries(req.max_retries());
  WriteBatch b;
  b.Put(keys::Of(keys::kCampaign, req.id()), record.campaign.SerializeAsString());
  for (const auto& t : req.terminal_ids()) {
    v1::TerminalProgress p;
    p.set_terminal_id(t);
    p.set_updated_ms(record.campaign.created_ms());
    b.Put(keys::Progress(req.id(), t), p.SerializeAsString());
    record.progress.emplace(t, std::move(p));
  }
  record.not_done = record.progress.size();
  if (auto s = Persist(b); !s) return Refuse(s.error());
  campaigns_.emplace(req.id(), std::move(record));
  return AckReply();
}

v1::OperatorReply SchedulerService::QueryWindows(const v1::QueryWindows& req) {
  auto it = campaigns_.find(req.campaign_id());
  if (it == campaigns_.end()) return Refuse(v1::NOT_FOUND, "unknown campaign '" + req.campaign_id() + "'");
  if (topology_.CapacityPerSlot() == 0) {
    return Refuse(v1::FAILED_PRECONDITION, "no active node: register nodes first");
  }
  const TimeMs now = clock_.NowMs();
  const TimeMs not_before = std::max(now, req.not_before_ms());
  WindowRequest wr;
  wr.earliest_start = std::max(grid_.SlotAt(not_before), grid_.SlotAt(now) + options_.lead_slots);
  wr.max_fallback_km = options_.max_fallback_km;
  wr.allowed_from_minute = it->second.campaign.allowed_from_minute();
  wr.allowed_to_minute = it->second.campaign.allowed_to_minute();
  wr.slot_ms = grid_.slot_ms();
  if (req.deadline_ms() != 0) {
    if (req.deadline_ms() <= now) return Refuse(v1::INVALID_ARGUMENT, "the deadline is in the past");
    const Slot last_end = grid_.SlotAt(req.deadline_ms());  // slots that end by the deadline
    if (last_end <= wr.earliest_start) {
      return Refuse(v1::NO_CAPACITY, "no whole slot between the earliest start and the deadline");
    }
    wr.horizon = last_end - wr.earliest_start;
    wr.spread_to_horizon = true;
  }
  for (const auto& t : it->second.campaign.terminal_ids()) {
    auto info = terminals_.find(t);
    if (info != terminals_.end() && info->second.has_location()) {
      wr.terminals.push_back(LatLon{info->second.location().lat(), info->second.location().lon()});
    } else {
      wr.terminals.push_back(std::nullopt);
    }
    wr.utc_offset_minutes.push_back(info != terminals_.end() ? info->second.utc_offset_minutes() : 0);
  }
  const WindowPlan plan = PlanWindows(topology_, ledger_, wr);
  v1::OperatorReply r;
  auto* list = r.mutable_windows();
  list->set_terminals(static_cast<std::uint32_t>(wr.terminals.size()));
  list->set_capacity_per_slot(topology_.CapacityPerSlot());
  list->set_lower_bound_slots(plan.lower_bound_slots);
  list->set_slot_ms(grid_.slot_ms());
  for (std::size_t i = 0; i < plan.demand.size(); ++i) {
    auto* d = list->add_demand();
    d->set_cluster_id(topology_.clusters()[i].id);
    d->set_terminals(plan.demand[i]);
    d->set_capacity_per_slot(topology_.clusters()[i].per_slot);
  }
  for (const auto& c : plan.candidates) {
    auto* w = list->add_windows();
    w->set_label(c.label);
    w->set_start_slot(c.start);
    w->set_end_slot(c.end);
    w->set_start_ms(grid_.Start(c.start));
    w->set_end_ms(grid_.Start(c.end));
    w->set_expected_completion_ms(grid_.End(c.completion));
    w->set_slots_used(c.slots_used);
    w->set_peak_utilisation(c.peak_utilisation);
    w->set_max_utilisation(c.max_utilisation);
    w->set_core_end_slot(c.core_end);
    for (std::size_t i = 0; i < c.cluster_peaks.size(); ++i) {
      auto* peak = w->add_cluster_peaks();
      peak->set_cluster_id(topology_.clusters()[i].id);
      peak->set_peak_utilisation(c.cluster_peaks[i]);
    }
  }
  if (plan.candidates.empty()) {
    return Refuse(v1::NO_CAPACITY, "no window within the planning horizon has room for the campaign");
  }
  return r;
}

v1::OperatorReply SchedulerService::ScheduleCampaign(const v1::ScheduleCampaign& req, Outbox& out) {
  auto it = campaigns_.find(req.campaign_id());
  if (it == campaigns_.end()) return Refuse(v1::NOT_FOUND, "unknown campaign '" + req.campaign_id() + "'");
  CampaignRecord& record = it->second;
  if (record.campaign.state() != v1::DRAFT) {
    return Refuse(v1::FAILED_PRECONDITION, "campaign " + req.campaign_id() + " is already " +
                                               std::string(CampaignStateName(record.campaign.state())));
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
  v1::Campaign c = record.campaign;
  c.set_core_end_slot(req.core_end_slot());
  c.set_state(v1::SCHEDULED);
  c.set_max_utilisation(req.max_utilisation());
  c.set_window_start_slot(req.start_slot());
  c.set_window_end_slot(req.end_slot());
  WriteBatch b;
  b.Put(keys::Of(keys::kCampaign, c.id()), c.SerializeAsString());
  if (auto s = Persist(b); !s) return Refuse(s.error());
  record.campaign = std::move(c);
  for (const auto& t : record.campaign.terminal_ids()) NoticeFor(record, t, out);
  return AckReply();
}

v1::OperatorReply SchedulerService::GetCampaign(const v1::GetCampaign& req) const {
  auto it = campaigns_.find(req.campaign_id());
  if (it == campaigns_.end()) return Refuse(v1::NOT_FOUND, "unknown campaign '" + req.campaign_id() + "'");
  v1::OperatorReply r;
  auto* report = r.mutable_campaign();
  *report->mutable_campaign() = it->second.campaign;
  report->set_slot_ms(grid_.slot_ms());
  for (const auto& t : it->second.campaign.terminal_ids()) {
    const auto& p = it->second.progress.at(t);
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

Status SchedulerService::Pause(CampaignRecord& record, const std::string& reason) {
  WriteBatch b;
  std::vector<v1::TerminalProgress*> released;
  for (auto& [tid, p] : record.progress) {
    if (!p.assigned() || p.checked_in() || !Unfinished(p)) continue;
    released.push_back(&p);
  }
  v1::Campaign c = record.campaign;
  c.set_state(v1::PAUSED);
  c.set_paused_reason(reason);
  b.Put(keys::Of(keys::kCampaign, c.id()), c.SerializeAsString());
  const TimeMs now = clock_.NowMs();
  for (auto* p : released) {
    b.Put(keys::Progress(c.id(), p->terminal_id()), WithoutBooking(*p, now).SerializeAsString());
  }
  if (auto s = Persist(b); !s) return s;
  record.campaign = std::move(c);
  for (auto* p : released) {
    ReleaseBooking(*p);
    p->set_updated_ms(now);
  }
  return OkStatus();
}

v1::OperatorReply SchedulerService::PauseCampaign(const v1::PauseCampaign& req) {
  auto it = campaigns_.find(req.campaign_id());
  if (it == campaigns_.end()) return Refuse(v1::NOT_FOUND, "unknown campaign '" + req.campaign_id() + "'");
  const auto state = it->second.campaign.state();
  if (state == v1::PAUSED) return AckReply();  // idempotent
  if (state != v1::SCHEDULED) {
    return Refuse(v1::FAILED_PRECONDITION, "only a SCHEDULED campaign can be paused; " + req.campaign_id() +
                                               " is " + std::string(CampaignStateName(state)));
  }
  if (auto s = Pause(it->second, "paused by the operator"); !s) return Refuse(s.error());
  return AckReply();
}

v1::OperatorReply SchedulerService::ResumeCampaign(const v1::ResumeCampaign& req, Outbox& out) {
  auto it = campaigns_.find(req.campaign_id());
  if (it == campaigns_.end()) return Refuse(v1::NOT_FOUND, "unknown campaign '" + req.campaign_id() + "'");
  CampaignRecord& record = it->second;
  const auto state = record.campaign.state();
  if (state == v1::SCHEDULED) return AckReply();  // idempotent
  if (state != v1::PAUSED) {
    return Refuse(v1::FAILED_PRECONDITION, "only a PAUSED campaign can be resumed; " + req.campaign_id() +
                                               " is " + std::string(CampaignStateName(state)));
  }
  const Slot now_slot = grid_.SlotAt(clock_.NowMs());
  if (record.campaign.window_end_slot() <= now_slot + 1) {
    return Refuse(v1::FAILED_PRECONDITION, "the campaign's window is over; create a new campaign");
  }
  v1::Campaign c = record.campaign;
  c.set_state(v1::SCHEDULED);
  c.clear_paused_reason();
  WriteBatch b;
  b.Put(keys::Of(keys::kCampaign, c.id()), c.SerializeAsString());
  // Terminals that stood down while paused get their work back.
  std::vector<v1::TerminalProgress*> revived;
  for (auto& [tid, p] : record.progress) {
    if (p.state() != v1::Status::STOOD_DOWN) continue;
    v1::TerminalProgress copy = p;
    copy.set_state(v1::Status::STATE_UNSPECIFIED);
    copy.set_updated_ms(clock_.NowMs());
    b.Put(keys::Progress(c.id(), tid), copy.SerializeAsString());
    revived.push_back(&p);
  }
  if (auto s = Persist(b); !s) return Refuse(s.error());
  record.campaign = std::move(c);
  for (auto* p : revived) {
    p->set_state(v1::Status::STATE_UNSPECIFIED);
    p->set_updated_ms(clock_.NowMs());
  }
  for (const auto& [tid, p] : record.progress) {
    if (Unfinished(p)) NoticeFor(record, tid, out);
  }
  return AckReply();
}

v1::OperatorReply SchedulerService::CancelCampaign(const v1::CancelCampaign& req, Outbox& out) {
  auto it = campaigns_.find(req.campaign_id());
  if (it == campaigns_.end()) return Refuse(v1::NOT_FOUND, "unknown campaign '" + req.campaign_id() + "'");
  CampaignRecord& record = it->second;
  const auto state = record.campaign.state();
  if (state == v1::CANCELLED) return AckReply();  // idempotent
  if (state == v1::DONE) return Refuse(v1::FAILED_PRECONDITION, "campaign " + req.campaign_id() + " is DONE");
  v1::Campaign c = record.campaign;
  c.set_state(v1::CANCELLED);
  WriteBatch b;
  b.Put(keys::Of(keys::kCampaign, c.id()), c.SerializeAsString());
  std::vector<v1::TerminalProgress*> released;
  for (auto& [tid, p] : record.progress) {
    if (!p.assigned()) continue;
    v1::TerminalProgress copy = p;
    copy.set_assigned(false);
    copy.clear_node_id();
    copy.clear_slot();
    copy.clear_start_at_ms();
    copy.set_updated_ms(clock_.NowMs());
    b.Put(keys::Progress(c.id(), tid), copy.SerializeAsString());
    released.push_back(&p);
  }
  if (auto s = Persist(b); !s) return Refuse(s.error());
  const bool had_notices = state != v1::DRAFT;
  record.campaign = std::move(c);
  for (auto* p : released) {
    ReleaseBooking(*p);
    p->set_updated_ms(clock_.NowMs());
  }
  if (had_notices) {
    for (const auto& [tid, p] : record.progress) {
      if (Unfinished(p)) out.push_back(Publication{topics::Terminal(tid, topics::Leaf::kNotice), "", true});
    }
  }
  return AckReply();
}

v1::OperatorReply SchedulerService::ListClusters() const {
  v1::OperatorReply r;
  for (const auto& [id, c] : clusters_) *r.mutable_clusters()->add_clusters() = c;
  return r;
}

v1::OperatorReply SchedulerService::ListNodes() const {
  v1::OperatorReply r;
  for (const auto& [id, n] : nodes_) *r.mutable_nodes()->add_nodes() = n;
  return r;
}

v1::OperatorReply SchedulerService::ListArtifacts() const {
  v1::OperatorReply r;
  for (const auto& [id, a] : artifacts_) *r.mutable_artifacts()->add_artifacts() = a;
  return r;
}

v1::OperatorReply SchedulerService::ListCampaigns() const {
  v1::OperatorReply r;
  for (const auto& [id, c] : campaigns_) {
    v1::Campaign summary = c.campaign;
    summary.clear_terminal_ids();  // GetCampaign has them; a listing stays small
    *r.mutable_campaigns()->add_campaigns() = std::move(summary);
  }
  return r;
}

v1::OperatorReply SchedulerService::ListTerminals() const {
  v1::OperatorReply r;
  for (const auto& [id, t] : terminals_) *r.mutable_terminals()->add_terminals() = t;
  return r;
}

// ---- terminals ---------------------------------------------------------------

Result<std::pair<SchedulerService::CampaignRecord*, v1::TerminalProgress*>>
SchedulerService::FindWork(std::string_view terminal_id, const std::string& campaign_id) {
  auto it = campaigns_.find(campaign_id);
  if (it == campaigns_.end()) return MakeError(v1::NOT_FOUND, "unknown campaign '" + campaign_id + "'");
  auto p = it->second.progress.find(std::string(terminal_id));
  if (p == it->second.progress.end()) {
    return MakeError(v1::NOT_IN_CAMPAIGN,
                     "terminal " + std::string(terminal_id) + " is not in campaign " + campaign_id);
  }
  return std::pair{&it->second, &p->second};
}

std::optional<std::uint32_t> SchedulerService::SpreadIndex(const v1::TerminalProgress& progress) const {
  const auto node = nodes_.find(progress.node_id());
  if (node == nodes_.end() || node->second.per_slot() == 0) return std::nullopt;
  return grid_.SpreadIndexAt(progress.start_at_ms() - grid_.Start(progress.slot()), node->second.per_slot());
}

void SchedulerService::ReleaseBooking(v1::TerminalProgress& progress) {
  if (!progress.assigned()) return;
  ledger_.Release(progress.node_id(), progress.slot(), SpreadIndex(progress));
  progress.set_assigned(false);
  progress.clear_node_id();
  progress.clear_slot();
  progress.clear_start_at_ms();
  progress.set_checked_in(false);
}

void SchedulerService::RebuildTopology() {
  topology_ = Topology::FromRegistry(clusters_, nodes_, live_,
                                     grid_.SlotAt(clock_.NowMs()) + options_.live_slots);
}

std::map<std::string, std::string> SchedulerService::StatusUrls() const {
  std::map<std::string, std::string> urls;
  for (const auto& [id, n] : nodes_) {
    if (!n.status_url().empty() && n.state() != v1::DOWN) urls.emplace(id, n.status_url());
  }
  return urls;
}

std::size_t SchedulerService::ObserveNodeLoad(const std::string& node_id,
                                              std::optional<std::uint32_t> active_connections) {
  if (!nodes_.contains(node_id)) return 0;
  LiveLoad& live = live_[node_id];
  const bool was_reachable = live.reachable;
  if (!active_connections) {
    live.reachable = false;
    RebuildTopology();
    return was_reachable ? MoveBookingsOff(node_id) : 0;
  }
  // Our own downloads show up as connections too (and the stub_status
  // request itself): only what they do not explain lowers the capacity.
  const Slot now = grid_.SlotAt(clock_.NowMs());
  const std::uint64_t ours = 1ull + ledger_.Booked(node_id, now) + ledger_.Booked(node_id, now - 1);
  live.reachable = true;
  live.foreign = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(*active_connections > ours ? *active_connections - ours : 0, UINT32_MAX));
  RebuildTopology();
  return 0;
}

std::size_t SchedulerService::MoveBookingsOff(const std::string& node_id) {
  const TimeMs now = clock_.NowMs();
  WriteBatch b;
  std::vector<std::pair<v1::TerminalProgress*, v1::TerminalProgress>> moved;  // (live, before)
  for (auto& [cid, record] : campaigns_) {
    if (record.campaign.state() != v1::SCHEDULED) continue;
    for (auto& [tid, p] : record.progress) {
      if (!p.assigned() || p.node_id() != node_id || p.checked_in() || grid_.End(p.slot()) <= now) continue;
      const v1::TerminalProgress before = p;
      // Keep the terminal's time where another node has room then.
      if (!Assign(record, p, before.slot())) {
        ReleaseBooking(p);  // no room: it gets a new slot at its check
        p.set_updated_ms(now);
      }
      b.Put(keys::Progress(cid, tid), p.SerializeAsString());
      moved.emplace_back(&p, before);
    }
  }
  if (moved.empty()) return 0;
  if (auto s = Persist(b); !s) {
    for (auto& [p, before] : moved) {
      ReleaseBooking(*p);
      if (before.assigned()) ledger_.Restore(before.node_id(), before.slot(), SpreadIndex(before));
      *p = before;
    }
    return 0;
  }
  return moved.size();
}

Status SchedulerService::Assign(CampaignRecord& record, v1::TerminalProgress& progress, Slot not_before) {
  std::optional<LatLon> where;
  auto info = terminals_.find(progress.terminal_id());
  if (info != terminals_.end() && info->second.has_location()) {
    where = LatLon{info->second.location().lat(), info->second.location().lon()};
  }
  const Slot first = std::max({record.campaign.window_start_slot(), grid_.SlotAt(clock_.NowMs()) + 1, not_before});
  const Slot end = record.campaign.window_end_slot();
  v1::TerminalProgress old = progress;
  ReleaseBooking(progress);
  const double cap = record.campaign.max_utilisation();
  SlotFilter allowed;
  if (record.campaign.allowed_from_minute() != record.campaign.allowed_to_minute()) {
    const int offset = info != terminals_.end() ? info->second.utc_offset_minutes() : 0;
    allowed = [this, offset, &record](Slot s) {
      return SlotInHours(grid_, s, offset, record.campaign.allowed_from_minute(),
                         record.campaign.allowed_to_minute());
    };
  }
  const Topology capped = cap > 0 && cap < 1 ? topology_.Capped(cap) : Topology{};
  const Topology& topology = cap > 0 && cap < 1 ? capped : topology_;
  auto place = [&](Slot until) {
    return PlaceTerminal(topology, ledger_, where, first, until, options_.max_fallback_km, allowed);
  };
  // The core of the window first; its slack only when the core is full.
  const Slot core_end = record.campaign.core_end_slot();
  auto placement = core_end > first && core_end < end ? place(core_end) : std::nullopt;
  if (!placement) placement = place(end);
  if (!placement) {
    // Put the old booking back so a refusal changes nothing.
    if (old.assigned()) ledger_.Restore(old.node_id(), old.slot(), SpreadIndex(old));
    progress = old;
    return MakeError(v1::NO_CAPACITY, "no node has room before the end of campaign " +
                                          record.campaign.id() + "'s window");
  }
  progress.set_assigned(true);
  progress.set_node_id(placement->node_id);
  progress.set_slot(placement->slot);
  progress.set_start_at_ms(grid_.SpreadStart(placement->slot, placement->index, placement->per_slot));
  progress.set_checked_in(false);
  progress.set_updated_ms(clock_.NowMs());
  WatchBooking(record.campaign.id(), progress);
  if (info != terminals_.end()) WatchOffline(info->second);  // placed while offline
  return OkStatus();
}

v1::Assignment SchedulerService::AssignmentOf(const CampaignRecord& record,
                                              const v1::TerminalProgress& progress) const {
  v1::Assignment a;
  a.set_campaign_id(record.campaign.id());
  a.set_target_version(record.campaign.target_version());
  a.set_node_id(progress.node_id());
  auto node = nodes_.find(progress.node_id());
  if (node != nodes_.end()) a.set_cluster_id(node->second.cluster_id());
  a.set_slot(progress.slot());
  a.set_slot_start_ms(grid_.Start(progress.slot()));
  a.set_slot_end_ms(grid_.End(progress.slot()));
  a.set_start_at_ms(progress.start_at_ms());
  return a;
}

v1::TerminalReply SchedulerService::HandleReport(std::string_view terminal_id, const v1::Report& report) {
  if (report.has_location() && !IsValidLocation(report.location())) {
    return RefuseTerminal(MakeError(v1::INVALID_ARGUMENT, "location out of range"));
  }
  v1::TerminalInfo info = terminals_[std::string(terminal_id)];
  info.set_id(std::string(terminal_id));
  if (report.has_location()) *info.mutable_location() = report.location();
  if (report.has_utc_offset_minutes()) {
    if (report.utc_offset_minutes() < -14 * 60 || report.utc_offset_minutes() > 14 * 60) {
      return RefuseTerminal(MakeError(v1::INVALID_ARGUMENT, "utc_offset_minutes must be within +-14 h"));
    }
    info.set_utc_offset_minutes(report.utc_offset_minutes());
  }
  info.set_current_version(report.current_version());
  info.set_system_id(report.system_id());
  info.set_online(true);
  info.set_last_seen_ms(clock_.NowMs());

  WriteBatch b;
  b.Put(keys::Of(keys::kTerminal, terminal_id), info.SerializeAsString());
  if (report.campaign_id().empty()) {
    if (auto s = Persist(b); !s) return RefuseTerminal(s.error());
    terminals_[info.id()] = std::move(info);
    return AckTerminal();
  }

  auto work = FindWork(terminal_id, report.campaign_id());
  if (!work) return RefuseTerminal(work.error());
  auto [record, progress] = *work;
  if (record->campaign.state() != v1::SCHEDULED) {
    return RefuseTerminal(MakeError(v1::FAILED_PRECONDITION,
                                    "campaign " + record->campaign.id() + " is " +
                                        std::string(CampaignStateName(record->campaign.state()))));
  }
  // The location this report brings decides the placement.
  const v1::TerminalInfo previous = terminals_[info.id()];
  terminals_[info.id()] = info;
  const bool still_valid = progress->assigned() && grid_.End(progress->slot()) > clock_.NowMs();
  v1::TerminalProgress before = *progress;
  if (!still_valid) {
    if (auto s = Assign(*record, *progress); !s) {
      terminals_[info.id()] = previous;
      return RefuseTerminal(s.error());
    }
    b.Put(keys::Progress(record->campaign.id(), terminal_id), progress->SerializeAsString());
  }
  if (auto s = Persist(b); !s) {
    if (!still_valid) {
      ReleaseBooking(*progress);
      if (before.assigned()) ledger_.Restore(before.node_id(), before.slot(), SpreadIndex(before));
      *progress = before;
    }
    terminals_[info.id()] = previous;
    return RefuseTerminal(s.error());
  }
  v1::TerminalReply r;
  *r.mutable_assignment() = AssignmentOf(*record, *progress);
  return r;
}

v1::TerminalReply SchedulerService::HandleCheck(std::string_view terminal_id, const v1::Check& check) {
  auto work = FindWork(terminal_id, check.campaign_id());
  if (!work) return RefuseTerminal(work.error());
  auto [record, progress] = *work;
  v1::TerminalReply r;
  auto* result = r.mutable_check_result();
  result->set_campaign_id(record->campaign.id());
  if (record->campaign.state() != v1::SCHEDULED) {
    result->set_verdict(v1::CheckResult::STAND_DOWN);
    result->set_reason("campaign is " + std::string(CampaignStateName(record->campaign.state())));
    return r;
  }
  if (check.current_version() == record->campaign.target_version()) {
    result->set_verdict(v1::CheckResult::ALREADY_CURRENT);
    return r;
  }
  const TimeMs now = clock_.NowMs();
  if (progress->assigned() && now < grid_.Start(progress->slot())) {
    result->set_verdict(v1::CheckResult::TOO_EARLY);
    *result->mutable_assignment() = AssignmentOf(*record, *progress);
    return r;
  }
  if (!progress->assigned() || now >= grid_.End(progress->slot())) {
    // Missed or released: a new slot, never a late start in someone else's.
    const v1::TerminalProgress before = *progress;
    if (auto s = Assign(*record, *progress); !s) return RefuseTerminal(s.error());
    WriteBatch b;
    b.Put(keys::Progress(record->campaign.id(), terminal_id), progress->SerializeAsString());
    if (auto s = Persist(b); !s) {
      ReleaseBooking(*progress);
      if (before.assigned()) ledger_.Restore(before.node_id(), before.slot(), SpreadIndex(before));
      *progress = before;
      return RefuseTerminal(s.error());
    }
    result->set_verdict(v1::CheckResult::RESCHEDULED);
    result->set_reason("the slot had passed");
    *result->mutable_assignment() = AssignmentOf(*record, *progress);
    return r;
  }
  const auto node = nodes_.find(progress->node_id());
  const auto artifact = artifacts_.find(record->campaign.target_version());
  if (node == nodes_.end() || artifact == artifacts_.end()) {
    return RefuseTerminal(MakeError(v1::INTERNAL, "booking names a node or version that is gone"));
  }
  if (!progress->checked_in()) {
    // Checked in: Tick() must not take this booking away as a no-show.
    v1::TerminalProgress updated = *progress;
    updated.set_checked_in(true);
    updated.set_updated_ms(now);
    WriteBatch b;
    b.Put(keys::Progress(record->campaign.id(), terminal_id), updated.SerializeAsString());
    if (auto s = Persist(b); !s) return RefuseTerminal(s.error());
    *progress = std::move(updated);
  }
  result->set_verdict(v1::CheckResult::GO);
  auto* d = result->mutable_download();
  d->set_url(DownloadUrl(node->second, artifact->second, progress->slot()));
  d->set_version(artifact->second.version());
  d->set_sha256(artifact->second.sha256());
  d->set_size(artifact->second.size());
  d->set_signature(artifact->second.signature());
  d->set_allow_downgrade(record->campaign.allow_downgrade());
  d->set_not_before_ms(grid_.Start(progress->slot()));
  d->set_not_after_ms(grid_.End(progress->slot()));
  return r;
}

std::string SchedulerService::DownloadUrl(const v1::Node& node, const v1::Artifact& artifact,
                                          Slot slot) const {
  std::string url = node.base_url() + artifact.path();
  if (options_.url_secret.empty()) return url;
  const std::int64_t expires = (grid_.End(slot) + options_.download_allowance_ms + 999) / 1000;
  const std::string uri = UrlPath(node.base_url()) + artifact.path();
  const std::string token = SecureLinkToken(std::to_string(expires) + uri + options_.url_secret);
  return url + "?md5=" + token + "&expires=" + std::to_string(expires);
}

v1::TerminalReply SchedulerService::HandleStatus(std::string_view terminal_id, const v1::Status& status,
                                                 Outbox& out) {
  if (status.state() == v1::Status::STATE_UNSPECIFIED || !v1::Status::State_IsValid(status.state())) {
    return RefuseTerminal(MakeError(v1::INVALID_ARGUMENT, "status has no valid state"));
  }
  if (status.progress_percent() > 100) {
    return RefuseTerminal(MakeError(v1::INVALID_ARGUMENT, "progress_percent must be 0-100"));
  }
  auto work = FindWork(terminal_id, status.campaign_id());
  if (!work) return RefuseTerminal(work.error());
  auto [record, progress] = *work;
  if (IsFinal(progress->state()) && !IsFinal(status.state())) {
    return AckTerminal();  // a late progress message after the outcome: keep the outcome
  }
  v1::TerminalProgress updated = *progress;
  updated.set_state(status.state());
  updated.set_version(status.version());
  updated.set_detail(status.detail());
  updated.set_updated_ms(clock_.NowMs());
  // A failure with retries left: the terminal gets its work back and a new
  // slot when it reports again.
  const bool retry = status.state() == v1::Status::FAILED && !IsFinal(progress->state()) &&
                     record->campaign.state() == v1::SCHEDULED &&
                     progress->attempts() < record->campaign.max_retries();
  if (retry) {
    updated.set_state(v1::Status::STATE_UNSPECIFIED);
    updated.set_attempts(progress->attempts() + 1);
    updated.set_detail("attempt " + std::to_string(updated.attempts()) + " failed: " + status.detail());
    updated.set_assigned(false);
    updated.clear_node_id();
    updated.clear_slot();
    updated.clear_start_at_ms();
    updated.set_checked_in(false);
  }

  WriteBatch b;
  b.Put(keys::Progress(record->campaign.id(), terminal_id), updated.SerializeAsString());
  v1::TerminalInfo info = terminals_[std::string(terminal_id)];
  info.set_id(std::string(terminal_id));
  if (status.state() == v1::Status::SUCCEEDED) info.set_current_version(status.version());
  info.set_last_seen_ms(clock_.NowMs());
  b.Put(keys::Of(keys::kTerminal, terminal_id), info.SerializeAsString());

  const std::size_t not_done =
      record->not_done + (IsDone(progress->state()) ? 1 : 0) - (IsDone(updated.state()) ? 1 : 0);
  // Only a campaign that becomes DONE is copied: it holds every terminal id.
  std::optional<v1::Campaign> done;
  if (not_done == 0 && record->campaign.state() == v1::SCHEDULED) {
    done = record->campaign;
    done->set_state(v1::DONE);
    b.Put(keys::Of(keys::kCampaign, done->id()), done->SerializeAsString());
  }
  if (auto s = Persist(b); !s) return RefuseTerminal(s.error());
  if (retry && progress->assigned()) ledger_.Release(progress->node_id(), progress->slot(), SpreadIndex(*progress));
  *progress = std::move(updated);
  terminals_[info.id()] = std::move(info);
  record->not_done = not_done;
  if (done) record->campaign = std::move(*done);
  if (retry) {
    NoticeFor(*record, std::string(terminal_id), out);
  } else if (IsFinal(status.state())) {
    out.push_back(Publication{topics::Terminal(terminal_id, topics::Leaf::kNotice), "", true});
  }
  // The failure threshold pauses the campaign by itself.
  if (status.state() == v1::Status::FAILED && !retry && record->campaign.state() == v1::SCHEDULED &&
      record->campaign.max_failures() > 0) {
    const auto failed = static_cast<std::uint32_t>(std::count_if(
        record->progress.begin(), record->progress.end(),
        [](const auto& kv) { return kv.second.state() == v1::Status::FAILED; }));
    if (failed >= record->campaign.max_failures()) {
      if (auto s = Pause(*record, std::to_string(failed) + " terminals failed (threshold " +
                                      std::to_string(record->campaign.max_failures()) + ")");
          !s) {
        return RefuseTerminal(s.error());
      }
    }
  }
  return AckTerminal();
}

void SchedulerService::HandlePresence(std::string_view terminal_id, const v1::Presence& presence) {
  v1::TerminalInfo info = terminals_[std::string(terminal_id)];
  info.set_id(std::string(terminal_id));
  info.set_online(presence.online());
  info.set_last_seen_ms(presence.at_ms());
  WriteBatch b;
  b.Put(keys::Of(keys::kTerminal, terminal_id), info.SerializeAsString());
  if (Persist(b)) {
    WatchOffline(info);
    terminals_[info.id()] = std::move(info);
  }
}

void SchedulerService::WatchBooking(const std::string& campaign_id, const v1::TerminalProgress& progress) {
  if (!progress.assigned() || progress.checked_in()) return;
  booking_checks_.emplace(grid_.End(progress.slot()) + options_.no_show_grace_ms,
                          std::pair{campaign_id, progress.terminal_id()});
}

void SchedulerService::WatchOffline(const v1::TerminalInfo& info) {
  if (!info.online()) offline_checks_.emplace(info.last_seen_ms() + options_.offline_grace_ms, info.id());
}

std::size_t SchedulerService::Tick(Outbox&) {
  const TimeMs now = clock_.NowMs();
  RebuildTopology();  // the near slots move with time
  // A booking is released when its terminal has not checked in and either
  // its slot (plus grace) is over or the terminal has been offline for the
  // grace. The work lists say which bookings and terminals to look at now.
  const auto due_bookings = booking_checks_.upper_bound(now);
  const auto due_offline = offline_checks_.upper_bound(now);

  std::set<v1::TerminalProgress*> releasing;
  std::vector<std::pair<const std::string*, v1::TerminalProgress*>> released;  // (campaign id, progress)
  auto consider = [&](CampaignRecord& record, const std::string& tid, bool offline) {
    if (record.campaign.state() != v1::SCHEDULED) return;
    auto it = record.progress.find(tid);
    if (it == record.progress.end()) return;
    v1::TerminalProgress& p = it->second;
    if (!p.assigned() || p.checked_in() || p.state() != v1::Status::STATE_UNSPECIFIED) return;
    if (!offline && now < grid_.End(p.slot()) + options_.no_show_grace_ms) return;
    if (releasing.insert(&p).second) released.emplace_back(&record.campaign.id(), &p);
  };
  for (auto it = booking_checks_.begin(); it != due_bookings; ++it) {
    auto record = campaigns_.find(it->second.first);
    if (record != campaigns_.end()) consider(record->second, it->second.second, false);
  }
  std::multimap<TimeMs, std::string> later;  // offline, but seen since: look again
  for (auto it = offline_checks_.begin(); it != due_offline; ++it) {
    auto info = terminals_.find(it->second);
    if (info == terminals_.end() || info->second.online()) continue;
    const TimeMs due = info->second.last_seen_ms() + options_.offline_grace_ms;
    if (now < due) {
      later.emplace(due, it->second);
      continue;
    }
    for (auto& [cid, record] : campaigns_) consider(record, it->second, true);
  }

  WriteBatch b;
  for (const auto& [cid, p] : released) {
    b.Put(keys::Progress(*cid, p->terminal_id()), WithoutBooking(*p, now).SerializeAsString());
  }
  if (!released.empty()) {
    if (auto s = Persist(b); !s) return 0;  // the work lists stay: a later Tick tries again
  }
  booking_checks_.erase(booking_checks_.begin(), due_bookings);
  offline_checks_.erase(offline_checks_.begin(), due_offline);
  offline_checks_.merge(later);
  for (const auto& [cid, p] : released) {
    ReleaseBooking(*p);
    p->set_updated_ms(now);
  }
  return released.size();
}

void SchedulerService::NoticeFor(const CampaignRecord& record, const std::string& terminal_id,
                                 Outbox& out) const {
  v1::Notice n;
  n.set_campaign_id(record.campaign.id());
  n.set_target_version(record.campaign.target_version());
  n.set_window_start_ms(grid_.Start(record.campaign.window_start_slot()));
  n.set_window_end_ms(grid_.Start(record.campaign.window_end_slot()));
  n.set_issued_ms(record.campaign.created_ms());
  out.push_back(Publication{topics::Terminal(terminal_id, topics::Leaf::kNotice), n.SerializeAsString(), true});
}

void SchedulerService::PendingNotices(Outbox& out) const {
  for (const auto& [id, record] : campaigns_) {
    if (record.campaign.state() != v1::SCHEDULED) continue;
    for (const auto& [tid, progress] : record.progress) {
      if (!IsFinal(progress.state())) NoticeFor(record, tid, out);
    }
  }
}

}  // namespace slotwise::scheduler
