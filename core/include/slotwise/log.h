// Leveled logging for every Slotwise process: one line per event on stderr,
// "2026-12-01T21:40:09.123Z WARN scheduler: message".
//
// Threading: any thread may log; a line is written with one write(2), so lines
// of concurrent threads (or of thousands of agents in one fleet process) never
// interleave. The level is process-wide and may be changed at any time.
//
// Level policy (what the fleet-scale log must stay readable with):
//   debug  per-request detail, and every refused terminal request (a fleet of
//          200,000 sending bad input must not flood the log at the default level)
//   info   lifecycle: started, connected, campaign state changes
//   warn   something is degraded but handled: lost broker, node not answering
//   error  something failed that an operator must look at: a write refused
//
// Usage:
//   log::Info("scheduler") << "connected to " << url;
//   if (log::Enabled(log::Level::kDebug)) { ...expensive detail... }
//   static log::Throttle refusals(std::chrono::seconds(10));
//   if (auto suppressed = refusals.Admit()) log::Warn("plugin") << ... << *suppressed;
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace slotwise::log {

enum class Level : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

// Default: kInfo, or SLOTWISE_LOG_LEVEL (debug|info|warn|error|off) when set.
Level CurrentLevel();
void SetLevel(Level level);
bool Enabled(Level level);

// "debug", "info", "warn", "error", "off" (case-insensitive); nullopt otherwise.
std::optional<Level> ParseLevel(std::string_view text);
std::string_view LevelName(Level level);

// Writes one line if `level` is enabled. The message must not end in '\n'.
void Write(Level level, std::string_view component, std::string_view message);

// Where lines go; tests capture them. nullptr restores stderr. Not for hot paths.
using Sink = void (*)(Level level, std::string_view line);
void SetSink(Sink sink);

// One log line under construction; written when it goes out of scope. Costs
// nothing but a level check when the level is disabled.
class Line {
 public:
  Line(Level level, std::string_view component) : level_(level), component_(component), on_(Enabled(level)) {}
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;
  ~Line() {
    if (on_) Write(level_, component_, text_.str());
  }
  template <class T>
  Line& operator<<(const T& value) {
    if (on_) text_ << value;
    return *this;
  }

 private:
  Level level_;
  std::string_view component_;
  bool on_;
  std::ostringstream text_;
};

inline Line Debug(std::string_view component) { return Line(Level::kDebug, component); }
inline Line Info(std::string_view component) { return Line(Level::kInfo, component); }
inline Line Warn(std::string_view component) { return Line(Level::kWarn, component); }
inline Line Error(std::string_view component) { return Line(Level::kError, component); }

// At most one admitted event per period; counts what it held back. Thread-safe.
class Throttle {
 public:
  explicit Throttle(std::chrono::milliseconds period) : period_(period) {}
  // The number of events suppressed since the last admitted one (0 or more)
  // when this event may be logged; nullopt when it must be dropped.
  std::optional<std::uint64_t> Admit();

 private:
  std::chrono::milliseconds period_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point next_{};
  std::uint64_t suppressed_ = 0;
};

}  // namespace slotwise::log
