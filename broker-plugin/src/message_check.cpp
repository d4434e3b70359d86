// MOSQ_EVT_MESSAGE: the edge checks on every message a terminal publishes to
// its upstream topics (report, check, status), after the write ACL passed:
//   rate limit (rate_limit.h) -> size and Protobuf validation (validate.h)
//   -> a Response Topic, if any, that is the terminal's own reply topic
//   (acl.h IsAllowedResponseTopic) -> no forged `slotwise-terminal`
//   property -> stamp and pass on.
// An operator's request may name only its own reply topic as Response
// Topic, and is stamped with `slotwise-operator` (its username) and
// `slotwise-operator-client` (its client id); a request carrying either with
// another value is dropped. Services are not checked.
// A rejected message is dropped and counted. mosquitto 2.0.11 can only
// answer a MESSAGE callback's refusal with PUBACK 0x87 (its handle_publish
// ignores the event's reason_code), so the precise MQTT v5 reason code
// (0x99, 0x95, 0x87) is also sent to the terminal as a TerminalReply.error
// on its own reply topic when the request named one; rate-limited messages
// get no such reply (a flooder must not be answered at its own rate).
// Also the periodic work of MOSQ_EVT_TICK: kicks, stats, pruning.
// Runs on the broker's main thread only.
#include <cstring>
#include <exception>
#include <string>

#include "mosquitto_api.h"
#include "plugin_context.h"
#include "slotwise/broker/acl.h"
#include "slotwise/broker/identity.h"
#include "slotwise/broker/stamp.h"
#include "slotwise/broker/validate.h"
#include "slotwise/topics.h"
#include "slotwise/v1/terminal.pb.h"

namespace slotwise::broker {
namespace {

// The value a user property `name` on the message claims: "" when there is
// none; kForged when there are several.
constexpr const char* kForged = "\n";

std::string Claimed(const mosquitto_property* props, const char* property) {
  std::string claimed;
  int seen = 0;
  char* name = nullptr;
  char* value = nullptr;
  const mosquitto_property* p =
      mosquitto_property_read_string_pair(props, MQTT_PROP_USER_PROPERTY, &name, &value, false);
  while (p) {
    if (name && std::strcmp(name, property) == 0) {
      ++seen;
      claimed = value ? value : "";
    }
    mosquitto_free(name);
    mosquitto_free(value);
    name = value = nullptr;
    p = mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &name, &value, true);
  }
  return seen > 1 ? std::string(kForged) : claimed;
}

// Stamps `property` = `value` unless the message already carries exactly
// that. False when it carries another value (or several), or the property
// cannot be added: the message must not pass then.
bool Stamp(mosquitto_property** props, const char* property, const std::string& value) {
  const std::string claimed = Claimed(*props, property);
  if (claimed == value) return true;
  if (!claimed.empty()) return false;
  return mosquitto_property_add_string_pair(props, MQTT_PROP_USER_PROPERTY, property,
                                            value.c_str()) == MOSQ_ERR_SUCCESS;
}

// The message's MQTT v5 Response Topic, "" when it names none.
std::string ResponseTopic(const mosquitto_property* props) {
  char* value = nullptr;
  mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &value, false);
  std::string topic = value ? value : "";
  mosquitto_free(value);
  return topic;
}

// Tells the terminal why its request was dropped, on its own reply topic.
void ReplyRejection(const mosquitto_evt_message& ed, const std::string& terminal_id,
                    Reject reject) {
  char* response_topic = nullptr;
  mosquitto_property_read_string(ed.properties, MQTT_PROP_RESPONSE_TOPIC, &response_topic, false);
  const std::string reply_topic = topics::Terminal(terminal_id, topics::Leaf::kReply);
  const bool own = response_topic && reply_topic == response_topic;
  mosquitto_free(response_topic);
  if (!own) return;

  mosquitto_property* props = nullptr;
  void* correlation = nullptr;
  uint16_t correlation_len = 0;
  if (mosquitto_property_read_binary(ed.properties, MQTT_PROP_CORRELATION_DATA, &correlation,
                                     &correlation_len, false)) {
    mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, correlation,
                                  correlation_len);
    mosquitto_free(correlation);
  }
  const std::string payload = EncodeRejectionReply(reject);
  // Routed like the scheduler's own replies (NULL client id): to whoever
  // subscribed to the reply topic and may read it (the terminal, services).
  // Ownership of props passes to the broker, also on failure.
  mosquitto_broker_publish_copy(nullptr, reply_topic.c_str(),
                                static_cast<int>(payload.size()), payload.data(), 1, false,
                                props);
}

int Drop(PluginContext& ctx, const mosquitto_evt_message& ed, const std::string& terminal_id,
         Reject reject) {
  ctx.stats.CountReject(reject);
  mosquitto_log_printf(MOSQ_LOG_DEBUG, "slotwise: dropped message of terminal '%s' on '%s': 0x%02x %s",
                       terminal_id.c_str(), ForLog(ed.topic).c_str(), ReasonCode(reject),
                       std::string(RejectName(reject)).c_str());
  if (reject != Reject::kRateLimited) ReplyRejection(ed, terminal_id, reject);
  return MOSQ_ERR_ACL_DENIED;
}

