// The artifact a GO names (v1::Download): where it goes on disk and what can
// be refused before a byte is fetched. Used by the download step and again
// by the install step. Private to slotwise_agent. Pure, except that the
// paths name files in config.download_dir.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "slotwise/result.h"
#include "slotwise/v1/terminal.pb.h"

namespace slotwise::agent {

// Signature (when a public key is configured: Ed25519 over the manifest of
// version/sha256/size, schemas/README.md "Artifact signatures") and
// anti-rollback (a version older than `current_version`, by
// slotwise/version.h, unless the campaign allows a downgrade).
// FAILED_PRECONDITION with the reason otherwise.
slotwise::Status CheckManifest(const v1::Download& download, std::string_view public_key_pem,
                               std::string_view current_version);

// download_dir/<the URL's last path segment, or the version>, made safe as
// one path component: an install hook that cares about the file name (a
// .deb, a .tar.gz) gets the one the node serves.
std::filesystem::path DownloadPath(const std::filesystem::path& download_dir, const v1::Download& download);
// DownloadPath + ".<first 16 hex digits of the SHA-256>.part": named after
// the content, so a resumed download only ever appends to bytes of the same
// artifact.
std::filesystem::path PartialPath(const std::filesystem::path& download_dir, const v1::Download& download);

// Keeps a name usable as one path component (URL paths and versions come
// from the network): [A-Za-z0-9._+-], no leading '.', at most 128 chars.
std::string SafeFileName(std::string_view name);
// The URL's last path segment, without query or fragment; empty for a bare host.
std::string_view UrlBaseName(std::string_view url);
std::string ToLowerAscii(std::string s);

}  // namespace slotwise::agent
