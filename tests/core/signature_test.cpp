// SHA-256 digests and artifact signatures (slotwise/sha256.h,
// slotwise/signature.h). The agent's tests check their use on downloads.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "slotwise/sha256.h"
#include "slotwise/signature.h"
#include "test_keys.h"

namespace slotwise::testing {
namespace {

TEST_CASE("sha256: known digests of bytes and of a file") {
  CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const auto path = std::filesystem::temp_directory_path() /
                    ("slotwise-core-sha256-" + std::to_string(std::random_device{}()));
  // Bigger than one read chunk (64 KiB), so the chunks are joined right.
  const std::string content(200'000, 'x');
  { std::ofstream(path, std::ios::binary) << content; }
  const auto digest = Sha256FileHex(path);
  std::filesystem::remove(path);
  REQUIRE(digest.ok());
  CHECK(*digest == Sha256Hex(content));
  CHECK(Sha256FileHex(path).error().code == v1::NOT_FOUND);
}

TEST_CASE("artifact manifest and Ed25519 signatures") {
  const std::string manifest = ArtifactManifest("2.1.0", "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08", 1048576);
  CHECK(manifest ==
        "slotwise-artifact-v1\nversion=2.1.0\nsha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
        "size=1048576\n");
  auto sig = SignEd25519(kTestPrivateKeyPem, manifest);
  REQUIRE(sig.ok());
  CHECK(sig->size() == kEd25519SignatureSize);
  CHECK(VerifyEd25519(kTestPublicKeyPem, manifest, *sig).ok());
  CHECK_FALSE(VerifyEd25519(kOtherPublicKeyPem, manifest, *sig).ok());
  CHECK_FALSE(VerifyEd25519(kTestPublicKeyPem, manifest + "x", *sig).ok());
  CHECK_FALSE(VerifyEd25519(kTestPublicKeyPem, manifest, "").ok());
  CHECK(VerifyEd25519("not a key", manifest, *sig).error().code == v1::INVALID_ARGUMENT);
  CHECK_FALSE(SignEd25519(kTestPublicKeyPem, manifest).ok());
}

TEST_CASE("artifact manifest: a component's signature does not verify as another component's") {
  const std::string sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  // The system image keeps the v1 bytes, whichever way it is named.
  CHECK(ArtifactManifest("2.1.0", sha, 10, "") == ArtifactManifest("2.1.0", sha, 10));
  CHECK(ArtifactManifest("2.1.0", sha, 10, "system") == ArtifactManifest("2.1.0", sha, 10));
  const std::string app = ArtifactManifest("2.1.0", sha, 10, "payment-app");
  CHECK(app == "slotwise-artifact-v1\ncomponent=payment-app\nversion=2.1.0\nsha256=" + sha + "\nsize=10\n");
  auto sig = SignEd25519(kTestPrivateKeyPem, app);
  REQUIRE(sig.ok());
  CHECK(VerifyEd25519(kTestPublicKeyPem, app, *sig).ok());
  CHECK_FALSE(VerifyEd25519(kTestPublicKeyPem, ArtifactManifest("2.1.0", sha, 10), *sig).ok());
  CHECK_FALSE(VerifyEd25519(kTestPublicKeyPem, ArtifactManifest("2.1.0", sha, 10, "emv-params"), *sig).ok());
}

TEST_CASE("signatures: only Ed25519 public keys are accepted as keys") {
  CHECK(CheckEd25519PublicKey(kTestPublicKeyPem).ok());
  CHECK(CheckEd25519PublicKey(kTestPrivateKeyPem).error().code == v1::INVALID_ARGUMENT);
  CHECK(CheckEd25519PublicKey("").error().code == v1::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace slotwise::testing
