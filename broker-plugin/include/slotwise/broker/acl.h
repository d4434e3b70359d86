// The access rules of schemas/README.md ("Access") as one pure decision
// function, so the matrix is unit-tested without a broker and the
// MOSQ_EVT_ACL_CHECK callback only translates arguments.
//
// Pure code with no mosquitto dependency. Safe from any thread.
#pragma once

#include <string_view>

#include "slotwise/broker/config.h"

namespace slotwise::broker {

// Mirrors MOSQ_ACL_READ/WRITE/SUBSCRIBE/UNSUBSCRIBE.
enum class Access {
  kRead,         // a message is about to be delivered to the client
  kWrite,        // the client published a message
  kSubscribe,    // the client asks for a topic filter (may hold wildcards)
  kUnsubscribe,  // held to the same rule as kSubscribe
};

std::string_view AccessName(Access access);

// True when `role` (connected with `username` and `client_id`) may perform
// `access` on `topic` (a topic name for read/write, a filter for
// subscribe/unsubscribe). Everything not explicitly allowed is denied:
//  * terminal {tid} (username == client id == tid, a valid terminal id):
//    write slotwise/v1/t/{tid}/report|check|status; subscribe filters under
//    slotwise/v1/t/{tid}/ ; read slotwise/v1/t/{tid}/notice|reply;
//  * operator {cid}: write slotwise/v1/op/request; subscribe and read
//    slotwise/v1/op/reply/{cid} exactly (a cid holding '+', '#' or '/' gets
//    nothing: it would widen that filter);
//  * service: read, write and subscribe anything under slotwise/
//    but write the plugin's own output (IsPluginOutput);
//  * nobody writes the plugin's own output: what arrives on presence and
//    stats topics was published by the plugin from inside the broker (the
//    broker's own publications skip the write ACL), so the scheduler can
//    take presence as the broker's word.
// `stats_topic` is plugin_opt_stats_topic.
bool IsAllowed(Role role, std::string_view username, std::string_view client_id,
               std::string_view topic, Access access,
               std::string_view stats_topic = kDefaultStatsTopic);

// True for the topics only the plugin publishes: slotwise/v1/presence/...
// and `stats_topic`.
bool IsPluginOutput(std::string_view topic, std::string_view stats_topic);

// True when a message `role` publishes may carry `response_topic` (its MQTT
// v5 Response Topic; "" = none, always allowed). The scheduler answers with
// the service's rights on the topic a request names, so a request naming a
// topic its sender may not read would make the scheduler write there for
// it (the confused deputy):
//  * terminal {tid}: only slotwise/v1/t/{tid}/reply;
//  * operator {cid}: only slotwise/v1/op/reply/{cid} (and nothing for a cid
//    holding '+', '#' or '/', which has no reply topic);
//  * service: anything (trusted).
// A refused message is dropped at the broker as 0x87 not authorized.
bool IsAllowedResponseTopic(Role role, std::string_view username, std::string_view client_id,
                            std::string_view response_topic);

}  // namespace slotwise::broker
