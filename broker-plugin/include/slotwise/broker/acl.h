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
//  * service: read, write and subscribe anything under slotwise/.
bool IsAllowed(Role role, std::string_view username, std::string_view client_id,
               std::string_view topic, Access access);

}  // namespace slotwise::broker
