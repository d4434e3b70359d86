// The Rig: one Agent with fakes around it (fakes.h) under a FakeClock, and
// the helpers the agent's scenario tests share. Single-threaded.
#pragma once

#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "fakes.h"
#include "slotwise/agent/agent.h"
#include "slotwise/sha256.h"

namespace slotwise::agent::testing {

using v1::AgentState;

inline constexpr TimeMs kStartMs = 1'700'000'000'000;
inline constexpr const char* kTid = "T001";
inline constexpr const char* kUrl = "http://node-1.test/files/pos-2.0.bin?md5=x&expires=9";
inline const std::string kFirmware = "firmware image 2.0\n";

inline std::string Chain(const std::vector<Phase>& phases) {
  std::string out;
  for (Phase p : phases) {
    if (!out.empty()) out += " ";
    out += PhaseName(p);
  }
  return out;
}

inline std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += " ";
    out += s;
  }
  return out;
}

inline std::string NoticeBytes(const std::string& campaign = "C1") {
  v1::Notice n;
  n.set_campaign_id(campaign);
  n.set_target_version("2.0");
  n.set_window_start_ms(kStartMs);
  n.set_window_end_ms(kStartMs + 3'600'000);
  n.set_issued_ms(kStartMs);
  return n.SerializeAsString();
}

// One agent with fakes around it. The install command is real (/bin/sh).
struct Rig {
  explicit Rig(std::optional<AgentState> saved = std::nullopt, std::string install_command = "true")
      : clock(kStartMs), scheduler(clock, transport, kTid) {
    config.broker = "tcp://broker.test:1883";
    config.terminal_id = kTid;
    config.state_dir = dir.path() / "state";
    config.version_file = dir.path() / "version";
    config.download_dir = dir.path() / "downloads";
    config.location = LatLon{31.23, 121.47};
    config.system_id = "pos-os-7";
    config.install_command = std::move(install_command);
    config.install_timeout = std::chrono::seconds(10);
    WriteFile(config.version_file, "1.0\n");

    transport.terminal_id = kTid;
    transport.retained_notice = NoticeBytes();
    if (saved) {
      store = std::make_unique<MemoryStateStore>(*saved);
      transport.session_present = true;  // a restart: the broker kept the session
    } else {
      store = std::make_unique<MemoryStateStore>();
    }
    scheduler.download.set_url(kUrl);
    scheduler.download.set_version("2.0");
    scheduler.download.set_sha256(Sha256Hex(kFirmware));
    scheduler.download.set_size(kFirmware.size());
    downloader.files[kUrl] = kFirmware;
  }

  // `tune` adjusts the options a test is about (e.g. the reconnect schedule).
  Agent& Make(const std::function<void(AgentOptions&)>& tune = {}) {
    AgentOptions options;
    options.exit_when_idle = true;
    options.random_seed = 42;
    options.log = [this](std::string_view line) { log << line << "\n"; };
    options.on_transition = [this](Phase from, Phase to, Event event) {
      if (phases.empty()) phases.push_back(from);
      if (event != Event::kResumed || from != to) phases.push_back(to);
    };
    if (tune) tune(options);
    agent = std::make_unique<Agent>(config, AgentIo{clock, transport, downloader, installer, *store, &busy}, options);
    return *agent;
  }

  // Steps the agent, jumping the fake clock to its next timer whenever it
  // has nothing queued, until it is done or stuck.
  void RunToEnd(int max_steps = 200) {
    if (!agent) Make();
    REQUIRE(agent->Start().ok());
    Pump(max_steps);
  }
  void Pump(int max_steps = 200) {
    for (int i = 0; i < max_steps && !agent->Done(); ++i) {
      agent->Step();
      if (agent->Done() || agent->HasQueuedEvents()) continue;
      const auto next = agent->NextWakeMs();
      if (!next) break;
      clock.Set(std::max(clock.NowMs(), *next));
    }
  }

  TempDir dir;
  AgentConfig config;
  FakeClock clock;
  FakeTransport transport;
  FakeDownloader downloader;
  FakeBusyCheck busy;
  ShellInstaller installer;
  std::unique_ptr<MemoryStateStore> store;
  FakeScheduler scheduler;
  std::unique_ptr<Agent> agent;
  std::vector<Phase> phases;
  std::ostringstream log;
};

}  // namespace slotwise::agent::testing
