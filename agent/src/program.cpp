#include "slotwise/agent/program.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "slotwise/agent/agent.h"
#include "slotwise/build_info.h"
#include "slotwise/agent/atomic_file.h"
#include "slotwise/agent/config.h"
#include "slotwise/agent/downloader.h"
#include "slotwise/agent/paho_transport.h"
#include "slotwise/agent/state_store.h"
#include "slotwise/agent/stop_signals.h"
#include "slotwise/clock.h"
#include "slotwise/log.h"
#include "slotwise/topics.h"

namespace slotwise::agent {
namespace {

void PrintError(const std::string& message) {
  std::fprintf(stderr, "slotwise-agent: %s\n", message.c_str());
}

// The first line the command prints, as `lat,lon`.
Result<LatLon> RunLocationCommand(const std::string& command) {
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return MakeError(v1::INVALID_ARGUMENT, "cannot run '" + command + "'");
  std::string line;
  char buffer[256];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
    if (line.empty()) line = buffer;
  }
  const int status = ::pclose(pipe);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  const auto where = ParseLatLon(line);
  if (status != 0 || !where) {
    return MakeError(v1::INVALID_ARGUMENT, "'" + command + "' did not print 'lat,lon' (got '" + line + "')");
  }
  return *where;
}

}  // namespace

int RunAgentProgram(int argc, char** argv) {
  // Before any thread exists, so every later thread inherits the mask.
  BlockStopSignals();

  CLI::App app{"slotwise-agent: the Slotwise OTA agent of one payment terminal"};
  app.set_version_flag("--version", slotwise::VersionLine("slotwise-agent"));
  std::string config_path;
  std::string terminal_id;
  std::string state_dir;
  bool exit_when_idle = false;
  std::string log_level;
  app.add_option("--config", config_path, "configuration file (key = value lines)")->required();
  app.add_option("--terminal-id", terminal_id, "overrides terminal_id from the configuration file");
  app.add_option("--state-dir", state_dir, "overrides state_dir from the configuration file");
  app.add_flag("--exit-when-idle", exit_when_idle,
               "exit 0 once a campaign's final status is acknowledged and the agent is idle");
  app.add_option("--log-level", log_level, "debug, info, warn, error or off (default: SLOTWISE_LOG_LEVEL, else info)")
      ->check([](const std::string& v) { return log::ParseLevel(v) ? std::string() : "not a log level: " + v; });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }

  if (!log_level.empty()) log::SetLevel(*log::ParseLevel(log_level));

  ConfigOverrides overrides;
  if (!terminal_id.empty()) overrides.emplace_back("terminal_id", terminal_id);
  if (!state_dir.empty()) overrides.emplace_back("state_dir", state_dir);
  auto config = LoadAgentConfig(config_path, overrides);
  if (!config) {
    PrintError(config.error().message);
    return kExitUsage;
  }
  if (!config->location_command.empty()) {
    auto where = RunLocationCommand(config->location_command);
    if (!where) {
      PrintError("location_command: " + where.error().message);
      return kExitUsage;
    }
    config->location = *where;
  }
  if (auto version = ReadVersionFile(config->version_file); !version) {
    PrintError("version_file: " + version.error().message);
    return kExitUsage;
  }

  PahoTransportOptions mqtt;
  mqtt.server_uri = config->broker;
  mqtt.client_id = config->terminal_id;
  mqtt.keepalive = config->keepalive;
  mqtt.password = config->password;
  mqtt.tls_ca_file = config->tls_ca_file.string();
  mqtt.tls_cert_file = config->tls_cert_file.string();
  mqtt.tls_key_file = config->tls_key_file.string();
  mqtt.subscriptions = {topics::Terminal(config->terminal_id, topics::Leaf::kNotice),
                        topics::Terminal(config->terminal_id, topics::Leaf::kReply)};
  // Only a terminal with components needs their notices: one without
  // subscribes exactly as before components.
  if (!config->components.empty()) mqtt.subscriptions.push_back(topics::ComponentNotices(config->terminal_id));
  auto transport = PahoTransport::Create(std::move(mqtt));
  if (!transport) {
    PrintError(transport.error().message);
    return kExitUsage;
  }

  SystemClock clock;
  CurlDownloader downloader;
  ShellInstaller installer;
  FileStateStore store(config->state_dir);
  AgentOptions options;
  options.exit_when_idle = exit_when_idle;
  options.reconnect_spread = config->reconnect_spread;
  SteadyClock monotonic;  // round trips and the scheduler's clock between replies
  Agent agent(std::move(*config), AgentIo{clock, **transport, downloader, installer, store, nullptr, &monotonic},
              std::move(options));

  slotwise::Status result = OkStatus();
  {
    StopSignalThread signals([&agent] { agent.RequestStop(); });
    result = agent.Run();
  }
  if (!result) {
    PrintError(result.error().message);
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace slotwise::agent
