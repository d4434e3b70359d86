// slotwise-scheduler: opens the store, loads the state and serves MQTT until
// SIGINT or SIGTERM.
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <iostream>

#include "slotwise/clock.h"
#include "slotwise/scheduler/mqtt_server.h"
#include "slotwise/scheduler/service.h"
#include "slotwise/scheduler/store.h"

namespace {
std::atomic<bool> g_stop{false};
extern "C" void OnSignal(int) { g_stop = true; }
}  // namespace

int main(int argc, char** argv) {
  using namespace slotwise::scheduler;
  CLI::App app{"Slotwise scheduler: books a download node and a time slot for every terminal"};
  MqttOptions mqtt;
  std::string db_path;
  std::int64_t slot_seconds = 600;
  std::int64_t lead_slots = 1;
  int connect_timeout_s = 30;
  app.add_option("--broker", mqtt.broker, "MQTT broker URL")->capture_default_str();
  app.add_option("--client-id", mqtt.client_id, "MQTT client id")->capture_default_str();
  app.add_option("--username", mqtt.username, "MQTT username (a service user of the broker plugin)")
      ->capture_default_str();
  app.add_option("--password", mqtt.password, "MQTT password")->envname("SLOTWISE_SCHEDULER_PASSWORD");
  app.add_option("--db", db_path, "RocksDB directory (created if missing)")->required();
  app.add_option("--slot-seconds", slot_seconds, "slot length in seconds")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{86400}))
      ->capture_default_str();
  app.add_option("--lead-slots", lead_slots, "whole slots between now and a window's first slot")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{10000}))
      ->capture_default_str();
  app.add_option("--connect-timeout", connect_timeout_s, "seconds to wait for the broker at start-up")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto store = OpenRocksDbStore(db_path);
  if (!store) {
    std::cerr << "slotwise-scheduler: " << store.error().message << "\n";
    return 1;
  }
  slotwise::SystemClock clock;
  SchedulerService service(**store, clock, ServiceOptions{slot_seconds * 1000, lead_slots});
  if (auto s = service.Load(); !s) {
    std::cerr << "slotwise-scheduler: " << s.error().message << "\n";
    return 1;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  MqttServer server(service, mqtt);
  if (auto s = server.Run(g_stop, std::chrono::seconds(connect_timeout_s)); !s) {
    std::cerr << "slotwise-scheduler: " << s.error().message << "\n";
    return 1;
  }
  return 0;
}
