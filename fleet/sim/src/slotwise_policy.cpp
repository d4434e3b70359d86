#include "slotwise_policy.h"

#include <algorithm>
#include <cmath>

namespace slotwise::fleet::sim {
namespace {

// Campaign 0: the system image (the one-link model's only campaign);
// campaign 1 (mixed fleet): a parameter file, another component.
struct CampaignSpec {
  const char* id;
  const char* component;
  const char* from;    // what a terminal runs
  const char* target;
};
constexpr CampaignSpec kCampaigns[] = {{"fleet", "", "1.0.0", "2.0.0"}, {"params", "params", "p1", "p2"}};
// A terminal on the delta's base runs this system image version instead.
constexpr char kDeltaBase[] = "1.9.0";
constexpr Slot kNoSlot = -1;
// How often the daemon's housekeeping (Tick) runs in virtual time; the
// daemon runs it every second, a minute is as good at slots of minutes.
constexpr std::int64_t kTickMs = kMinuteMs;

std::string TerminalId(TerminalIndex t) {
  std::string digits = std::to_string(t);
  return "T" + std::string(digits.size() < 7 ? 7 - digits.size() : 0, '0') + digits;
}

}  // namespace

SlotwisePolicy::SlotwisePolicy(const Fleet& fleet, const PolicyOptions& options)
    : fleet_(fleet),
      options_(options),
      slot_of_(fleet.terminals.size(), kNoSlot),
      node_of_(fleet.terminals.size(), 0),
      offline_(fleet.terminals.size(), false) {
  ids_.reserve(fleet.terminals.size());
  for (TerminalIndex t = 0; t < fleet.terminals.size(); ++t) ids_.push_back(TerminalId(t));
  for (NodeIndex n = 0; n < fleet.nodes.size(); ++n) node_index_.emplace(fleet.nodes[n].id, n);
  report_.set_system_id("pos-os");
  auto* params = report_.add_components();
  params->set_component(kCampaigns[1].component);
  params->set_version(kCampaigns[1].from);
}

std::size_t SlotwisePolicy::Campaigns() const { return fleet_.scenario.mixed ? 2 : 1; }

const char* SlotwisePolicy::RunsVersion(TerminalIndex t) const {
  const SimTerminal& term = fleet_.terminals[t];
  if (term.campaign == 1) return kCampaigns[1].from;
  return term.delta ? kDeltaBase : kCampaigns[0].from;
}

std::string SlotwisePolicy::parameters() const {
  return "SchedulerService, window \"" + options_.window + "\"";
}

Status SlotwisePolicy::Operator(const v1::OperatorRequest& request, v1::OperatorReply* reply) {
  scheduler::Outbox out;  // notices: the engine delivers them as terminal readiness
  v1::OperatorReply r = service_->HandleOperator(request, out);
  if (r.has_error()) return MakeError(r.error().code(), r.error().message());
  if (reply) *reply = std::move(r);
  return OkStatus();
}

Status SlotwisePolicy::Register() {
  for (const auto& c : fleet_.clusters) {
    v1::OperatorRequest r;
    auto* cluster = r.mutable_add_cluster()->mutable_cluster();
    cluster->set_id(c.id);
    cluster->mutable_location()->set_lat(c.location.lat);
    cluster->mutable_location()->set_lon(c.location.lon);
    if (auto s = Operator(r); !s) return s;
  }
  const Scenario& sc = fleet_.scenario;
  for (const auto& n : fleet_.nodes) {
    v1::OperatorRequest r;
    auto* node = r.mutable_add_node()->mutable_node();
    node->set_id(n.id);
    node->set_cluster_id(fleet_.clusters[n.cluster].id);
    node->set_base_url("http://" + n.id + ".example");
    node->set_per_slot(n.per_slot);
    if (options_.byte_capacity || sc.mixed) node->set_bandwidth_bps(static_cast<std::uint64_t>(n.bandwidth * 8000));
    if (n.max_connections > 0) node->set_max_connections(n.max_connections);
    if (auto s = Operator(r); !s) return s;
  }
  for (std::size_t c = 0; c < Campaigns(); ++c) {
    v1::OperatorRequest a;
    auto* artifact = a.mutable_add_artifact()->mutable_artifact();
    artifact->set_version(kCampaigns[c].target);
    artifact->set_component(kCampaigns[c].component);
    artifact->set_path(std::string("/fw/") + (c == 0 ? "os-" : "params-") + kCampaigns[c].target + ".bin");
    artifact->set_sha256(std::string(64, 'a'));
    artifact->set_size(!sc.mixed ? sc.artifact_bytes : c == 0 ? sc.large_artifact_bytes : sc.small_artifact_bytes);
    if (sc.mixed && c == 0) {
      auto* d = artifact->add_deltas();
      d->set_from_version(kDeltaBase);
      d->set_path(std::string("/fw/os-") + kDeltaBase + "-" + kCampaigns[0].target + ".zst");
      d->set_sha256(std::string(64, 'b'));
      d->set_size(std::max<std::uint64_t>(
          1, static_cast<std::uint64_t>(static_cast<double>(sc.large_artifact_bytes) * sc.delta_ratio)));
      d->set_base_sha256(std::string(64, 'c'));
      d->set_base_size(sc.large_artifact_bytes);
    }
    if (auto s = Operator(a); !s) return s;
    v1::OperatorRequest create;
    auto* campaign = create.mutable_create_campaign();
    campaign->set_id(kCampaigns[c].id);
    campaign->set_target_version(kCampaigns[c].target);
    campaign->set_component(kCampaigns[c].component);
    campaign->set_max_retries(sc.max_retries);
    for (TerminalIndex t = 0; t < ids_.size(); ++t) {
      if (fleet_.terminals[t].campaign == c) campaign->add_terminal_ids(ids_[t]);
    }
    if (campaign->terminal_ids_size() == 0) continue;
    if (auto s = Operator(create); !s) return s;
    scheduled_[c] = true;
  }
  return OkStatus();
}

Status SlotwisePolicy::ScheduleWindow(Engine& engine, std::size_t c) {
  const char* const kCampaign = kCampaigns[c].id;
  v1::OperatorRequest query;
  query.mutable_query_windows()->set_campaign_id(kCampaign);
  v1::OperatorReply windows;
  if (auto s = Operator(query, &windows); !s) return s;
  const v1::Window* chosen = nullptr;
  std::string labels;
  for (const auto& w : windows.windows().windows()) {
    labels += (labels.empty() ? "" : ", ") + w.label();
    if (w.label() == options_.window) chosen = &w;
  }
  if (!chosen) return MakeError(v1::NOT_FOUND, "no window labelled '" + options_.window + "' (offered: " + labels + ")");
  if (chosen->start_ms() != engine.start()) {
    return MakeError(v1::INTERNAL, "the window does not begin at the campaign start");
  }
  // The operator keeps the window open until the late arrivals are in, and
  // then for the window's own slack: QueryWindows sizes a window by capacity
  // and knows nothing of terminals that are not online yet.
  const SlotGrid grid(fleet_.scenario.slot_ms);
  const Slot core_end = chosen->core_end_slot() != 0 ? chosen->core_end_slot() : chosen->end_slot();
  const Slot arrivals_end = grid.SlotAt(engine.start() + fleet_.scenario.arrival_ms) + 1;
  const Slot end = std::max(chosen->end_slot(), arrivals_end + (chosen->end_slot() - core_end));
  v1::OperatorRequest schedule;
  auto* s = schedule.mutable_schedule_campaign();
  s->set_campaign_id(kCampaign);
  s->set_start_slot(chosen->start_slot());
  s->set_end_slot(end);
  s->set_max_utilisation(chosen->max_utilisation());
  s->set_core_end_slot(chosen->core_end_slot());
  if (c == 0 || !scheduled_[0]) {
    calendar_.first_slot = chosen->start_slot();
    calendar_.booked.assign(fleet_.nodes.size(), {});
  }
  return Operator(schedule);
}

Status SlotwisePolicy::Begin(Engine& engine) {
  scheduler::ServiceOptions options;
  options.slot_ms = fleet_.scenario.slot_ms;
  options.lead_slots = 1;
  // Every terminal reports its link (Report.link_bps); in the one-link
  // model that is the full rate for all.
  options.default_link_bps = static_cast<std::uint64_t>(fleet_.FullRate() * 8000);
  service_ = std::make_unique<scheduler::SchedulerService>(store_, engine.clock(), options);
  if (auto s = service_->Load(); !s) return s;
  if (auto s = Register(); !s) return s;
  for (std::size_t c = 0; c < Campaigns(); ++c) {
    if (!scheduled_[c]) continue;
    if (auto s = ScheduleWindow(engine, c); !s) return s;
  }
  engine.WakeAt(engine.now() + kTickMs);
  return OkStatus();
}

void SlotwisePolicy::Follow(Engine& engine, TerminalIndex t, const v1::Assignment& a) {
  const auto node = node_index_.find(a.node_id());
  if (node == node_index_.end()) {
    engine.Fail("assignment names unknown node " + a.node_id());
    return;
  }
  slot_of_[t] = a.slot();
  node_of_[t] = node->second;
  const auto cell = a.slot() - calendar_.first_slot;
  if (cell >= 0) {
    auto& row = calendar_.booked[node->second];
    if (row.size() <= static_cast<std::size_t>(cell)) row.resize(static_cast<std::size_t>(cell) + 1, 0);
    row[static_cast<std::size_t>(cell)] =
        std::max(row[static_cast<std::size_t>(cell)], service_->ledger().Booked(a.node_id(), a.slot()));
  }
  engine.DueAt(t, a.start_at_ms());
}

void SlotwisePolicy::OnReady(Engine& engine, TerminalIndex t) {
  if (offline_[t]) {
    v1::Presence p;
    p.set_terminal_id(ids_[t]);
    p.set_online(true);
    p.set_at_ms(engine.now());
    service_->HandlePresence(ids_[t], p);
    offline_[t] = false;
  }
  const SimTerminal& term = fleet_.terminals[t];
  const LatLon where = term.location;
  const CampaignSpec& spec = kCampaigns[term.campaign];
  report_.set_campaign_id(spec.id);
  report_.set_target_version(spec.target);
  report_.set_current_version(term.delta ? kDeltaBase : kCampaigns[0].from);
  report_.set_link_bps(static_cast<std::uint64_t>(std::llround(term.link_rate * 8000)));
  report_.mutable_location()->set_lat(where.lat);
  report_.mutable_location()->set_lon(where.lon);
  const v1::TerminalReply reply = service_->HandleReport(ids_[t], report_);
  if (reply.has_assignment()) {
    Follow(engine, t, reply.assignment());
  } else if (reply.has_error() && reply.error().code() == v1::NO_CAPACITY) {
    // No room left in the window: the terminal asks again a slot later.
    slot_of_[t] = kNoSlot;
    engine.DueAt(t, engine.now() + fleet_.scenario.slot_ms);
  } else {
    engine.Fail("report of " + ids_[t] + " refused: " + reply.error().message());
  }
}

void SlotwisePolicy::OnDue(Engine& engine, TerminalIndex t) {
  if (slot_of_[t] == kNoSlot) {
    OnReady(engine, t);
    return;
  }
  v1::Check check;
  check.set_campaign_id(kCampaigns[fleet_.terminals[t].campaign].id);
  check.set_current_version(RunsVersion(t));
  check.set_slot(slot_of_[t]);
  const v1::TerminalReply reply = service_->HandleCheck(ids_[t], check);
  if (!reply.has_check_result()) {
    engine.Fail("check of " + ids_[t] + " refused: " + reply.error().message());
    return;
  }
  const auto& result = reply.check_result();
  switch (result.verdict()) {
    case v1::CheckResult::GO:
      engine.StartDownload(t, node_of_[t]);
      return;
    case v1::CheckResult::TOO_EARLY:
    case v1::CheckResult::RESCHEDULED:
      Follow(engine, t, result.assignment());
      return;
    default:
      engine.Fail("check of " + ids_[t] + " answered " + v1::CheckResult::Verdict_Name(result.verdict()));
  }
}

void SlotwisePolicy::OnAbsent(Engine& engine, TerminalIndex t) {
  v1::Presence p;
  p.set_terminal_id(ids_[t]);
  p.set_online(false);
  p.set_at_ms(engine.now());
  service_->HandlePresence(ids_[t], p);
  offline_[t] = true;
}

bool SlotwisePolicy::OnOutcome(Engine& engine, TerminalIndex t, bool succeeded) {
  v1::Status status;
  const CampaignSpec& spec = kCampaigns[fleet_.terminals[t].campaign];
  status.set_campaign_id(spec.id);
  status.set_state(succeeded ? v1::Status::SUCCEEDED : v1::Status::FAILED);
  status.set_version(succeeded ? spec.target : RunsVersion(t));
  if (!succeeded) status.set_detail("download failed");
  scheduler::Outbox out;
  const v1::TerminalReply reply = service_->HandleStatus(ids_[t], status, out);
  if (reply.has_error()) {
    engine.Fail("status of " + ids_[t] + " refused: " + reply.error().message());
    return false;
  }
  slot_of_[t] = kNoSlot;
  // The scheduler hands the work back with a fresh notice; a cleared notice
  // means it is over for this terminal.
  for (const auto& p : out) {
    if (!p.payload.empty()) return !succeeded;
  }
  return false;
}

void SlotwisePolicy::OnTimer(Engine& engine) {
  scheduler::Outbox out;
  service_->Tick(out);
  engine.WakeAt(engine.now() + kTickMs);
}

void SlotwisePolicy::Finish(RunResult& result) const {
  result.calendar = calendar_;
  for (std::size_t c = 0; c < Campaigns(); ++c) {
    if (!scheduled_[c]) continue;
    v1::OperatorRequest get;
    get.mutable_get_campaign()->set_campaign_id(kCampaigns[c].id);
    get.mutable_get_campaign()->set_omit_terminals(true);
    scheduler::Outbox out;
    const v1::OperatorReply reply = service_->HandleOperator(get, out);
    const auto& report = reply.campaign();
    result.without_outcome += report.outcome_pending() + report.timed_out();
  }
}

}  // namespace slotwise::fleet::sim
