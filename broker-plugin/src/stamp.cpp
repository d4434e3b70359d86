// Rejection replies (see stamp.h).
#include "slotwise/broker/stamp.h"

#include <cstdio>

#include "slotwise/v1/terminal.pb.h"

namespace slotwise::broker {

std::string EncodeRejectionReply(Reject reject) {
  v1::TerminalReply reply;
  auto* error = reply.mutable_error();
  switch (reject) {
    case Reject::kMalformed: error->set_code(v1::MALFORMED); break;
    case Reject::kTooLarge: error->set_code(v1::INVALID_ARGUMENT); break;
    // The only 0x87 answered here: a slotwise-terminal property naming
    // another terminal (a foreign Response Topic gets no reply).
    case Reject::kNotAuthorized: error->set_code(v1::UNAUTHENTICATED); break;
    default: error->set_code(v1::ERROR_CODE_UNSPECIFIED); break;
  }
  char code[8];
  std::snprintf(code, sizeof code, "0x%02x", static_cast<unsigned>(ReasonCode(reject)));
  error->set_message(std::string(code) + " " + std::string(RejectName(reject)) +
                     ": dropped by the broker");
  return reply.SerializeAsString();
}

}  // namespace slotwise::broker
