// Lowercase hexadecimal text, written once for every component (digests,
// correlation ids, escapes of untrusted bytes in log lines). Pure functions,
// safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace slotwise {

// Two lowercase hex digits per byte, in order: "\x01\xab" -> "01ab".
std::string HexEncode(std::string_view bytes);
std::string HexEncode(const unsigned char* data, std::size_t size);
// Appends the two lowercase hex digits of one byte.
void AppendHexByte(std::string& out, unsigned char byte);
// Exactly 16 lowercase hex digits, most significant first.
std::string HexU64(std::uint64_t value);
// The bytes of an even-length hex string (either case); nullopt otherwise.
std::optional<std::string> HexDecode(std::string_view hex);

}  // namespace slotwise
