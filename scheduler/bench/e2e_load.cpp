// e2e_load: the two ends of the end-to-end benchmark (scheduler/bench/e2e_assignments.sh),
// both on the one MQTT adapter (core/src/mqtt).
//
//   e2e_load load --broker URL --terminals FILE --campaign ID [--seconds 10] [--warmup 2]
//       FILE: "terminal_id password" lines. One MQTT connection per terminal
//       (the plugin's identity: client id = username = terminal id), each
//       subscribed to its own reply topic. Every terminal first sends one
//       Report (S7) of the campaign and, on each answer, the next: one
//       request outstanding per terminal (closed loop). Prints
//         first_wave_replies_per_s  the first Report of every terminal (each a new booking)
//         replies_per_s             answers per second over --seconds after --warmup
//         assignments_per_s         of them, TerminalReply with an Assignment
//         errors, mean_reply_bytes, latency_p50_ms, latency_p99_ms
//   e2e_load echo --broker URL --username U --password P --client-id ID --reply-bytes N
//       The ceiling: subscribes to slotwise/v1/t/+/report as the scheduler
//       does and answers every request on its response topic with N bytes
//       (the scheduler's mean reply size), until SIGTERM.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "slotwise/mqtt/client.h"
#include "slotwise/topics.h"
#include "slotwise/v1/terminal.pb.h"

namespace {

using namespace slotwise;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

std::map<std::string, std::string> Flags(int argc, char** argv) {
  std::map<std::string, std::string> f;
  for (int i = 2; i + 1 < argc; i += 2) f[argv[i]] = argv[i + 1];
  return f;
}

int Echo(std::map<std::string, std::string> f) {
  auto created = mqtt::Client::Create({f["--broker"], f["--client-id"], 1'000'000, /*consume=*/true});
  if (!created) {
    std::cerr << "e2e_load echo: " << created.error().message << "\n";
    return 1;
  }
  mqtt::Client& c = **created;
  mqtt::ConnectOptions o;
  o.username = f["--username"];
  o.password = f["--password"];
  if (auto r = c.Connect(o, std::chrono::seconds(10)); !r) {
    std::cerr << "e2e_load echo: " << r.error().message << "\n";
    return 1;
  }
  if (auto s = c.Subscribe({topics::AllTerminals(topics::Leaf::kReport)}, 1, std::chrono::seconds(10)); !s) {
    std::cerr << "e2e_load echo: " << s.error().message << "\n";
    return 1;
  }
  const std::string payload(static_cast<std::size_t>(std::stoi(f["--reply-bytes"])), 'x');
  std::cout << "e2e_load echo: answering with " << payload.size() << " bytes" << std::endl;
  long answered = 0;
  while (!g_stop) {
    auto m = c.Consume(std::chrono::milliseconds(100));
    for (; m && !g_stop; m = c.TryConsume()) {
      auto reply = mqtt::MakeResponse(*m, payload);
      if (!reply) continue;
      // As the scheduler's OutgoingQueue does (a window of unacknowledged
      // publishes, mosquitto's max_inflight_messages 1000 in these configs):
      // Paho 1.2.0 searches its pending deliveries on every PUBACK.
      while (!g_stop && c.PendingDeliveries() >= 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));
      while (!g_stop && !c.Publish(*reply).queued()) std::this_thread::sleep_for(std::chrono::microseconds(200));
      ++answered;
    }
  }
  std::cout << "e2e_load echo: " << answered << " answered" << std::endl;
  c.Disconnect(std::chrono::seconds(1));
  return 0;
}

struct Terminal {
  std::string id;
  std::unique_ptr<mqtt::Client> client;
  std::mutex mu;  // Publish from the main thread (first wave) and Paho's callback thread
  Clock::time_point sent;
  bool answered_once = false;
};

