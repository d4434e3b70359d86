#include "time_args.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>

namespace slotwise::cli {
namespace {

bool AllDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// "48h", "1d12h", "90m", "30s", "500ms", optionally after '+'.
std::optional<std::int64_t> ParseDurationMs(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return std::nullopt;
  std::int64_t total = 0;
  while (!s.empty()) {
    std::size_t n = 0;
    while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n]))) ++n;
    if (n == 0 || n > 12) return std::nullopt;
    std::int64_t value = 0;
    std::from_chars(s.data(), s.data() + n, value);
    s.remove_prefix(n);
    std::int64_t unit = 0;
    if (s.starts_with("ms")) {
      unit = 1;
      s.remove_prefix(2);
    } else if (!s.empty() && (s.front() == 's' || s.front() == 'm' || s.front() == 'h' || s.front() == 'd')) {
      unit = s.front() == 's' ? 1000 : s.front() == 'm' ? 60'000 : s.front() == 'h' ? 3'600'000 : 86'400'000;
      s.remove_prefix(1);
    } else {
      return std::nullopt;
    }
    total += value * unit;
  }
  return total;
}

// "YYYY-MM-DDTHH:MM[:SS][Z]" or with a space, UTC.
std::optional<std::int64_t> ParseUtc(std::string_view s) {
  if (!s.empty() && (s.back() == 'Z' || s.back() == 'z')) s.remove_suffix(1);
  const std::string text(s);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  char sep = 0, tail = 0;
  const int got = std::sscanf(text.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%c", &y, &mo, &d, &sep, &h, &mi, &sec, &tail);
  if (got == 8) return std::nullopt;
  if (got == 3 && text.size() == 10) {
    h = mi = sec = 0;
  } else if (got != 6 && got != 7) {
    return std::nullopt;
  }
  if (got >= 6 && sep != 'T' && sep != 't' && sep != ' ') return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

std::optional<std::uint32_t> ParseClock(std::string_view s) {
  int h = 0, m = 0;
  char tail = 0;
  const std::string text(s);
  if (std::sscanf(text.c_str(), "%d:%d%c", &h, &m, &tail) != 2 || h < 0 || h > 23 || m < 0 || m > 59) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(h * 60 + m);
}

std::optional<int> Weekday(std::string_view s) {
  static constexpr std::string_view kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  std::string lower(s);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (int i = 0; i < 7; ++i) {
    if (lower == kDays[i]) return i;
  }
  return std::nullopt;
}

// "Mon-Fri", "Sat,Sun", "Mon,Wed-Fri" -> bits (Monday = bit 0).
std::optional<std::uint32_t> ParseDays(std::string_view s) {
  std::uint32_t bits = 0;
  while (!s.empty()) {
    const auto comma = s.find(',');
    const std::string_view part = s.substr(0, comma);
    s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
    const auto dash = part.find('-');
    const auto first = Weekday(part.substr(0, dash));
    const auto last = dash == std::string_view::npos ? first : Weekday(part.substr(dash + 1));
    if (!first || !last) return std::nullopt;
    for (int d = *first;; d = (d + 1) % 7) {  // Fri-Mon wraps the week
      bits |= 1u << d;
      if (d == *last) break;
    }
  }
  return bits == 0 ? std::nullopt : std::optional<std::uint32_t>(bits);
}

}  // namespace

Result<std::int64_t> ParseTimeMs(std::string_view text, std::int64_t now_ms) {
  if (AllDigits(text) && text.size() <= 16) {
    std::int64_t v = 0;
    std::from_chars(text.data(), text.data() + text.size(), v);
    return v;
  }
  if (auto d = ParseDurationMs(text)) return now_ms + *d;
  if (auto t = ParseUtc(text)) return *t;
  return MakeError(v1::INVALID_ARGUMENT, "'" + std::string(text) +
                                             "' is not a time: expected epoch ms, a duration from now (48h, 90m, "
                                             "1d12h) or a UTC time (2026-12-02T10:00Z)");
}

Result<std::variant<SlotNumber, TimePoint>> ParseSlotArg(std::string_view text, std::int64_t now_ms) {
  if (AllDigits(text) && text.size() <= 16) {
    std::int64_t v = 0;
    std::from_chars(text.data(), text.data() + text.size(), v);
    return std::variant<SlotNumber, TimePoint>(SlotNumber{v});
  }
  auto t = ParseTimeMs(text, now_ms);
  if (!t) return t.error();
  return std::variant<SlotNumber, TimePoint>(TimePoint{*t});
}

Result<AllowedHours> ParseHours(std::string_view text) {
  const auto bad = [&] {
    return MakeError(v1::INVALID_ARGUMENT, "'" + std::string(text) +
                                               "' is not allowed hours: expected HH:MM-HH:MM, DAYS/HH:MM-HH:MM "
                                               "or DAYS (e.g. Mon-Fri/01:00-05:00, Sat,Sun)");
  };
  AllowedHours h;
  std::string_view rest = text;
  const auto slash = rest.find('/');
  const bool has_clock = rest.find(':') != std::string_view::npos;
  if (slash != std::string_view::npos || !has_clock) {
    const auto days = ParseDays(rest.substr(0, slash));
    if (!days) return bad();
    h.weekdays = *days;
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (slash != std::string_view::npos && rest.empty()) return bad();
  }
  if (!rest.empty()) {
    const auto dash = rest.find('-');
    if (dash == std::string_view::npos) return bad();
    const auto from = ParseClock(rest.substr(0, dash));
    const auto to = ParseClock(rest.substr(dash + 1));
    if (!from || !to) return bad();
    h.from_minute = *from;
    h.to_minute = *to;
  }
  return h;
}

}  // namespace slotwise::cli
