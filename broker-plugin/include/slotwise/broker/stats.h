// The plugin's counters and their wire form: a JSON object published
// periodically on plugin_opt_stats_topic (default slotwise/v1/stats/broker,
// QoS 0, retained), documented in broker-plugin/README.md.
//
// Pure code. NOT thread-safe: counted on the broker's main thread only.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "slotwise/broker/validate.h"
#include "slotwise/slots.h"

namespace slotwise::broker {

struct Stats {
  std::uint64_t auth_refused = 0;         // CONNECTs refused (any reason)
  std::uint64_t accepted = 0;             // terminal upstream messages passed on, stamped
  std::array<std::uint64_t, kRejectKinds> rejected{};  // by Reject (index kNone unused)
  std::uint64_t flood_disconnects = 0;    // terminals disconnected for flooding

  void CountReject(Reject r) { ++rejected[static_cast<std::size_t>(r)]; }
  std::uint64_t Rejected(Reject r) const { return rejected[static_cast<std::size_t>(r)]; }
};

// {"at_ms":..,"terminals_connected":..,"auth_refused":..,"accepted":..,
//  "rejected":{"payload_format_invalid":..,"packet_too_large":..,
//  "not_authorized":..,"message_rate_too_high":..},"rate_limited":..,
//  "flood_disconnects":..}
// ("rate_limited" repeats rejected.message_rate_too_high for dashboards).
std::string EncodeStatsJson(const Stats& stats, std::uint64_t terminals_connected, TimeMs at_ms);

}  // namespace slotwise::broker
