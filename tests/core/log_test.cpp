// The leveled log sink (slotwise/log.h): levels, the line format, throttling.
#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "slotwise/log.h"

namespace slotwise {
namespace {

std::vector<std::string>& Captured() {
  static std::vector<std::string> lines;
  return lines;
}

void Capture(log::Level, std::string_view line) { Captured().emplace_back(line); }

// Captures lines for one test and restores the level and stderr after it.
struct CaptureLog {
  CaptureLog() : saved(log::CurrentLevel()) {
    Captured().clear();
    log::SetSink(&Capture);
  }
  ~CaptureLog() {
    log::SetSink(nullptr);
    log::SetLevel(saved);
  }
  log::Level saved;
};

TEST_CASE("log: lines below the level are dropped, the rest say level and component") {
  CaptureLog capture;
  log::SetLevel(log::Level::kInfo);
  log::Debug("core") << "hidden " << 1;
  log::Info("core") << "shown " << 2;
  log::Error("agent T1") << "bad";
  REQUIRE(Captured().size() == 2);
  CHECK(Captured()[0].ends_with(" INFO core: shown 2"));
  CHECK(Captured()[1].ends_with(" ERROR agent T1: bad"));
  CHECK(Captured()[0].find('T') == 10);  // 2026-12-01T...
  CHECK_FALSE(log::Enabled(log::Level::kDebug));
  log::SetLevel(log::Level::kOff);
  log::Error("core") << "off";
  CHECK(Captured().size() == 2);
}

TEST_CASE("log: level names parse in any case") {
  CHECK(log::ParseLevel("DEBUG") == log::Level::kDebug);
  CHECK(log::ParseLevel("warning") == log::Level::kWarn);
  CHECK(log::ParseLevel("Off") == log::Level::kOff);
  CHECK_FALSE(log::ParseLevel("loud").has_value());
  CHECK(log::LevelName(log::Level::kWarn) == "WARN");
}

TEST_CASE("log: a throttle admits one event per period and counts the rest") {
  log::Throttle throttle(std::chrono::milliseconds(200));
  CHECK(throttle.Admit() == 0u);
  CHECK_FALSE(throttle.Admit().has_value());
  CHECK_FALSE(throttle.Admit().has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  CHECK(throttle.Admit() == 2u);
}

}  // namespace
}  // namespace slotwise
