// Full image or delta (see artifact_choice.h).
#include "slotwise/scheduler/artifact_choice.h"

namespace slotwise::scheduler {

const v1::ArtifactDelta* DeltaFrom(const v1::Artifact& artifact, std::string_view installed_version) {
  if (installed_version.empty()) return nullptr;
  for (const auto& d : artifact.deltas()) {
    if (d.from_version() == installed_version) return &d;
  }
  return nullptr;
}

std::uint64_t DownloadBytes(const v1::Artifact& artifact, std::string_view installed_version) {
  const v1::ArtifactDelta* delta = DeltaFrom(artifact, installed_version);
  return delta != nullptr ? delta->size() : artifact.size();
}

std::uint64_t BytesFor(const Registry& registry, const v1::Campaign& campaign, const v1::TerminalProgress& progress) {
  const v1::Artifact* artifact = registry.FindArtifact(campaign.component(), campaign.target_version());
  return artifact == nullptr ? 0 : DownloadBytes(*artifact, progress.version());
}

}  // namespace slotwise::scheduler
