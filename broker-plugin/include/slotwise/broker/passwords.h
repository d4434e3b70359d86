// The password file: usernames and hashed secrets in the format written by
// mosquitto_passwd (one `username:hash` per line), so operators manage it
// with the tool they already have. Hashes understood:
//   $7$<iterations>$<salt b64>$<hash b64>  PBKDF2-HMAC-SHA512 (mosquitto 2.x)
//   $6$<salt b64>$<hash b64>               SHA-512(password || salt) (1.x)
// Plain-text lines are refused: a secret must never sit in a file unhashed.
//
// Pure code (OpenSSL libcrypto only, no mosquitto types). A PasswordFile is
// immutable after loading; Verify is safe from any thread.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "slotwise/result.h"

namespace slotwise::broker {

class PasswordFile {
 public:
  // Parses the file's text. Blank lines and lines starting with '#' are
  // skipped. Fails (INVALID_ARGUMENT, with the line number) on a line without
  // ':', an unknown hash format, bad base64 or a username given twice.
  static Result<PasswordFile> Parse(std::string_view text);
  static Result<PasswordFile> Load(const std::string& path);

  // True when `username` is in the file and `password` matches its hash.
  // Compares in constant time.
  bool Verify(std::string_view username, std::string_view password) const;
  bool Contains(std::string_view username) const;
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    int kind = 7;          // 6 or 7
    int iterations = 0;    // $7$ only
    std::string salt;      // raw bytes
    std::string hash;      // raw bytes
  };
  std::map<std::string, Entry, std::less<>> entries_;
};

// A mosquitto_passwd-compatible `$7$` line value for `password` with a random
// 12-byte salt (tests and the benchmark write password files with it).
std::string HashPasswordPbkdf2(std::string_view password, int iterations = 101);

}  // namespace slotwise::broker
