// Edge payload validation (see validate.h).
#include "slotwise/broker/validate.h"

#include <cmath>
#include <cstring>

#include "slotwise/broker/wire_scan.h"
#include "slotwise/geo.h"
#include "slotwise/v1/terminal.pb.h"

namespace slotwise::broker {
namespace {

// The upstream messages' wire scans and the fields the value checks read,
// resolved once (by field name, so a renamed field fails loudly here).
struct UpstreamSchemas {
  WireScan report{*v1::Report::descriptor()};
  std::size_t report_location = report.FieldIndex("location");
  std::size_t report_lat = report.FieldIndex("location.lat");
  std::size_t report_lon = report.FieldIndex("location.lon");
  std::size_t report_components = report.FieldIndex("components");
  std::size_t component_name = report.FieldIndex("components.component");
  std::size_t component_version = report.FieldIndex("components.version");
  std::size_t report_link_bps = report.FieldIndex("link_bps");
  WireScan check{*v1::Check::descriptor()};
  std::size_t check_slot = check.FieldIndex("slot");
  WireScan status{*v1::Status::descriptor()};
  std::size_t status_progress = status.FieldIndex("progress_percent");
  std::size_t status_download_bytes = status.FieldIndex("download_bytes");
  std::size_t status_download_ms = status.FieldIndex("download_ms");
};

const UpstreamSchemas& Schemas() {
  static const UpstreamSchemas schemas;
  return schemas;
}

bool StringsShortEnough(const WireScan& scan, const WireScan::Values& v) {
  for (const std::size_t i : scan.string_fields()) {
    if (v.raw[i] > kMaxStringField) return false;
  }
  return true;
}

double DoubleOf(const WireScan::Values& v, std::size_t field) {
  double d = 0;
  static_assert(sizeof d == sizeof v.raw[field]);
  std::memcpy(&d, &v.raw[field], sizeof d);
  return d;
}

// Each element of Report.components: a valid component name, a version
// within the string limit, at most kMaxComponents of them.
class ComponentsOk final : public WireScan::ElementCheck {
 public:
  explicit ComponentsOk(const UpstreamSchemas& s) : s_(s) {}
  bool Element(std::size_t /*repeated_field*/, const WireScan::Values& v) const override {
    return v.raw[s_.report_components] <= kMaxComponents &&
           topics::IsValidComponentName(v.Text(s_.component_name)) &&
           v.raw[s_.component_version] <= kMaxStringField;
  }

 private:
  const UpstreamSchemas& s_;
};

// Each check reads the fields' final values, as a parsed message would
// hold them (a field never sent reads as its default).
bool ReportOk(const void* payload, std::size_t size) {
  const UpstreamSchemas& s = Schemas();
  const ComponentsOk components(s);
  WireScan::Values v;
  return s.report.Scan(payload, size, v, &components) && StringsShortEnough(s.report, v) &&
         (!v.Has(s.report_location) ||
          geo::IsValid(DoubleOf(v, s.report_lat), DoubleOf(v, s.report_lon))) &&
         v.raw[s.report_link_bps] <= kMaxLinkBps;
  // An unknown link_kind is NOT refused (read as unspecified), as Status.state.
}

bool CheckOk(const void* payload, std::size_t size) {
  const UpstreamSchemas& s = Schemas();
  WireScan::Values v;
  // int64 slot: the varint's 64 bits as two's complement.
  return s.check.Scan(payload, size, v) && StringsShortEnough(s.check, v) &&
         static_cast<std::int64_t>(v.raw[s.check_slot]) >= 0;
}

bool StatusOk(const void* payload, std::size_t size) {
  const UpstreamSchemas& s = Schemas();
  WireScan::Values v;
  // uint32 progress_percent: the varint's low 32 bits, as protobuf keeps them.
  return s.status.Scan(payload, size, v) && StringsShortEnough(s.status, v) &&
         static_cast<std::uint32_t>(v.raw[s.status_progress]) <= 100 &&
         v.raw[s.status_download_bytes] <= kMaxDownloadBytes && v.raw[s.status_download_ms] <= kMaxDownloadMs;
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
