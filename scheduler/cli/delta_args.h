// `slotwise version add ... --delta-from FROM=BASE_FILE[:URL_PATH]`: the
// deltas an artifact is registered with (schemas/README.md "Delta
// artifacts"). Each is built here with zstd patch-from (slotwise/delta.h)
// from the base file to the new version's file, written beside the new file
// (the operator copies that folder to the nodes), and recorded with its
// size and SHA-256 and the base's.
//
// Default URL path: the artifact's path + ".from-FROM.zst"; the delta file:
// the new file's folder / the URL path's last segment.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "slotwise/delta.h"
#include "slotwise/result.h"
#include "slotwise/v1/operator.pb.h"

namespace slotwise::cli {

struct DeltaSpec {
  std::string from_version;
  std::filesystem::path base_file;
  std::string url_path;  // empty: the default
};

// FROM=BASE_FILE[:URL_PATH]; the URL path begins with '/', so the last ":/"
// separates it (a base file name may hold ':'). INVALID_ARGUMENT otherwise.
Result<DeltaSpec> ParseDeltaFrom(const std::string& spec);

// Builds every delta of `specs` for `artifact` (version, path, sha256 and
// size already set, `file` its content) and appends them to
// artifact.deltas. INVALID_ARGUMENT for a missing base, a URL path that is
// not absolute, a pair over kMaxDeltaSpan; what BuildDelta says otherwise.
Status AddDeltas(v1::Artifact& artifact, const std::filesystem::path& file, const std::vector<DeltaSpec>& specs,
                 const DeltaOptions& options);

}  // namespace slotwise::cli
