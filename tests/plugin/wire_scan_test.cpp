// The edge validator's wire scan (broker-plugin/include/slotwise/broker/
// wire_scan.h) against protobuf's own parser: every hand-made corner of the
// wire format gets the verdict it should, and the same verdict as
// ParseFromArray plus the value checks (validate_reference.h); then random
// mutations of real messages must agree too.
#include <doctest/doctest.h>

#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <initializer_list>
#include <random>
#include <stdexcept>
#include <string>

#include "slotwise/broker/validate.h"
#include "slotwise/broker/wire_scan.h"
#include "slotwise/v1/agent_state.pb.h"
#include "slotwise/v1/terminal.pb.h"
#include "validate_reference.h"

using namespace slotwise;
using namespace slotwise::broker;
using topics::Leaf;

namespace {

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

std::string Repeat(const std::string& part, int times) {
  std::string s;
  for (int i = 0; i < times; ++i) s += part;
  return s;
}

std::string Varint(std::uint64_t value) {
  std::string s;
  for (; value >= 0x80; value >>= 7) s.push_back(static_cast<char>((value & 0x7F) | 0x80));
  s.push_back(static_cast<char>(value));
  return s;
}

// A length-delimited field: tag byte, length, content.
std::string Delimited(int tag, const std::string& content) {
  return Bytes({tag}) + Varint(content.size()) + content;
}

// The 8 bytes of a double on the wire.
std::string Raw(double value) {
  return std::string(reinterpret_cast<const char*>(&value), sizeof value);
}

std::string Double(int tag, double value) { return Bytes({tag}) + Raw(value); }

// Silences protobuf's log line for each invalid UTF-8 string it parses.
class QuietProtobuf {
 public:
  QuietProtobuf() : previous_(google::protobuf::SetLogHandler(nullptr)) {}
  ~QuietProtobuf() { google::protobuf::SetLogHandler(previous_); }
  QuietProtobuf(const QuietProtobuf&) = delete;
  QuietProtobuf& operator=(const QuietProtobuf&) = delete;

 private:
  google::protobuf::LogHandler* previous_;
};

// The verdict, checked against the expectation and against the oracle.
void Expect(Leaf leaf, const std::string& payload, bool accepted) {
  QuietProtobuf quiet;
  const Reject got = ValidateUpstream(leaf, payload.data(), payload.size(), 8192);
  const Reject oracle =
      testing::ReferenceVerdict(leaf, payload.data(), payload.size());
  CHECK(got == oracle);
  CHECK(got == (accepted ? Reject::kNone : Reject::kMalformed));
}

// Report field tags (number << 3 | wire type).
constexpr int kCampaignId = 0x0A;   // 1, string
constexpr int kLocation = 0x22;     // 4, message
constexpr int kUtcOffset = 0x30;    // 6, int32
constexpr int kLat = 0x09;          // Location 1, double
constexpr int kLon = 0x11;          // Location 2, double
constexpr int kUnknownGroup = 0x3B; // 7 (components) as a start group: unknown
constexpr int kUnknownEnd = 0x3C;   // 7, end group
constexpr int kComponents = 0x3A;   // 7, repeated ComponentVersion
constexpr int kComponent = 0x0A;    // ComponentVersion 1, string
constexpr int kVersion = 0x12;      // ComponentVersion 2, string

// One Report.components element.
std::string Element(const std::string& component, const std::string& version) {
  return Delimited(kComponents, Delimited(kComponent, component) + Delimited(kVersion, version));
}

}  // namespace

