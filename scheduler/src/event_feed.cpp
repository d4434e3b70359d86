#include "slotwise/scheduler/event_feed.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <chrono>

#include "slotwise/scheduler/service.h"
#include "slotwise/topics.h"

namespace slotwise::scheduler {
namespace {

// Counting costs at most 1/kCostFactor of the time between two counts.
constexpr TimeMs kCostFactor = 20;

template <class Array, class NameFn>
void CountsInto(const Array& counts, google::protobuf::Map<std::string, std::uint32_t>& m, NameFn name) {
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    const std::string n = name(static_cast<int>(i));
    m[n.empty() ? std::to_string(i) : n] = counts[i];
  }
}

std::string ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

// What makes a node event go out at once (the rest is load, rate-limited).
bool SameStanding(const v1::NodeEvent& a, const v1::NodeEvent& b) {
  return a.state() == b.state() && a.health() == b.health() && a.per_slot() == b.per_slot() &&
         a.cluster_id() == b.cluster_id();
}
bool SameLoad(const v1::NodeEvent& a, const v1::NodeEvent& b) {
  return a.booked() == b.booked() && a.active_connections() == b.active_connections() &&
         a.effective_per_slot() == b.effective_per_slot() && a.health_detail() == b.health_detail();
}

}  // namespace

bool Coalescer::Admit(std::string_view key, TimeMs now, TimeMs interval_ms) {
  auto it = last_.find(key);
  if (it != last_.end() && now - it->second < interval_ms && now >= it->second) return false;
  if (it == last_.end()) {
    last_.emplace(std::string(key), now);
  } else {
    it->second = now;
  }
  return true;
}

CampaignCounts CountCampaign(const CampaignRecord& record) {
  CampaignCounts c;
  for (const auto& [tid, p] : record.progress) {
    ++c.terminals;
    const auto o = static_cast<std::size_t>(p.outcome());
    if (o < c.outcomes.size()) ++c.outcomes[o];
    const auto s = static_cast<std::size_t>(p.state());
    if (s < c.states.size()) ++c.states[s];
    if (HasOutcome(p)) {
      ++c.finished;
    } else {
      ++(p.assigned() ? c.assigned : c.pending);
    }
  }
  return c;
}

v1::CampaignProgressEvent ProgressOf(const v1::Campaign& campaign, const CampaignCounts& counts) {
  v1::CampaignProgressEvent e;
  e.set_campaign_id(campaign.id());
  e.set_state(campaign.state());
  e.set_terminals(counts.terminals);
  e.set_finished(counts.finished);
  e.set_assigned(counts.assigned);
  e.set_pending(counts.pending);
  CountsInto(counts.outcomes, *e.mutable_outcomes(), [](int i) {
    return v1::TerminalProgress::Outcome_IsValid(i)
               ? v1::TerminalProgress::Outcome_Name(static_cast<v1::TerminalProgress::Outcome>(i))
               : std::string();
  });
  CountsInto(counts.states, *e.mutable_states(), [](int i) {
    return v1::Status::State_IsValid(i) ? v1::Status::State_Name(static_cast<v1::Status::State>(i)) : std::string();
  });
  return e;
}

TimeMs EventFeed::ProgressInterval(std::string_view campaign_id) const {
  auto it = campaigns_.find(campaign_id);
  return it == campaigns_.end() ? options_.progress_interval_ms
                                : std::max(options_.progress_interval_ms, it->second.interval_ms);
}

FeedEvent EventFeed::Make(TimeMs now, v1::LiveEvent&& event, std::string name, std::string topic,
                          std::string campaign_id) {
  FeedEvent f;
  event.set_seq(++seq_);
  event.set_time_ms(now);
  f.event = std::move(event);
  f.name = std::move(name);
  f.json = ToJson(f.event);
  f.topic = std::move(topic);
  f.campaign_id = std::move(campaign_id);
  return f;
}

std::vector<FeedEvent> EventFeed::Collect(const SchedulerService& service) {
  const TimeMs now = service.clock().NowMs();
  std::vector<FeedEvent> out;
  if (!started_) {
    started_ = true;
    generation_ = service.generation();
    for (const auto& [id, record] : service.campaigns().all()) campaigns_[id].state = record.campaign.state();
    std::vector<FeedEvent> ignored;
    CollectNodes(service, now, ignored);
    return out;
  }
  CollectCampaigns(service, now, out);
  CollectNodes(service, now, out);
  return out;
}

