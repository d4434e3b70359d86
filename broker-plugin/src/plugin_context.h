// State shared by the plugin's callbacks: the parsed configuration and the
// presence tracker, owned by one PluginContext created in
// mosquitto_plugin_init and destroyed in mosquitto_plugin_cleanup.
//
// Threading: mosquitto 2.0 runs every plugin callback on its single main
// thread, so nothing here is locked. Do not call into it from other threads.
#pragma once

#include <string>

#include "slotwise/broker/config.h"
#include "slotwise/broker/presence.h"
#include "slotwise/clock.h"

struct mosquitto;               // the broker's connection; used only as a key
struct mosquitto_plugin_id_t;   // names this plugin instance to the broker

namespace slotwise::broker {

struct PluginContext {
  // One instance per load: with per_listener_settings a listener loads its
  // own, so nothing of it may live in globals.
  mosquitto_plugin_id_t* plugin_id = nullptr;
  PluginConfig config;
  PresenceTracker presence;
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

// Called by OnBasicAuth when a terminal connection is accepted
// (presence_events.cpp): records it and publishes online if it is new.
void PresenceOnTerminalAccepted(PluginContext& ctx, const struct mosquitto* client,
                                const std::string& terminal_id);

}  // namespace slotwise::broker
