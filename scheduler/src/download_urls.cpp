// Signed download URLs (nginx secure_link).
#include "slotwise/scheduler/download_urls.h"

#include <openssl/evp.h>

#include <cstdint>

namespace slotwise::scheduler {
namespace {

// nginx secure_link's token: base64url(md5(text)) without padding.
std::string SecureLinkToken(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_md5(), nullptr);
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned int i = 0; i < len; ++i) {
    acc = (acc << 8) | digest[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3f];
  return out;
}

// The path part of an http(s) URL ("" for none).
std::string UrlPath(const std::string& url) {
  const auto scheme = url.find("://");
  const auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return slash == std::string::npos ? std::string() : url.substr(slash);
}

}  // namespace

std::string DownloadUrls::For(const v1::Node& node, const v1::Artifact& artifact, Slot slot,
                              std::string_view terminal_id) const {
  return ForPath(node, artifact.path(), slot, terminal_id);
}

std::string DownloadUrls::ForPath(const v1::Node& node, std::string_view path, Slot slot,
                                  std::string_view terminal_id) const {
  std::string url = node.base_url() + std::string(path);
  if (options_.url_secret.empty()) return url;
  const std::string expires = std::to_string((grid_.End(slot) + options_.download_allowance_ms + 999) / 1000);
  const std::string uri = UrlPath(node.base_url()) + std::string(path);
  const std::string token = SecureLinkToken(expires + ":" + std::string(terminal_id) + uri + options_.url_secret);
  return url + "?md5=" + token + "&terminal=" + std::string(terminal_id) + "&expires=" + expires;
}

}  // namespace slotwise::scheduler