int Load(std::map<std::string, std::string> f) {
  const double seconds = f.count("--seconds") ? std::stod(f["--seconds"]) : 10.0;
  const double warmup = f.count("--warmup") ? std::stod(f["--warmup"]) : 2.0;
  std::ifstream in(f["--terminals"]);
  std::vector<std::unique_ptr<Terminal>> ts;
  std::vector<std::string> passwords;
  for (std::string id, pw; in >> id >> pw;) {
    auto t = std::make_unique<Terminal>();
    t->id = id;
    ts.push_back(std::move(t));
    passwords.push_back(pw);
  }
  if (ts.empty()) {
    std::cerr << "e2e_load load: no terminals in " << f["--terminals"] << "\n";
    return 1;
  }
  v1::Report report;
  report.set_campaign_id(f["--campaign"]);
  report.set_current_version("1.0.0");
  report.set_target_version("2.0.0");
  report.mutable_location()->set_lat(48.85);
  report.mutable_location()->set_lon(2.35);
  report.set_system_id("pos-os");
  const std::string payload = report.SerializeAsString();

  std::atomic<long> replies{0}, assignments{0}, errors{0}, bytes{0}, first_wave{0}, resent{0}, lost_connections{0};
  std::atomic<bool> counting{false};
  std::mutex lat_mu;
  std::vector<double> latencies;
  auto send = [&](Terminal& t) {
    std::lock_guard<std::mutex> lock(t.mu);
    t.sent = Clock::now();
    while (!t.client->Publish(mqtt::MakeRequest(topics::Terminal(t.id, topics::Leaf::kReport), payload,
                                                topics::Terminal(t.id, topics::Leaf::kReply), "r"))
                .queued()) {
      if (g_stop) return;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  };
  for (std::size_t i = 0; i < ts.size(); ++i) {
    Terminal& t = *ts[i];
    auto created = mqtt::Client::Create({f["--broker"], t.id, 1000, /*consume=*/false});
    if (!created) {
      std::cerr << "e2e_load load: " << created.error().message << "\n";
      return 1;
    }
    t.client = std::move(*created);
    Terminal* tp = &t;
    t.client->SetHandlers({.on_message =
                               [&, tp](mqtt::Message m) {
                                 const auto now = Clock::now();
                                 v1::TerminalReply r;
                                 const bool parsed = r.ParseFromString(m.payload);
                                 if (!tp->answered_once) {
                                   tp->answered_once = true;
                                   ++first_wave;
                                 }
                                 if (counting) {
                                   ++replies;
                                   bytes += static_cast<long>(m.payload.size());
                                   if (parsed && r.has_assignment()) ++assignments;
                                   if (parsed && r.has_error()) ++errors;
                                   std::lock_guard<std::mutex> lock(lat_mu);
                                   latencies.push_back(std::chrono::duration<double, std::milli>(now - tp->sent).count());
                                 }
                                 if (!g_stop) send(*tp);
                               },
                           .on_connected = {},
                           .on_connection_lost = [&](std::string) { ++lost_connections; },
                           .on_disconnected = {}});
  }
  // Connected all at once: one blocking Connect after another costs seconds
  // each here (Paho's shared threads), the attempts overlap.
  std::atomic<long> ready{0}, failed{0};
  for (std::size_t i = 0; i < ts.size(); ++i) {
    Terminal* tp = ts[i].get();
    mqtt::ConnectOptions o;
    o.username = tp->id;
    o.password = passwords[i];
    o.connect_timeout = std::chrono::seconds(60);
    o.reconnect_min = std::chrono::milliseconds(200);
    o.reconnect_max = std::chrono::seconds(2);
    auto started = tp->client->ConnectAsync(o, [tp, &ready, &failed](Result<mqtt::Connected> r) {
      if (!r) {
        std::cerr << "e2e_load load: " << tp->id << ": " << r.error().message << "\n";
        ++failed;
        return;
      }
      auto s = tp->client->SubscribeAsync({topics::Terminal(tp->id, topics::Leaf::kReply)}, 1,
                                          [&ready, &failed](Status st) { st ? ++ready : ++failed; });
      if (!s) ++failed;
    });
    if (!started) {
      std::cerr << "e2e_load load: " << tp->id << ": " << started.error().message << "\n";
      return 1;
    }
  }
  const auto c0 = Clock::now();
  while (ready + failed < static_cast<long>(ts.size()) && Clock::now() - c0 < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (ready < static_cast<long>(ts.size())) {
    std::cerr << "e2e_load load: " << ready << " of " << ts.size() << " terminals connected and subscribed\n";
    return 1;
  }
  std::cout << "e2e_load load: " << ts.size() << " terminals connected" << std::endl;
  const auto t0 = Clock::now();
  for (auto& t : ts) send(*t);
  while (first_wave < static_cast<long>(ts.size()) && Clock::now() - t0 < std::chrono::seconds(20)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double wave_s = std::chrono::duration<double>(Clock::now() - t0).count();
  // A request unanswered for 5 s is sent again (counted): a lost message
  // would otherwise stop its terminal's loop for good.
  auto run_for = [&](double s) {
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
    while (Clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const auto now = Clock::now();
      for (auto& t : ts) {
        bool stale;
        {
          std::lock_guard<std::mutex> lock(t->mu);
          stale = now - t->sent > std::chrono::seconds(5);
        }
        if (stale) {
          ++resent;
          send(*t);
        }
      }
    }
  };
  run_for(warmup);
  counting = true;
  const auto m0 = Clock::now();
  run_for(seconds);
  counting = false;
  const double measured = std::chrono::duration<double>(Clock::now() - m0).count();
  g_stop = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::vector<double> lat;
  {
    std::lock_guard<std::mutex> lock(lat_mu);
    lat = latencies;
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return lat.empty() ? 0.0 : lat[static_cast<std::size_t>(p * static_cast<double>(lat.size() - 1))]; };
  std::printf("first_wave_replies_per_s %.0f (%ld of %zu first reports answered in %.2f s)\n",
              static_cast<double>(first_wave.load()) / wave_s, first_wave.load(), ts.size(), wave_s);
  std::printf("replies_per_s %.0f\nassignments_per_s %.0f\nerrors %ld\nmean_reply_bytes %.0f\n"
              "latency_p50_ms %.1f\nlatency_p99_ms %.1f\nresent %ld\nlost_connections %ld\n",
              static_cast<double>(replies.load()) / measured, static_cast<double>(assignments.load()) / measured,
              errors.load(), replies ? static_cast<double>(bytes.load()) / static_cast<double>(replies.load()) : 0.0,
              pct(0.5), pct(0.99), resent.load(), lost_connections.load());
  std::fflush(stdout);
  std::_Exit(0);  // 1,000 clients disconnecting one by one would take longer than the run
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "echo") return Echo(Flags(argc, argv));
  if (mode == "load") return Load(Flags(argc, argv));
  std::cerr << "usage: e2e_load load|echo --broker URL ... (see the top of scheduler/bench/e2e_load.cpp)\n";
  return 2;
}
