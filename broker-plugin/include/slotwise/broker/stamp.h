// What the plugin adds to a terminal's accepted message and what it answers
// to a rejected one.
//
// Pure code. Safe from any thread.
#pragma once

#include <string>

#include "slotwise/broker/validate.h"

namespace slotwise::broker {

// MQTT v5 user property set on every terminal upstream message the plugin
// passes on: name kStampProperty, value the authenticated terminal id. A
// message that already carries it with another value (or carries it twice)
// is dropped (0x87), so a subscriber can trust the one it sees.
inline constexpr const char* kStampProperty = "slotwise-terminal";

// The same for an operator's request on slotwise/v1/op/request: the plugin
// adds `slotwise-operator` = the authenticated operator's username and
// `slotwise-operator-client` = its client id (the scheduler answers only on
// slotwise/v1/op/reply/{that client id}). A request already carrying either
// with another value, or twice, is dropped (0x87).
inline constexpr const char* kOperatorStampProperty = "slotwise-operator";
inline constexpr const char* kOperatorClientProperty = "slotwise-operator-client";

// slotwise.v1.TerminalReply{error{code, message}} for a dropped request:
// code MALFORMED for 0x99, INVALID_ARGUMENT for 0x95, UNAUTHENTICATED for
// 0x87 (a stamp naming another terminal), ERROR_CODE_UNSPECIFIED otherwise;
// message starts with the reason code, e.g.
// "0x99 payload_format_invalid: dropped by the broker".
std::string EncodeRejectionReply(Reject reject);

}  // namespace slotwise::broker
