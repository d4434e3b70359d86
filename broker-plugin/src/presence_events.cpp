// Terminal presence as the broker sees it: accepted terminal connects
// (from auth.cpp), MOSQ_EVT_DISCONNECT, and the SIGHUP re-authentication pass
// (MOSQ_EVT_RELOAD ... next MOSQ_EVT_TICK). Bookkeeping is the pure
// PresenceTracker (presence.h); this file feeds it and publishes its changes
// retained, QoS 1, on slotwise/v1/presence/{tid}.
// Runs on the broker's main thread only.
#include <exception>
#include <string>

#include "mosquitto_api.h"
#include "plugin_context.h"
#include "slotwise/broker/identity.h"
#include "slotwise/topics.h"

namespace slotwise::broker {
namespace {

void Publish(const PluginContext& ctx, const PresenceChange& change) {
  const std::string topic = topics::Presence(change.terminal_id);
  const std::string payload =
      EncodePresence(change.terminal_id, change.online, ctx.clock.NowMs());
  // NULL client id: to every subscriber. The copy is queued and sent on the
  // broker's next loop pass; it skips the write ACL but not the read ACL.
  const int rc = mosquitto_broker_publish_copy(nullptr, topic.c_str(),
                                               static_cast<int>(payload.size()), payload.data(),
                                               /*qos=*/1, /*retain=*/true, nullptr);
  if (rc != MOSQ_ERR_SUCCESS) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "slotwise: could not publish presence of '%s': %s",
                         change.terminal_id.c_str(), mosquitto_strerror(rc));
    return;
  }
  mosquitto_log_printf(MOSQ_LOG_INFO, "slotwise: terminal '%s' %s", change.terminal_id.c_str(),
                       change.online ? "online" : "offline");
}

}  // namespace

void PresenceOnTerminalAccepted(PluginContext& ctx, const struct mosquitto* client,
                                const std::string& terminal_id) {
  if (auto change = ctx.presence.OnAuthenticated(client, terminal_id)) Publish(ctx, *change);
}

int OnDisconnect(int /*event*/, void* event_data, void* userdata) {
  auto* ed = static_cast<mosquitto_evt_disconnect*>(event_data);
  auto& ctx = *static_cast<PluginContext*>(userdata);
  try {
    // Keyed by the connection pointer, not the client id: after a refused
    // CONNECT the id is NULL and the pointer was never recorded (ignored);
    // after a session takeover this is the OLD connection and the id now
    // also names the new one.
    if (auto change = ctx.presence.OnDisconnected(ed->client)) Publish(ctx, *change);
    // From here on a write of this connection can only be its will.
    if (const char* client_id = mosquitto_client_id(ed->client)) {
      ctx.live.OnDisconnected(client_id, ed->client);
    }
  } catch (const std::exception& e) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "slotwise: disconnect handling failed: %s", e.what());
  } catch (...) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "slotwise: disconnect handling failed");
  }
  return MOSQ_ERR_SUCCESS;
}

int OnReload(int /*event*/, void* /*event_data*/, void* userdata) {
  auto& ctx = *static_cast<PluginContext*>(userdata);
  // plugin_opt_* are not re-read by mosquitto on SIGHUP, but the password
  // file is: re-read it before the re-authentication pass that follows. A
  // file that no longer parses keeps the previous passwords (fail safe:
  // nobody is locked out by a half-written file).
  try {
    auto passwords = PasswordFile::Load(ctx.config.password_file);
    if (passwords) {
      ctx.passwords = std::move(*passwords);
      mosquitto_log_printf(MOSQ_LOG_INFO, "slotwise: reloaded %zu passwords",
                           ctx.passwords.size());
    } else {
      mosquitto_log_printf(MOSQ_LOG_ERR, "slotwise: password file not reloaded: %s",
                           passwords.error().message.c_str());
    }
  } catch (const std::exception& e) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "slotwise: password file not reloaded: %s", e.what());
  }
  if (ctx.tick_seen) {
    ctx.presence.BeginReauthPass();
    ctx.live.BeginReauthPass();
  } else {
    // No TICK would ever end the pass, so every later connect would go
    // unannounced. Unsupported setup (README): say so loudly and let
    // disconnected persistent sessions be announced online instead.
    mosquitto_log_printf(MOSQ_LOG_ERR,
                         "slotwise: no TICK events seen (per_listener_settings true is not "
                         "supported): disconnected persistent sessions may be shown online");
  }
  // DEFER, not SUCCESS: 2.0.11 stops at the first RELOAD callback that does
  // not defer, which would skip other plugins' reload work.
  return MOSQ_ERR_PLUGIN_DEFER;
}

int OnTick(int /*event*/, void* /*event_data*/, void* userdata) {
  auto& ctx = *static_cast<PluginContext*>(userdata);
  if (!ctx.tick_seen) WatchStopSignals();
  ctx.tick_seen = true;
  if (ctx.presence.in_reauth_pass()) ctx.presence.EndReauthPass();
  ctx.live.EndReauthPass();
  try {
    MessageWorkOnTick(ctx);
  } catch (const std::exception& e) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "slotwise: tick work failed: %s", e.what());
  }
  return MOSQ_ERR_SUCCESS;
}

}  // namespace slotwise::broker
