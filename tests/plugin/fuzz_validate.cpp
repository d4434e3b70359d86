// libFuzzer target for the edge payload validator (validate.h): whatever a
// terminal sends on an upstream topic, ValidateUpstream must return a
// verdict without crashing, leaking or reading out of bounds (built with
// -fsanitize=fuzzer,address,undefined by clang); the verdict must be the one
// protobuf's own parser gives (validate_reference.h: the validator walks the
// wire format instead of parsing, wire_scan.h); and an accepted payload must
// stay accepted after a parse/serialize round trip.
//
// Input layout: byte 0 picks the topic leaf, the rest is the payload.
// Short run: ctest -R plugin/fuzz_validate. Longer run: broker-plugin/README.md.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "slotwise/broker/validate.h"
#include "slotwise/v1/terminal.pb.h"
#include "validate_reference.h"

using slotwise::broker::Reject;
using slotwise::broker::ValidateUpstream;
using slotwise::topics::Leaf;

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  google::protobuf::SetLogHandler(nullptr);  // invalid UTF-8 would log on every run
  return 0;
}

namespace {

template <class Message>
void RoundTrip(const uint8_t* data, std::size_t size, Leaf leaf) {
  Message m;
  if (!m.ParseFromArray(data, static_cast<int>(size))) std::abort();
  const std::string again = m.SerializeAsString();
  // Re-serialised (unknown fields kept) it must still pass, with a limit
  // large enough for the canonical form.
  if (ValidateUpstream(leaf, again.data(), again.size(), again.size() + 1) != Reject::kNone) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  constexpr Leaf kLeaves[] = {Leaf::kReport, Leaf::kCheck, Leaf::kStatus, Leaf::kNotice,
                              Leaf::kReply};
  const Leaf leaf = kLeaves[data[0] % 5];
  const uint8_t* payload = data + 1;
  const std::size_t len = size - 1;
  const Reject verdict = ValidateUpstream(leaf, payload, len, 4096);
  if (slotwise::topics::IsUpstream(leaf) && len <= 4096 &&
      verdict != slotwise::broker::testing::ReferenceVerdict(leaf, payload, len)) {
    std::abort();  // the wire scan disagrees with protobuf
  }
  if (verdict == Reject::kNone) {
    switch (leaf) {
      case Leaf::kReport: RoundTrip<slotwise::v1::Report>(payload, len, leaf); break;
      case Leaf::kCheck: RoundTrip<slotwise::v1::Check>(payload, len, leaf); break;
      case Leaf::kStatus: RoundTrip<slotwise::v1::Status>(payload, len, leaf); break;
      default: std::abort();  // downstream leaves are never accepted
    }
  } else if (verdict == Reject::kTooLarge && len <= 4096) {
    std::abort();
  }
  return 0;
}
