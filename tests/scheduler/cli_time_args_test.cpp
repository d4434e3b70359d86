// The CLI's human times and allowed hours (scheduler/cli/time_args.h).
#include <doctest/doctest.h>

#include "time_args.h"

using namespace slotwise;
using namespace slotwise::cli;

namespace {
constexpr std::int64_t kNow = 1'800'000'000'000;
}

TEST_CASE("cli times: epoch ms, durations from now, UTC times") {
  CHECK(*ParseTimeMs("1767225600000", kNow) == 1'767'225'600'000);
  CHECK(*ParseTimeMs("48h", kNow) == kNow + 48 * 3'600'000);
  CHECK(*ParseTimeMs("+90m", kNow) == kNow + 90 * 60'000);
  CHECK(*ParseTimeMs("1d12h", kNow) == kNow + 36 * 3'600'000);
  CHECK(*ParseTimeMs("30s", kNow) == kNow + 30'000);
  CHECK(*ParseTimeMs("2026-12-02T10:00Z", kNow) == 1'796'205'600'000);
  CHECK(*ParseTimeMs("2026-12-02 10:00:30", kNow) == 1'796'205'630'000);
  CHECK(*ParseTimeMs("2026-12-02", kNow) == 1'796'169'600'000);
  for (const char* bad : {"", "48", "h", "48x", "2026-13-01T00:00Z", "2026-12-02T25:00Z", "tomorrow", "1.5h"}) {
    INFO(std::string(bad));
    if (std::string_view(bad) == "48") continue;  // a bare number is epoch ms
    CHECK_FALSE(ParseTimeMs(bad, kNow).ok());
  }
}

TEST_CASE("cli slots: a bare number is a slot, anything else a time") {
  auto n = ParseSlotArg("2950001", kNow);
  REQUIRE(n.ok());
  CHECK(std::get<SlotNumber>(*n).slot == 2'950'001);
  auto t = ParseSlotArg("+1h", kNow);
  REQUIRE(t.ok());
  CHECK(std::get<TimePoint>(*t).ms == kNow + 3'600'000);
  CHECK_FALSE(ParseSlotArg("soon", kNow).ok());
}

TEST_CASE("cli hours: HH:MM-HH:MM, DAYS/HH:MM-HH:MM, DAYS") {
  auto h = ParseHours("01:00-05:00");
  REQUIRE(h.ok());
  CHECK(h->from_minute == 60);
  CHECK(h->to_minute == 300);
  CHECK(h->weekdays == 0);
  h = ParseHours("Mon-Fri/01:00-05:00");
  REQUIRE(h.ok());
  CHECK(h->weekdays == 0x1f);
  CHECK(h->from_minute == 60);
  h = ParseHours("Sat,Sun");
  REQUIRE(h.ok());
  CHECK(h->weekdays == 0x60);
  CHECK(h->from_minute == h->to_minute);
  h = ParseHours("mon,wed-fri/22:00-02:00");
  REQUIRE(h.ok());
  CHECK(h->weekdays == (1u | 4u | 8u | 16u));
  h = ParseHours("Fri-Mon/00:00-06:00");  // wraps the week
  REQUIRE(h.ok());
  CHECK(h->weekdays == (16u | 32u | 64u | 1u));
  for (const char* bad : {"", "Mon-Fri/", "Mon-Fry/01:00-05:00", "25:00-05:00", "01:00", "Mon/01:00-5"}) {
    INFO(std::string(bad));
    CHECK_FALSE(ParseHours(bad).ok());
  }
}
