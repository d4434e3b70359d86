// Great-circle distance between two WGS84 points. Pure.
#pragma once

namespace slotwise {

struct LatLon {
  double lat = 0;
  double lon = 0;
};

// Haversine distance in kilometres.
double DistanceKm(LatLon a, LatLon b);

}  // namespace slotwise
