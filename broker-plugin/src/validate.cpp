// Edge payload validation (see validate.h).
#include "slotwise/broker/validate.h"

#include <cmath>

#include "slotwise/v1/terminal.pb.h"

namespace slotwise::broker {
namespace {

bool ShortEnough(const std::string& s) { return s.size() <= kMaxStringField; }

bool LocationOk(const v1::Location& loc) {
  return std::isfinite(loc.lat()) && std::isfinite(loc.lon()) && loc.lat() >= -90.0 &&
         loc.lat() <= 90.0 && loc.lon() >= -180.0 && loc.lon() <= 180.0;
}

// Parses into one message object per type and thread, kept between calls:
// ParseFromArray() clears it first, and reusing it spares the broker's hot
// path an allocation and a destruction per message (its string buffers keep
// their capacity). The broker calls from its main thread only.
template <class Message>
const Message* Parse(const void* payload, std::size_t size) {
  thread_local Message msg;
  // size <= max_payload_bytes <= 268435455 (MQTT's own limit) fits an int.
  return msg.ParseFromArray(payload, static_cast<int>(size)) ? &msg : nullptr;
}

bool ReportOk(const void* payload, std::size_t size) {
  const auto* parsed = Parse<v1::Report>(payload, size);
  if (!parsed) return false;
  const v1::Report& m = *parsed;
  return ShortEnough(m.campaign_id()) && ShortEnough(m.current_version()) &&
         ShortEnough(m.target_version()) && ShortEnough(m.system_id()) &&
         (!m.has_location() || LocationOk(m.location()));
}

bool CheckOk(const void* payload, std::size_t size) {
  const auto* parsed = Parse<v1::Check>(payload, size);
  if (!parsed) return false;
  const v1::Check& m = *parsed;
  return ShortEnough(m.campaign_id()) && ShortEnough(m.current_version()) && m.slot() >= 0;
}

bool StatusOk(const void* payload, std::size_t size) {
  const auto* parsed = Parse<v1::Status>(payload, size);
  if (!parsed) return false;
  const v1::Status& m = *parsed;
  return ShortEnough(m.campaign_id()) && ShortEnough(m.version()) &&
         ShortEnough(m.detail()) && m.progress_percent() <= 100;
  // An unknown state is NOT refused: readers treat it as STATE_UNSPECIFIED
  // (schemas/README.md, compatibility rules), so newer agents keep working.
}

}  // namespace

std::uint8_t ReasonCode(Reject reject) {
  switch (reject) {
    case Reject::kNone: return 0x00;
    case Reject::kMalformed: return 0x99;
    case Reject::kTooLarge: return 0x95;
    case Reject::kNotAuthorized: return 0x87;
    case Reject::kRateLimited: return 0x96;
  }
  return 0x80;
}

std::string_view RejectName(Reject reject) {
  switch (reject) {
    case Reject::kNone: return "accepted";
    case Reject::kMalformed: return "payload_format_invalid";
    case Reject::kTooLarge: return "packet_too_large";
    case Reject::kNotAuthorized: return "not_authorized";
    case Reject::kRateLimited: return "message_rate_too_high";
  }
  return "unknown";
}

Reject ValidateUpstream(topics::Leaf leaf, const void* payload, std::size_t size,
                        std::size_t max_payload_bytes) {
  if (!topics::IsUpstream(leaf)) return Reject::kNotAuthorized;
  if (size > max_payload_bytes || size > 268'435'455) return Reject::kTooLarge;
  if (size > 0 && payload == nullptr) return Reject::kMalformed;
  bool ok = false;
  switch (leaf) {
    case topics::Leaf::kReport: ok = ReportOk(payload, size); break;
    case topics::Leaf::kCheck: ok = CheckOk(payload, size); break;
    case topics::Leaf::kStatus: ok = StatusOk(payload, size); break;
    default: return Reject::kNotAuthorized;
  }
  return ok ? Reject::kNone : Reject::kMalformed;
}

}  // namespace slotwise::broker
