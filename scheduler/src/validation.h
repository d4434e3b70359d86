// Internal: the shape checks of ids, versions, digests and locations that
// the scheduler's request handlers apply before anything else.
#pragma once

#include <algorithm>
#include <cctype>
#include <string_view>

#include "slotwise/geo.h"
#include "slotwise/topics.h"
#include "slotwise/v1/common.pb.h"

namespace slotwise::scheduler {

inline bool IsValidId(std::string_view id) { return topics::IsValidTerminalId(id); }

inline bool IsValidVersion(std::string_view v) {
  if (v.empty() || v.size() > 64) return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '+';
  });
}

inline bool IsSha256Hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

inline bool IsValidLocation(const v1::Location& l) { return geo::IsValid(l.lat(), l.lon()); }

template <class Msg>
bool ParseInto(std::string_view bytes, Msg& msg) {
  return msg.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

}  // namespace slotwise::scheduler
