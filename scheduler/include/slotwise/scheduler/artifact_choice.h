// ArtifactChoice: which file a terminal fetches for a campaign, and how many
// bytes that is (schemas/README.md "Delta artifacts"): the artifact's delta
// from the version the terminal runs when the artifact has one, else the
// full image. The ledger books these bytes; S10's GO names the same file.
//
// The terminal's version is the one it last told the scheduler for the
// campaign's component: TerminalProgress.version, written from the
// campaign Report (S7), the Check (S10) and the Status (S11). The agent
// checks the base's SHA-256 itself and falls back to the full image (whose
// URL every GO carries), so a wrong version here costs bytes, never a bad
// install.
//
// Pure functions of their arguments; safe from any thread that may read them.
#pragma once

#include <cstdint>
#include <string_view>

#include "slotwise/scheduler/registry.h"
#include "slotwise/v1/operator.pb.h"

namespace slotwise::scheduler {

// The delta of `artifact` from `installed_version`, or nullptr (none, or no
// version known).
const v1::ArtifactDelta* DeltaFrom(const v1::Artifact& artifact, std::string_view installed_version);

// The bytes a terminal running `installed_version` fetches: the delta's
// size, else the artifact's.
std::uint64_t DownloadBytes(const v1::Artifact& artifact, std::string_view installed_version);

// The version `progress`'s terminal runs of `campaign`'s component:
// TerminalProgress.version, else (nothing said for the campaign yet, e.g.
// while its windows are planned) the version its last Report named
// (TerminalInfo.current_version, TerminalComponents); "" when unknown.
std::string_view KnownVersion(const Registry& registry, const v1::Campaign& campaign,
                              const v1::TerminalProgress& progress);

// The bytes `progress`'s terminal fetches for `campaign` (its artifact, by
// KnownVersion); 0 when the campaign's artifact is unknown. Placement
// (Bookings::DemandOf) and windows (QueryWindows) book these bytes.
std::uint64_t BytesFor(const Registry& registry, const v1::Campaign& campaign, const v1::TerminalProgress& progress);

}  // namespace slotwise::scheduler
