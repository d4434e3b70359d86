// The access decision (see acl.h). Topic shapes come from slotwise/topics.h
// so this file never disagrees with the scheduler and the agent.
#include "slotwise/broker/acl.h"

#include <string>

#include "slotwise/topics.h"

namespace slotwise::broker {
namespace {

// Deny by default: each function answers only for its own role.

bool TerminalAllowed(std::string_view tid, std::string_view client_id, std::string_view topic,
                     Access access) {
  // Connect already enforced these; re-checking keeps the ACL sound on its own
  // (e.g. if a later plugin renames the client with mosquitto_set_username).
  if (!topics::IsValidTerminalId(tid) || client_id != tid) return false;

  switch (access) {
    case Access::kWrite:
    case Access::kRead: {
      const auto leaf = topics::OwnTerminalLeaf(topic, tid);
      if (!leaf) return false;
      const bool upstream = topics::IsUpstream(*leaf);
      return access == Access::kWrite ? upstream : !upstream;
    }
    case Access::kSubscribe:
    case Access::kUnsubscribe: {
      // Any filter under the terminal's own subtree can only ever match its
      // own topics (a valid id holds no wildcard), and deliveries are checked
      // again with kRead. A filter with a wildcard in place of the id
      // (slotwise/v1/t/+/notice) does not have this prefix and is refused.
      std::string own_prefix(topics::kTerminalPrefix);
      own_prefix += tid;
      own_prefix += '/';
      return topic.starts_with(own_prefix) && topic.size() > own_prefix.size();
    }
  }
  return false;
}

// A client id holding a wildcard or a level separator would turn the exact
// reply topic into a filter over other operators' replies: it has none.
bool IsOperatorReplyOf(std::string_view client_id, std::string_view topic) {
  const auto cid = topics::ParseOperatorReplyTopic(topic);
  return cid && *cid == client_id;
}

bool IsOperatorEvents(std::string_view topic) {
  return topic.starts_with(topics::kOperatorEventsPrefix) && topic.size() > topics::kOperatorEventsPrefix.size();
}

bool OperatorAllowed(std::string_view client_id, std::string_view topic, Access access) {
  switch (access) {
    case Access::kWrite:
      return topic == topics::kOperatorRequest;
    case Access::kRead:
    case Access::kSubscribe:
    case Access::kUnsubscribe:
      // Issue 13: the live events, read-only (a filter under the prefix can
      // only match event topics; deliveries are checked again with kRead).
      return IsOperatorReplyOf(client_id, topic) || IsOperatorEvents(topic);
  }
  return false;
}

bool ServiceAllowed(std::string_view topic) {
  // "slotwise/" rather than kRoot ("slotwise/v1/"): the service also owns the
  // trees of later protocol versions during a migration.
  constexpr std::string_view kServiceRoot = "slotwise/";
  return topic.starts_with(kServiceRoot) && topic.size() > kServiceRoot.size();
}

}  // namespace

std::string_view AccessName(Access access) {
  switch (access) {
    case Access::kRead: return "read";
    case Access::kWrite: return "write";
    case Access::kSubscribe: return "subscribe";
    case Access::kUnsubscribe: return "unsubscribe";
  }
  return "unknown";
}

bool IsPluginOutput(std::string_view topic, std::string_view stats_topic) {
  return topic.starts_with(topics::kPresencePrefix) || topic == stats_topic;
}

bool IsAllowed(Role role, std::string_view username, std::string_view client_id,
               std::string_view topic, Access access, std::string_view stats_topic) {
  if (access == Access::kWrite && IsPluginOutput(topic, stats_topic)) return false;
  switch (role) {
    case Role::kTerminal: return TerminalAllowed(username, client_id, topic, access);
    case Role::kOperator: return OperatorAllowed(client_id, topic, access);
    case Role::kService: return ServiceAllowed(topic);
  }
  return false;
}

bool IsAllowedResponseTopic(Role role, std::string_view username, std::string_view client_id,
                            std::string_view response_topic) {
  if (response_topic.empty()) return true;
  switch (role) {
    case Role::kTerminal:
      return topics::IsValidTerminalId(username) && client_id == username &&
             topics::OwnTerminalLeaf(response_topic, username) == topics::Leaf::kReply;
    case Role::kOperator: return IsOperatorReplyOf(client_id, response_topic);
    case Role::kService: return true;
  }
  return false;
}

}  // namespace slotwise::broker
