#include "slotwise/fleet/sim/network.h"

#include <cmath>

namespace slotwise::fleet::sim {
namespace {
// V (ms of a download's own full speed) a download may lack and still count
// as complete: V drifts by float rounding over a long run.
constexpr double kServiceSlack = 1e-3;
}  // namespace

Network::Network(const Fleet& fleet, LoadObserver observer)
    : nodes_(fleet.nodes.size()), downloads_(fleet.terminals.size()), observer_(std::move(observer)) {
  for (std::size_t i = 0; i < nodes_.size(); ++i) nodes_[i].bandwidth = fleet.nodes[i].bandwidth;
}

double Network::Rate(const NodeState& n) const {
  // A small tolerance: the sum is a float and "exactly full" must not slow anyone.
  if (n.demand <= n.bandwidth * (1 + 1e-9)) return 1.0;
  return n.bandwidth / n.demand;
}

void Network::Advance(NodeState& n, TimeMs now) const {
  if (n.active > 0) n.served += Rate(n) * static_cast<double>(now - n.last);
  n.last = now;
}

bool Network::Current(TerminalIndex t, std::uint32_t generation) const {
  const Download& d = downloads_[t];
  return d.active && d.generation == generation;
}

void Network::DropStale(NodeState& n) const {
  while (!n.ends.empty() && !Current(n.ends.top().terminal, n.ends.top().generation)) n.ends.pop();
  while (!n.deadlines.empty() && !Current(n.deadlines.top().terminal, n.deadlines.top().generation)) {
    n.deadlines.pop();
  }
}

void Network::Changed(NodeIndex node, NodeState& n, TimeMs now) {
  if (n.active == 0) n.demand = 0;  // no drift carried over an idle node
  observer_(node, now, n.active, n.demand);
}

void Network::Start(TerminalIndex t, NodeIndex node, TimeMs now, double bytes, std::optional<double> fail_after,
                    TimeMs deadline, double rate) {
  NodeState& n = nodes_[node];
  Advance(n, now);
  Download& d = downloads_[t];
  d.node = node;
  ++d.generation;
  d.active = true;
  d.fails = fail_after.has_value();
  d.start = n.served;
  d.rate = rate;
  n.ends.push(HeapEntry{n.served + (fail_after ? *fail_after : bytes) / rate, t, d.generation});
  n.deadlines.push(Deadline{deadline, t, d.generation});
  ++n.active;
  n.demand += rate;
  Changed(node, n, now);
}

std::optional<TimeMs> Network::NextEvent(NodeIndex node) {
  NodeState& n = nodes_[node];
  DropStale(n);
  if (n.ends.empty()) return std::nullopt;
  const double to_go = std::max(0.0, n.ends.top().target - n.served - kServiceSlack);
  const TimeMs end = n.last + static_cast<TimeMs>(std::ceil(to_go / Rate(n)));
  return std::min(end, n.deadlines.top().at);
}

std::vector<Network::Ended> Network::EndDue(NodeIndex node, TimeMs now) {
  NodeState& n = nodes_[node];
  Advance(n, now);
  std::vector<Ended> ended;
  auto finish = [&](TerminalIndex t, Outcome outcome, double bytes) {
    Download& d = downloads_[t];
    d.active = false;
    --n.active;
    n.demand -= d.rate;
    ended.push_back(Ended{t, outcome, bytes});
  };
  for (DropStale(n); !n.ends.empty() && n.ends.top().target <= n.served + kServiceSlack; DropStale(n)) {
    const HeapEntry top = n.ends.top();
    n.ends.pop();
    const Download& d = downloads_[top.terminal];
    finish(top.terminal, d.fails ? Outcome::kFailed : Outcome::kDone, (top.target - d.start) * d.rate);
  }
  for (DropStale(n); !n.deadlines.empty() && n.deadlines.top().at <= now; DropStale(n)) {
    const TerminalIndex t = n.deadlines.top().terminal;
    n.deadlines.pop();
    const Download& d = downloads_[t];
    finish(t, Outcome::kTimedOut, (n.served - d.start) * d.rate);
  }
  if (!ended.empty()) Changed(node, n, now);
  return ended;
}

}  // namespace slotwise::fleet::sim
