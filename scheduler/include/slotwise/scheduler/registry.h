// Registry (S1): what the scheduler knows of the world it schedules on: the
// clusters, the download nodes, the versions (artifacts) an operator
// registered, and every terminal that ever reported (its location, time
// zone, version, presence). Also the live load of the nodes (not stored) and
// the Topology snapshot placement runs on, rebuilt after every change.
//
// Durability: each operator command writes its record through the Journal
// before it answers; terminal records are written by the requests that
// change them (SetTerminal() stages the record into the caller's batch).
//
// Arrows: Registry -> Journal. It knows nothing of campaigns or bookings.
// Threading: not thread-safe; the scheduler thread only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "slotwise/clock.h"
#include "slotwise/result.h"
#include "slotwise/scheduler/journal.h"
#include "slotwise/scheduler/ledger.h"
#include "slotwise/scheduler/placement.h"
#include "slotwise/scheduler/service_options.h"
#include "slotwise/scheduler/store.h"
#include "slotwise/slots.h"
#include "slotwise/v1/operator.pb.h"
#include "slotwise/v1/store.pb.h"

namespace slotwise::scheduler {

class Registry {
 public:
  Registry(Journal& journal, const SlotGrid& grid, const Clock& clock, const ServiceOptions& options)
      : journal_(journal), grid_(grid), clock_(clock), options_(options) {}

  // Reads clusters, nodes, artifacts and terminals from the store (replacing
  // what is in memory) and rebuilds the topology.
  Status Load(Store& store);

  // Operator commands; each answers an ack only once its record is durable
  // (or staged in the current group commit).
  v1::OperatorReply AddCluster(const v1::AddCluster& req);
  v1::OperatorReply AddNode(const v1::AddNode& req);
  v1::OperatorReply SetNodeState(const v1::SetNodeState& req);
  v1::OperatorReply AddArtifact(const v1::AddArtifact& req);
  v1::OperatorReply ListClusters() const;
  v1::OperatorReply ListNodes() const;
  v1::OperatorReply ListArtifacts() const;
  v1::OperatorReply ListTerminals() const;

  // nullptr when unknown.
  const v1::Node* FindNode(std::string_view id) const;
  // An artifact is (component, version); "" = the system image.
  const v1::Artifact* FindArtifact(std::string_view component, std::string_view version) const;
  const v1::TerminalInfo* FindTerminal(std::string_view id) const;
  // The terminal's record as it is now, or a fresh one with its id set.
  v1::TerminalInfo TerminalOrNew(std::string_view id) const;

  // Replaces the terminal's record in memory and puts it into `batch`;
  // returns the undo that puts the previous record back (for Journal::Write).
  Journal::Undo SetTerminal(v1::TerminalInfo info, WriteBatch& batch);
  const std::map<std::string, v1::TerminalInfo, std::less<>>& terminals() const { return terminals_; }
  // Issue 13 (metrics): how many of them are online now, kept by Load and
  // SetTerminal (and its undo), so it costs O(1).
  std::size_t online_terminals() const { return online_; }
  const std::map<std::string, v1::Cluster>& clusters() const { return clusters_; }
  const std::map<std::string, v1::Node>& nodes() const { return nodes_; }
  // The live load of a node (nullptr when never polled).
  const LiveLoad* LiveOf(const std::string& node_id) const {
    auto it = live_.find(node_id);
    return it == live_.end() ? nullptr : &it->second;
  }
  // The components (besides the system image) the terminal named in its
  // last Report, and its link (store.proto); nullptr when it never named
  // any and no link is known. SetComponents stages the
  // record (only when it changed) and returns its undo (nullptr: nothing).
  const v1::TerminalComponents* ComponentsOf(std::string_view id) const;
  Journal::Undo SetComponents(const std::string& id, const v1::TerminalComponents& components, WriteBatch& batch);
  // The registered cluster nearest to the terminal's last reported location
  // (whatever its capacity); nullptr without a location or clusters.
  const v1::Cluster* HomeCluster(const v1::TerminalInfo& info) const;
  // True when some cluster has this region.
  bool HasRegion(std::string_view region) const;
  bool HasCluster(std::string_view id) const { return clusters_.contains(std::string(id)); }

  // Live usage (see SchedulerService::ObserveNodeLoad). `ledger` says how
  // many of the node's connections are our own downloads; `failure` says
  // why there was no answer. Returns the change of health it made: the
  // node stopped answering just now (its bookings should move), or answers
  // again after it had not. A node's first answer is no change.
  enum class HealthChange { kNone, kBecameUnreachable, kBecameHealthy };
  HealthChange ObserveLoad(const std::string& node_id, std::optional<std::uint32_t> active_connections,
                           std::string_view failure, const CapacityLedger& ledger);
  // The latest poll's account of the node ("" when never polled).
  std::string HealthDetail(const std::string& node_id) const;
  std::map<std::string, std::string> StatusUrls() const;

  // The capacity snapshot placement and window planning use; the near slots
  // move with time, so Tick() rebuilds it too.
  void RebuildTopology();
  const Topology& topology() const { return topology_; }

 private:
  std::string CheckDeltas(const v1::Artifact& a) const;
  // Sets the live health fields of a copy of a node's record (ListNodes).
  void FillHealth(v1::Node& n) const;

  Journal& journal_;
  const SlotGrid& grid_;
  const Clock& clock_;
  const ServiceOptions& options_;

  std::map<std::string, v1::Cluster> clusters_;
  std::map<std::string, v1::Node> nodes_;
  std::map<std::string, v1::Artifact, std::less<>> artifacts_;
  std::map<std::string, v1::TerminalInfo, std::less<>> terminals_;
  std::map<std::string, v1::TerminalComponents, std::less<>> components_;
  std::map<std::string, LiveLoad> live_;  // by node id; not stored
  std::size_t online_ = 0;                // terminals_ with online set
  Topology topology_;
};

}  // namespace slotwise::scheduler
