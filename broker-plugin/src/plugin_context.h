// State shared by the plugin's callbacks: the parsed configuration and the
// presence tracker, owned by one PluginContext created in
// mosquitto_plugin_init and destroyed in mosquitto_plugin_cleanup.
//
// Threading: mosquitto 2.0 runs every plugin callback on its single main
// thread, so nothing here is locked. Do not call into it from other threads.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "slotwise/broker/config.h"
#include "slotwise/broker/live_clients.h"
#include "slotwise/broker/passwords.h"
#include "slotwise/broker/presence.h"
#include "slotwise/broker/rate_limit.h"
#include "slotwise/broker/stats.h"
#include "slotwise/clock.h"

struct mosquitto;               // the broker's connection; used only as a key
struct mosquitto_plugin_id_t;   // names this plugin instance to the broker

namespace slotwise::broker {

struct PluginContext {
  // One instance per load: with per_listener_settings a listener loads its
  // own, so nothing of it may live in globals.
  mosquitto_plugin_id_t* plugin_id = nullptr;
  PluginConfig config;
  // Loaded at init from config.password_file, reloaded on SIGHUP (a file
  // that no longer parses keeps the previous one and logs an error).
  PasswordFile passwords;
  PresenceTracker presence;
  // The live connection of each terminal and operator client id: a write
  // from any other is a will (live_clients.h), refused.
  LiveClients live;
  RateLimiter limiter{RateLimitOptions{}};
  Stats stats;
  TimeMs next_stats_ms = 0;
  TimeMs next_prune_ms = 0;
  // Client ids of flooders, disconnected on the next TICK: kicking a client
  // from inside its own PUBLISH handling would free it under the broker.
  std::vector<std::string> pending_kicks;
  SystemClock clock;
  // Whether MOSQ_EVT_TICK is delivered at all: it never is with
  // per_listener_settings true, and then a SIGHUP pass could never end.
  bool tick_seen = false;
};

// The callbacks plugin.cpp registers, one file per concern. Each has the
// MOSQ_FUNC_generic_callback signature, never throws, and returns a MOSQ_ERR_*.
int OnBasicAuth(int event, void* event_data, void* userdata);   // auth.cpp
int OnAclCheck(int event, void* event_data, void* userdata);    // acl_check.cpp
int OnDisconnect(int event, void* event_data, void* userdata);  // presence_events.cpp
int OnReload(int event, void* event_data, void* userdata);      // presence_events.cpp
int OnTick(int event, void* event_data, void* userdata);        // presence_events.cpp
int OnMessage(int event, void* event_data, void* userdata);     // message_check.cpp

// Periodic work run from OnTick (message_check.cpp): disconnect flooders,
// publish stats when due, prune idle rate-limit buckets.
void MessageWorkOnTick(PluginContext& ctx);

// Broker shutdown (stop_signals.cpp): WatchStopSignals() chains a handler
// in front of mosquitto's SIGINT/SIGTERM handlers (at the first TICK, after
// mosquitto installed them); BrokerStopping() is true from such a signal on,
// when mosquitto's main loop is about to end and send the wills of the
// connections still open. UnwatchStopSignals() at cleanup.
void WatchStopSignals();
void UnwatchStopSignals();
bool BrokerStopping();

// The CN of the client's verified TLS certificate, if any (certificate.cpp).
std::optional<std::string> CertificateCommonName(const struct mosquitto* client);

// Called by OnBasicAuth when a terminal connection is accepted
// (presence_events.cpp): records it and publishes online if it is new.
void PresenceOnTerminalAccepted(PluginContext& ctx, const struct mosquitto* client,
                                const std::string& terminal_id);

}  // namespace slotwise::broker
