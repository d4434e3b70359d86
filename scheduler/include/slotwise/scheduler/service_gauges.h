// ServiceGauges (issue 13, metrics): a snapshot of the scheduler's state for
// the Prometheus exposition (metrics.h), taken on the scheduler thread by
// SchedulerService::Gauges(). Plain data, safe to hand to another thread.
//
// Cost: O(nodes * log) for the ledger look-ups plus O(campaigns log
// campaigns) for picking the campaigns shown; never per terminal (the
// outcome counts and the online count are kept incrementally:
// CampaignRecord::outcomes, Registry::online_terminals).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "slotwise/slots.h"
#include "slotwise/v1/operator.pb.h"

namespace slotwise::scheduler {

// One node in one slot ("current": the slot that holds now, "next": the one after).
struct NodeSlotGauges {
  std::uint32_t booked = 0;    // starts booked (CapacityLedger::Booked)
  std::uint32_t capacity = 0;  // starts it takes then (Topology::Capacity; 0 when not ACTIVE or down)
  std::uint64_t reserved_bps = 0;            // peak reserved rate over the slot's buckets
  std::uint32_t reserved_connections = 0;    // peak reserved connections over the slot's buckets
};

struct NodeGauges {
  std::string id;
  std::string cluster;
  v1::NodeState state = v1::NODE_STATE_UNSPECIFIED;
  bool reachable = true;  // its status URL answered the last poll (true when never polled)
  bool polled = false;    // it has a status URL that was polled
  std::uint32_t active_connections = 0;  // from the last poll
  std::uint32_t per_slot = 0;            // registered starts per slot
  std::uint64_t bandwidth_bps = 0;       // registered upstream (0 = not limited)
  std::uint32_t max_connections = 0;     // registered (0 = not limited)
  NodeSlotGauges current;
  NodeSlotGauges next;
};

struct CampaignGauges {
  std::string id;
  v1::CampaignState state = v1::CAMPAIGN_STATE_UNSPECIFIED;
  std::array<std::size_t, v1::TerminalProgress::Outcome_ARRAYSIZE> outcomes{};  // by Outcome
};

struct ServiceGauges {
  TimeMs now_ms = 0;
  Slot current_slot = 0;
  std::vector<NodeGauges> nodes;  // every registered node, by id
  // The campaigns shown: every open one (not DONE/CANCELLED; the newest
  // `max_open` if there are more) and the `recent` newest final ones
  // (by created_ms); each campaign's series are bounded that way.
  std::vector<CampaignGauges> campaigns;
  std::array<std::size_t, v1::CampaignState_ARRAYSIZE> campaigns_by_state{};  // every campaign
  std::size_t terminals_known = 0;   // terminals that ever reported
  std::size_t terminals_online = 0;  // of which online now (the broker plugin's presence)
  std::size_t audit_entries = 0;
};

}  // namespace slotwise::scheduler
