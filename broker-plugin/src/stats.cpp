// Stats encoding (see stats.h). Hand-written JSON: a fixed shape of integers
// and fixed keys needs no escaping and no JSON dependency in the plugin.
#include "slotwise/broker/stats.h"

namespace slotwise::broker {

std::string EncodeStatsJson(const Stats& stats, std::uint64_t terminals_connected, TimeMs at_ms) {
  std::string out = "{\"at_ms\":" + std::to_string(at_ms) +
                    ",\"terminals_connected\":" + std::to_string(terminals_connected) +
                    ",\"auth_refused\":" + std::to_string(stats.auth_refused) +
                    ",\"accepted\":" + std::to_string(stats.accepted) + ",\"rejected\":{";
  bool first = true;
  for (const Reject r : {Reject::kMalformed, Reject::kTooLarge, Reject::kNotAuthorized,
                         Reject::kRateLimited}) {
    if (!first) out += ',';
    first = false;
    out += '"';
    out += RejectName(r);
    out += "\":" + std::to_string(stats.Rejected(r));
  }
  out += "},\"rate_limited\":" + std::to_string(stats.Rejected(Reject::kRateLimited)) +
         ",\"flood_disconnects\":" + std::to_string(stats.flood_disconnects) + "}";
  return out;
}

}  // namespace slotwise::broker
