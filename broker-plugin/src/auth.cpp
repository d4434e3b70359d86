// MOSQ_EVT_BASIC_AUTH: the connect hook. mosquitto 2.0.11 has no CONNECT
// event; BASIC_AUTH runs for every CONNECT before CONNACK (also anonymous
// ones) and again for every held client on SIGHUP. The decision itself is the
// pure Authenticate() (identity.h); this file adapts and logs it. A TLS
// client certificate's CN (certificate.cpp) can stand for a terminal's
// username and password.
// Runs on the broker's main thread only.
#include <exception>
#include <optional>
#include <string>

#include "mosquitto_api.h"
#include "plugin_context.h"
#include "slotwise/broker/identity.h"

namespace slotwise::broker {

int OnBasicAuth(int /*event*/, void* event_data, void* userdata) {
  auto* ed = static_cast<mosquitto_evt_basic_auth*>(event_data);
  auto& ctx = *static_cast<PluginContext*>(userdata);
  try {
    const char* client_id = mosquitto_client_id(ed->client);
    const char* address = mosquitto_client_address(ed->client);
    ConnectRequest request;
    if (ed->username) request.username = ed->username;
    if (ed->password) request.password = ed->password;
    request.client_id = client_id ? client_id : "";
    const std::optional<std::string> cn = CertificateCommonName(ed->client);
    if (cn) request.certificate_cn = *cn;

    auto identity = Authenticate(ctx.config, ctx.passwords, request);
    if (!identity) {
      ++ctx.stats.auth_refused;
      mosquitto_log_printf(MOSQ_LOG_NOTICE,
                           "slotwise: refused client '%s' (username '%s', from %s): %s",
                           ForLog(request.client_id).c_str(),
                           ForLog(request.username.value_or("<none>")).c_str(),
                           address ? address : "?", identity.error().message.c_str());
      return MOSQ_ERR_AUTH;
    }
    if (identity->username_from_certificate) {
      // The access rules key on the username: give the connection its id.
      const int rc = mosquitto_set_username(ed->client, identity->terminal_id.c_str());
      if (rc != MOSQ_ERR_SUCCESS) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "slotwise: cannot set username of '%s': %s",
                             identity->terminal_id.c_str(), mosquitto_strerror(rc));
        return MOSQ_ERR_AUTH;
      }
    }
    if (identity->role != Role::kService) ctx.live.OnAuthenticated(request.client_id, ed->client);
    if (identity->role == Role::kTerminal) {
      PresenceOnTerminalAccepted(ctx, ed->client, identity->terminal_id);
    } else {
      mosquitto_log_printf(MOSQ_LOG_INFO, "slotwise: accepted client '%s' as %s '%s'",
                           ForLog(request.client_id).c_str(),
                           std::string(RoleName(identity->role)).c_str(),
                           ForLog(*request.username).c_str());
    }
    return MOSQ_ERR_SUCCESS;
  } catch (const std::exception& e) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "slotwise: auth failed internally: %s", e.what());
  } catch (...) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "slotwise: auth failed internally");
  }
  return MOSQ_ERR_AUTH;  // fail closed
}

}  // namespace slotwise::broker
