// The MQTT topic tree of schemas/README.md, built and parsed in one place so
// the plugin, the scheduler, the CLI and the agent can never disagree on it.
// Pure functions, safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace slotwise::topics {

inline constexpr std::string_view kRoot = "slotwise/v1/";
inline constexpr std::string_view kTerminalPrefix = "slotwise/v1/t/";
inline constexpr std::string_view kPresencePrefix = "slotwise/v1/presence/";
inline constexpr std::string_view kOperatorRequest = "slotwise/v1/op/request";
inline constexpr std::string_view kOperatorReplyPrefix = "slotwise/v1/op/reply/";
// Issue 13: live events for operators (read-only to them; the scheduler
// publishes): .../campaign/{campaign id} and .../node/{node id}.
inline constexpr std::string_view kOperatorEventsPrefix = "slotwise/v1/op/events/";

// The per-terminal topics, slotwise/v1/t/{tid}/<leaf>.
enum class Leaf { kNotice, kReport, kCheck, kStatus, kReply };

std::string_view LeafName(Leaf leaf);
// True for the leaves a terminal publishes (report, check, status).
bool IsUpstream(Leaf leaf);

// 1-64 characters of [A-Za-z0-9._-]: safe inside a topic level and a file name.
bool IsValidTerminalId(std::string_view id);

// A component name (terminal.proto ComponentVersion): 1-32 characters of
// [a-z0-9._-]. "" is not valid here; it and "system" name the system image.
bool IsValidComponentName(std::string_view name);
// "" or "system": the system image, the component of v1 campaigns.
bool IsSystemComponent(std::string_view component);
// The one spelling the scheduler stores and compares: "" for the system
// image, the name itself for any other component.
std::string_view CanonicalComponent(std::string_view component);

std::string Terminal(std::string_view terminal_id, Leaf leaf);
// Where a component's retained notice lives: the system image's on
// slotwise/v1/t/{tid}/notice (v1 terminals), any other component's on
// slotwise/v1/t/{tid}/notice/{component}.
std::string Notice(std::string_view terminal_id, std::string_view component);
// slotwise/v1/t/{tid}/notice/+, the filter for every non-system notice.
std::string ComponentNotices(std::string_view terminal_id);
// slotwise/v1/t/+/<leaf>, what the scheduler subscribes to.
std::string AllTerminals(Leaf leaf);
std::string Presence(std::string_view terminal_id);
std::string OperatorReply(std::string_view client_id);
std::string CampaignEvents(std::string_view campaign_id);
std::string NodeEvents(std::string_view node_id);

struct TerminalTopic {
  std::string terminal_id;
  Leaf leaf;
};
// Parses slotwise/v1/t/{tid}/<leaf>; nullopt for anything else (wildcards,
// extra levels, invalid ids). slotwise/v1/t/{tid}/notice/{component} parses
// as Leaf::kNotice (see NoticeComponentOf for the component).
std::optional<TerminalTopic> ParseTerminalTopic(std::string_view topic);
// The leaf of `topic` when it is slotwise/v1/t/{terminal_id}/<leaf> for this
// terminal id; nullopt otherwise. Allocates nothing (the broker plugin asks
// on every message).
// notice/{component} is Leaf::kNotice, as above.
std::optional<Leaf> OwnTerminalLeaf(std::string_view topic, std::string_view terminal_id);
// The component of a notice topic: "" for slotwise/v1/t/{tid}/notice, the
// name for .../notice/{component}; nullopt when `topic` is not a notice topic.
std::optional<std::string_view> NoticeComponentOf(std::string_view topic);
// Parses slotwise/v1/presence/{tid}.
std::optional<std::string> ParsePresenceTopic(std::string_view topic);
// The client id of slotwise/v1/op/reply/{cid}: one non-empty topic level
// without '+', '#' or '/'; nullopt for anything else. A view into `topic`.
std::optional<std::string_view> ParseOperatorReplyTopic(std::string_view topic);

}  // namespace slotwise::topics
