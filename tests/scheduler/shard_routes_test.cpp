// ShardRoutes (scheduler/include/slotwise/scheduler/shard_routes.h): which
// broker shard a terminal is on, from each shard's presence.
#include "slotwise/scheduler/shard_routes.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace slotwise::scheduler {
namespace {

TEST_CASE("shard routes: a terminal is on the shard whose presence said it came online") {
  ShardRoutes r;
  CHECK_FALSE(r.ShardOf("T1"));
  const auto first = r.Observe("T1", 2, true, 100);
  CHECK(first.accepted);
  CHECK(first.arrived);
  CHECK_FALSE(first.left);
  CHECK(r.ShardOf("T1") == 2u);
  // Online again on the same shard (a reconnect): no arrival, notices stay.
  const auto again = r.Observe("T1", 2, true, 200);
  CHECK(again.accepted);
  CHECK_FALSE(again.arrived);
}

TEST_CASE("shard routes: a move to another shard names the shard left") {
  ShardRoutes r;
  r.Observe("T1", 0, true, 100);
  const auto moved = r.Observe("T1", 1, true, 150);
  CHECK(moved.accepted);
  CHECK(moved.arrived);
  REQUIRE(moved.left);
  CHECK(*moved.left == 0u);
  CHECK(r.ShardOf("T1") == 1u);
}

TEST_CASE("shard routes: the old shard's late offline is stale, the new shard's is not") {
  ShardRoutes r;
  r.Observe("T1", 0, true, 100);
  r.Observe("T1", 1, true, 150);
  // Shard 0 notices the old connection's end after the move.
  CHECK_FALSE(r.Observe("T1", 0, false, 160).accepted);
  CHECK(r.ShardOf("T1") == 1u);
  const auto off = r.Observe("T1", 1, false, 170);
  CHECK(off.accepted);
  CHECK_FALSE(off.arrived);
  CHECK(r.ShardOf("T1") == 1u);  // keeps its shard while offline
}

TEST_CASE("shard routes: presence older than what is known is ignored") {
  ShardRoutes r;
  r.Observe("T1", 1, true, 500);
  // A restarted shard's retained presence from before.
  const auto old = r.Observe("T1", 0, true, 400);
  CHECK_FALSE(old.accepted);
  CHECK(r.ShardOf("T1") == 1u);
}

TEST_CASE("shard routes: losing a shard takes its online terminals offline until it reports again") {
  ShardRoutes r;
  r.Observe("A", 0, true, 100);
  r.Observe("B", 0, true, 100);
  r.Observe("C", 1, true, 100);
  r.Observe("D", 0, false, 100);
  auto lost = r.LoseShard(0);
  std::sort(lost.begin(), lost.end());
  CHECK(lost == std::vector<std::string>{"A", "B"});
  CHECK(r.LoseShard(0).empty());
  // The shard comes back and its retained presence (same time) says online.
  const auto back = r.Observe("A", 0, true, 100);
  CHECK(back.accepted);
  CHECK_FALSE(back.arrived);
  // Or the terminal shows up on another shard.
  const auto moved = r.Observe("B", 1, true, 120);
  CHECK(moved.arrived);
  CHECK(moved.left == std::optional<std::size_t>{0});
}

}  // namespace
}  // namespace slotwise::scheduler
