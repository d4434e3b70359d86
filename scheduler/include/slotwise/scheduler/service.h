// SchedulerService: the upgrade strategy platform and the OTA service of the
// patent behind one facade: the server registry (S1), campaigns (S2), windows
// (S3-S5), notices (S6), node + slot assignment (S7-S8), the version check at
// slot time (S10) and terminal status (S11).
//
// It knows nothing of MQTT: each handler takes a decoded request and returns
// the reply; messages to publish besides the reply (notices) go to an Outbox.
// Every state change is written to the Store as one atomic, synced batch
// before the handler returns, so a reply is never sent for a change that a
// crash could lose; a refused request changes nothing.
//
// The work is done by collaborators (each header says what it owns); the
// arrows point one way, top to bottom:
//
//   SchedulerService (this facade: dispatch, Load, batch, Tick)
//     -> TerminalRequests (S7 report + S8 answer, S10 check, S11 status)
//     -> Campaigns        (S2 create, S3-S4 windows, S5 schedule, S6 notices,
//                          pause / resume / cancel, progress)
//     -> Lifecycle        (final outcomes, retries, the failure threshold,
//                          deadlines, execution timeouts)
//     -> Bookings         (the ledger; Assign, the one Release, the one Undo;
//                          no-shows, offline terminals, moving off a node)
//     -> Registry         (S1: clusters, nodes, versions, terminals, topology)
//     -> CampaignTable    (the campaign and progress records in memory)
//     -> Journal          (every write; group commit; knows none of the above)
//     -> Store            (store.h: RocksDB in the daemon, memory in tests)
//   DownloadUrls (signing) and notices.h are leaves used by the above.
//
// Group commit: between BeginBatch() and CommitBatch() the handlers stage
// their writes instead of writing them; CommitBatch() writes everything
// staged as one synced batch. The caller must hold back every reply and
// publication of the batch until CommitBatch() succeeds; if it fails, every
// change staged since BeginBatch() is undone in memory (journal.h: each
// write carries its undo), so the state is what is durable, and the replies
// must be replaced by errors.
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
#include "slotwise/scheduler/access.h"
#include "slotwise/scheduler/bookings.h"
#include "slotwise/scheduler/campaign_table.h"
#include "slotwise/scheduler/campaigns.h"
#include "slotwise/scheduler/download_urls.h"
#include "slotwise/scheduler/journal.h"
#include "slotwise/scheduler/ledger.h"
#include "slotwise/scheduler/lifecycle.h"
#include "slotwise/scheduler/placement.h"
#include "slotwise/scheduler/registry.h"
#include "slotwise/scheduler/service_gauges.h"
#include "slotwise/scheduler/service_options.h"
#include "slotwise/scheduler/store.h"
#include "slotwise/scheduler/terminal_requests.h"
#include "slotwise/slots.h"
#include "slotwise/v1/operator.pb.h"
#include "slotwise/v1/terminal.pb.h"

namespace slotwise::scheduler {

class SchedulerService {
 public:
  SchedulerService(Store& store, const Clock& clock, ServiceOptions options);
  SchedulerService(const SchedulerService&) = delete;
  SchedulerService& operator=(const SchedulerService&) = delete;

  // Loads the registry, campaigns and bookings from the store and rebuilds
  // the ledger. Refuses a store written with another slot length. Call once.
  Status Load();

  v1::OperatorReply HandleOperator(const v1::OperatorRequest& request, Outbox& out);
  // Issue 13: the entry of both operator channels (MQTT and HTTP). Refuses
  // PERMISSION_DENIED, changing nothing, a command the caller's role does
  // not allow (access.h RequiredRole); handles it otherwise. Every
  // state-changing command and every refusal for its role goes into the
  // audit trail (audit/{seq} in the store, in the same batch as the change).
  v1::OperatorReply HandleOperatorAs(const Caller& caller, const v1::OperatorRequest& request, Outbox& out);
  const std::vector<v1::AuditEntry>& audit() const { return audit_; }
  // Report and Check may end a terminal's work (ALREADY_CURRENT) and clear
  // its notice through `out`.
  v1::TerminalReply HandleReport(std::string_view terminal_id, const v1::Report& report, Outbox& out);
  v1::TerminalReply HandleCheck(std::string_view terminal_id, const v1::Check& check, Outbox& out);
  // The same, dropping the publications: for tests and simulations that do
  // not deliver notices.
  v1::TerminalReply HandleReport(std::string_view terminal_id, const v1::Report& report);
  v1::TerminalReply HandleCheck(std::string_view terminal_id, const v1::Check& check);
  v1::TerminalReply HandleStatus(std::string_view terminal_id, const v1::Status& status,
                                 Outbox& out);
  void HandlePresence(std::string_view terminal_id, const v1::Presence& presence);

