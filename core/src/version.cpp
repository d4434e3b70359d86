#include "slotwise/version.h"

#include <algorithm>
#include <utility>

namespace slotwise {
namespace {

// A part's number (leading zeros stripped) and what follows it.
std::pair<std::string_view, std::string_view> SplitPart(std::string_view part) {
  const auto digits = std::min(part.find_first_not_of("0123456789"), part.size());
  std::string_view number = part.substr(0, digits);
  number = number.substr(std::min(number.find_first_not_of('0'), number.size()));
  return {number, part.substr(digits)};
}

}  // namespace

int CompareVersions(std::string_view a, std::string_view b) {
  while (!a.empty() || !b.empty()) {
    const auto da = a.find('.');
    const auto db = b.find('.');
    const std::string_view pa = a.substr(0, da);
    const std::string_view pb = b.substr(0, db);
    a = da == std::string_view::npos ? std::string_view{} : a.substr(da + 1);
    b = db == std::string_view::npos ? std::string_view{} : b.substr(db + 1);
    const auto [na, sa] = SplitPart(pa);
    const auto [nb, sb] = SplitPart(pb);
    // Without leading zeros, a longer number is a larger one.
    if (na.size() != nb.size()) return na.size() < nb.size() ? -1 : 1;
    if (na != nb) return na < nb ? -1 : 1;
    if (sa == sb) continue;
    if (sa.empty() != sb.empty()) return sa.empty() ? 1 : -1;
    return sa < sb ? -1 : 1;
  }
  return 0;
}

}  // namespace slotwise
