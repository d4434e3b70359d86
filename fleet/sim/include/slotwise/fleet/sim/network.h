// Download nodes under processor sharing. Each node serves its active
// downloads at the terminal's full rate r while at most per_slot run; above
// that its bandwidth (per_slot x r) is shared equally, so every download on
// an overloaded node slows down alike. A terminal has at most one download
// at a time, so downloads are keyed by terminal.
//
// Every active download on a node gets the same rate, so the node keeps one
// "service" counter V (bytes each active download has received since the
// node began) and each download ends when V reaches its start value plus its
// bytes: a min-heap per node, O(log n) per event. Every attempt has the same
// timeout, so a node's timeouts come in start order: a FIFO per node. The
// caller (the Engine) owns time: it asks when a node's next event is and
// tells the network when that time has come. Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
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
  using LoadObserver = std::function<void(NodeIndex node, TimeMs now, std::uint32_t active)>;

  Network(const Fleet& fleet, LoadObserver observer);

  // Starts terminal t's download on `node`: `bytes` to go, ending early
  // (a failure) after `fail_after` bytes when that is set, abandoned (timed
  // out) at `deadline` if not over by then. Deadlines must come in the
  // order the downloads start.
  void Start(TerminalIndex t, NodeIndex node, TimeMs now, double bytes, std::optional<double> fail_after,
             TimeMs deadline);
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
  };
  struct NodeState {
    double served = 0;  // V
    TimeMs last = 0;
    std::uint32_t active = 0;
    std::uint32_t per_slot = 0;
    std::priority_queue<HeapEntry, std::vector<HeapEntry>, std::greater<>> ends;
    std::deque<Deadline> deadlines;  // in start order
  };
  struct Download {
    NodeIndex node = 0;
    std::uint32_t generation = 0;
    bool active = false;
    bool fails = false;
    double start = 0;  // the node's V at the start
  };

  double Rate(const NodeState& n) const;
  void Advance(NodeState& n, TimeMs now) const;
  bool Current(TerminalIndex t, std::uint32_t generation) const;
  void DropStale(NodeState& n) const;
  void SetActive(NodeIndex node, NodeState& n, TimeMs now, std::uint32_t active);

  double full_rate_;
  std::vector<NodeState> nodes_;
  std::vector<Download> downloads_;
  LoadObserver observer_;
};

}  // namespace slotwise::fleet::sim
