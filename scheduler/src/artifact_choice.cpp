// Full image or delta (see artifact_choice.h).
#include "slotwise/scheduler/artifact_choice.h"

#include "slotwise/topics.h"

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

std::string_view KnownVersion(const Registry& registry, const v1::Campaign& campaign,
                              const v1::TerminalProgress& progress) {
  if (!progress.version().empty()) return progress.version();
  if (campaign.component().empty() || topics::IsSystemComponent(campaign.component())) {
    const v1::TerminalInfo* info = registry.FindTerminal(progress.terminal_id());
    return info != nullptr ? std::string_view(info->current_version()) : std::string_view();
  }
  if (const v1::TerminalComponents* cs = registry.ComponentsOf(progress.terminal_id())) {
    const std::string_view wanted = topics::CanonicalComponent(campaign.component());
    for (const auto& c : cs->components()) {
      if (topics::CanonicalComponent(c.component()) == wanted) return c.version();
    }
  }
  return {};
}

std::uint64_t BytesFor(const Registry& registry, const v1::Campaign& campaign, const v1::TerminalProgress& progress) {
  const v1::Artifact* artifact = registry.FindArtifact(campaign.component(), campaign.target_version());
  return artifact == nullptr ? 0 : DownloadBytes(*artifact, KnownVersion(registry, campaign, progress));
}

}  // namespace slotwise::scheduler
