// The delta half of the download step (schemas/README.md "Delta
// artifacts"): whether a GO's delta can be used here, where its bytes go,
// and the rebuild of the full image from the installed one.
//
// A delta is used only when the GO offers one (Download.delta_*), the job's
// component has an image_path, that file's size and SHA-256 are the delta's
// base, and the full image's .part does not exist: the .part of the full
// image, even empty, means "full image" (a fallback writes it), so a
// fallback holds across retries and restarts and a full download under way
// is never given up for a delta.
//
// Private to slotwise_agent. Blocking file I/O on the agent's thread.
#pragma once

#include <filesystem>
#include <string>

#include "slotwise/agent/config.h"
#include "slotwise/result.h"
#include "slotwise/v1/terminal.pb.h"

namespace slotwise::agent {

// The GO carries a complete delta description (url, 64-digit hashes, sizes).
bool OffersDelta(const v1::Download& download);

// download_dir/<the delta URL's last path segment>.<first 16 hex digits of
// the delta's SHA-256>.part: a resumed delta only ever appends to bytes of
// the same delta.
std::filesystem::path DeltaPartialPath(const std::filesystem::path& download_dir, const v1::Download& download);

// Why the offered delta cannot be used here; empty when it can. Hashes the
// installed image (a few seconds for hundreds of MB).
std::string DeltaRefusal(const v1::Download& download, const ComponentConfig& component,
                         const std::filesystem::path& full_partial);

// Checks the fetched delta (size, SHA-256), applies it to the installed
// image into `full_partial`.apply, checks the result against the full
// image's size and SHA-256 and only then renames it to `full_partial`. On
// any failure nothing is left but the delta (FAILED_PRECONDITION, with the
// reason: the caller falls back to the full image).
slotwise::Status RebuildFromDelta(const v1::Download& download, const ComponentConfig& component,
                                  const std::filesystem::path& delta_partial,
                                  const std::filesystem::path& full_partial);

// Beside the verified file: one line for the final Status.detail of the
// install ("from a delta of N bytes, base 2.0.0" / "full image: why").
std::filesystem::path HowPath(const std::filesystem::path& file);

// Replaces `image_path` with `file`'s bytes (a rename, or a copy through
// image_path.tmp across file systems): the next delta's base.
slotwise::Status KeepAsInstalledImage(const std::filesystem::path& file, const std::filesystem::path& image_path);

}  // namespace slotwise::agent
