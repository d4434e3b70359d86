// What one policy's run measured: the figures of the summary table
// (RunResult), the node load over time (LoadTimeline) and, for Slotwise,
// the capacity calendar. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "slotwise/fleet/sim/scenario.h"

namespace slotwise::fleet::sim {

// Per node and time bucket: the highest value a node had and its time
// average (downloads active, or the rate they ask for). Buckets count from
// the campaign start.
class LoadTimeline {
 public:
  LoadTimeline() = default;
  LoadTimeline(std::size_t nodes, TimeMs start, std::int64_t bucket_ms);

  // The node now has `active` downloads (called on every change, in time
  // order per node). Times before the start count in the first bucket.
  void Record(NodeIndex node, TimeMs now, double value);
  // Closes the time-average up to `end`.
  void Finish(TimeMs end);

  std::int64_t bucket_ms() const { return bucket_ms_; }
  std::size_t buckets() const { return buckets_; }
  std::size_t nodes() const { return nodes_.size(); }
  double Max(NodeIndex node, std::size_t bucket) const;
  double Mean(NodeIndex node, std::size_t bucket) const;

 private:
  struct NodeLoad {
    double active = 0;
    TimeMs since = 0;
    std::vector<double> max;
    std::vector<double> area;  // active x ms
  };
  void Accumulate(NodeLoad& n, TimeMs until);
  std::size_t Bucket(TimeMs t) const;
  void Grow(NodeLoad& n, std::size_t bucket);

  TimeMs start_ = 0;
  std::int64_t bucket_ms_ = 60'000;
  std::size_t buckets_ = 0;
  std::vector<NodeLoad> nodes_;
};

// The Slotwise capacity calendar: per node and slot (from the window's
// first), the most bookings the scheduler's ledger held for it during the
// run.
struct CapacityCalendar {
  std::int64_t first_slot = 0;
  std::vector<std::vector<std::uint32_t>> booked;  // [node][slot - first_slot]
};

struct RunResult {
  std::string policy;
  std::string parameters;         // the policy's knobs, for the reader
  double peak_load_ratio = 0;     // max over nodes and time of active / per_slot
  // Max over nodes and time of the rate the active downloads ask for (each
  // min(link, per-connection rate)) / the node's bandwidth, and of active /
  // max_connections (0 when nodes have no connection limit).
  double peak_rate_ratio = 0;
  double peak_connection_ratio = 0;
  std::int64_t makespan_ms = 0;   // campaign start to the last upgrade's end
  std::int64_t lower_bound_ms = 0;
  double nearest_share = 0;       // upgrades served by the terminal's nearest cluster
  std::int64_t wait_p50_ms = 0;   // notice (or arrival) to first download start
  std::int64_t wait_p99_ms = 0;
  std::uint64_t failed_attempts = 0;  // random failures and timeouts together
  std::uint64_t timeouts = 0;
  std::uint64_t upgraded = 0;
  std::uint64_t never_upgraded = 0;  // gave up or still without it at the horizon
  std::uint64_t max_starts_per_minute = 0;
  // Slotwise only: terminals the campaign left without a final outcome at
  // the horizon (TerminalProgress.outcome pending or TIMED_OUT); the
  // simulator exits non-zero when there are any.
  std::uint64_t without_outcome = 0;
  double wall_s = 0;
  // Per terminal: when its first download started and when it had the
  // upgrade; -1 = never.
  std::vector<TimeMs> first_start;
  std::vector<TimeMs> upgraded_at;
  LoadTimeline load;
  LoadTimeline rate;          // bytes per ms the active downloads ask for, per node
  CapacityCalendar calendar;  // Slotwise only

  double MakespanRatio() const {
    return lower_bound_ms > 0 ? static_cast<double>(makespan_ms) / static_cast<double>(lower_bound_ms) : 0;
  }
  bool WithinCapacity() const { return peak_load_ratio <= 1.0 + 1e-9; }
};

// The q-quantile (0..1, nearest rank) of `values`, which it reorders; 0 when empty.
std::int64_t Quantile(std::vector<std::int64_t>& values, double q);

}  // namespace slotwise::fleet::sim
