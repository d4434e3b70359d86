// Download nodes under proportional sharing. A download on node n runs at
// c = min(the terminal's link, n's per-connection rate) while the node's
// active downloads ask for at most its bandwidth B in all (sum of c <= B);
// above that every active download gets c x B / sum, so they all slow down
// alike. (The one-link model is the special case c = the full rate, B =
// per_slot full-rate downloads.) A terminal has at most one download at a
// time, so downloads are keyed by terminal.
//
// Every active download on a node is scaled by the same factor, so the node
// keeps one "service" counter V (the ms of its own full speed each active
// download has had since the node began) and each download ends when V
// reaches its start value plus its bytes / c: a min-heap per node, O(log n)
// per event; its deadlines are a second min-heap. The caller (the Engine)
// owns time: it asks when a node's next event is and tells the network when
// that time has come. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
#include <vector>

#include "slotwise/fleet/sim/scenario.h"

namespace slotwise::fleet::sim {

class Network {
 public:
  // Called whenever a node's number of active downloads changes, with the
  // new number; the load metrics hang off it.
  // `demand`: the sum of the active downloads' rates c (bytes per ms).
  using LoadObserver = std::function<void(NodeIndex node, TimeMs now, std::uint32_t active, double demand)>;

  Network(const Fleet& fleet, LoadObserver observer);

  // Starts terminal t's download on `node`: `bytes` to go, ending early
  // (a failure) after `fail_after` bytes when that is set, abandoned (timed
  // out) at `deadline` if not over by then; at `rate` bytes per ms when the
  // node is not overloaded.
  void Start(TerminalIndex t, NodeIndex node, TimeMs now, double bytes, std::optional<double> fail_after,
             TimeMs deadline, double rate);
  NodeIndex NodeOf(TerminalIndex t) const { return downloads_[t].node; }

  // When the next download on `node` ends or times out; nullopt when none is active.
  std::optional<TimeMs> NextEvent(NodeIndex node);

  enum class Outcome : std::uint8_t { kDone, kFailed, kTimedOut };
  struct Ended {
    TerminalIndex terminal;
    Outcome outcome;
    double bytes;  // received in this attempt
  };
  // Ends every download on `node` whose bytes are all in by `now` (done, or
  // failed at its failure point), then those whose deadline has come.
  std::vector<Ended> EndDue(NodeIndex node, TimeMs now);

 private:
  struct HeapEntry {
    double target;
    TerminalIndex terminal;
    std::uint32_t generation;
    bool operator>(const HeapEntry& o) const { return target > o.target; }
  };
  struct Deadline {
    TimeMs at;
    TerminalIndex terminal;
    std::uint32_t generation;
    bool operator>(const Deadline& o) const { return at > o.at; }
  };
  struct NodeState {
    double served = 0;  // V
    TimeMs last = 0;
    std::uint32_t active = 0;
    double demand = 0;     // sum of the active downloads' rates
    double bandwidth = 0;  // bytes per ms
    std::priority_queue<HeapEntry, std::vector<HeapEntry>, std::greater<>> ends;
    std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines;
  };
  struct Download {
    NodeIndex node = 0;
    std::uint32_t generation = 0;
    bool active = false;
    bool fails = false;
    double start = 0;  // the node's V at the start
    double rate = 0;   // its c
  };

  // The factor every active download's rate is scaled by (1 when not overloaded).
  double Rate(const NodeState& n) const;
  void Advance(NodeState& n, TimeMs now) const;
  bool Current(TerminalIndex t, std::uint32_t generation) const;
  void DropStale(NodeState& n) const;
  void Changed(NodeIndex node, NodeState& n, TimeMs now);

  std::vector<NodeState> nodes_;
  std::vector<Download> downloads_;
  LoadObserver observer_;
};

}  // namespace slotwise::fleet::sim
