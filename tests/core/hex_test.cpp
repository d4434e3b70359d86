// Hex text (slotwise/hex.h).
#include <doctest/doctest.h>

#include <string>

#include "slotwise/hex.h"

namespace slotwise {
namespace {

TEST_CASE("hex: bytes encode as two lowercase digits each, in order") {
  CHECK(HexEncode(std::string_view{}) == "");
  CHECK(HexEncode(std::string("\x00\x01\x7f\x80\xab\xff", 6)) == "00017f80abff");
  const unsigned char raw[] = {0xde, 0xad, 0xbe, 0xef};
  CHECK(HexEncode(raw, sizeof raw) == "deadbeef");
  std::string out = "\\x";
  AppendHexByte(out, 0x0a);
  CHECK(out == "\\x0a");
}

TEST_CASE("hex: a 64-bit value is always 16 digits, most significant first") {
  CHECK(HexU64(0) == "0000000000000000");
  CHECK(HexU64(1) == "0000000000000001");
  CHECK(HexU64(0x0123456789abcdefULL) == "0123456789abcdef");
  CHECK(HexU64(~0ULL) == "ffffffffffffffff");
}

TEST_CASE("hex: decoding takes either case and refuses odd lengths and non-digits") {
  CHECK(HexDecode("") == std::string());
  CHECK(HexDecode("00017F80abFF") == std::string("\x00\x01\x7f\x80\xab\xff", 6));
  CHECK_FALSE(HexDecode("abc").has_value());
  CHECK_FALSE(HexDecode("zz").has_value());
  CHECK_FALSE(HexDecode("0x").has_value());
  const std::string bytes("\x00\x10\x20\xfe", 4);
  CHECK(HexDecode(HexEncode(bytes)) == bytes);
}

}  // namespace
}  // namespace slotwise
