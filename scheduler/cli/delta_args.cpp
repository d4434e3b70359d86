// --delta-from (see delta_args.h).
#include "delta_args.h"

#include "slotwise/sha256.h"

namespace slotwise::cli {

Result<DeltaSpec> ParseDeltaFrom(const std::string& spec) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
    return MakeError(v1::INVALID_ARGUMENT, "--delta-from " + spec + ": expected FROM_VERSION=BASE_FILE[:/URL/PATH]");
  }
  DeltaSpec d;
  d.from_version = spec.substr(0, eq);
  std::string rest = spec.substr(eq + 1);
  if (const auto colon = rest.rfind(":/"); colon != std::string::npos && colon > 0) {
    d.url_path = rest.substr(colon + 1);
    rest.resize(colon);
  }
  d.base_file = rest;
  return d;
}

Status AddDeltas(v1::Artifact& artifact, const std::filesystem::path& file, const std::vector<DeltaSpec>& specs,
                 const DeltaOptions& options) {
  for (const DeltaSpec& spec : specs) {
    const std::string which = "--delta-from " + spec.from_version + ": ";
    std::error_code ec;
    if (!std::filesystem::is_regular_file(spec.base_file, ec)) {
      return MakeError(v1::INVALID_ARGUMENT, which + spec.base_file.string() + " is not a file");
    }
    const std::string url_path =
        spec.url_path.empty() ? artifact.path() + ".from-" + spec.from_version + ".zst" : spec.url_path;
    const auto slash = url_path.rfind('/');
    if (!url_path.starts_with('/') || slash + 1 == url_path.size()) {
      return MakeError(v1::INVALID_ARGUMENT, which + "URL path '" + url_path + "' must begin with '/' and name a file");
    }
    const std::filesystem::path out = file.parent_path() / url_path.substr(slash + 1);
    auto built = BuildDelta(spec.base_file, file, out, options);
    if (!built) return MakeError(built.error().code, which + built.error().message);
    auto delta_sha = Sha256FileHex(out);
    if (!delta_sha) return delta_sha.error();
    auto base_sha = Sha256FileHex(spec.base_file);
    if (!base_sha) return base_sha.error();
    v1::ArtifactDelta* d = artifact.add_deltas();
    d->set_from_version(spec.from_version);
    d->set_path(url_path);
    d->set_sha256(*delta_sha);
    d->set_size(built->size);
    d->set_base_sha256(*base_sha);
    d->set_base_size(std::filesystem::file_size(spec.base_file));
  }
  return OkStatus();
}

}  // namespace slotwise::cli
