#include "delta_download.h"

#include <fstream>

#include "artifact.h"
#include "slotwise/delta.h"
#include "slotwise/sha256.h"

namespace slotwise::agent {
namespace {

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

// Size and SHA-256 of `path`; empty when they are `size` and `sha256`.
std::string Differs(const std::filesystem::path& path, std::uint64_t size, const std::string& sha256,
                    const std::string& what) {
  std::error_code ec;
  const auto have = std::filesystem::file_size(path, ec);
  if (ec) return what + " is missing: " + ec.message();
  if (have != size) return what + " has " + std::to_string(have) + " bytes, expected " + std::to_string(size);
  const auto digest = Sha256FileHex(path);
  if (!digest) return "cannot hash " + what + ": " + digest.error().message;
  if (*digest != ToLowerAscii(sha256)) return what + " has sha256 " + *digest + ", expected " + ToLowerAscii(sha256);
  return {};
}

}  // namespace

bool OffersDelta(const v1::Download& d) {
  return !d.delta_url().empty() && d.delta_size() > 0 && IsHex64(d.delta_sha256()) &&
         IsHex64(d.delta_base_sha256()) && d.delta_base_size() > 0 && d.size() > 0 && IsHex64(d.sha256());
}

std::filesystem::path DeltaPartialPath(const std::filesystem::path& download_dir, const v1::Download& download) {
  std::string_view base = UrlBaseName(download.delta_url());
  const std::string name = base.empty() ? download.version() + ".delta" : std::string(base);
  std::filesystem::path partial = download_dir / SafeFileName(name);
  partial += "." + ToLowerAscii(download.delta_sha256()).substr(0, 16) + ".part";
  return partial;
}

std::string DeltaRefusal(const v1::Download& download, const ComponentConfig& component,
                         const std::filesystem::path& full_partial) {
  if (component.image_path.empty()) return "no image_path is configured for this component";
  std::error_code ec;
  if (std::filesystem::exists(full_partial, ec)) return "the full image's download is under way";
  return Differs(component.image_path, download.delta_base_size(), download.delta_base_sha256(),
                 "the installed image " + component.image_path.string() + " (base " + download.delta_base_version() +
                     ")");
}

slotwise::Status RebuildFromDelta(const v1::Download& download, const ComponentConfig& component,
                                  const std::filesystem::path& delta_partial,
                                  const std::filesystem::path& full_partial) {
  if (std::string why = Differs(delta_partial, download.delta_size(), download.delta_sha256(), "the delta");
      !why.empty()) {
    return MakeError(v1::FAILED_PRECONDITION, why);
  }
  std::filesystem::path rebuilt = full_partial;
  rebuilt += ".apply";
  std::error_code ec;
  if (auto applied = ApplyDelta(component.image_path, delta_partial, rebuilt, download.size()); !applied) {
    std::filesystem::remove(rebuilt, ec);
    return MakeError(v1::FAILED_PRECONDITION, "cannot apply the delta: " + applied.error().message);
  }
  if (std::string why = Differs(rebuilt, download.size(), download.sha256(), "the image rebuilt from the delta");
      !why.empty()) {
    std::filesystem::remove(rebuilt, ec);
    return MakeError(v1::FAILED_PRECONDITION, why);
  }
  std::filesystem::rename(rebuilt, full_partial, ec);
  if (ec) {
    std::filesystem::remove(rebuilt, ec);
    return MakeError(v1::FAILED_PRECONDITION, "cannot move the rebuilt image into place: " + ec.message());
  }
  return OkStatus();
}

std::filesystem::path HowPath(const std::filesystem::path& file) {
  std::filesystem::path how = file;
  how += ".how";
  return how;
}

slotwise::Status KeepAsInstalledImage(const std::filesystem::path& file, const std::filesystem::path& image_path) {
  std::error_code ec;
  if (image_path.has_parent_path()) std::filesystem::create_directories(image_path.parent_path(), ec);
  std::filesystem::rename(file, image_path, ec);
  if (!ec) return OkStatus();
  // Another file system: copy beside the target, then rename over it.
  std::filesystem::path tmp = image_path;
  tmp += ".tmp";
  std::filesystem::copy_file(file, tmp, std::filesystem::copy_options::overwrite_existing, ec);
  if (!ec) std::filesystem::rename(tmp, image_path, ec);
  if (ec) {
    const std::string why = ec.message();
    std::filesystem::remove(tmp, ec);
    return MakeError(v1::INTERNAL, "cannot keep the installed image at " + image_path.string() + ": " + why);
  }
  std::filesystem::remove(file, ec);
  return OkStatus();
}

}  // namespace slotwise::agent
