// SchedulerService: the upgrade strategy platform and the OTA service of the
// patent in one object: the server registry (S1), campaigns (S2), windows
// (S3-S5), notices (S6), node + slot assignment (S7-S8), the version check at
// slot time (S10) and terminal status (S11).
//
// It knows nothing of MQTT: each handler takes a decoded request and returns
// the reply; messages to publish besides the reply (notices) go to an Outbox.
// Every state change is written to the Store as one atomic, synced batch
// before the handler returns, so a reply is never sent for a change that a
// crash could lose; a refused request changes nothing.
//
// Threading: not thread-safe. The daemon calls it from one thread.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "slotwise/clock.h"
#include "slotwise/result.h"
#include "slotwise/scheduler/ledger.h"
#include "slotwise/scheduler/placement.h"
#include "slotwise/scheduler/store.h"
#include "slotwise/slots.h"
#include "slotwise/v1/operator.pb.h"
#include "slotwise/v1/terminal.pb.h"

namespace slotwise::scheduler {

struct ServiceOptions {
  // Length of a slot. Default: 600 s (10 minutes).
  std::int64_t slot_ms = 600'000;
  // Windows begin at least this many whole slots after the current one, so
  // notices reach the terminals before the first slot. Default: 1.
  std::int64_t lead_slots = 1;
};

// A message to publish after the reply, e.g. a retained notice.
struct Publication {
  std::string topic;
  std::string payload;  // serialized protobuf; empty clears a retained topic
  bool retain = false;
};
using Outbox = std::vector<Publication>;

class SchedulerService {
 public:
  SchedulerService(Store& store, const Clock& clock, ServiceOptions options);

  // Loads the registry, campaigns and bookings from the store and rebuilds
  // the ledger. Refuses a store written with another slot length.
  Status Load();

  v1::OperatorReply HandleOperator(const v1::OperatorRequest& request, Outbox& out);
  v1::TerminalReply HandleReport(std::string_view terminal_id, const v1::Report& report);
  v1::TerminalReply HandleCheck(std::string_view terminal_id, const v1::Check& check);
  v1::TerminalReply HandleStatus(std::string_view terminal_id, const v1::Status& status,
                                 Outbox& out);
  void HandlePresence(std::string_view terminal_id, const v1::Presence& presence);

  // The retained notices every terminal with unfinished work must have; sent
  // again after each (re)connect to the broker, which may have lost them.
  void PendingNotices(Outbox& out) const;

  const SlotGrid& grid() const { return grid_; }
  const CapacityLedger& ledger() const { return ledger_; }

 private:
  struct CampaignRecord {
    v1::Campaign campaign;
    std::map<std::string, v1::TerminalProgress> progress;  // by terminal id
  };

  v1::OperatorReply AddCluster(const v1::AddCluster& req);
  v1::OperatorReply AddNode(const v1::AddNode& req);
  v1::OperatorReply SetNodeState(const v1::SetNodeState& req);
  v1::OperatorReply AddArtifact(const v1::AddArtifact& req);
  v1::OperatorReply CreateCampaign(const v1::CreateCampaign& req);
  v1::OperatorReply QueryWindows(const v1::QueryWindows& req);
  v1::OperatorReply ScheduleCampaign(const v1::ScheduleCampaign& req, Outbox& out);
  v1::OperatorReply GetCampaign(const v1::GetCampaign& req) const;
  v1::OperatorReply ListClusters() const;
  v1::OperatorReply ListNodes() const;
  v1::OperatorReply ListArtifacts() const;
  v1::OperatorReply ListCampaigns() const;
  v1::OperatorReply ListTerminals() const;

  // Finds the campaign and the terminal's progress in it, or the error to send.
  Result<std::pair<CampaignRecord*, v1::TerminalProgress*>> FindWork(std::string_view terminal_id,
                                                                     const std::string& campaign_id);
  // Books a (node, slot) for the terminal inside the campaign's window and
  // fills `progress`; the caller persists. Releases an old booking first.
  Status Assign(CampaignRecord& record, v1::TerminalProgress& progress);
  v1::Assignment AssignmentOf(const CampaignRecord& record,
                              const v1::TerminalProgress& progress) const;
  void ReleaseBooking(v1::TerminalProgress& progress);
  void NoticeFor(const CampaignRecord& record, const std::string& terminal_id, Outbox& out) const;
  Status Persist(const WriteBatch& batch);

  Store& store_;
  const Clock& clock_;
  ServiceOptions options_;
  SlotGrid grid_;

  std::map<std::string, v1::Cluster> clusters_;
  std::map<std::string, v1::Node> nodes_;
  std::map<std::string, v1::Artifact> artifacts_;
  std::map<std::string, CampaignRecord> campaigns_;
  std::map<std::string, v1::TerminalInfo> terminals_;
  Topology topology_;
  CapacityLedger ledger_;
};

}  // namespace slotwise::scheduler
