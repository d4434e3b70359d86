// Small files that must survive power loss: the agent's saved state and the
// installed-version file. A write either leaves the old content or the new
// one, never a torn mix: write a temporary file beside the target, fsync it,
// rename it over the target, fsync the directory.
//
// Threading: free functions with no shared state; two threads must not write
// the same path at once (each agent owns its own files).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "slotwise/result.h"

namespace slotwise::agent {

slotwise::Status WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes);

// NOT_FOUND if the file does not exist, INTERNAL on other read errors.
Result<std::string> ReadWholeFile(const std::filesystem::path& path);

// The installed version as written in the version file: the first line,
// surrounding whitespace removed. INVALID_ARGUMENT if it is empty.
Result<std::string> ReadVersionFile(const std::filesystem::path& path);
slotwise::Status WriteVersionFile(const std::filesystem::path& path, std::string_view version);

}  // namespace slotwise::agent
