// Fixed Ed25519 test keys (openssl genpkey -algorithm ed25519), only for
// tests: never use them to sign anything real. Shared by tests/core and
// tests/agent (which adds this folder to its include path).
#pragma once

namespace slotwise::testing {

inline constexpr const char* kTestPrivateKeyPem = R"(-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEINbvyi/bGbcfQSRjhSfi7adg4xyEUoRdGVQoIvOlqizv
-----END PRIVATE KEY-----
)";
inline constexpr const char* kTestPublicKeyPem = R"(-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAtPsBc3f4qTJsbHF0nei0DWsW5FG+Fz2BfEU1NHljIP0=
-----END PUBLIC KEY-----
)";
inline constexpr const char* kOtherPublicKeyPem = R"(-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAsguAicELBN78jHq9Gd77DXssLEpSfRXheRKJq4mjsi0=
-----END PUBLIC KEY-----
)";

}  // namespace slotwise::testing
