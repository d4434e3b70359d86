// Version ordering, the one rule both sides use: the agent's anti-rollback
// check (a Download older than the installed version is refused unless the
// campaign allows a downgrade) and anything on the scheduler's side that
// must agree with it. Pure functions, safe from any thread.
//
// Rule: dot-separated parts, compared left to right. Each part is a number,
// optionally followed by a suffix: numbers compare as numbers (1.10 > 1.9,
// leading zeros ignored), then a part without a suffix beats one with
// (2.0 > 2.0-rc1), then suffixes compare as text (bytewise). A part with no
// leading number compares as its text. A missing part counts as empty, so
// 2.0 == 2.0 and 2.0.1 > 2.0. The empty version is the oldest.
#pragma once

#include <string_view>

namespace slotwise {

// Negative when a is older than b, 0 when they are the same version,
// positive when a is newer.
int CompareVersions(std::string_view a, std::string_view b);

// CompareVersions(a, b) < 0.
inline bool IsOlderVersion(std::string_view a, std::string_view b) { return CompareVersions(a, b) < 0; }

}  // namespace slotwise
