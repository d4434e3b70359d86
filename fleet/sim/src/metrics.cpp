#include "slotwise/fleet/sim/metrics.h"

#include <algorithm>
#include <cmath>

namespace slotwise::fleet::sim {

LoadTimeline::LoadTimeline(std::size_t nodes, TimeMs start, std::int64_t bucket_ms)
    : start_(start), bucket_ms_(bucket_ms), nodes_(nodes) {
  for (auto& n : nodes_) n.since = start;
}

std::size_t LoadTimeline::Bucket(TimeMs t) const {
  return t <= start_ ? 0 : static_cast<std::size_t>((t - start_) / bucket_ms_);
}

void LoadTimeline::Grow(NodeLoad& n, std::size_t bucket) {
  if (n.max.size() <= bucket) {
    n.max.resize(bucket + 1, 0);
    n.area.resize(bucket + 1, 0);
  }
  buckets_ = std::max(buckets_, bucket + 1);
}

void LoadTimeline::Accumulate(NodeLoad& n, TimeMs until) {
  until = std::max(until, start_);
  while (n.since < until) {
    const std::size_t b = Bucket(n.since);
    const TimeMs bucket_end = start_ + static_cast<TimeMs>(b + 1) * bucket_ms_;
    const TimeMs to = std::min(until, bucket_end);
    Grow(n, b);
    n.area[b] += n.active * static_cast<double>(to - n.since);
    n.max[b] = std::max(n.max[b], n.active);
    n.since = to;
  }
}

void LoadTimeline::Record(NodeIndex node, TimeMs now, double active) {
  NodeLoad& n = nodes_[node];
  Accumulate(n, now);
  n.active = active;
  const std::size_t b = Bucket(now);
  Grow(n, b);
  n.max[b] = std::max(n.max[b], active);
}

void LoadTimeline::Finish(TimeMs end) {
  for (auto& n : nodes_) Accumulate(n, end);
}

double LoadTimeline::Max(NodeIndex node, std::size_t bucket) const {
  const auto& m = nodes_[node].max;
  return bucket < m.size() ? m[bucket] : 0;
}

double LoadTimeline::Mean(NodeIndex node, std::size_t bucket) const {
  const auto& a = nodes_[node].area;
  return bucket < a.size() ? a[bucket] / static_cast<double>(bucket_ms_) : 0;
}

std::int64_t Quantile(std::vector<std::int64_t>& values, double q) {
  if (values.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
  const auto k = std::min(values.size() - 1, rank == 0 ? 0 : rank - 1);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

}  // namespace slotwise::fleet::sim
