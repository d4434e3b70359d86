// S1: the registry of clusters, nodes, versions and terminals.
#include "slotwise/scheduler/registry.h"

#include <algorithm>
#include <set>
#include <ctime>
#include <utility>

#include "keys.h"
#include "slotwise/geo.h"
#include "replies.h"
#include "validation.h"

namespace slotwise::scheduler {
namespace {

constexpr std::uint32_t kMaxPerSlot = 1'000'000;

// "2026-12-02T13:20:01Z" (UTC, whole seconds) for the health details.
std::string FormatUtc(TimeMs ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

// Loads every record under `prefix` into `into`, keyed by what follows it.
template <class Map>
Status LoadAll(Store& store, std::string_view prefix, Map& into, bool& corrupt) {
  return store.Scan(prefix, [&](std::string_view key, std::string_view value) {
    typename Map::mapped_type msg;
    if (!ParseInto(value, msg)) {
      corrupt = true;
      return;
    }
    into.emplace(std::string(key.substr(prefix.size())), std::move(msg));
  });
}

}  // namespace

Status Registry::Load(Store& store) {
  clusters_.clear();
  nodes_.clear();
  artifacts_.clear();
  terminals_.clear();
  components_.clear();
  bool corrupt = false;
  for (auto s : {LoadAll(store, keys::kCluster, clusters_, corrupt), LoadAll(store, keys::kNode, nodes_, corrupt),
                 LoadAll(store, keys::kArtifact, artifacts_, corrupt),
                 LoadAll(store, keys::kTerminal, terminals_, corrupt),
                 LoadAll(store, keys::kComponents, components_, corrupt)}) {
    if (!s) return s;
  }
  if (corrupt) return MakeError(v1::INTERNAL, "a record in the store could not be parsed");
  online_ = 0;
  for (const auto& [id, t] : terminals_) if (t.online()) ++online_;
  RebuildTopology();
  return OkStatus();
}

v1::OperatorReply Registry::AddCluster(const v1::AddCluster& req) {
  const auto& c = req.cluster();
  if (!IsValidId(c.id())) return Refuse(v1::INVALID_ARGUMENT, "cluster id must be 1-64 of [A-Za-z0-9._-]");
  if (!c.has_location() || !IsValidLocation(c.location())) {
    return Refuse(v1::INVALID_ARGUMENT, "cluster location must have lat in [-90,90] and lon in [-180,180]");
  }
  if (clusters_.contains(c.id())) return Refuse(v1::ALREADY_EXISTS, "cluster " + c.id() + " already exists");
  clusters_[c.id()] = c;
  RebuildTopology();
  WriteBatch b;
  b.Put(keys::Of(keys::kCluster, c.id()), c.SerializeAsString());
  auto undo = [this, id = c.id()] {
    clusters_.erase(id);
    RebuildTopology();
  };
  if (auto s = journal_.Write(b, undo); !s) return Refuse(s.error());
  return AckReply();
}

v1::OperatorReply Registry::AddNode(const v1::AddNode& req) {
  v1::Node n = req.node();
  // Live fields are the scheduler's to fill, never stored.
  n.clear_health();
  n.clear_health_detail();
  n.clear_active_connections();
  n.clear_effective_per_slot();
  n.clear_health_since_ms();
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
  nodes_[n.id()] = n;
  RebuildTopology();
  auto undo = [this, id = n.id()] {
    nodes_.erase(id);
    RebuildTopology();
  };
  if (auto s = journal_.Write(b, undo); !s) return Refuse(s.error());
  return AckReply();
}

v1::OperatorReply Registry::SetNodeState(const v1::SetNodeState& req) {
  auto it = nodes_.find(req.node_id());
  if (it == nodes_.end()) return Refuse(v1::NOT_FOUND, "unknown node '" + req.node_id() + "'");
  if (req.state() == v1::NODE_STATE_UNSPECIFIED || !v1::NodeState_IsValid(req.state())) {
    return Refuse(v1::INVALID_ARGUMENT, "state must be ACTIVE, DRAINING or DOWN");
  }
  const v1::Node before = it->second;
  it->second.set_state(req.state());
  RebuildTopology();
  WriteBatch b;
  b.Put(keys::Of(keys::kNode, before.id()), it->second.SerializeAsString());
  auto undo = [this, before] {
    nodes_[before.id()] = before;
    RebuildTopology();
  };
  if (auto s = journal_.Write(b, undo); !s) return Refuse(s.error());
  return AckReply();
}

// schemas/README.md "Delta artifacts": what AddArtifact refuses in
// Artifact.deltas; empty when they are all fine.
std::string Registry::CheckDeltas(const v1::Artifact& a) const {
  constexpr int kMaxDeltas = 16;
  if (a.deltas_size() > kMaxDeltas) return "an artifact has at most 16 deltas";
  std::set<std::string, std::less<>> from;
  for (const auto& d : a.deltas()) {
    const std::string which = "delta from " + d.from_version() + ": ";
    if (!IsValidVersion(d.from_version())) return "delta from_version must be 1-64 of [A-Za-z0-9._+-]";
    if (d.from_version() == a.version()) return which + "a delta must come from another version";
    if (!from.insert(d.from_version()).second) return which + "two deltas from one version";
    if (!d.path().starts_with('/') || d.path().find_first_of(" \t\r\n?#") != std::string::npos) {
      return which + "path must be a URL path beginning with '/'";
    }
    if (d.path() == a.path()) return which + "path must differ from the artifact's";
    if (!IsSha256Hex(d.sha256()) || !IsSha256Hex(d.base_sha256())) {
      return which + "sha256 and base_sha256 must be 64 lowercase hex digits";
    }
    if (d.size() == 0 || d.base_size() == 0) return which + "size and base_size must be positive";
    // The base, when registered, must be that version's file.
    if (const v1::Artifact* base = FindArtifact(a.component(), d.from_version());
        base != nullptr && (base->sha256() != d.base_sha256() || base->size() != d.base_size())) {
      return which + "base_sha256/base_size are not those of version " + d.from_version() + " (" + base->sha256() +
             ", " + std::to_string(base->size()) + " bytes)";
    }
  }
  return {};
}

v1::OperatorReply Registry::AddArtifact(const v1::AddArtifact& req) {
  const auto& a = req.artifact();
  if (!IsValidVersion(a.version())) {
    return Refuse(v1::INVALID_ARGUMENT, "version must be 1-64 of [A-Za-z0-9._+-]");
  }
  if (!a.path().starts_with('/') || a.path().find_first_of(" \t\r\n?#") != std::string::npos) {
    return Refuse(v1::INVALID_ARGUMENT, "artifact path must be a URL path beginning with '/'");
  }
  if (!IsSha256Hex(a.sha256())) return Refuse(v1::INVALID_ARGUMENT, "sha256 must be 64 lowercase hex digits");
  if (a.size() == 0) return Refuse(v1::INVALID_ARGUMENT, "artifact size must be positive");
  if (!a.component().empty() && !topics::IsValidComponentName(a.component())) {
    return Refuse(v1::INVALID_ARGUMENT, "component must be 1-32 of [a-z0-9._-] (\"\" or \"system\" = the system image)");
  }
  v1::Artifact stored = a;
  stored.set_component(std::string(topics::CanonicalComponent(a.component())));
  const std::string key = keys::ArtifactId(stored.component(), stored.version());
  if (artifacts_.contains(key)) {
    return Refuse(v1::ALREADY_EXISTS, "version " + a.version() +
                                          (stored.component().empty() ? "" : " of " + stored.component()) +
                                          " already exists");
  }
  if (std::string why = CheckDeltas(stored); !why.empty()) return Refuse(v1::INVALID_ARGUMENT, why);
  artifacts_[key] = stored;
  WriteBatch b;
  b.Put(keys::Of(keys::kArtifact, key), stored.SerializeAsString());
  auto undo = [this, key] { artifacts_.erase(key); };
  if (auto s = journal_.Write(b, undo); !s) return Refuse(s.error());
  return AckReply();
}

v1::OperatorReply Registry::ListClusters() const {
  v1::OperatorReply r;
  r.mutable_clusters();  // an empty list is a list, not a reply without a body
  for (const auto& [id, c] : clusters_) *r.mutable_clusters()->add_clusters() = c;
  return r;
}

v1::OperatorReply Registry::ListNodes() const {
  v1::OperatorReply r;
  r.mutable_nodes();  // an empty list is a list, not a reply without a body
  for (const auto& [id, n] : nodes_) FillHealth(*r.mutable_nodes()->add_nodes() = n);
  return r;
}

v1::OperatorReply Registry::ListArtifacts() const {
  v1::OperatorReply r;
  r.mutable_artifacts();  // an empty list is a list, not a reply without a body
  for (const auto& [id, a] : artifacts_) *r.mutable_artifacts()->add_artifacts() = a;
  return r;
}

v1::OperatorReply Registry::ListTerminals() const {
  v1::OperatorReply r;
  r.mutable_terminals();  // an empty list is a list, not a reply without a body
  for (const auto& [id, t] : terminals_) *r.mutable_terminals()->add_terminals() = t;
  return r;
}

const v1::Node* Registry::FindNode(std::string_view id) const {
  auto it = nodes_.find(std::string(id));
  return it == nodes_.end() ? nullptr : &it->second;
}

const v1::Artifact* Registry::FindArtifact(std::string_view component, std::string_view version) const {
  auto it = artifacts_.find(keys::ArtifactId(topics::CanonicalComponent(component), version));
  return it == artifacts_.end() ? nullptr : &it->second;
}

const v1::TerminalInfo* Registry::FindTerminal(std::string_view id) const {
  auto it = terminals_.find(id);
  return it == terminals_.end() ? nullptr : &it->second;
}

v1::TerminalInfo Registry::TerminalOrNew(std::string_view id) const {
  if (const auto* t = FindTerminal(id)) return *t;
  v1::TerminalInfo info;
  info.set_id(std::string(id));
  return info;
}

Journal::Undo Registry::SetTerminal(v1::TerminalInfo info, WriteBatch& batch) {
  batch.Put(keys::Of(keys::kTerminal, info.id()), info.SerializeAsString());
  auto it = terminals_.find(info.id());
  std::optional<v1::TerminalInfo> previous;
  const bool online = info.online();
  if (it != terminals_.end()) {
    previous = std::move(it->second);
    it->second = std::move(info);
  } else {
    it = terminals_.emplace(info.id(), std::move(info)).first;
  }
  const bool was_online = previous && previous->online();
  online_ += online;
  online_ -= was_online;
  return [this, id = it->first, previous = std::move(previous), online, was_online] {
    online_ -= online;
    online_ += was_online;
    if (previous) {
      terminals_[id] = *previous;
    } else {
      terminals_.erase(id);
    }
  };
}

const v1::TerminalComponents* Registry::ComponentsOf(std::string_view id) const {
  auto it = components_.find(id);
  return it == components_.end() ? nullptr : &it->second;
}

Journal::Undo Registry::SetComponents(const std::string& id, const v1::TerminalComponents& components,
                                      WriteBatch& batch) {
  auto it = components_.find(id);
  const bool had = it != components_.end();
  if (had ? it->second.SerializeAsString() == components.SerializeAsString() : components.ByteSizeLong() == 0) {
    return nullptr;  // unchanged: no write
  }
  batch.Put(keys::Of(keys::kComponents, id), components.SerializeAsString());
  std::optional<v1::TerminalComponents> previous;
  if (had) {
    previous = it->second;
    it->second = components;
  } else {
    components_.emplace(id, components);
  }
  return [this, id, previous = std::move(previous)] {
    if (previous) {
      components_[id] = *previous;
    } else {
      components_.erase(id);
    }
  };
}

const v1::Cluster* Registry::HomeCluster(const v1::TerminalInfo& info) const {
  if (!info.has_location()) return nullptr;
  const LatLon where{info.location().lat(), info.location().lon()};
  const v1::Cluster* best = nullptr;
  double best_km = 0;
  for (const auto& [id, c] : clusters_) {
    const double km = DistanceKm(where, LatLon{c.location().lat(), c.location().lon()});
    if (best == nullptr || km < best_km) {
      best = &c;
      best_km = km;
    }
  }
  return best;
}

bool Registry::HasRegion(std::string_view region) const {
  return std::any_of(clusters_.begin(), clusters_.end(), [&](const auto& kv) { return kv.second.region() == region; });
}

std::map<std::string, std::string> Registry::StatusUrls() const {
  std::map<std::string, std::string> urls;
  for (const auto& [id, n] : nodes_) {
    if (!n.status_url().empty() && n.state() != v1::DOWN) urls.emplace(id, n.status_url());
  }
  return urls;
}

Registry::HealthChange Registry::ObserveLoad(const std::string& node_id,
                                             std::optional<std::uint32_t> active_connections,
                                             std::string_view failure, const CapacityLedger& ledger) {
  const auto node = nodes_.find(node_id);
  if (node == nodes_.end()) return HealthChange::kNone;
  const TimeMs now_ms = clock_.NowMs();
  const auto [it, first] = live_.try_emplace(node_id);
  LiveLoad& live = it->second;
  const bool was_reachable = live.reachable;
  const std::string& url = node->second.status_url();
  if (!active_connections) {
    live.reachable = false;
    live.active = 0;
    live.detail = "status_url " + url + " did not answer at " + FormatUtc(now_ms) + ": " +
                  (failure.empty() ? std::string("no answer") : std::string(failure));
    if (first || was_reachable) live.since_ms = now_ms;
    RebuildTopology();
    return was_reachable ? HealthChange::kBecameUnreachable : HealthChange::kNone;
  }
  // Our own downloads show up as connections too (and the stub_status
  // request itself): only what they do not explain lowers the capacity.
  const Slot now = grid_.SlotAt(now_ms);
  const std::uint64_t ours = 1ull + ledger.Booked(node_id, now) + ledger.Booked(node_id, now - 1);
  live.reachable = true;
  live.active = *active_connections;
  live.foreign = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(*active_connections > ours ? *active_connections - ours : 0, UINT32_MAX));
  live.detail = "status_url " + url + " answered at " + FormatUtc(now_ms) + ": " +
                std::to_string(*active_connections) + " active connections, " + std::to_string(live.foreign) +
                " not explained by its bookings";
  if (first || !was_reachable) live.since_ms = now_ms;
  RebuildTopology();
  return (!first && !was_reachable) ? HealthChange::kBecameHealthy : HealthChange::kNone;
}

std::string Registry::HealthDetail(const std::string& node_id) const {
  const auto it = live_.find(node_id);
  return it == live_.end() ? std::string() : it->second.detail;
}

void Registry::FillHealth(v1::Node& n) const {
  const auto live = live_.find(n.id());
  if (n.status_url().empty()) {
    n.set_health(v1::UNPOLLED);
    n.set_health_detail("no status_url: not polled (capacity is per_slot)");
  } else if (n.state() == v1::DOWN) {
    n.set_health(v1::UNPOLLED);
    n.set_health_detail("state DOWN: not polled");
  } else if (live == live_.end()) {
    n.set_health(v1::UNPOLLED);
    n.set_health_detail("status_url " + n.status_url() + " not polled yet");
  } else {
    n.set_health(live->second.reachable ? v1::HEALTHY : v1::UNREACHABLE);
    n.set_health_detail(live->second.detail);
    n.set_active_connections(live->second.active);
    n.set_health_since_ms(live->second.since_ms);
  }
  std::uint32_t effective = 0;
  for (const auto& c : topology_.clusters()) {
    for (const auto& nc : c.nodes) {
      if (nc.id == n.id()) effective = topology_.Capacity(nc, grid_.SlotAt(clock_.NowMs()));
    }
  }
  n.set_effective_per_slot(effective);
}

void Registry::RebuildTopology() {
  topology_ = Topology::FromRegistry(clusters_, nodes_, live_, grid_.SlotAt(clock_.NowMs()) + options_.live_slots);
}

}  // namespace slotwise::scheduler
