// Artifact signatures: the manifest that is signed, and Ed25519 signing and
// verification through OpenSSL 3 (EVP_DigestSign / EVP_DigestVerify, no
// digest: Ed25519 signs the message itself). The operator CLI signs with a
// private key; the agent verifies with the public key from its config. Both
// build the manifest here, so they can never disagree on its bytes. The
// format is specified in schemas/README.md, "Artifact signatures".
//
// Threading: pure functions, no shared state; safe from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "slotwise/result.h"

namespace slotwise {

// Ed25519 signatures are always 64 bytes.
inline constexpr std::size_t kEd25519SignatureSize = 64;

// The exact bytes that are signed:
//   "slotwise-artifact-v1\nversion=<version>\nsha256=<hex>\nsize=<decimal>\n"
// and, for a component other than the system image, a line
// "component=<name>\n" after the first one, so a signature made for one
// component's artifact does not verify as another's. The system image's
// manifest ("" or "system") is exactly the v1 bytes above.
// `sha256_hex` is lowercased here; `size` has no leading zeros.
std::string ArtifactManifest(std::string_view version, std::string_view sha256_hex, std::uint64_t size,
                             std::string_view component = {});

// Signs `message` with the Ed25519 private key in `private_key_pem` (PKCS#8
// PEM, as written by `openssl genpkey -algorithm ed25519`). Returns the 64
// raw signature bytes. INVALID_ARGUMENT if the PEM is not an Ed25519 key.
Result<std::string> SignEd25519(std::string_view private_key_pem, std::string_view message);

// OK if `signature` is a valid Ed25519 signature of `message` under the
// public key in `public_key_pem` (SubjectPublicKeyInfo PEM, as written by
// `openssl pkey -pubout`). INVALID_ARGUMENT for an unusable key,
// FAILED_PRECONDITION for a missing or wrong signature.
slotwise::Status VerifyEd25519(std::string_view public_key_pem, std::string_view message,
                               std::string_view signature);

// INVALID_ARGUMENT unless `public_key_pem` holds an Ed25519 public key.
slotwise::Status CheckEd25519PublicKey(std::string_view public_key_pem);

}  // namespace slotwise
