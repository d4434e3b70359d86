// One agent's log lines, "agent <tid>: <line>".
//
// Where they go: to AgentOptions::log when it is set (tests capture lines
// there, and the fleet tool writes every agent's lines to one file or drops
// them); otherwise to the core leveled sink (slotwise/log.h) under the
// component "agent <tid>", so a real terminal's stderr reads
// "2026-12-01T21:40:09.123Z INFO agent T001: WAITING -> CHECKING".
// The hook receives every line whatever the level: it was given no level
// before the core sink existed, and its users filter themselves.
//
// Owned by one Agent and used by its collaborators (request channel, steps)
// on the agent's thread. Write is safe from any thread (the hook must be too
// if the owner calls it so; the core sink is).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "slotwise/log.h"

namespace slotwise::agent {

class AgentLog {
 public:
  using Hook = std::function<void(std::string_view line)>;

  AgentLog(std::string_view terminal_id, Hook hook);

  void Write(log::Level level, std::string_view line) const;
  void Debug(std::string_view line) const { Write(log::Level::kDebug, line); }
  void Info(std::string_view line) const { Write(log::Level::kInfo, line); }
  void Warn(std::string_view line) const { Write(log::Level::kWarn, line); }
  void Error(std::string_view line) const { Write(log::Level::kError, line); }

 private:
  const std::string component_;  // "agent <tid>"
  const Hook hook_;
};

}  // namespace slotwise::agent