void EventFeed::CollectCampaigns(const SchedulerService& service, TimeMs now, std::vector<FeedEvent>& out) {
  const auto& all = service.campaigns().all();
  auto count = [](const CampaignRecord& record, CampaignSeen& seen, TimeMs floor) {
    const auto t0 = std::chrono::steady_clock::now();
    CampaignCounts c = CountCampaign(record);
    const auto cost = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    seen.interval_ms = std::max<TimeMs>(floor, static_cast<TimeMs>(cost.count()) * kCostFactor);
    return c;
  };
  if (service.generation() != generation_) {
    generation_ = service.generation();
    for (const auto& [id, record] : all) {
      CampaignSeen& seen = campaigns_[id];
      const auto state = record.campaign.state();
      if (state == seen.state) {
        if (!IsFinalCampaign(state)) dirty_.insert(id);
        continue;
      }
      // A change of state: the counts of that moment, at once.
      const CampaignCounts c = count(record, seen, options_.progress_interval_ms);
      v1::LiveEvent progress;
      *progress.mutable_campaign_progress() = ProgressOf(record.campaign, c);
      out.push_back(Make(now, std::move(progress), "campaign_progress", topics::CampaignEvents(id), id));
      v1::LiveEvent changed;
      auto* s = changed.mutable_campaign_state();
      s->set_campaign_id(id);
      s->set_previous_state(seen.state);
      s->set_state(state);
      if (state == v1::PAUSED) s->set_reason(record.campaign.paused_reason());
      *s->mutable_progress() = out.back().event.campaign_progress();
      out.push_back(Make(now, std::move(changed), "campaign_state", topics::CampaignEvents(id), id));
      seen.state = state;
      seen.counts = c;
      (void)progress_limit_.Admit(id, now, 0);
      dirty_.erase(id);
    }
  }
  for (auto it = dirty_.begin(); it != dirty_.end();) {
    const CampaignRecord* record = service.campaigns().Find(*it);
    CampaignSeen& seen = campaigns_[*it];
    if (record == nullptr) {
      it = dirty_.erase(it);
      continue;
    }
    if (!progress_limit_.Admit(*it, now, std::max(options_.progress_interval_ms, seen.interval_ms))) {
      ++it;  // held back: a later Collect sends it
      continue;
    }
    const CampaignCounts c = count(*record, seen, options_.progress_interval_ms);
    if (!(c == seen.counts)) {
      v1::LiveEvent progress;
      *progress.mutable_campaign_progress() = ProgressOf(record->campaign, c);
      out.push_back(Make(now, std::move(progress), "campaign_progress", topics::CampaignEvents(*it), *it));
      seen.counts = c;
    }
    it = dirty_.erase(it);
  }
}

void EventFeed::CollectNodes(const SchedulerService& service, TimeMs now, std::vector<FeedEvent>& out) {
  const v1::OperatorReply list = service.registry().ListNodes();
  const Slot slot = service.grid().SlotAt(now);
  for (const auto& n : list.nodes().nodes()) {
    v1::NodeEvent e;
    e.set_node_id(n.id());
    e.set_cluster_id(n.cluster_id());
    e.set_state(n.state());
    e.set_health(n.health());
    e.set_health_detail(n.health_detail());
    e.set_per_slot(n.per_slot());
    e.set_effective_per_slot(n.effective_per_slot());
    e.set_booked(service.ledger().Booked(n.id(), slot));
    e.set_active_connections(n.active_connections());
    auto seen = nodes_.find(n.id());
    const bool fresh = seen == nodes_.end();
    if (!fresh && SameStanding(seen->second, e) && SameLoad(seen->second, e)) continue;
    const bool urgent = fresh || !SameStanding(seen->second, e);
    if (!urgent && !load_limit_.Admit(n.id(), now, options_.load_interval_ms)) continue;
    if (urgent) (void)load_limit_.Admit(n.id(), now, 0);
    nodes_[n.id()] = e;
    v1::LiveEvent live;
    *live.mutable_node() = std::move(e);
    out.push_back(Make(now, std::move(live), "node", topics::NodeEvents(n.id()), ""));
  }
}

}  // namespace slotwise::scheduler
