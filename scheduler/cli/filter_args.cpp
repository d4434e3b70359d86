#include "filter_args.h"

namespace slotwise::cli {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<v1::CampaignFilter> ParseFilter(std::string_view text) {
  v1::CampaignFilter f;
  constexpr std::string_view kExpected =
      "expected comma-separated system-id=PREFIX*, cluster=ID, region=NAME, below-target";
  bool any = false;
  while (true) {
    const auto comma = text.find(',');
    const std::string_view term = Trim(text.substr(0, comma));
    if (term.empty()) {
      return MakeError(v1::INVALID_ARGUMENT, "an empty condition in the filter; " + std::string(kExpected));
    }
    const auto eq = term.find('=');
    const std::string_view key = Trim(term.substr(0, eq));
    const std::string_view value = eq == std::string_view::npos ? std::string_view{} : Trim(term.substr(eq + 1));
    if (key == "below-target" && eq == std::string_view::npos) {
      f.set_below_target(true);
    } else if (eq == std::string_view::npos || value.empty()) {
      return MakeError(v1::INVALID_ARGUMENT, "'" + std::string(term) + "' has no value; " + std::string(kExpected));
    } else if (key == "system-id") {
      std::string_view prefix = value;
      if (prefix.ends_with('*')) prefix.remove_suffix(1);
      if (prefix.find('*') != std::string_view::npos || prefix.empty()) {
        return MakeError(v1::INVALID_ARGUMENT, "system-id takes a prefix with at most one * at its end, e.g. PAX-*");
      }
      if (!f.system_id_prefix().empty()) return MakeError(v1::INVALID_ARGUMENT, "system-id is given twice");
      f.set_system_id_prefix(std::string(prefix));
    } else if (key == "cluster") {
      f.add_cluster_ids(std::string(value));
    } else if (key == "region") {
      f.add_regions(std::string(value));
    } else {
      return MakeError(v1::INVALID_ARGUMENT, "unknown condition '" + std::string(key) + "'; " + std::string(kExpected));
    }
    any = true;
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (!any) return MakeError(v1::INVALID_ARGUMENT, std::string(kExpected));
  return f;
}

std::string FormatFilter(const v1::CampaignFilter& f) {
  std::string out;
  auto add = [&](const std::string& part) { out += (out.empty() ? "" : ",") + part; };
  if (!f.system_id_prefix().empty()) add("system-id=" + f.system_id_prefix() + "*");
  for (const auto& c : f.cluster_ids()) add("cluster=" + c);
  for (const auto& r : f.regions()) add("region=" + r);
  if (f.below_target()) add("below-target");
  return out;
}

}  // namespace slotwise::cli
