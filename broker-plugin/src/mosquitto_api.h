// The one place that includes mosquitto's plugin headers, in the order
// 2.0.11 needs (mosquitto_broker.h before mosquitto_plugin.h, or the latter
// does not compile). Only the callback files include this; the pure logic in
// slotwise_broker_logic never sees a mosquitto type.
#pragma once

// clang-format off
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
// clang-format on
