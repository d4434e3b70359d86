// The real, cheap implementations: files in a temp dir and /bin/sh.
#include <doctest/doctest.h>

#include <chrono>

#include "fakes.h"
#include "slotwise/agent/atomic_file.h"
#include "slotwise/agent/installer.h"
#include "slotwise/agent/state_store.h"

namespace slotwise::agent::testing {
namespace {

using v1::AgentState;

TEST_CASE("FileStateStore: nothing saved, round trip, no temporary left") {
  TempDir dir;
  FileStateStore store(dir.path() / "state");
  auto empty = store.Load();
  REQUIRE(empty.ok());
  CHECK_FALSE(empty->has_value());

  AgentState state;
  state.set_phase(AgentState::WAITING);
  state.mutable_assignment()->set_start_at_ms(1234);
  state.add_finished_campaigns("C0");
  REQUIRE(store.Save(state).ok());
  state.set_phase(AgentState::CHECKING);
  REQUIRE(store.Save(state).ok());

  auto loaded = store.Load();
  REQUIRE(loaded.ok());
  REQUIRE(loaded->has_value());
  CHECK((*loaded)->phase() == AgentState::CHECKING);
  CHECK((*loaded)->assignment().start_at_ms() == 1234);
  CHECK((*loaded)->finished_campaigns(0) == "C0");
  CHECK_FALSE(std::filesystem::exists(dir.path() / "state" / "state.pb.tmp"));
}

TEST_CASE("FileStateStore: an unreadable file is moved aside") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "state");
  WriteFile(dir.path() / "state" / "state.pb", "\xff\xff\xff garbage");
  FileStateStore store(dir.path() / "state");
  auto loaded = store.Load();
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().code == v1::MALFORMED);
  CHECK(std::filesystem::exists(dir.path() / "state" / "state.pb.corrupt"));
  auto again = store.Load();
  REQUIRE(again.ok());
  CHECK_FALSE(again->has_value());
}

TEST_CASE("version file: first line, trimmed, and written atomically") {
  TempDir dir;
  const auto path = dir.path() / "version";
  WriteFile(path, "  2.4.1-rc1 \nsecond line\n");
  auto v = ReadVersionFile(path);
  REQUIRE(v.ok());
  CHECK(*v == "2.4.1-rc1");
  REQUIRE(WriteVersionFile(path, "3.0").ok());
  CHECK(ReadFile(path) == "3.0\n");
  WriteFile(path, "\n");
  CHECK(ReadVersionFile(path).error().code == v1::INVALID_ARGUMENT);
  CHECK(ReadVersionFile(dir.path() / "missing").error().code == v1::NOT_FOUND);
}

TEST_CASE("ShellInstaller: environment, exit codes, timeout") {
  TempDir dir;
  ShellInstaller installer;
  InstallRequest request;
  request.file = dir.path() / "pos-2.0.bin";
  request.version = "2.0";
  request.timeout = std::chrono::seconds(10);

  SUBCASE("SLOTWISE_FILE and SLOTWISE_VERSION reach the command") {
    request.command = "printf '%s %s' \"$SLOTWISE_FILE\" \"$SLOTWISE_VERSION\" > " + (dir.path() / "out").string();
    REQUIRE(installer.Install(request).ok());
    CHECK(ReadFile(dir.path() / "out") == request.file.string() + " 2.0");
  }
  SUBCASE("a non-zero exit is a failure that says the code") {
    request.command = "exit 3";
    auto result = installer.Install(request);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message.find("exited with 3") != std::string::npos);
  }
  SUBCASE("a command that overruns is killed, with what it started") {
    request.command = "sleep 30 & sleep 30";
    request.timeout = std::chrono::milliseconds(200);
    const auto began = std::chrono::steady_clock::now();
    auto result = installer.Install(request);
    const auto took = std::chrono::steady_clock::now() - began;
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message.find("timed out") != std::string::npos);
    CHECK(took < std::chrono::seconds(5));
  }
}

}  // namespace
}  // namespace slotwise::agent::testing
