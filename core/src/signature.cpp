#include "slotwise/signature.h"

#include "slotwise/topics.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>

namespace slotwise {
namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

Pkey ReadKey(std::string_view pem, bool private_key) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return nullptr;
  Pkey key(private_key ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                       : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (key && EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519) return nullptr;
  return key;
}

}  // namespace

std::string ArtifactManifest(std::string_view version, std::string_view sha256_hex, std::uint64_t size,
                             std::string_view component) {
  std::string hex(sha256_hex);
  for (char& c : hex) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  std::string out = "slotwise-artifact-v1\n";
  if (!topics::IsSystemComponent(component)) {
    out += "component=";
    out += component;
    out += '\n';
  }
  out += "version=";
  out += version;
  out += "\nsha256=";
  out += hex;
  out += "\nsize=";
  out += std::to_string(size);
  out += '\n';
  return out;
}

Result<std::string> SignEd25519(std::string_view private_key_pem, std::string_view message) {
  Pkey key = ReadKey(private_key_pem, true);
  if (!key) return MakeError(v1::INVALID_ARGUMENT, "not an Ed25519 private key in PEM form");
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  std::string signature(kEd25519SignatureSize, '\0');
  std::size_t length = signature.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      length != kEd25519SignatureSize) {
    return MakeError(v1::INTERNAL, "Ed25519 signing failed");
  }
  return signature;
}

slotwise::Status VerifyEd25519(std::string_view public_key_pem, std::string_view message,
                               std::string_view signature) {
  Pkey key = ReadKey(public_key_pem, false);
  if (!key) return MakeError(v1::INVALID_ARGUMENT, "not an Ed25519 public key in PEM form");
  if (signature.size() != kEd25519SignatureSize) {
    return MakeError(v1::FAILED_PRECONDITION, signature.empty() ? "the artifact is not signed"
                                                                : "signature is not 64 bytes");
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    return MakeError(v1::INTERNAL, "Ed25519 verification could not start");
  }
  if (EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return MakeError(v1::FAILED_PRECONDITION, "signature does not match the manifest");
  }
  return OkStatus();
}

slotwise::Status CheckEd25519PublicKey(std::string_view public_key_pem) {
  if (!ReadKey(public_key_pem, false)) return MakeError(v1::INVALID_ARGUMENT, "not an Ed25519 public key in PEM form");
  return OkStatus();
}

}  // namespace slotwise