// An operator's request: its Response Topic only its own reply topic, then
// stamped with the operator and its client id.
int CheckOperator(mosquitto_evt_message& ed, const char* username) {
  const char* client_id = mosquitto_client_id(ed.client);
  if (!client_id) return MOSQ_ERR_ACL_DENIED;
  const std::string response_topic = ResponseTopic(ed.properties);
  if (!IsAllowedResponseTopic(Role::kOperator, username, client_id, response_topic)) {
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         "slotwise: dropped request of operator '%s': response topic '%s' is "
                         "not its own reply topic",
                         ForLog(client_id).c_str(), ForLog(response_topic).c_str());
    return MOSQ_ERR_ACL_DENIED;
  }
  if (!Stamp(&ed.properties, kOperatorStampProperty, username) ||
      !Stamp(&ed.properties, kOperatorClientProperty, client_id)) {
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         "slotwise: dropped request of operator '%s': it carries a %s or %s "
                         "property naming someone else",
                         ForLog(client_id).c_str(), kOperatorStampProperty,
                         kOperatorClientProperty);
    return MOSQ_ERR_ACL_DENIED;
  }
  ed.retain = false;
  return MOSQ_ERR_SUCCESS;
}

}  // namespace

int OnMessage(int /*event*/, void* event_data, void* userdata) {
  auto* ed = static_cast<mosquitto_evt_message*>(event_data);
  auto& ctx = *static_cast<PluginContext*>(userdata);
  try {
    const char* username = mosquitto_client_username(ed->client);
    if (!username || !ed->topic) return MOSQ_ERR_ACL_DENIED;
    const Role role = ctx.config.RoleOf(username);
    // Services are trusted once the ACL let them publish.
    if (role == Role::kService) return MOSQ_ERR_SUCCESS;
    if (role == Role::kOperator) return CheckOperator(*ed, username);
    const std::string terminal_id(username);
    const auto leaf = topics::OwnTerminalLeaf(ed->topic, terminal_id);
    if (!leaf) return Drop(ctx, *ed, terminal_id, Reject::kNotAuthorized);  // ACL should have caught it

    switch (ctx.limiter.Admit(terminal_id, ctx.clock.NowMs())) {
      case RateDecision::kAccept:
        break;
      case RateDecision::kLimited:
        return Drop(ctx, *ed, terminal_id, Reject::kRateLimited);
      case RateDecision::kDisconnect:
        ++ctx.stats.flood_disconnects;
        ctx.pending_kicks.push_back(terminal_id);
        mosquitto_log_printf(MOSQ_LOG_NOTICE,
                             "slotwise: disconnecting terminal '%s': it keeps flooding",
                             terminal_id.c_str());
        return Drop(ctx, *ed, terminal_id, Reject::kRateLimited);
    }

    const Reject verdict = ValidateUpstream(*leaf, ed->payload, ed->payloadlen,
                                            ctx.config.max_payload_bytes);
    if (verdict != Reject::kNone) return Drop(ctx, *ed, terminal_id, verdict);

    // The scheduler answers on the Response Topic with the service's rights:
    // naming anything but its own reply topic would make it write there.
    const char* client_id = mosquitto_client_id(ed->client);
    if (!client_id ||
        !IsAllowedResponseTopic(role, terminal_id, client_id, ResponseTopic(ed->properties))) {
      return Drop(ctx, *ed, terminal_id, Reject::kNotAuthorized);
    }

    // A claim of another terminal id is refused; the own one is kept, not doubled.
    const std::string claimed = Claimed(ed->properties, kStampProperty);
    if (!claimed.empty() && claimed != terminal_id) {
      return Drop(ctx, *ed, terminal_id, Reject::kNotAuthorized);
    }
    if (claimed.empty()) {
      const int rc = mosquitto_property_add_string_pair(&ed->properties, MQTT_PROP_USER_PROPERTY,
                                                        kStampProperty, terminal_id.c_str());
      if (rc != MOSQ_ERR_SUCCESS) return MOSQ_ERR_ACL_DENIED;  // unstamped must not pass
    }
    // A retained request would be replayed to every new scheduler
    // subscription: requests are never retained.
    ed->retain = false;
    ++ctx.stats.accepted;
    return MOSQ_ERR_SUCCESS;
  } catch (const std::exception& e) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "slotwise: message check failed internally: %s", e.what());
  } catch (...) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "slotwise: message check failed internally");
  }
  return MOSQ_ERR_ACL_DENIED;  // fail closed
}

void MessageWorkOnTick(PluginContext& ctx) {
  for (const std::string& client_id : ctx.pending_kicks) {
    mosquitto_kick_client_by_clientid(client_id.c_str(), false);
  }
  ctx.pending_kicks.clear();

  const TimeMs now = ctx.clock.NowMs();
  if (now >= ctx.next_prune_ms) {
    ctx.limiter.Prune(now);
    ctx.next_prune_ms = now + 60'000;
  }
  if (ctx.config.stats_interval_ms > 0 && now >= ctx.next_stats_ms) {
    ctx.next_stats_ms = now + ctx.config.stats_interval_ms;
    const std::string json = EncodeStatsJson(ctx.stats, ctx.presence.online_terminals(), now);
    mosquitto_broker_publish_copy(nullptr, ctx.config.stats_topic.c_str(),
                                  static_cast<int>(json.size()), json.data(), 0, true, nullptr);
  }
}

}  // namespace slotwise::broker
