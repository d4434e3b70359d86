#include "slotwise/geo.h"

#include <cmath>
#include <numbers>

namespace slotwise {

double DistanceKm(LatLon a, LatLon b) {
  constexpr double kRad = std::numbers::pi / 180.0;
  const double dlat = (b.lat - a.lat) * kRad;
  const double dlon = (b.lon - a.lon) * kRad;
  const double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
                   std::cos(a.lat * kRad) * std::cos(b.lat * kRad) *
                       std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * geo::kEarthRadiusKm * std::asin(std::sqrt(std::fmin(1.0, h)));
}

namespace geo {

bool IsValidLatitude(double lat) { return std::isfinite(lat) && lat >= -kMaxLatitude && lat <= kMaxLatitude; }
bool IsValidLongitude(double lon) { return std::isfinite(lon) && lon >= -kMaxLongitude && lon <= kMaxLongitude; }
bool IsValid(double lat, double lon) { return IsValidLatitude(lat) && IsValidLongitude(lon); }

}  // namespace geo
}  // namespace slotwise
