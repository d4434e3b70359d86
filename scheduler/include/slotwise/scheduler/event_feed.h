// EventFeed (issue 13): the scheduler's live events, derived from its own
// changes. After each durable batch the daemon calls Collect(); it compares
// what the service holds now with what it last reported and returns the
// typed events (operator.proto LiveEvent) for what changed:
//   - campaign_state when a campaign changes state (or is created), with the
//     counts at that moment, preceded by a campaign_progress with the same
//     counts (so a progress consumer always sees the final 100 %);
//   - campaign_progress for a campaign whose counts changed, at most once
//     per campaign every `progress_interval_ms` -- longer when counting
//     costs more (the interval is kept >= 20x the last count's cost, so
//     counting a million-terminal campaign takes <= 5 % of the loop); a
//     change held back goes out at a later Collect (the loop's tick calls it
//     every second);
//   - node when a node's state, health or per_slot changes (at once), or
//     its load (booked starts this slot, live connections, effective
//     capacity, health detail) changes, at most once per node every
//     `load_interval_ms`.
// Nothing is counted while the journal's generation is unchanged. The first
// Collect() only learns the current state (no events for what was there at
// start-up).
//
// Delivery (SSE, MQTT, webhooks) is the caller's; this is pure and does no
// I/O. Threading: the scheduler thread only (it reads the service).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "slotwise/clock.h"
#include "slotwise/scheduler/campaign_table.h"
#include "slotwise/v1/operator.pb.h"

namespace slotwise::scheduler {

class SchedulerService;

// At most one emission per key per interval (the rate limit of the feed).
// Pure: the caller passes the time.
class Coalescer {
 public:
  // True when `key` emitted nothing within `interval_ms` before `now`; then
  // records `now` as its last emission.
  bool Admit(std::string_view key, TimeMs now, TimeMs interval_ms);
  void Forget(std::string_view key) { last_.erase(std::string(key)); }

 private:
  std::map<std::string, TimeMs, std::less<>> last_;
};

// The counts of one campaign (what a campaign_progress carries).
struct CampaignCounts {
  std::uint32_t terminals = 0;
  std::uint32_t finished = 0;
  std::uint32_t assigned = 0;
  std::uint32_t pending = 0;
  std::array<std::uint32_t, 16> outcomes{};  // by TerminalProgress.Outcome
  std::array<std::uint32_t, 16> states{};    // by Status.State
  bool operator==(const CampaignCounts&) const = default;
};
CampaignCounts CountCampaign(const CampaignRecord& record);
v1::CampaignProgressEvent ProgressOf(const v1::Campaign& campaign, const CampaignCounts& counts);

// One event ready to deliver.
struct FeedEvent {
  v1::LiveEvent event;
  std::string name;         // the SSE event name: campaign_progress, campaign_state, node
  std::string json;         // proto3 JSON of `event`
  std::string topic;        // its MQTT topic (topics::CampaignEvents / NodeEvents)
  std::string campaign_id;  // "" for node events
};

class EventFeed {
 public:
  struct Options {
    // Default: 250 ms.
    TimeMs progress_interval_ms = 250;
    // Default: 1 s.
    TimeMs load_interval_ms = 1000;
  };
  EventFeed() : EventFeed(Options{}) {}
  explicit EventFeed(Options options) : options_(options) {}

  std::vector<FeedEvent> Collect(const SchedulerService& service);

  // The progress interval in force for `campaign_id` (for tests).
  TimeMs ProgressInterval(std::string_view campaign_id) const;

 private:
  struct CampaignSeen {
    v1::CampaignState state = v1::CAMPAIGN_STATE_UNSPECIFIED;
    CampaignCounts counts;       // last emitted
    TimeMs interval_ms = 0;      // adaptive, >= options_.progress_interval_ms
  };
  FeedEvent Make(TimeMs now, v1::LiveEvent&& event, std::string name, std::string topic, std::string campaign_id);
  void CollectCampaigns(const SchedulerService& service, TimeMs now, std::vector<FeedEvent>& out);
  void CollectNodes(const SchedulerService& service, TimeMs now, std::vector<FeedEvent>& out);

  Options options_;
  bool started_ = false;
  std::uint64_t generation_ = 0;
  std::uint64_t seq_ = 0;
  std::map<std::string, CampaignSeen, std::less<>> campaigns_;
  std::set<std::string, std::less<>> dirty_;  // counts may have changed, not yet emitted
  std::map<std::string, v1::NodeEvent, std::less<>> nodes_;  // last emitted
  Coalescer progress_limit_;
  Coalescer load_limit_;
};

}  // namespace slotwise::scheduler
