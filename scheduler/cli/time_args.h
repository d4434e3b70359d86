// Internal to the CLI: human times and allowed hours on the command line.
//   ParseTimeMs   "1767225600000" (epoch ms, as before), "48h" / "90m" /
//                 "2d" / "1d12h" / "+30s" (from now), "2026-12-02T10:00Z",
//                 "2026-12-02 10:00:30" (UTC; a trailing Z is optional);
//   ParseSlotArg  a slot number (as before) or any time ParseTimeMs takes;
//   ParseHours    "01:00-05:00", "Mon-Fri/01:00-05:00", "Sat,Sun" (whole
//                 days), "Mon,Wed-Fri/22:00-02:00".
// Pure functions; errors say what was expected.
#pragma once

#include <cstdint>
#include <string_view>
#include <variant>

#include "slotwise/result.h"

namespace slotwise::cli {

Result<std::int64_t> ParseTimeMs(std::string_view text, std::int64_t now_ms);

struct SlotNumber {
  std::int64_t slot;
};
struct TimePoint {
  std::int64_t ms;
};
// A bare integer is a slot number; anything else a time.
Result<std::variant<SlotNumber, TimePoint>> ParseSlotArg(std::string_view text, std::int64_t now_ms);

struct AllowedHours {
  std::uint32_t from_minute = 0;
  std::uint32_t to_minute = 0;
  std::uint32_t weekdays = 0;  // bit 0 = Monday; 0 = every day
};
Result<AllowedHours> ParseHours(std::string_view text);

}  // namespace slotwise::cli
