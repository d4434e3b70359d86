// Internal to the CLI: a filter campaign's filter on the command line
// (`campaign create ... --filter TEXT`, schemas/README.md "Filter campaigns").
//   TEXT = comma-separated conditions, all of which must hold:
//     system-id=PREFIX[*]  the terminal's system id starts with PREFIX (a
//                          trailing * is optional; no other * is allowed)
//     cluster=ID           its home cluster is ID (repeat for any of several)
//     region=NAME          its home cluster's region is NAME (repeatable)
//     below-target         its version of the campaign's component is below
//                          the target version
//   e.g. "system-id=PAX-*,cluster=paris,region=eu-west,below-target".
// FormatFilter writes the same text back (campaign status).
// Pure functions; errors say what was expected.
#pragma once

#include <string>
#include <string_view>

#include "slotwise/result.h"
#include "slotwise/v1/operator.pb.h"

namespace slotwise::cli {

Result<v1::CampaignFilter> ParseFilter(std::string_view text);
std::string FormatFilter(const v1::CampaignFilter& filter);

}  // namespace slotwise::cli
