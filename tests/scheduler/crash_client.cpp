// crash_client: thousands of terminals over one MQTT connection, for the
// scheduler crash test (test_crash.py). Each terminal sends a Report (S7)
// with a response topic; every Assignment received is appended to --told as
// "tid node slot start_at_ms". Reports not answered within --retry-ms are
// sent again (a SIGKILLed scheduler loses what it had not answered), and a
// few answered terminals report again to check that the answer is the same.
// Exits 0 once every terminal holds an assignment, 1 on an error reply or at
// --deadline-s. --per-second N paces the new terminals (the failover benchmark).
//
// Runs against a plain mosquitto (no Slotwise plugin): one client may then
// publish on every terminal's topics.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "slotwise/mqtt/client.h"
#include "slotwise/topics.h"
#include "slotwise/v1/terminal.pb.h"

namespace {

struct Args {
  std::string broker;
  std::string campaign = "c1";
  int terminals = 1000;
  std::string told = "told.txt";
  int retry_ms = 2000;
  int deadline_s = 180;
  bool retry_internal = false;  // INTERNAL (not stored, e.g. the database failing over): send again
  int per_second = 0;  // new terminals released per second; 0: 200 per pass
};

}  // namespace

int main(int argc, char** argv) {
  using namespace slotwise;
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string f = argv[i], v = argv[i + 1];
    if (f == "--broker") a.broker = v;
    else if (f == "--campaign") a.campaign = v;
    else if (f == "--terminals") a.terminals = std::stoi(v);
    else if (f == "--told") a.told = v;
    else if (f == "--retry-ms") a.retry_ms = std::stoi(v);
    else if (f == "--deadline-s") a.deadline_s = std::stoi(v);
    else if (f == "--per-second") a.per_second = std::stoi(v);
    else if (f == "--retry-internal") a.retry_internal = v == "1";
    else {
      std::cerr << "crash_client: unknown option " << f << "\n";
      return 2;
    }
  }
  std::ofstream told(a.told, std::ios::app);
  auto created = mqtt::Client::Create({a.broker, "crash-client", 100'000, /*consume=*/true});
  if (!created) {
    std::cerr << "crash_client: " << created.error().message << "\n";
    return 1;
  }
  mqtt::Client& client = **created;
  mqtt::ConnectOptions opts;
  opts.clean_start = true;
  opts.reconnect_min = std::chrono::milliseconds(200);
  opts.reconnect_max = std::chrono::seconds(2);
  opts.max_inflight = 2000;
  if (auto c = client.Connect(opts, std::chrono::seconds(30)); !c) {
    std::cerr << "crash_client: " << c.error().message << "\n";
    return 1;
  }
  if (auto s = client.Subscribe({topics::AllTerminals(topics::Leaf::kReply)}, 1, std::chrono::seconds(30)); !s) {
    std::cerr << "crash_client: " << s.error().message << "\n";
    return 1;
  }

  std::mt19937 rng(5);
  std::vector<std::string> ids;
  std::vector<v1::Report> reports;
  for (int i = 0; i < a.terminals; ++i) {
    ids.push_back("T" + std::to_string(i));
    v1::Report r;
    r.set_campaign_id(a.campaign);
    r.set_current_version("1.0.0");
    r.set_target_version("2.0.0");
    const bool paris = rng() % 2;
    r.mutable_location()->set_lat((paris ? 48.85 : 48.14) + static_cast<double>(rng() % 100) / 1000.0);
    r.mutable_location()->set_lon((paris ? 2.35 : 11.58) + static_cast<double>(rng() % 100) / 1000.0);
    r.set_system_id("pos-os");
    reports.push_back(std::move(r));
  }
  using Clock = std::chrono::steady_clock;
  std::map<int, Clock::time_point> pending;  // terminal index -> last sent
  std::map<std::string, std::string> answered;  // tid -> "node slot start"
  const auto start = Clock::now();
  auto send = [&](int i) {
    const auto& tid = ids[static_cast<std::size_t>(i)];
    // false: buffer full or reconnecting: sent again later
    return client
        .Publish(mqtt::MakeRequest(topics::Terminal(tid, topics::Leaf::kReport),
                                   reports[static_cast<std::size_t>(i)].SerializeAsString(),
                                   topics::Terminal(tid, topics::Leaf::kReply),
                                   std::to_string(i)))
        .queued();
  };
  for (int i = 0; i < a.terminals; ++i) pending[i] = Clock::time_point{};
  int next = 0;  // terminals are released in waves, so reports keep arriving
  std::set<int> recheck;
  long internal_refusals = 0;
  while (!pending.empty()) {
    if (Clock::now() - start > std::chrono::seconds(a.deadline_s)) {
      std::cerr << "crash_client: " << pending.size() << " terminals without an assignment at the deadline\n";
      return 1;
    }
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - start).count();
    const int released = a.per_second > 0 ? static_cast<int>(elapsed * a.per_second) : a.terminals;
    for (int k = 0; k < 200 && next < a.terminals && next < released; ++k, ++next) {
      if (send(next)) pending[next] = now;
    }
    for (auto& [i, sent] : pending) {
      if (i < next && now - sent > std::chrono::milliseconds(a.retry_ms) && send(i)) sent = now;
    }
    while (auto msg = client.Consume(std::chrono::milliseconds(20))) {
      const std::string& topic = msg->topic;
      const auto parsed = topics::ParseTerminalTopic(topic);
      if (!parsed || parsed->leaf != topics::Leaf::kReply) continue;
      const std::string tid = parsed->terminal_id;
      v1::TerminalReply reply;
      if (!reply.ParseFromString(msg->payload)) continue;
      if (reply.has_error() && a.retry_internal && reply.error().code() == v1::INTERNAL) {
        ++internal_refusals;  // nothing was stored: the resend timer asks again
        continue;
      }
      if (reply.has_error()) {
        std::cerr << "crash_client: " << tid << " refused: " << reply.error().message() << "\n";
        return 1;
      }
      if (!reply.has_assignment()) continue;
      const auto& as = reply.assignment();
      const std::string line = as.node_id() + " " + std::to_string(as.slot()) + " " + std::to_string(as.start_at_ms());
      told << tid << " " << line << "\n";
      told.flush();
      const int index = std::stoi(tid.substr(1));
      if (auto it = answered.find(tid); it != answered.end()) {
        if (it->second != line) {
          std::cerr << "crash_client: " << tid << " was told " << it->second << " then " << line << "\n";
          return 1;
        }
        if (recheck.erase(index) > 0) pending.erase(index);
        continue;
      }
      answered[tid] = line;
      if (rng() % 20 == 0 && recheck.size() < 200) {
        recheck.insert(index);  // ask again: the same answer must come back
        pending[index] = Clock::time_point{};
      } else {
        pending.erase(index);
      }
    }
  }
  std::cout << "crash_client: " << answered.size() << " terminals assigned (" << internal_refusals
            << " INTERNAL refusals retried)\n";
  client.Disconnect(std::chrono::seconds(2));
  return 0;
}
