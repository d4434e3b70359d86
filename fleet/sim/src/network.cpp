#include "slotwise/fleet/sim/network.h"

#include <cmath>

namespace slotwise::fleet::sim {
namespace {
// Bytes a download may lack and still count as complete: V drifts by float
// rounding over a long run (1 byte is microseconds at any rate simulated).
constexpr double kByteSlack = 1.0;
}  // namespace

Network::Network(const Fleet& fleet, LoadObserver observer)
    : full_rate_(fleet.FullRate()),
      nodes_(fleet.nodes.size()),
      downloads_(fleet.terminals.size()),
      observer_(std::move(observer)) {
  for (std::size_t i = 0; i < nodes_.size(); ++i) nodes_[i].per_slot = fleet.nodes[i].per_slot;
}

double Network::Rate(const NodeState& n) const {
  if (n.active <= n.per_slot) return full_rate_;
  return full_rate_ * static_cast<double>(n.per_slot) / static_cast<double>(n.active);
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
  while (!n.deadlines.empty() && !Current(n.deadlines.front().terminal, n.deadlines.front().generation)) {
    n.deadlines.pop_front();
  }
}

void Network::SetActive(NodeIndex node, NodeState& n, TimeMs now, std::uint32_t active) {
  n.active = active;
  observer_(node, now, active);
}

void Network::Start(TerminalIndex t, NodeIndex node, TimeMs now, double bytes, std::optional<double> fail_after,
                    TimeMs deadline) {
  NodeState& n = nodes_[node];
  Advance(n, now);
  Download& d = downloads_[t];
  d.node = node;
  ++d.generation;
  d.active = true;
  d.fails = fail_after.has_value();
  d.start = n.served;
  n.ends.push(HeapEntry{n.served + (fail_after ? *fail_after : bytes), t, d.generation});
  n.deadlines.push_back(Deadline{deadline, t, d.generation});
  SetActive(node, n, now, n.active + 1);
}

std::optional<TimeMs> Network::NextEvent(NodeIndex node) {
  NodeState& n = nodes_[node];
  DropStale(n);
  if (n.ends.empty()) return std::nullopt;
  const double to_go = std::max(0.0, n.ends.top().target - n.served - kByteSlack);
  const TimeMs end = n.last + static_cast<TimeMs>(std::ceil(to_go / Rate(n)));
  return std::min(end, n.deadlines.front().at);
}

std::vector<Network::Ended> Network::EndDue(NodeIndex node, TimeMs now) {
  NodeState& n = nodes_[node];
  Advance(n, now);
  std::vector<Ended> ended;
  for (DropStale(n); !n.ends.empty() && n.ends.top().target <= n.served + kByteSlack; DropStale(n)) {
    const HeapEntry top = n.ends.top();
    n.ends.pop();
    Download& d = downloads_[top.terminal];
    d.active = false;
    ended.push_back(Ended{top.terminal, d.fails ? Outcome::kFailed : Outcome::kDone, top.target - d.start});
  }
  for (DropStale(n); !n.deadlines.empty() && n.deadlines.front().at <= now; DropStale(n)) {
    Download& d = downloads_[n.deadlines.front().terminal];
    d.active = false;
    ended.push_back(Ended{n.deadlines.front().terminal, Outcome::kTimedOut, n.served - d.start});
    n.deadlines.pop_front();
  }
  if (!ended.empty()) SetActive(node, n, now, n.active - static_cast<std::uint32_t>(ended.size()));
  return ended;
}

}  // namespace slotwise::fleet::sim
