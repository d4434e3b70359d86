// Internal: the reply builders every request handler of the scheduler uses.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "slotwise/result.h"
#include "slotwise/v1/operator.pb.h"
#include "slotwise/v1/terminal.pb.h"

namespace slotwise::scheduler {

inline v1::OperatorReply Refuse(ErrorCode code, std::string message) {
  v1::OperatorReply r;
  *r.mutable_error() = MakeError(code, std::move(message)).ToProto();
  return r;
}

inline v1::OperatorReply Refuse(const Error& e) { return Refuse(e.code, e.message); }

inline v1::TerminalReply RefuseTerminal(const Error& e) {
  v1::TerminalReply r;
  *r.mutable_error() = e.ToProto();
  return r;
}

inline v1::OperatorReply AckReply() {
  v1::OperatorReply r;
  r.mutable_ack();
  return r;
}

inline v1::TerminalReply AckTerminal() {
  v1::TerminalReply r;
  r.mutable_ack();
  return r;
}

inline std::string_view CampaignStateName(v1::CampaignState s) { return v1::CampaignState_Name(s); }

}  // namespace slotwise::scheduler
