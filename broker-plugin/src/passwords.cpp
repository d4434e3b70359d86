// mosquitto_passwd-format password file (see passwords.h).
#include "slotwise/broker/passwords.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

namespace slotwise::broker {
namespace {

constexpr std::size_t kMaxHashBytes = 64;

std::optional<std::string> DecodeBase64(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0 || in.size() > 1024) return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  std::size_t len = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts the bytes of '=' padding as zeros; drop them.
  if (in.ends_with("==")) {
    len -= 2;
  } else if (in.ends_with("=")) {
    len -= 1;
  }
  out.resize(len);
  return out;
}

std::string EncodeBase64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos
                                                                  : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

Error Invalid(std::size_t line, const std::string& why) {
  return MakeError(v1::INVALID_ARGUMENT,
                   "password file line " + std::to_string(line) + ": " + why);
}

}  // namespace

Result<PasswordFile> PasswordFile::Parse(std::string_view text) {
  PasswordFile file;
  std::size_t line_no = 0;
  for (std::string_view line : Split(text, '\n')) {
    ++line_no;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Invalid(line_no, "expected username:hash");
    }
    const std::string_view user = line.substr(0, colon);
    const auto parts = Split(line.substr(colon + 1), '$');
    // "$7$it$salt$hash" splits into "", "7", it, salt, hash.
    Entry entry;
    std::optional<std::string> salt;
    std::optional<std::string> hash;
    if (parts.size() == 5 && parts[0].empty() && parts[1] == "7") {
      entry.kind = 7;
      try {
        entry.iterations = std::stoi(std::string(parts[2]));
      } catch (const std::exception&) {
        entry.iterations = 0;
      }
      if (entry.iterations < 1 || entry.iterations > 10'000'000) {
        return Invalid(line_no, "bad iteration count");
      }
      salt = DecodeBase64(parts[3]);
      hash = DecodeBase64(parts[4]);
    } else if (parts.size() == 4 && parts[0].empty() && parts[1] == "6") {
      entry.kind = 6;
      salt = DecodeBase64(parts[2]);
      hash = DecodeBase64(parts[3]);
    } else {
      return Invalid(line_no, "unknown hash format (expected $7$ or $6$ from mosquitto_passwd)");
    }
    if (!salt || !hash || hash->empty() || hash->size() > kMaxHashBytes) {
      return Invalid(line_no, "bad base64 salt or hash");
    }
    entry.salt = std::move(*salt);
    entry.hash = std::move(*hash);
    if (!file.entries_.emplace(std::string(user), std::move(entry)).second) {
      return Invalid(line_no, "username '" + std::string(user) + "' given twice");
    }
  }
  return file;
}

Result<PasswordFile> PasswordFile::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(v1::INVALID_ARGUMENT, "cannot read password file '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  auto file = Parse(text.str());
  if (!file) {
    return MakeError(v1::INVALID_ARGUMENT, path + ": " + file.error().message);
  }
  return file;
}

bool PasswordFile::Contains(std::string_view username) const {
  return entries_.find(username) != entries_.end();
}

bool PasswordFile::Verify(std::string_view username, std::string_view password) const {
  const auto it = entries_.find(username);
  if (it == entries_.end()) return false;
  const Entry& e = it->second;
  unsigned char computed[kMaxHashBytes] = {};
  if (e.kind == 7) {
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                          reinterpret_cast<const unsigned char*>(e.salt.data()),
                          static_cast<int>(e.salt.size()), e.iterations, EVP_sha512(),
                          static_cast<int>(e.hash.size()), computed) != 1) {
      return false;
    }
  } else {
    if (e.hash.size() != SHA512_DIGEST_LENGTH) return false;
    std::string input(password);
    input += e.salt;
    SHA512(reinterpret_cast<const unsigned char*>(input.data()), input.size(), computed);
  }
  return CRYPTO_memcmp(computed, e.hash.data(), e.hash.size()) == 0;
}

std::string HashPasswordPbkdf2(std::string_view password, int iterations) {
  unsigned char salt[12];
  RAND_bytes(salt, sizeof salt);
  unsigned char hash[64];
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt, sizeof salt,
                    iterations, EVP_sha512(), sizeof hash, hash);
  return "$7$" + std::to_string(iterations) + "$" +
         EncodeBase64(std::string_view(reinterpret_cast<const char*>(salt), sizeof salt)) + "$" +
         EncodeBase64(std::string_view(reinterpret_cast<const char*>(hash), sizeof hash));
}

}  // namespace slotwise::broker
