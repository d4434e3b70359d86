// The CLI's progress display: rate, ETA, percentage and the bar.
#include <doctest/doctest.h>

#include "progress.h"

namespace slotwise::cli {

TEST_CASE("cli progress: rate over the samples and ETA from it") {
  RateMeter m(30.0);
  CHECK_FALSE(m.Rate());
  CHECK_FALSE(m.Eta(0, 100));
  m.Add(0.0, 0);
  CHECK_FALSE(m.Rate());
  m.Add(10.0, 50);
  REQUIRE(m.Rate());
  CHECK(*m.Rate() == doctest::Approx(5.0));
  REQUIRE(m.Eta(50, 100));
  CHECK(*m.Eta(50, 100) == doctest::Approx(10.0));
  CHECK(*m.Eta(100, 100) == 0.0);
}

TEST_CASE("cli progress: the rate forgets samples older than its window") {
  RateMeter m(10.0);
  m.Add(0.0, 0);
  m.Add(5.0, 500);  // a burst at the start
  m.Add(20.0, 510);
  m.Add(30.0, 520);
  REQUIRE(m.Rate());
  CHECK(*m.Rate() == doctest::Approx(1.0));
}

TEST_CASE("cli progress: no rate means no ETA") {
  RateMeter m;
  m.Add(0.0, 10);
  m.Add(5.0, 10);
  REQUIRE(m.Rate());
  CHECK(*m.Rate() == 0.0);
  CHECK_FALSE(m.Eta(10, 20));
  CHECK(FormatDuration(m.Eta(10, 20)) == "--:--");
}

TEST_CASE("cli progress: durations and percentages") {
  CHECK(FormatDuration(7.4) == "0:07");
  CHECK(FormatDuration(725.0) == "12:05");
  CHECK(FormatDuration(3723.0) == "1:02:03");
  CHECK(FormatDuration(std::nullopt) == "--:--");
  CHECK(FormatDuration(-1.0) == "--:--");
  CHECK(FormatPercent(0, 10) == "0.0%");
  CHECK(FormatPercent(1, 3) == "33.3%");
  CHECK(FormatPercent(9999, 10000) == "99.9%");  // never 100 % before the end
  CHECK(FormatPercent(10, 10) == "100.0%");
  CHECK(FormatPercent(0, 0) == "100.0%");
}

TEST_CASE("cli progress: the bar and the plain line") {
  CHECK(ProgressBar(5, 10, 2.5, 2.0, "SCHEDULED", 10) == "[#####.....]  50.0%  5/10  2.5/s  ETA 0:02  SCHEDULED");
  CHECK(ProgressBar(10, 10, std::nullopt, 0.0, "DONE", 10) == "[##########] 100.0%  10/10  -/s  ETA 0:00  DONE");
  // 99.96 %: the bar is not full either.
  CHECK(ProgressBar(9996, 10000, 1234.0, 1.0, "SCHEDULED", 10).starts_with("[#########.]  99.9%"));
  CHECK(ProgressLine(1, 4, 0.5, 6.0, "SCHEDULED") == "25.0% 1/4 finished, 0.5/s, ETA 0:06, SCHEDULED");
}

}  // namespace slotwise::cli
