#include "artifact.h"

#include <algorithm>

#include "slotwise/signature.h"
#include "slotwise/version.h"

namespace slotwise::agent {

slotwise::Status CheckManifest(const v1::Download& download, std::string_view public_key_pem,
                               std::string_view current_version) {
  if (!public_key_pem.empty()) {
    const std::string manifest = ArtifactManifest(download.version(), download.sha256(), download.size(), download.component());
    if (auto verified = VerifyEd25519(public_key_pem, manifest, download.signature()); !verified) {
      return MakeError(v1::FAILED_PRECONDITION, "signature check failed: " + verified.error().message);
    }
  }
  if (!download.version().empty() && !download.allow_downgrade() &&
      IsOlderVersion(download.version(), current_version)) {
    return MakeError(v1::FAILED_PRECONDITION, "refusing to downgrade from " + std::string(current_version) +
                                                  " to " + download.version() + " (the campaign does not allow it)");
  }
  return OkStatus();
}

std::string SafeFileName(std::string_view name) {
  // A leading '.' would hide the file or make it "." / "..": prefix it.
  std::string out = (name.empty() || name.front() == '.') ? "f" : "";
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' || c == '+';
    out += ok ? c : '_';
  }
  out.resize(std::min<std::size_t>(out.size(), 128));
  return out;
}

std::string_view UrlBaseName(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  const auto scheme = url.find("://");
  if (scheme != std::string_view::npos) url = url.substr(scheme + 3);
  const auto slash = url.rfind('/');
  if (slash == std::string_view::npos) return {};  // host only
  return url.substr(slash + 1);
}

std::string ToLowerAscii(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return s;
}

std::filesystem::path DownloadPath(const std::filesystem::path& download_dir, const v1::Download& download) {
  std::string_view base = UrlBaseName(download.url());
  if (base.empty()) base = download.version();
  return download_dir / SafeFileName(base);
}

std::filesystem::path PartialPath(const std::filesystem::path& download_dir, const v1::Download& download) {
  std::filesystem::path partial = DownloadPath(download_dir, download);
  partial += "." + ToLowerAscii(download.sha256()).substr(0, 16) + ".part";
  return partial;
}

}  // namespace slotwise::agent
