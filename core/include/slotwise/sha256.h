// SHA-256 through OpenSSL 3's EVP interface. Thread-safe (no shared state).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "slotwise/result.h"

namespace slotwise {

// Lowercase hex digest of the bytes.
std::string Sha256Hex(std::string_view bytes);
// Lowercase hex digest of a file's whole content, read in chunks.
Result<std::string> Sha256FileHex(const std::filesystem::path& path);

}  // namespace slotwise
