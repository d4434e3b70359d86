// The terminals of a live fleet: one CSV line per terminal,
//
//   id,password,lat,lon
//
// (a header line starting with `id,` and lines starting with `#` are
// skipped). The id is also the MQTT client id and username (1-64 of
// [A-Za-z0-9._-]); the password is the terminal's broker password, as the
// plugin's password file knows it; lat/lon in decimal degrees.
//
// Threading: pure functions, safe from any thread.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "slotwise/geo.h"
#include "slotwise/result.h"

namespace slotwise::fleet {

struct TerminalSpec {
  std::string id;
  std::string password;
  LatLon location;
};

// INVALID_ARGUMENT naming `source_name` and the line for a malformed line, a
// bad id or location, a duplicate id, or no terminals at all.
Result<std::vector<TerminalSpec>> ParseTerminalFile(std::string_view text, std::string_view source_name);

// NOT_FOUND if the file cannot be read; otherwise as ParseTerminalFile.
Result<std::vector<TerminalSpec>> LoadTerminalFile(const std::filesystem::path& file);

}  // namespace slotwise::fleet
