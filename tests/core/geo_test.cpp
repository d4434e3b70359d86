// Geography (slotwise/geo.h): the coordinate range rule and distances.
#include <doctest/doctest.h>

#include <limits>

#include "slotwise/geo.h"

namespace slotwise {
namespace {

TEST_CASE("geo: latitude in [-90, 90] and longitude in [-180, 180], bounds included") {
  CHECK(geo::IsValid(0, 0));
  CHECK(geo::IsValid(90, 180));
  CHECK(geo::IsValid(-90, -180));
  CHECK(geo::IsValid(LatLon{48.8566, 2.3522}));
  CHECK_FALSE(geo::IsValid(90.0001, 0));
  CHECK_FALSE(geo::IsValid(-90.0001, 0));
  CHECK_FALSE(geo::IsValid(0, 180.0001));
  CHECK_FALSE(geo::IsValid(0, -180.0001));
  CHECK(geo::IsValidLatitude(-45));
  CHECK_FALSE(geo::IsValidLatitude(120));
  CHECK(geo::IsValidLongitude(120));
  CHECK_FALSE(geo::IsValidLongitude(181));
}

TEST_CASE("geo: NaN and infinities are not coordinates") {
  constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
  constexpr double kInf = std::numeric_limits<double>::infinity();
  CHECK_FALSE(geo::IsValid(kNan, 0));
  CHECK_FALSE(geo::IsValid(0, kNan));
  CHECK_FALSE(geo::IsValid(kInf, 0));
  CHECK_FALSE(geo::IsValid(0, -kInf));
}

TEST_CASE("geo: haversine distances") {
  const LatLon paris{48.8566, 2.3522};
  const LatLon munich{48.1351, 11.5820};
  CHECK(DistanceKm(paris, paris) == doctest::Approx(0.0));
  CHECK(DistanceKm(paris, munich) == doctest::Approx(685.0).epsilon(0.01));
  CHECK(DistanceKm(paris, munich) == doctest::Approx(DistanceKm(munich, paris)));
  // Half the circumference between antipodes, across the date line too.
  CHECK(DistanceKm(LatLon{0, 0}, LatLon{0, 180}) == doctest::Approx(20015.1).epsilon(0.001));
  CHECK(DistanceKm(LatLon{0, 179.5}, LatLon{0, -179.5}) == doctest::Approx(111.2).epsilon(0.01));
}

}  // namespace
}  // namespace slotwise
