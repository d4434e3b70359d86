// The oracle for the edge validator: the verdict of validate.h computed the
// straightforward way, by parsing into the generated message with protobuf
// and checking the parsed fields. ValidateUpstream must agree with it on
// every input (tests/plugin/wire_scan_test.cpp, tests/plugin/fuzz_validate.cpp);
// the plugin itself uses the faster wire scan (wire_scan.h). The size and
// leaf checks in front of the parse are not the oracle's business.
#pragma once

#include <cmath>
#include <cstddef>

#include "slotwise/broker/validate.h"
#include "slotwise/v1/terminal.pb.h"

namespace slotwise::broker::testing {

inline bool ReferenceShortEnough(const std::string& s) { return s.size() <= kMaxStringField; }

inline bool ReferenceComponentsOk(const v1::Report& m) {
  if (static_cast<std::size_t>(m.components_size()) > kMaxComponents) return false;
  for (const v1::ComponentVersion& c : m.components()) {
    if (!topics::IsValidComponentName(c.component()) || !ReferenceShortEnough(c.version())) {
      return false;
    }
  }
  return true;
}

inline bool ReferenceMessageOk(const v1::Report& m) {
  const auto in_range = [](double x, double limit) {
    return std::isfinite(x) && x >= -limit && x <= limit;
  };
  return ReferenceComponentsOk(m) && ReferenceShortEnough(m.campaign_id()) &&
         ReferenceShortEnough(m.current_version()) &&
         ReferenceShortEnough(m.target_version()) && ReferenceShortEnough(m.system_id()) &&
         (!m.has_location() || (in_range(m.location().lat(), 90) && in_range(m.location().lon(), 180))) &&
         m.link_bps() <= kMaxLinkBps;
}

inline bool ReferenceMessageOk(const v1::Check& m) {
  return ReferenceShortEnough(m.campaign_id()) && ReferenceShortEnough(m.current_version()) &&
         m.slot() >= 0;
}

inline bool ReferenceMessageOk(const v1::Status& m) {
  return ReferenceShortEnough(m.campaign_id()) && ReferenceShortEnough(m.version()) &&
         ReferenceShortEnough(m.detail()) && m.progress_percent() <= 100 &&
         m.download_bytes() <= kMaxDownloadBytes && m.download_ms() <= kMaxDownloadMs;
}

template <class Message>
bool ReferenceParsesOk(const void* payload, std::size_t size) {
  Message m;
  return m.ParseFromArray(payload, static_cast<int>(size)) && ReferenceMessageOk(m);
}

// What ValidateUpstream must answer for `leaf` (an upstream leaf) and a
// payload within the size limit: kNone or kMalformed.
inline Reject ReferenceVerdict(topics::Leaf leaf, const void* payload, std::size_t size) {
  bool ok = false;
  switch (leaf) {
    case topics::Leaf::kReport: ok = ReferenceParsesOk<v1::Report>(payload, size); break;
    case topics::Leaf::kCheck: ok = ReferenceParsesOk<v1::Check>(payload, size); break;
    case topics::Leaf::kStatus: ok = ReferenceParsesOk<v1::Status>(payload, size); break;
    default: return Reject::kNotAuthorized;
  }
  return ok ? Reject::kNone : Reject::kMalformed;
}

}  // namespace slotwise::broker::testing