TEST_CASE("wire scan: tags") {
  Expect(Leaf::kReport, "", true);
  Expect(Leaf::kReport, Bytes({0x00}), false);                      // tag 0
  Expect(Leaf::kReport, Bytes({0x02, 0x00}), false);                // field number 0
  Expect(Leaf::kReport, Bytes({0x78, 0x01}), true);                 // unknown varint field 15
  Expect(Leaf::kReport, Bytes({0x3E, 0x00}), false);                // wire type 6
  Expect(Leaf::kReport, Bytes({0x3F, 0x00}), false);                // wire type 7
  Expect(Leaf::kReport, Bytes({kUnknownEnd}), false);               // END_GROUP outside a group
  // A 5-byte tag keeps its low 32 bits: this one is campaign_id's.
  Expect(Leaf::kReport, Bytes({0x8A, 0x80, 0x80, 0x80, 0x10, 0x00}), true);
  Expect(Leaf::kReport, Bytes({0x8A, 0x80, 0x80, 0x80, 0x80, 0x00, 0x00}), false);  // 6 bytes
  Expect(Leaf::kReport, Bytes({0x8A}), false);                      // cut inside the tag
}

TEST_CASE("wire scan: values and lengths") {
  // A 10-byte varint is the longest.
  Expect(Leaf::kReport, Bytes({kUtcOffset}) + Repeat(Bytes({0xFF}), 9) + Bytes({0x01}), true);
  Expect(Leaf::kReport, Bytes({kUtcOffset}) + Repeat(Bytes({0xFF}), 10) + Bytes({0x01}), false);
  // A length prefix takes up to 5 bytes, the 5th below 8.
  Expect(Leaf::kReport, Bytes({kCampaignId, 0x81, 0x80, 0x80, 0x80, 0x00, 'x'}), true);
  // (0x10 in the 5th byte would wrap a 32-bit length around to 1.)
  Expect(Leaf::kReport, Bytes({kCampaignId, 0x81, 0x80, 0x80, 0x80, 0x10, 'x'}), false);
  Expect(Leaf::kReport, Bytes({kCampaignId, 0x05, 'a', 'b'}), false);  // runs past the end
  Expect(Leaf::kReport, Bytes({kLocation, 0x04, kLat, 0, 0, 0}), false);  // double cut short
  // A field must end inside its message: lat straddles location's end.
  Expect(Leaf::kReport, Bytes({kLocation, 0x02}) + Double(kLat, 1.0), false);
  // Strings must be UTF-8 when known; unknown length-delimited fields need not be.
  Expect(Leaf::kReport, Delimited(kCampaignId, "\xC3\x28"), false);
  Expect(Leaf::kReport, Delimited(0x7A, "\xC3\x28"), true);  // field 15
}

TEST_CASE("wire scan: a known field with a foreign wire type is an unknown field") {
  Expect(Leaf::kReport, Bytes({0x08, 0x05}), true);         // campaign_id as a varint
  Expect(Leaf::kReport, Bytes({0x20, 0x01}), true);         // location as a varint: not present
  Expect(Leaf::kReport, Bytes({0x21}) + Raw(500), true);    // location as fixed64
}

TEST_CASE("wire scan: groups and nesting depth") {
  Expect(Leaf::kReport, Bytes({kUnknownGroup, 0x78, 0x01, kUnknownEnd}), true);
  Expect(Leaf::kReport, Bytes({kUnknownGroup, 0x44}), false);  // ends with another number
  Expect(Leaf::kReport, Bytes({kUnknownGroup, 0x78, 0x01}), false);  // never ends
  Expect(Leaf::kReport, Bytes({kUnknownGroup, 0x00, kUnknownEnd}), false);  // tag 0 inside
  // Up to 100 levels below the root, messages and groups together.
  Expect(Leaf::kReport, Repeat(Bytes({kUnknownGroup}), 100) + Repeat(Bytes({kUnknownEnd}), 100), true);
  Expect(Leaf::kReport, Repeat(Bytes({kUnknownGroup}), 101) + Repeat(Bytes({kUnknownEnd}), 101), false);
  const auto in_location = [](int groups) {
    return Delimited(kLocation, Repeat(Bytes({kUnknownGroup}), groups) +
                                    Repeat(Bytes({kUnknownEnd}), groups));
  };
  Expect(Leaf::kReport, in_location(99), true);
  Expect(Leaf::kReport, in_location(100), false);
}