  // Periodic housekeeping, called by the daemon's loop (about once a
  // second) on the injected clock: releases no-show bookings (no check by
  // slot end + grace) and bookings of terminals that went offline; expires
  // the unfinished terminals of campaigns whose deadline passed (DONE);
  // times out terminals that got GO and sent no final status within the
  // download allowance (lifecycle.h). Notices go to `out`. Returns how many
  // terminals it changed.
  std::size_t Tick(Outbox& out);

  // Live usage: the status URL of every node that has one (for the poller),
  // and what polling one of them gave: its active connections, or nullopt
  // when it did not answer (the node then counts as down until it answers
  // again, and its bookings not started on move to other nodes). Returns
  // how many bookings moved. `failure` says why there was no answer (for
  // list_nodes' health_detail). Each change of a node's health is logged
  // once (warn: stopped answering, with the bookings moved; info: answers
  // again), never per poll.
  std::map<std::string, std::string> StatusUrls() const;
  std::size_t ObserveNodeLoad(const std::string& node_id, std::optional<std::uint32_t> active_connections,
                              std::string_view failure = {});
  const Topology& topology() const { return registry_.topology(); }
  // Issue 13, read-only views for the live events (event_feed.h): the
  // campaigns, the registry, and the journal's write count (unchanged =
  // no campaign or progress record changed).
  const CampaignTable& campaigns() const { return table_; }
  const Registry& registry() const { return registry_; }
  std::uint64_t generation() const { return journal_.generation(); }

  // Group commit (see the top of this file).
  void BeginBatch();
  Status CommitBatch();

  // The retained notices every terminal with unfinished work must have; sent
  // again after each (re)connect to the broker, which may have lost them.
  void PendingNotices(Outbox& out) const;
  // One terminal's notice topics as they must be now (notices.h
  // TerminalNotices): for a terminal that shows up on another broker shard.
  void TerminalNotices(std::string_view terminal_id, bool with_clears, Outbox& out) const;

  // Issue 13: the state the metrics show (service_gauges.h), without any
  // per-terminal work: every node in the current and next slot, the open
  // campaigns (at most `max_open`, newest first) and the `recent_final`
  // newest DONE or CANCELLED ones with their counts per outcome.
  ServiceGauges Gauges(std::size_t recent_final = 10, std::size_t max_open = 200) const;

  const SlotGrid& grid() const { return grid_; }
  const Clock& clock() const { return clock_; }
  const CapacityLedger& ledger() const { return bookings_.ledger(); }
  // The bytes `terminal_id`'s download for `campaign_id` fetches: the
  // artifact's delta from the version it last told us, else the full image
  // (artifact_choice.h); 0 for an unknown campaign, terminal or artifact.
  std::uint64_t BytesFor(std::string_view terminal_id, std::string_view campaign_id) const;

 private:
  // GetCampaignSummary through its cache (below).
  v1::OperatorReply CachedSummary(const v1::GetCampaignSummary& req);
  // Declared in the order they are built: each refers only to those above.
  Store& store_;
  const Clock& clock_;
  const ServiceOptions options_;
  const SlotGrid grid_;
  Journal journal_;
  Registry registry_;
  CampaignTable table_;
  Bookings bookings_;
  Lifecycle lifecycle_;
  Campaigns campaigns_;
  DownloadUrls urls_;
  TerminalRequests terminals_;
  std::vector<v1::AuditEntry> audit_;  // by seq
  // GetCampaignSummary by campaign, with the journal generation it was
  // computed at: answered again at once while nothing was written.
  std::map<std::string, std::pair<std::uint64_t, v1::OperatorReply>, std::less<>> summaries_;
  // GetCampaignDownloads replies by request, the same way (at most 64 kept).
  std::map<std::string, std::pair<std::uint64_t, v1::OperatorReply>, std::less<>> downloads_;
};

}  // namespace slotwise::scheduler
