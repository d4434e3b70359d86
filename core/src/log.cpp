#include "slotwise/log.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <ctime>

namespace slotwise::log {
namespace {

Level LevelFromEnvironment() {
  const char* env = std::getenv("SLOTWISE_LOG_LEVEL");
  if (env == nullptr) return Level::kInfo;
  return ParseLevel(env).value_or(Level::kInfo);
}

std::atomic<int>& LevelCell() {
  static std::atomic<int> level{static_cast<int>(LevelFromEnvironment())};
  return level;
}

std::atomic<Sink> sink_{nullptr};

void WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n <= 0) return;  // nowhere to report a failed log write
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

void AppendTimestamp(std::string& out) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  out.append(buf, n);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms % 1000));
  out += frac;
}

}  // namespace

Level CurrentLevel() { return static_cast<Level>(LevelCell().load(std::memory_order_relaxed)); }
void SetLevel(Level level) { LevelCell().store(static_cast<int>(level), std::memory_order_relaxed); }
bool Enabled(Level level) { return level != Level::kOff && static_cast<int>(level) >= static_cast<int>(CurrentLevel()); }

std::optional<Level> ParseLevel(std::string_view text) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "debug") return Level::kDebug;
  if (lower == "info") return Level::kInfo;
  if (lower == "warn" || lower == "warning") return Level::kWarn;
  if (lower == "error") return Level::kError;
  if (lower == "off") return Level::kOff;
  return std::nullopt;
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "DEBUG";
    case Level::kInfo: return "INFO";
    case Level::kWarn: return "WARN";
    case Level::kError: return "ERROR";
    case Level::kOff: return "OFF";
  }
  return "?";
}

void SetSink(Sink sink) { sink_.store(sink); }

void Write(Level level, std::string_view component, std::string_view message) {
  if (!Enabled(level)) return;
  std::string line;
  line.reserve(40 + component.size() + message.size());
  AppendTimestamp(line);
  line += ' ';
  line += LevelName(level);
  line += ' ';
  line += component;
  line += ": ";
  line += message;
  if (Sink sink = sink_.load()) {
    sink(level, line);
    return;
  }
  line += '\n';
  WriteAll(STDERR_FILENO, line);
}

std::optional<std::uint64_t> Throttle::Admit() {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  if (now < next_) {
    ++suppressed_;
    return std::nullopt;
  }
  next_ = now + period_;
  const std::uint64_t held = suppressed_;
  suppressed_ = 0;
  return held;
}

}  // namespace slotwise::log