TEST_CASE("wire scan: the last occurrence wins and message fields merge") {
  const std::string long_id(kMaxStringField + 1, 'c');
  v1::Report long_report;
  long_report.set_campaign_id(long_id);
  v1::Report short_report;
  short_report.set_campaign_id("c1");
  Expect(Leaf::kReport, long_report.SerializeAsString() + short_report.SerializeAsString(), true);
  Expect(Leaf::kReport, short_report.SerializeAsString() + long_report.SerializeAsString(), false);

  const std::string far_lat = Delimited(kLocation, Double(kLat, 91));
  const std::string near_lat = Delimited(kLocation, Double(kLat, 10));
  const std::string far_lon = Delimited(kLocation, Double(kLon, 200));
  Expect(Leaf::kReport, far_lat + near_lat, true);
  Expect(Leaf::kReport, near_lat + far_lon, false);
  Expect(Leaf::kReport, far_lat + Delimited(kLocation, ""), false);  // merging keeps lat 91
  Expect(Leaf::kReport, Delimited(kLocation, Double(kLat, std::nan(""))), false);
}

TEST_CASE("wire scan: repeated components, each element checked on its own") {
  Expect(Leaf::kReport, Element("pos-app", "4.2.0") + Element("printer.fw", "1.0"), true);
  Expect(Leaf::kReport, Element("system", ""), true);
  Expect(Leaf::kReport, Element("POS", "1"), false);                 // upper case
  Expect(Leaf::kReport, Element("", "1"), false);                    // no name
  Expect(Leaf::kReport, Delimited(kComponents, ""), false);          // no name either
  Expect(Leaf::kReport, Element(std::string(32, 'a'), "1"), true);
  Expect(Leaf::kReport, Element(std::string(33, 'a'), "1"), false);  // name too long
  Expect(Leaf::kReport, Element("a", std::string(kMaxStringField, 'v')), true);
  Expect(Leaf::kReport, Element("a", std::string(kMaxStringField + 1, 'v')), false);
  // A bad element is bad wherever it stands; a later one does not repair it.
  Expect(Leaf::kReport, Element("a", std::string(kMaxStringField + 1, 'v')) + Element("b", "1"),
         false);
  Expect(Leaf::kReport, Element("b", "1") + Element("B", "1"), false);
  // Inside one element the last occurrence wins, as in any message.
  Expect(Leaf::kReport,
         Delimited(kComponents, Delimited(kComponent, "BAD") + Delimited(kComponent, "ok")), true);
  Expect(Leaf::kReport,
         Delimited(kComponents, Delimited(kComponent, "ok") + Delimited(kComponent, "BAD")), false);
  // Elements do not merge: the second has no name of its own.
  Expect(Leaf::kReport, Element("a", "1") + Delimited(kComponents, Delimited(kVersion, "2")),
         false);
  // At most kMaxComponents entries.
  std::string many;
  for (std::size_t i = 0; i < kMaxComponents; ++i) many += Element("c" + std::to_string(i), "1");
  Expect(Leaf::kReport, many, true);
  Expect(Leaf::kReport, many + Element("one-more", "1"), false);
  // The element is a message: its own wire format must hold.
  Expect(Leaf::kReport, Delimited(kComponents, Bytes({kComponent, 5, 'a'})), false);
  Expect(Leaf::kReport, Delimited(kComponents, Delimited(kComponent, "a") + Bytes({0x18, 1})),
         true);  // an unknown field inside an element
  Expect(Leaf::kReport, Delimited(kComponents, Bytes({kComponent, 2, 0xC3, 0x28})), false);
  // Field 7 with another wire type is an unknown field.
  Expect(Leaf::kReport, Bytes({0x38, 5}), true);
  // Mixed with the other fields, in any order.
  Expect(Leaf::kReport, Element("a", "1") + Delimited(kCampaignId, "c1") + Element("b", "2") +
                            Delimited(kLocation, Double(kLat, 10)), true);
}

