// Key layout of the scheduler's store. One record per object; the ledger is
// not stored, it is rebuilt from the bookings in the progress records.
//
//   meta                          StoreMeta
//   cluster/{id}                  Cluster
//   node/{id}                     Node
//   artifact/{version}            Artifact of the system image
//   artifact/{component}/{version} Artifact of another component
//   campaign/{id}                 Campaign
//   progress/{campaign}/{tid}     TerminalProgress (the booking lives here)
//   terminal/{tid}                TerminalInfo
//   audit/{seq, 20 digits}        AuditEntry (issue 13)
//
// Ids never contain '/', so prefixes do not overlap.
#pragma once

#include <string>
#include <string_view>

namespace slotwise::scheduler::keys {

inline constexpr std::string_view kMeta = "meta";
inline constexpr std::string_view kCluster = "cluster/";
inline constexpr std::string_view kNode = "node/";
inline constexpr std::string_view kArtifact = "artifact/";
inline constexpr std::string_view kCampaign = "campaign/";
inline constexpr std::string_view kProgress = "progress/";
inline constexpr std::string_view kTerminal = "terminal/";
inline constexpr std::string_view kAudit = "audit/";

inline std::string Of(std::string_view prefix, std::string_view id) {
  std::string k(prefix);
  k += id;
  return k;
}

// The artifact's id under kArtifact (versions never contain '/').
inline std::string ArtifactId(std::string_view component, std::string_view version) {
  std::string k(component);
  if (!k.empty()) k += '/';
  k += version;
  return k;
}

inline std::string Progress(std::string_view campaign, std::string_view terminal) {
  std::string k(kProgress);
  k += campaign;
  k += '/';
  k += terminal;
  return k;
}

}  // namespace slotwise::scheduler::keys
