// ShardRoutes: which broker shard each terminal is connected to, learned
// from the presence each shard's broker plugin publishes (a cell of several
// mosquitto shards behind HAProxy; docker/README.md "Sharded brokers").
//
// The scheduler connects to every shard. A terminal is on the shard whose
// plugin last said it came online; its retained notices are published
// there (MqttServer). Presence from the shards is judged by its time
// (Presence.at_ms, the broker's clock):
//  * online from shard k, not older than what is known: the terminal is on
//    k (a move when it was on another shard);
//  * offline from the terminal's shard: it is offline there (it keeps the
//    shard, so a notice published meanwhile waits in that shard's retained
//    store for its return);
//  * offline from another shard (the old connection of a terminal that
//    moved, noticed late by the old broker), or anything older than what is
//    known (a retained presence a restarted broker still holds): stale,
//    ignored, and not passed on to the service.
// When the scheduler loses a shard (LoseShard), every terminal online there
// counts as offline from then (its time unchanged, so the shard's retained
// presence brings it back online when the shard returns).
//
// Pure and single-threaded (the scheduler thread owns it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace slotwise::scheduler {

class ShardRoutes {
 public:
  // What Observe made of one presence message.
  struct Verdict {
    bool accepted = false;                 // pass it on to the service
    bool arrived = false;                  // online, first seen or on another shard than before
    std::optional<std::size_t> left;       // the shard it moved away from, if it moved
  };

  Verdict Observe(std::string_view terminal_id, std::size_t shard, bool online, std::int64_t at_ms);

  // The shard the terminal was last seen online on; nullopt when unknown.
  std::optional<std::size_t> ShardOf(std::string_view terminal_id) const;

  // The scheduler lost its connection to `shard`: the terminals online
  // there become offline (returned, so the service hears it).
  std::vector<std::string> LoseShard(std::size_t shard);

  std::size_t size() const { return routes_.size(); }

 private:
  struct Route {
    std::size_t shard = 0;
    bool online = false;
    std::int64_t at_ms = 0;
  };
  std::unordered_map<std::string, Route> routes_;
};

}  // namespace slotwise::scheduler
