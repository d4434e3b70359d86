// EventFeed (the live events), its Coalescer, and the webhooks' signature.
#include <doctest/doctest.h>

#include <algorithm>

#include "harness.h"
#include "slotwise/scheduler/event_feed.h"
#include "slotwise/scheduler/webhooks.h"

namespace slotwise::scheduler {
namespace {

using testing::Harness;

std::vector<FeedEvent> Of(const std::vector<FeedEvent>& all, const std::string& name) {
  std::vector<FeedEvent> out;
  std::copy_if(all.begin(), all.end(), std::back_inserter(out), [&](const FeedEvent& e) { return e.name == name; });
  return out;
}

v1::OperatorRequest Remove(const std::string& campaign, const std::string& tid) {
  v1::OperatorRequest r;
  r.mutable_remove_terminals()->set_campaign_id(campaign);
  r.mutable_remove_terminals()->add_terminal_ids(tid);
  return r;
}

struct World {
  Harness h{false};
  EventFeed feed;
  World() {
    REQUIRE_FALSE(h.Op(testing::AddCluster("c", 52.0, 13.0)).has_error());
    REQUIRE_FALSE(h.Op(testing::AddNode("n1", "c", 5)).has_error());
    REQUIRE_FALSE(h.Op(testing::AddArtifact("2.0.0")).has_error());
    CHECK(feed.Collect(h.svc()).empty());  // the first call only learns
  }
};

}  // namespace

TEST_CASE("event feed: coalescer admits one emission per key per interval") {
  Coalescer c;
  CHECK(c.Admit("a", 1000, 250));
  CHECK_FALSE(c.Admit("a", 1100, 250));
  CHECK_FALSE(c.Admit("a", 1249, 250));
  CHECK(c.Admit("b", 1100, 250));  // keys are independent
  CHECK(c.Admit("a", 1250, 250));
  CHECK(c.Admit("a", 1250, 0));    // interval 0: always
  CHECK(c.Admit("a", 900, 250));   // the clock went back: admitted
  c.Forget("a");
  CHECK(c.Admit("a", 901, 250));
}

TEST_CASE("event feed: a new campaign gives a state event with its counts") {
  World w;
  REQUIRE_FALSE(w.h.Op(testing::CreateCampaign("k1", "2.0.0", {"T1", "T2", "T3"})).has_error());
  const auto events = w.feed.Collect(w.h.svc());
  const auto states = Of(events, "campaign_state");
  REQUIRE(states.size() == 1);
  const auto& s = states[0].event.campaign_state();
  CHECK(s.campaign_id() == "k1");
  CHECK(s.previous_state() == v1::CAMPAIGN_STATE_UNSPECIFIED);
  CHECK(s.state() == v1::DRAFT);
  CHECK(s.progress().terminals() == 3);
  CHECK(s.progress().finished() == 0);
  CHECK(states[0].topic == "slotwise/v1/op/events/campaign/k1");
  CHECK(states[0].campaign_id == "k1");
  CHECK(states[0].json.find("\"campaignState\"") != std::string::npos);
  REQUIRE(Of(events, "campaign_progress").size() == 1);
  CHECK(w.feed.Collect(w.h.svc()).empty());  // nothing changed: nothing sent
}

TEST_CASE("event feed: progress is coalesced to one event per interval and the held-back one follows") {
  World w;
  REQUIRE_FALSE(w.h.Op(testing::CreateCampaign("k1", "2.0.0", {"T1", "T2", "T3", "T4"})).has_error());
  (void)w.feed.Collect(w.h.svc());
  w.h.clock().Advance(300);
  REQUIRE_FALSE(w.h.Op(Remove("k1", "T1")).has_error());
  auto events = w.feed.Collect(w.h.svc());
  REQUIRE(Of(events, "campaign_progress").size() == 1);
  CHECK(Of(events, "campaign_progress")[0].event.campaign_progress().finished() == 1);
  CHECK(Of(events, "campaign_progress")[0].event.campaign_progress().outcomes().at("REMOVED") == 1);
  // Two more changes within the interval: held back...
  w.h.clock().Advance(50);
  REQUIRE_FALSE(w.h.Op(Remove("k1", "T2")).has_error());
  CHECK(Of(w.feed.Collect(w.h.svc()), "campaign_progress").empty());
  w.h.clock().Advance(50);
  REQUIRE_FALSE(w.h.Op(Remove("k1", "T3")).has_error());
  CHECK(Of(w.feed.Collect(w.h.svc()), "campaign_progress").empty());
  // ... and sent as one, with the newest counts, once the interval is over
  // (a later Collect, e.g. the loop's tick, with no new write).
  w.h.clock().Advance(200);
  events = w.feed.Collect(w.h.svc());
  REQUIRE(Of(events, "campaign_progress").size() == 1);
  CHECK(Of(events, "campaign_progress")[0].event.campaign_progress().finished() == 3);
  CHECK(w.feed.ProgressInterval("k1") >= 250);
}

TEST_CASE("event feed: the last terminal makes DONE at once with the final counts") {
  World w;
  REQUIRE_FALSE(w.h.Op(testing::CreateCampaign("k1", "2.0.0", {"T1", "T2"})).has_error());
  (void)w.feed.Collect(w.h.svc());
  REQUIRE_FALSE(w.h.Op(Remove("k1", "T1")).has_error());
  (void)w.feed.Collect(w.h.svc());
  REQUIRE_FALSE(w.h.Op(Remove("k1", "T2")).has_error());  // within the interval, yet not held back
  const auto events = w.feed.Collect(w.h.svc());
  const auto states = Of(events, "campaign_state");
  REQUIRE(states.size() == 1);
  CHECK(states[0].event.campaign_state().previous_state() == v1::DRAFT);
  CHECK(states[0].event.campaign_state().state() == v1::DONE);
  CHECK(states[0].event.campaign_state().progress().finished() == 2);
  const auto progress = Of(events, "campaign_progress");
  REQUIRE(progress.size() == 1);  // so a progress reader reaches 100 %
  CHECK(progress[0].event.campaign_progress().finished() == 2);
  CHECK(progress[0].event.seq() < states[0].event.seq());
}

TEST_CASE("event feed: a node's state change goes out at once") {
  World w;
  v1::OperatorRequest drain;
  drain.mutable_set_node_state()->set_node_id("n1");
  drain.mutable_set_node_state()->set_state(v1::DRAINING);
  REQUIRE_FALSE(w.h.Op(drain).has_error());
  const auto nodes = Of(w.feed.Collect(w.h.svc()), "node");
  REQUIRE(nodes.size() == 1);
  CHECK(nodes[0].event.node().node_id() == "n1");
  CHECK(nodes[0].event.node().state() == v1::DRAINING);
  CHECK(nodes[0].event.node().per_slot() == 5);
  CHECK(nodes[0].topic == "slotwise/v1/op/events/node/n1");
  CHECK(nodes[0].campaign_id.empty());
  CHECK(Of(w.feed.Collect(w.h.svc()), "node").empty());
}

TEST_CASE("webhooks: the signature is HMAC-SHA256 in hex (RFC 4231 case 2)") {
  CHECK(WebhookSignature("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

}  // namespace slotwise::scheduler
