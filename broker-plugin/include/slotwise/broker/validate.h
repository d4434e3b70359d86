// Edge validation of what a terminal sends: every message on a terminal
// upstream topic (report, check, status) must parse as its Protobuf type
// (schemas/slotwise/v1/terminal.proto), fit the size limit and hold sane
// values, or it is dropped before it can reach the scheduler.
//
// Pure code (protobuf only, no mosquitto types), the libFuzzer target's
// subject (tests/plugin/fuzz_validate.cpp). Safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "slotwise/topics.h"

namespace slotwise::broker {

// Why a terminal's message was dropped, each with the MQTT v5 reason code
// that names it (ReasonCode()).
enum class Reject : std::uint8_t {
  kNone = 0,           // accepted
  kMalformed,          // 0x99 payload format invalid: not the topic's message
  kTooLarge,           // 0x95 packet too large: over max_payload_bytes
  kNotAuthorized,      // 0x87 not authorized: another terminal's topic or id
  kRateLimited,        // 0x96 message rate too high: token bucket empty
};
inline constexpr std::size_t kRejectKinds = 5;

std::uint8_t ReasonCode(Reject reject);
// Stable snake_case name, used in the stats JSON and log lines.
std::string_view RejectName(Reject reject);

// Longest string field accepted in an upstream message (ids, versions,
// detail text); longer is kMalformed.
inline constexpr std::size_t kMaxStringField = 1024;
// Most entries accepted in Report.components; more is kMalformed.
inline constexpr std::size_t kMaxComponents = 32;
// Largest Report.link_bps accepted (10 Gbit/s); more is kMalformed.
inline constexpr std::uint64_t kMaxLinkBps = 10'000'000'000ULL;
// Largest Status.download_bytes (1 TiB) and download_ms (30 days) accepted;
// more is kMalformed (the scheduler's bounds, bookings.h).
inline constexpr std::uint64_t kMaxDownloadBytes = 1ULL << 40;
inline constexpr std::uint64_t kMaxDownloadMs = 30ULL * 24 * 3600 * 1000;

// Checks `payload` as the message carried by `leaf` (an upstream leaf:
// kReport -> Report, kCheck -> Check, kStatus -> Status; any other leaf is
// kNotAuthorized). Order: size (kTooLarge), then parse and value checks
// (kMalformed): proto3 parse incl. UTF-8 of strings, string fields at most
// kMaxStringField bytes, Status.progress_percent <= 100, Location lat in
// [-90, 90] and lon in [-180, 180], Report.components at most
// kMaxComponents entries, each a valid component name
// (topics::IsValidComponentName) with a version of at most kMaxStringField bytes,
// Report.link_bps at most kMaxLinkBps, Status.download_bytes at most
// kMaxDownloadBytes and download_ms at most kMaxDownloadMs (an unknown
// link_kind reads as unspecified, not refused).
// An empty payload is a valid (all-default) message. The parse verdict is
// protobuf's, reached by walking the wire format (wire_scan.h).
Reject ValidateUpstream(topics::Leaf leaf, const void* payload, std::size_t size,
                        std::size_t max_payload_bytes);

}  // namespace slotwise::broker
