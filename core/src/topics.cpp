#include "slotwise/topics.h"

#include <array>
#include <utility>

namespace slotwise::topics {
namespace {

constexpr std::array<std::pair<Leaf, std::string_view>, 5> kLeaves{{
    {Leaf::kNotice, "notice"},
    {Leaf::kReport, "report"},
    {Leaf::kCheck, "check"},
    {Leaf::kStatus, "status"},
    {Leaf::kReply, "reply"},
}};

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '-';
}

constexpr std::string_view kNoticeSubtree = "notice/";

bool IsComponentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

// A leaf name, or notice/{component} (a per-component notice).
std::optional<Leaf> LeafNamed(std::string_view name) {
  if (name.starts_with(kNoticeSubtree)) {
    return IsValidComponentName(name.substr(kNoticeSubtree.size()))
               ? std::optional<Leaf>(Leaf::kNotice)
               : std::nullopt;
  }
  for (const auto& [leaf, leaf_name] : kLeaves) {
    if (name == leaf_name) return leaf;
  }
  return std::nullopt;
}

}  // namespace

std::string_view LeafName(Leaf leaf) {
  for (const auto& [l, name] : kLeaves) {
    if (l == leaf) return name;
  }
  return {};
}

bool IsUpstream(Leaf leaf) {
  return leaf == Leaf::kReport || leaf == Leaf::kCheck || leaf == Leaf::kStatus;
}

bool IsValidTerminalId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!IsIdChar(c)) return false;
  }
  return true;
}

bool IsValidComponentName(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  for (char c : name) {
    if (!IsComponentChar(c)) return false;
  }
  return true;
}

bool IsSystemComponent(std::string_view component) {
  return component.empty() || component == "system";
}

std::string_view CanonicalComponent(std::string_view component) {
  return IsSystemComponent(component) ? std::string_view{} : component;
}

std::string Notice(std::string_view terminal_id, std::string_view component) {
  std::string t = Terminal(terminal_id, Leaf::kNotice);
  if (!IsSystemComponent(component)) {
    t += '/';
    t += component;
  }
  return t;
}

std::string ComponentNotices(std::string_view terminal_id) {
  return Terminal(terminal_id, Leaf::kNotice) + "/+";
}

std::optional<std::string_view> NoticeComponentOf(std::string_view topic) {
  if (!topic.starts_with(kTerminalPrefix)) return std::nullopt;
  topic.remove_prefix(kTerminalPrefix.size());
  const auto slash = topic.find('/');
  if (slash == std::string_view::npos || !IsValidTerminalId(topic.substr(0, slash))) {
    return std::nullopt;
  }
  const std::string_view rest = topic.substr(slash + 1);
  if (rest == LeafName(Leaf::kNotice)) return std::string_view{};
  if (!rest.starts_with(kNoticeSubtree)) return std::nullopt;
  const std::string_view component = rest.substr(kNoticeSubtree.size());
  if (!IsValidComponentName(component)) return std::nullopt;
  return component;
}

std::string Terminal(std::string_view terminal_id, Leaf leaf) {
  std::string t(kTerminalPrefix);
  t += terminal_id;
  t += '/';
  t += LeafName(leaf);
  return t;
}

std::string AllTerminals(Leaf leaf) { return Terminal("+", leaf); }

std::string Presence(std::string_view terminal_id) {
  return std::string(kPresencePrefix) + std::string(terminal_id);
}

std::string OperatorReply(std::string_view client_id) {
  return std::string(kOperatorReplyPrefix) + std::string(client_id);
}

std::string CampaignEvents(std::string_view campaign_id) {
  return std::string(kOperatorEventsPrefix) + "campaign/" + std::string(campaign_id);
}

std::string NodeEvents(std::string_view node_id) {
  return std::string(kOperatorEventsPrefix) + "node/" + std::string(node_id);
}

std::optional<TerminalTopic> ParseTerminalTopic(std::string_view topic) {
  if (!topic.starts_with(kTerminalPrefix)) return std::nullopt;
  topic.remove_prefix(kTerminalPrefix.size());
  const auto slash = topic.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::string_view id = topic.substr(0, slash);
  const std::string_view leaf_name = topic.substr(slash + 1);
  if (!IsValidTerminalId(id)) return std::nullopt;
  const auto leaf = LeafNamed(leaf_name);
  if (!leaf) return std::nullopt;
  return TerminalTopic{std::string(id), *leaf};
}

std::optional<Leaf> OwnTerminalLeaf(std::string_view topic, std::string_view terminal_id) {
  if (!topic.starts_with(kTerminalPrefix)) return std::nullopt;
  topic.remove_prefix(kTerminalPrefix.size());
  if (!topic.starts_with(terminal_id) || topic.size() <= terminal_id.size() ||
      topic[terminal_id.size()] != '/') {
    return std::nullopt;
  }
  return LeafNamed(topic.substr(terminal_id.size() + 1));
}

std::optional<std::string> ParsePresenceTopic(std::string_view topic) {
  if (!topic.starts_with(kPresencePrefix)) return std::nullopt;
  topic.remove_prefix(kPresencePrefix.size());
  if (!IsValidTerminalId(topic)) return std::nullopt;
  return std::string(topic);
}

std::optional<std::string_view> ParseOperatorReplyTopic(std::string_view topic) {
  if (!topic.starts_with(kOperatorReplyPrefix)) return std::nullopt;
  topic.remove_prefix(kOperatorReplyPrefix.size());
  if (topic.empty() || topic.find_first_of("+#/") != std::string_view::npos) return std::nullopt;
  return topic;
}

}  // namespace slotwise::topics
