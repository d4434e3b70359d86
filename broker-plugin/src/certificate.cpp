// The TLS client certificate's subject CN, which is a terminal's id when the
// listener verifies client certificates (require_certificate true; NOT
// use_identity_as_username, which makes mosquitto skip BASIC_AUTH).
// Runs on the broker's main thread only.
#include <openssl/x509.h>

#include "mosquitto_api.h"
#include "plugin_context.h"

namespace slotwise::broker {

std::optional<std::string> CertificateCommonName(const struct mosquitto* client) {
  // A new reference (SSL_get1_peer_certificate): ours to free. NULL without
  // TLS or without a client certificate. mosquitto verified the chain
  // against the listener's cafile before the CONNECT was read.
  auto* cert = static_cast<X509*>(mosquitto_client_certificate(client));
  if (!cert) return std::nullopt;
  std::optional<std::string> cn;
  X509_NAME* subject = X509_get_subject_name(cert);
  const int index = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
  if (index >= 0) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len >= 0 && utf8) cn.emplace(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
    OPENSSL_free(utf8);
    // A second CN would make the identity ambiguous: refuse both.
    if (X509_NAME_get_index_by_NID(subject, NID_commonName, index) >= 0) cn.reset();
  }
  X509_free(cert);
  return cn;
}

}  // namespace slotwise::broker
