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
// Group commit: between BeginBatch() and CommitBatch() the handlers stage
// their writes instead of writing them; CommitBatch() writes everything
// staged as one synced batch. The caller must hold back every reply and
// publication of the batch until CommitBatch() succeeds; if it fails, the
// in-memory state is reloaded from the store (the staged changes never
// happened) and the replies must be replaced by errors.
//
// Threading: not thread-safe. The daemon calls it from one thread.
#pragma once

#include <map>
#include <optional>
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
  // A booking whose terminal has not checked in (S10) by the end of its slot
  // plus this is released by Tick(). Default: 0.
  std::int64_t no_show_grace_ms = 0;
  // A terminal offline (presence) for this long loses its bookings that it
  // has not started on. Default: 60 s.
  std::int64_t offline_grace_ms = 60'000;
  // nginx secure_link secret; download URLs carry ?md5=..&expires=.. when
  // set (md5 over expires + uri + secret). Default: empty, URLs unsigned.
  std::string url_secret{};
  // How long after its slot's end a signed URL stays valid, so a download
  // that started in the slot can finish and resume. Default: 1 hour.
  std::int64_t download_allowance_ms = 3'600'000;
  // Slots (from the current one) whose capacity observed live load lowers.
  // Default: 2.
  std::int64_t live_slots = 2;
  // A terminal falls back from its nearest cluster only to clusters this
  // close to it, in km. Default: 0 (any distance).
  double max_fallback_km = 0;
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

  // Periodic housekeeping, called by the daemon's loop (about once a
  // second): releases no-show bookings (no check by slot end + grace) and
  // bookings of terminals that went offline. Returns how many it released.
  std::size_t Tick(Outbox& out);

  // Live usage: the status URL of every node that has one (for the poller),
  // and what polling one of them gave: its active connections, or nullopt
  // when it did not answer (the node then counts as down until it answers
  // again, and its bookings not started on move to other nodes). Returns
  // how many bookings moved.
  std::map<std::string, std::string> StatusUrls() const;
  std::size_t ObserveNodeLoad(const std::string& node_id, std::optional<std::uint32_t> active_connections);
  const Topology& topology() const { return topology_; }

  // Group commit (see the top of this file).
  void BeginBatch();
  Status CommitBatch();

  // The retained notices every terminal with unfinished work must have; sent
  // again after each (re)connect to the broker, which may have lost them.
  void PendingNotices(Outbox& out) const;

  const SlotGrid& grid() const { return grid_; }
  const CapacityLedger& ledger() const { return ledger_; }

 private:
  struct CampaignRecord {
    v1::Campaign campaign;
    std::map<std::string, v1::TerminalProgress> progress;  // by terminal id
    // Terminals whose state is neither SUCCEEDED nor FAILED: the campaign is
    // DONE when it reaches 0. Kept so a status costs O(log N), not O(N).
    std::size_t not_done = 0;
  };

  v1::OperatorReply AddCluster(const v1::AddCluster& req);
  v1::OperatorReply AddNode(const v1::AddNode& req);
  v1::OperatorReply SetNodeState(const v1::SetNodeState& req);
  v1::OperatorReply AddArtifact(const v1::AddArtifact& req);
  v1::OperatorReply CreateCampaign(const v1::CreateCampaign& req);
  v1::OperatorReply QueryWindows(const v1::QueryWindows& req);
  v1::OperatorReply ScheduleCampaign(const v1::ScheduleCampaign& req, Outbox& out);
  v1::OperatorReply GetCampaign(const v1::GetCampaign& req) const;
  v1::OperatorReply PauseCampaign(const v1::PauseCampaign& req);
  v1::OperatorReply ResumeCampaign(const v1::ResumeCampaign& req, Outbox& out);
  v1::OperatorReply CancelCampaign(const v1::CancelCampaign& req, Outbox& out);
  // Sets PAUSED and stages the release of every booking not started on.
  Status Pause(CampaignRecord& record, const std::string& reason);
  std::string DownloadUrl(const v1::Node& node, const v1::Artifact& artifact, Slot slot) const;
  void ClearState();
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
  Status Assign(CampaignRecord& record, v1::TerminalProgress& progress, Slot not_before = 0);
  void RebuildTopology();
  // Re-places the bookings on `node_id` not started on yet; returns how many.
  std::size_t MoveBookingsOff(const std::string& node_id);
  v1::Assignment AssignmentOf(const CampaignRecord& record,
                              const v1::TerminalProgress& progress) const;
  void ReleaseBooking(v1::TerminalProgress& progress);
  // The booking's index inside its slot, from its start time, so a release
  // gives that index back to the ledger (exact when it was spread over the
  // node's per_slot, i.e. no fill cap and no live load lowered it).
  std::optional<std::uint32_t> SpreadIndex(const v1::TerminalProgress& progress) const;
  void NoticeFor(const CampaignRecord& record, const std::string& terminal_id, Outbox& out) const;
  Status Persist(const WriteBatch& batch);

  // Tick()'s work lists, so a call costs what is due, not a walk over every
  // booking: when to look at a booking again (its slot's end + grace) and at
  // a terminal that went offline (last seen + grace). Entries are checked
  // against the current state when due; stale ones are dropped. Not stored:
  // Load() rebuilds them.
  void WatchBooking(const std::string& campaign_id, const v1::TerminalProgress& progress);
  void WatchOffline(const v1::TerminalInfo& info);
  std::multimap<TimeMs, std::pair<std::string, std::string>> booking_checks_;  // (campaign, terminal)
  std::multimap<TimeMs, std::string> offline_checks_;                          // terminal

  bool staging_ = false;
  WriteBatch staged_;

  Store& store_;
  const Clock& clock_;
  ServiceOptions options_;
  SlotGrid grid_;

  std::map<std::string, v1::Cluster> clusters_;
  std::map<std::string, v1::Node> nodes_;
  std::map<std::string, v1::Artifact> artifacts_;
  std::map<std::string, CampaignRecord> campaigns_;
  std::map<std::string, v1::TerminalInfo> terminals_;
  std::map<std::string, LiveLoad> live_;  // by node id; not stored
  Topology topology_;
  CapacityLedger ledger_;
};

}  // namespace slotwise::scheduler