TEST_CASE("wire scan: numbers are read as protobuf keeps them") {
  // Check.slot (int64, field 3): the varint's 64 bits, two's complement.
  Expect(Leaf::kCheck, Bytes({0x18}) + Repeat(Bytes({0xFF}), 9) + Bytes({0x01}), false);  // -1
  Expect(Leaf::kCheck, Bytes({0x18}) + Repeat(Bytes({0xFF}), 8) + Bytes({0x7F}), true);   // 2^63-1
  // Status.progress_percent (uint32, field 4): low 32 bits, so 2^32 + 50 is 50.
  Expect(Leaf::kStatus, Bytes({0x20, 0xB2, 0x80, 0x80, 0x80, 0x10}), true);
  Expect(Leaf::kStatus, Bytes({0x20, 101}), false);
  Expect(Leaf::kStatus, Bytes({0x10, 42}), true);  // an unknown State value is kept
}

TEST_CASE("wire scan: schemas it cannot follow are refused when built") {
  CHECK_THROWS_AS(WireScan(*v1::TerminalReply::descriptor()), std::invalid_argument);  // oneof
  CHECK_THROWS_AS(WireScan(*v1::AgentState::descriptor()), std::invalid_argument);  // repeated string
  const WireScan report(*v1::Report::descriptor());
  CHECK(report.FieldIndex("location.lat") != report.FieldIndex("location.lon"));
  CHECK(report.FieldIndex("components.component") != report.FieldIndex("components.version"));
  CHECK(report.string_fields().size() == 4);  // the elements' strings are the ElementCheck's
  CHECK_THROWS_AS((void)report.FieldIndex("location.altitude"), std::invalid_argument);
  CHECK_THROWS_AS((void)report.FieldIndex("campaign_id.x"), std::invalid_argument);
}

TEST_CASE("wire scan: random mutations of real messages agree with protobuf") {
  QuietProtobuf quiet;
  v1::Report report;
  report.set_campaign_id("campaign-7");
  report.set_current_version("1.0.0");
  report.set_target_version("2.0.0");
  report.mutable_location()->set_lat(48.85);
  report.mutable_location()->set_lon(2.35);
  report.set_system_id("pos-linux");
  report.set_utc_offset_minutes(-120);
  for (const char* name : {"pos-app", "printer.fw", "scanner"}) {
    auto* component = report.add_components();
    component->set_component(name);
    component->set_version("3.1.4");
  }
  v1::Check check;
  check.set_campaign_id("campaign-7");
  check.set_current_version("1.0.0");
  check.set_slot(2'900'000);
  v1::Status status;
  status.set_campaign_id("campaign-7");
  status.set_state(v1::Status::FAILED);
  status.set_version("1.0.0");
  status.set_progress_percent(40);
  status.set_detail("sha256 mismatch");
  const std::pair<Leaf, std::string> seeds[] = {{Leaf::kReport, report.SerializeAsString()},
                                                {Leaf::kCheck, check.SerializeAsString()},
                                                {Leaf::kStatus, status.SerializeAsString()}};
  std::mt19937 rng(20261124);
  int accepted = 0;
  int rejected = 0;
  for (int i = 0; i < 30'000; ++i) {
    const auto& [leaf, seed] = seeds[static_cast<std::size_t>(i) % 3];
    std::string m = seed;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !m.empty(); ++e) {
      const std::size_t at = rng() % m.size();
      switch (rng() % 4) {
        case 0: m[at] = static_cast<char>(rng()); break;                 // overwrite
        case 1: m[at] = static_cast<char>(m[at] ^ (1 << (rng() % 8))); break;  // flip a bit
        case 2: m.erase(at, 1 + rng() % 4); break;                       // cut
        default: m.insert(at, 1, static_cast<char>(rng())); break;      // insert
      }
    }
    const Reject got = ValidateUpstream(leaf, m.data(), m.size(), 8192);
    const Reject oracle = testing::ReferenceVerdict(leaf, m.data(), m.size());
    if (got != oracle) {
      CAPTURE(i);
      CAPTURE(m.size());
      FAIL("wire scan and protobuf disagree");
    }
    (got == Reject::kNone ? accepted : rejected)++;
  }
  // Both verdicts occur often enough for the agreement to mean something.
  CHECK(accepted > 3'000);
  CHECK(rejected > 3'000);
}
