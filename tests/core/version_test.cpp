// Version ordering (slotwise/version.h): the rule the agent's anti-rollback
// check stands on, as a table of pairs.
#include <doctest/doctest.h>

#include <string_view>

#include "slotwise/version.h"

namespace slotwise {
namespace {

struct Ordered {
  std::string_view older;
  std::string_view newer;
};

TEST_CASE("versions: numeric parts compare as numbers, not as text") {
  constexpr Ordered kCases[] = {
      {"1.9", "1.10"},     {"1.2.3", "1.2.4"}, {"1.99.99", "2.0.0"}, {"9", "10"},
      {"2.0", "2.0.1"},    {"2", "2.0.1"},     {"", "0.1"},          {"1.0.9", "1.0.10"},
      {"0.9.9", "0.10.0"}, {"3.1", "12.0"},
  };
  for (const auto& c : kCases) {
    CAPTURE(c.older);
    CAPTURE(c.newer);
    CHECK(CompareVersions(c.older, c.newer) < 0);
    CHECK(CompareVersions(c.newer, c.older) > 0);
    CHECK(IsOlderVersion(c.older, c.newer));
    CHECK_FALSE(IsOlderVersion(c.newer, c.older));
  }
}

TEST_CASE("versions: a release beats its pre-releases, suffixes compare as text") {
  constexpr Ordered kCases[] = {
      {"2.0-rc1", "2.0"},      {"2.0-rc1", "2.0-rc2"}, {"2.0-beta", "2.0-rc1"},
      {"2.0rc1", "2.0"},       {"1.9", "2.0-rc1"},     {"2.0-rc9", "2.0.1"},
      {"2.0.0-a", "2.0.0-b"},
  };
  for (const auto& c : kCases) {
    CAPTURE(c.older);
    CAPTURE(c.newer);
    CHECK(CompareVersions(c.older, c.newer) < 0);
    CHECK(CompareVersions(c.newer, c.older) > 0);
  }
}

TEST_CASE("versions: equal versions, leading zeros and missing trailing parts") {
  CHECK(CompareVersions("2.0", "2.0") == 0);
  CHECK(CompareVersions("", "") == 0);
  CHECK(CompareVersions("1.02", "1.2") == 0);
  CHECK(CompareVersions("007", "7") == 0);
  CHECK(CompareVersions("1.0.0", "1.0.0") == 0);
  CHECK(CompareVersions("2.0-rc1", "2.0-rc1") == 0);
  // A missing part is empty, and a part of zeros has the same empty number.
  CHECK(CompareVersions("2", "2.") == 0);
  CHECK(CompareVersions("2.0", "2.0.0") == 0);
}

TEST_CASE("versions: parts without a leading number compare as text") {
  CHECK(CompareVersions("1.alpha", "1.beta") < 0);
  CHECK(CompareVersions("abc", "abd") < 0);
  // A number beats text in the same place (text has the empty number 0).
  CHECK(CompareVersions("1.x", "1.0") < 0);
}

TEST_CASE("versions: the ordering is consistent over a sorted list") {
  constexpr std::string_view kSorted[] = {"",      "0.1",     "0.9",   "0.10", "1.0-rc1", "1.0",
                                          "1.0.1", "1.2-rc1", "1.2",   "1.10", "2.0",     "10.0"};
  constexpr std::size_t n = std::size(kSorted);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      CAPTURE(kSorted[i]);
      CAPTURE(kSorted[j]);
      const int c = CompareVersions(kSorted[i], kSorted[j]);
      if (i < j) CHECK(c < 0);
      if (i == j) CHECK(c == 0);
      if (i > j) CHECK(c > 0);
    }
  }
}

}  // namespace
}  // namespace slotwise
