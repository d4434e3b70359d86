// WGS84 points: great-circle distance and the one range rule for
// coordinates. Pure functions, safe from any thread.
#pragma once

namespace slotwise {

namespace geo {
// Mean Earth radius (IUGG), the one used for every distance in Slotwise.
inline constexpr double kEarthRadiusKm = 6371.0088;
}  // namespace geo

struct LatLon {
  double lat = 0;
  double lon = 0;
};

// Haversine distance in kilometres.
double DistanceKm(LatLon a, LatLon b);

namespace geo {

inline constexpr double kMaxLatitude = 90.0;
inline constexpr double kMaxLongitude = 180.0;

// Finite and in [-90, 90] (NaN and infinities are not latitudes).
bool IsValidLatitude(double lat);
// Finite and in [-180, 180].
bool IsValidLongitude(double lon);
// Both of the above: what a terminal may report and a cluster may be placed at.
bool IsValid(double lat, double lon);
inline bool IsValid(LatLon point) { return IsValid(point.lat, point.lon); }

}  // namespace geo
}  // namespace slotwise
