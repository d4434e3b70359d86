#include "slotwise/agent/agent_log.h"

#include <utility>

namespace slotwise::agent {

AgentLog::AgentLog(std::string_view terminal_id, Hook hook)
    : component_("agent " + std::string(terminal_id)), hook_(std::move(hook)) {}

void AgentLog::Write(log::Level level, std::string_view line) const {
  if (hook_) {
    std::string full = component_ + ": ";
    full += line;
    hook_(full);
    return;
  }
  log::Write(level, component_, line);
}

}  // namespace slotwise::agent
