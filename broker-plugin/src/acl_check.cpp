// MOSQ_EVT_ACL_CHECK: adapts mosquitto's arguments to the pure IsAllowed()
// (acl.h). The role is derived from the username on every call rather than
// cached per client: it is a set lookup, and a cache would be one more thing
// to keep right under session takeover. A write from a terminal or operator
// connection that is no longer live is its will, and refused
// (live_clients.h).
// Runs on the broker's main thread only.
#include <exception>
#include <optional>
#include <string>

#include "mosquitto_api.h"
#include "plugin_context.h"
#include "slotwise/broker/acl.h"
#include "slotwise/broker/identity.h"
#include "slotwise/broker/validate.h"

namespace slotwise::broker {
namespace {

std::optional<Access> ToAccess(int access) {
  switch (access) {
    case MOSQ_ACL_READ: return Access::kRead;
    case MOSQ_ACL_WRITE: return Access::kWrite;
    case MOSQ_ACL_SUBSCRIBE: return Access::kSubscribe;
    case MOSQ_ACL_UNSUBSCRIBE: return Access::kUnsubscribe;
    default: return std::nullopt;
  }
}

}  // namespace

int OnAclCheck(int /*event*/, void* event_data, void* userdata) {
  auto* ed = static_cast<mosquitto_evt_acl_check*>(event_data);
  auto& ctx = *static_cast<PluginContext*>(userdata);
  try {
    // Read the identity from the client itself: the event carries no
    // username, and this is what BASIC_AUTH judged at connect.
    const char* username = mosquitto_client_username(ed->client);
    const char* client_id = mosquitto_client_id(ed->client);
    const auto access = ToAccess(ed->access);
    if (!username || !client_id || !ed->topic || !access) return MOSQ_ERR_ACL_DENIED;

    const Role role = ctx.config.RoleOf(username);
    // At shutdown mosquitto sends the wills of the connections still open.
    if (*access == Access::kWrite && role != Role::kService &&
        (!ctx.live.IsLive(client_id, ed->client) || BrokerStopping())) {
      // A will: wills of terminals and operators are never published (they
      // would skip the edge checks of message_check.cpp; live_clients.h).
      if (role == Role::kTerminal) ctx.stats.CountReject(Reject::kNotAuthorized);
      mosquitto_log_printf(MOSQ_LOG_NOTICE,
                           "slotwise: refused the will of %s '%s' on '%s': wills of terminals "
                           "and operators are never published",
                           std::string(RoleName(role)).c_str(), ForLog(client_id).c_str(),
                           ForLog(ed->topic).c_str());
      return MOSQ_ERR_ACL_DENIED;
    }
    if (IsAllowed(role, username, client_id, ed->topic, *access, ctx.config.stats_topic)) {
      return MOSQ_ERR_SUCCESS;
    }
    // A terminal publishing outside its own upstream topics (e.g. as another
    // terminal) is an edge rejection like a malformed payload: count it.
    if (role == Role::kTerminal && *access == Access::kWrite) {
      ctx.stats.CountReject(Reject::kNotAuthorized);
    }

    // Debug level: a misbehaving client must not be able to flood the log.
    mosquitto_log_printf(MOSQ_LOG_DEBUG, "slotwise: denied %s of '%s' to %s '%s'",
                         std::string(AccessName(*access)).c_str(), ForLog(ed->topic).c_str(),
                         std::string(RoleName(role)).c_str(), ForLog(client_id).c_str());
  } catch (const std::exception& e) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "slotwise: acl check failed internally: %s", e.what());
  } catch (...) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "slotwise: acl check failed internally");
  }
  return MOSQ_ERR_ACL_DENIED;
}

}  // namespace slotwise::broker
