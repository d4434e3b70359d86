// The Paho side of slotwise::mqtt: conversions between the adapter's values
// and Paho MQTT C++ 1.2.0 objects. Only core/src/mqtt/ and the adapter's own
// tests include this header; everyone else uses client.h.
#pragma once

#include <mqtt/connect_options.h>
#include <mqtt/message.h>

#include <string>

#include "slotwise/mqtt/client.h"

namespace slotwise::mqtt {

// Fills `out` in place -- the object Paho will read -- for a connect to
// `uri`. The connect properties are set on `out` last and point into `out`
// itself: Paho 1.2.0's connect_options copy/move (and so
// connect_options_builder::finalize()) keep the source's connectProperties
// pointer, which dangles once the source is gone. Do not copy `out` after
// this; fill the object that is handed to async_client::connect().
void FillConnectOptions(const std::string& uri, const ConnectOptions& options, ::mqtt::connect_options& out);

// Paho's message for `message` (properties: response topic, correlation
// data, user properties).
::mqtt::message_ptr ToPaho(const Message& message);
Message FromPaho(const ::mqtt::message& message);

}  // namespace slotwise::mqtt
