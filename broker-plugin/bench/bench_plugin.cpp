// bench_plugin: what mosquitto_slotwise.so costs the broker per routed
// message. Starts two real mosquitto brokers on free loopback ports, one
// plain (anonymous, no plugin) and one with the plugin (passwords, ACL,
// validation, stamping, rate limits, stats), and drives each in turn with the
// same offered load: T terminals publishing valid Report messages (QoS 1) on
// their own report topics, one service client subscribed to
// slotwise/v1/t/+/report (QoS 1). Broker CPU comes from
// /proc/<pid>/schedstat (ns); rounds alternate plain/plugin so drift hits
// both alike. Prints `name: value` lines; the figure of merit is
//   cpu_per_msg_ratio = median over back-to-back round pairs of
//     (plugin broker CPU / routed msg) / (plain broker CPU / routed msg)
// (target <= 1.10); cpu_per_msg_ratio_of_totals is the same over all rounds. Speed targets live here only, never in the tests.
//
//   bench_plugin [--rate 4000] [--seconds 1.5] [--rounds 10] [--terminals 20]
//                [--mosquitto /usr/sbin/mosquitto] [--plugin path/to/mosquitto_slotwise.so]
//                [--aa]   (calibration: both brokers plain, the ratio shows the noise)
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "slotwise/broker/acl.h"
#include "slotwise/broker/live_clients.h"
#include "slotwise/broker/passwords.h"
#include "slotwise/broker/rate_limit.h"
#include "slotwise/broker/validate.h"
#include "slotwise/topics.h"
#include "slotwise/v1/terminal.pb.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Options {
  double rate = 4000;  // offered messages per second, all terminals together
  double seconds = 1.5;  // per round
  int rounds = 10;     // back-to-back pairs (one plain and one plugin round each)
  int terminals = 20;
  std::string mosquitto = "/usr/sbin/mosquitto";
  std::string plugin = SLOTWISE_BENCH_PLUGIN_PATH;
  // --aa: both brokers plain (calibration: the ratio should be ~1.00).
  bool aa = false;
};

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "bench_plugin: %s\n", why.c_str());
  std::exit(1);
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Die("no free port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

bool PortOpen(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// One mosquitto process, stopped by its pid.
class Broker {
 public:
  Broker(const Options& opt, const fs::path& dir, const std::string& name, bool with_plugin,
         const fs::path& passwd)
      : port_(FreePort()) {
    const fs::path conf = dir / (name + ".conf");
    std::ofstream out(conf);
    out << "listener " << port_ << " 127.0.0.1\n"
        << "persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n"
        << "max_inflight_messages 100\nmax_queued_messages 100000\n";
    if (geteuid() == 0) out << "user root\n";
    if (with_plugin) {
      out << "plugin " << opt.plugin << "\n"
          << "plugin_opt_services bench-svc\n"
          << "plugin_opt_password_file " << passwd.string() << "\n"
          // The bench measures the checks, not the limiter dropping messages.
          << "plugin_opt_rate_limit_per_second 1000000\n"
          << "plugin_opt_rate_limit_burst 1000000\n"
          << "plugin_opt_stats_interval_seconds 1\n";
    } else {
      out << "allow_anonymous true\n";
    }
    out.close();
    const std::string log = (dir / (name + ".log")).string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::string c = "-c";
    std::string conf_s = conf.string();
    std::string exe = opt.mosquitto;
    char* argv[] = {exe.data(), c.data(), conf_s.data(), nullptr};
    if (posix_spawn(&pid_, exe.c_str(), &actions, nullptr, argv, environ) != 0) {
      Die("cannot start " + exe);
    }
    posix_spawn_file_actions_destroy(&actions);
    for (int i = 0; i < 300 && !PortOpen(port_); ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) Die("mosquitto exited; see " + log);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!PortOpen(port_)) Die("mosquitto did not listen; see " + log);
  }
  ~Broker() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  int port() const { return port_; }
  // CPU time the broker has used so far, in ns (scheduler accounting).
  std::uint64_t CpuNs() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/schedstat");
    std::uint64_t ns = 0;
    in >> ns;
    return ns;
  }

 private:
  int port_;
  pid_t pid_ = 0;
};

struct Client {
  mosquitto* mosq = nullptr;
  std::atomic<bool> connected{false};
  std::atomic<std::uint64_t>* received = nullptr;
};

void OnConnect(mosquitto*, void* ud, int rc) {
  if (rc == 0) static_cast<Client*>(ud)->connected = true;
}
void OnMessage(mosquitto*, void* ud, const mosquitto_message*) {
  static_cast<Client*>(ud)->received->fetch_add(1, std::memory_order_relaxed);
}

std::unique_ptr<Client> Connect(int port, const std::string& id, const std::string* user,
                                const std::string* password) {
  auto c = std::make_unique<Client>();
  c->mosq = mosquitto_new(id.c_str(), true, c.get());
  if (!c->mosq) Die("mosquitto_new failed");
  mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
  mosquitto_connect_callback_set(c->mosq, OnConnect);
  mosquitto_message_callback_set(c->mosq, OnMessage);
  if (user) mosquitto_username_pw_set(c->mosq, user->c_str(), password->c_str());
  if (mosquitto_connect(c->mosq, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS) Die("connect failed");
  mosquitto_loop_start(c->mosq);
  for (int i = 0; i < 500 && !c->connected; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!c->connected) Die("client " + id + " not accepted");
  return c;
}

void Close(std::unique_ptr<Client>& c) {
  mosquitto_disconnect(c->mosq);
  mosquitto_loop_stop(c->mosq, false);
  mosquitto_destroy(c->mosq);
  c.reset();
}

struct RoundResult {
  std::uint64_t cpu_ns = 0;
  std::uint64_t routed = 0;
  std::uint64_t offered = 0;
};

// One round of offered load against one broker.
RoundResult RunRound(const Options& opt, const Broker& broker, bool with_plugin,
                     const std::vector<std::string>& tids, const std::string& svc_password,
                     const std::vector<std::string>& passwords, const std::string& payload) {
  std::atomic<std::uint64_t> received{0};
  const std::string svc = "bench-svc";
  auto sub = with_plugin ? Connect(broker.port(), "bench-svc-sub", &svc, &svc_password)
                         : Connect(broker.port(), "bench-svc-sub", nullptr, nullptr);
  sub->received = &received;
  mosquitto_subscribe(sub->mosq, nullptr, "slotwise/v1/t/+/report", 1);
  std::vector<std::unique_ptr<Client>> pubs;
  std::vector<std::string> topics;
  for (std::size_t i = 0; i < tids.size(); ++i) {
    pubs.push_back(with_plugin ? Connect(broker.port(), tids[i], &tids[i], &passwords[i])
                               : Connect(broker.port(), tids[i], nullptr, nullptr));
    topics.push_back(slotwise::topics::Terminal(tids[i], slotwise::topics::Leaf::kReport));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // SUBACK, connects settle

  const auto total = static_cast<std::uint64_t>(opt.rate * opt.seconds);
  const std::uint64_t cpu0 = broker.CpuNs();
  const std::uint64_t recv0 = received.load();
  const auto start = Clock::now();
  for (std::uint64_t sent = 0; sent < total;) {
    // Pace: everything due by now, in ticks of about a millisecond.
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const auto due = std::min(total, static_cast<std::uint64_t>(elapsed * opt.rate) + 1);
    for (; sent < due; ++sent) {
      const std::size_t i = sent % pubs.size();
      mosquitto_publish(pubs[i]->mosq, nullptr, topics[i].c_str(),
                        static_cast<int>(payload.size()), payload.data(), 1, false);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(900));
  }
  // Wait for the tail to be routed (bounded; the count says what arrived).
  for (int i = 0; i < 500 && received.load() - recv0 < total; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  RoundResult r;
  r.cpu_ns = broker.CpuNs() - cpu0;
  r.routed = received.load() - recv0;
  r.offered = total;
  for (auto& p : pubs) Close(p);
  Close(sub);
  return r;
}

// The plugin's own per-message decisions, timed in this process without a
// broker: the terminal's write ACL (with the live-connection lookup that
// tells a publish from a will), the edge checks (rate limit, Protobuf
// validation) and the subscriber's read ACL. What is left of the broker
// ratio above this is mosquitto's work around the plugin (events, the stamp
// property on every delivery) and measurement noise (see --aa).
double PluginLogicNsPerMessage(const std::string& payload) {
  using namespace slotwise::broker;
  constexpr int kN = 300'000;
  RateLimiter limiter({1e9, 1'000'000'000, 0, 10'000});
  LiveClients live;  // as many live terminals as a busy broker's tests hold
  std::vector<int> connections(1000);
  for (std::size_t t = 0; t < connections.size(); ++t) {
    live.OnAuthenticated("B" + std::to_string(t), &connections[t]);
  }
  live.OnAuthenticated("B0001", &limiter);
  const std::string topic = slotwise::topics::Terminal("B0001", slotwise::topics::Leaf::kReport);
  int passed = 0;
  const auto start = Clock::now();
  for (int i = 0; i < kN; ++i) {
    passed += live.IsLive("B0001", &limiter) &&
              IsAllowed(Role::kTerminal, "B0001", "B0001", topic, Access::kWrite);
    passed += limiter.Admit("B0001", 1'000 + i / 1'000) == RateDecision::kAccept;
    passed += ValidateUpstream(slotwise::topics::Leaf::kReport, payload.data(), payload.size(),
                               8192) == Reject::kNone;
    passed += IsAllowed(Role::kService, "bench-svc", "bench-svc", topic, Access::kRead);
  }
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  if (passed != 4 * kN) Die("plugin logic refused the bench message");
  return ns / kN;
}

Options ParseArgs(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--rate") opt.rate = std::stod(next());
    else if (a == "--seconds") opt.seconds = std::stod(next());
    else if (a == "--rounds") opt.rounds = std::stoi(next());
    else if (a == "--terminals") opt.terminals = std::stoi(next());
    else if (a == "--mosquitto") opt.mosquitto = next();
    else if (a == "--plugin") opt.plugin = next();
    else if (a == "--aa") opt.aa = true;
    else Die("unknown argument " + a + " (see the comment at the top of bench_plugin.cpp)");
  }
  if (opt.rate <= 0 || opt.seconds <= 0 || opt.rounds < 1 || opt.terminals < 1) Die("bad arguments");
  return opt;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = ParseArgs(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  char tmpl[] = "/tmp/slotwise-bench-plugin-XXXXXX";
  if (!mkdtemp(tmpl)) Die("mkdtemp failed");
  const fs::path dir = tmpl;
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec);

  std::vector<std::string> tids;
  std::vector<std::string> passwords;
  const std::string svc_password = "bench-svc-pw";
  {
    std::ofstream pw(dir / "passwd");
    pw << "bench-svc:" << slotwise::broker::HashPasswordPbkdf2(svc_password) << "\n";
    for (int i = 0; i < opt.terminals; ++i) {
      char id[16];
      std::snprintf(id, sizeof id, "B%04d", i);
      tids.emplace_back(id);
      passwords.push_back(std::string("pw-") + id);
      pw << id << ":" << slotwise::broker::HashPasswordPbkdf2(passwords.back()) << "\n";
    }
  }
  slotwise::v1::Report report;
  report.set_campaign_id("bench-campaign");
  report.set_current_version("1.0.0");
  report.set_target_version("2.0.0");
  report.mutable_location()->set_lat(48.85);
  report.mutable_location()->set_lon(2.35);
  report.set_system_id("pos-linux-bench");
  const std::string payload = report.SerializeAsString();

  mosquitto_lib_init();
  RoundResult plain;
  RoundResult plugin;
  std::vector<double> pair_ratios;
  {
    Broker plain_broker(opt, dir, "plain", false, dir / "passwd");
    Broker plugin_broker(opt, dir, "plugin", !opt.aa, dir / "passwd");
    for (int round = 0; round < opt.rounds; ++round) {
      // Each pair runs back to back, in alternating order, so drift and
      // other load on the machine hit both sides of a pair alike.
      double per_msg[2] = {0, 0};
      for (const bool second : {false, true}) {
        const bool with_plugin = (round % 2 == 0) == second;
        const RoundResult r =
            RunRound(opt, with_plugin ? plugin_broker : plain_broker, with_plugin && !opt.aa,
                     tids, svc_password, passwords, payload);
        RoundResult& sum = with_plugin ? plugin : plain;
        sum.cpu_ns += r.cpu_ns;
        sum.routed += r.routed;
        sum.offered += r.offered;
        per_msg[with_plugin ? 1 : 0] =
            r.routed ? static_cast<double>(r.cpu_ns) / static_cast<double>(r.routed) : 0;
      }
      if (per_msg[0] > 0 && per_msg[1] > 0) pair_ratios.push_back(per_msg[1] / per_msg[0]);
    }
  }
  mosquitto_lib_cleanup();
  std::error_code ec;
  fs::remove_all(dir, ec);

  if (plain.routed == 0 || plugin.routed == 0 || pair_ratios.empty()) Die("no messages routed");
  const double plain_us = static_cast<double>(plain.cpu_ns) / 1e3 / static_cast<double>(plain.routed);
  const double plugin_us = static_cast<double>(plugin.cpu_ns) / 1e3 / static_cast<double>(plugin.routed);
  std::sort(pair_ratios.begin(), pair_ratios.end());
  const std::size_t n = pair_ratios.size();
  const double median = n % 2 ? pair_ratios[n / 2] : (pair_ratios[n / 2 - 1] + pair_ratios[n / 2]) / 2;
  std::printf("mode: %s\n", opt.aa ? "aa-calibration (both brokers plain)" : "plugin-vs-plain");
  std::printf("offered_msgs_per_s: %.0f\n", opt.rate);
  std::printf("terminals: %d\n", opt.terminals);
  std::printf("round_pairs: %d\n", opt.rounds);
  std::printf("round_seconds: %.1f\n", opt.seconds);
  std::printf("payload_bytes: %zu\n", payload.size());
  std::printf("plain_msgs_offered: %llu\n", static_cast<unsigned long long>(plain.offered));
  std::printf("plain_msgs_routed: %llu\n", static_cast<unsigned long long>(plain.routed));
  std::printf("plugin_msgs_offered: %llu\n", static_cast<unsigned long long>(plugin.offered));
  std::printf("plugin_msgs_routed: %llu\n", static_cast<unsigned long long>(plugin.routed));
  std::printf("plain_broker_cpu_us_per_msg: %.3f\n", plain_us);
  std::printf("plugin_broker_cpu_us_per_msg: %.3f\n", plugin_us);
  std::printf("pair_ratio_min: %.3f\n", pair_ratios.front());
  std::printf("pair_ratio_max: %.3f\n", pair_ratios.back());
  std::printf("plugin_logic_ns_per_msg: %.0f\n", PluginLogicNsPerMessage(payload));
  std::printf("cpu_per_msg_ratio_of_totals: %.3f\n", plugin_us / plain_us);
  // The figure of merit: the median of the back-to-back pair ratios, robust
  // to a round disturbed by other work on the machine.
  std::printf("cpu_per_msg_ratio: %.3f\n", median);
  std::printf("cpu_per_msg_ratio_target: 1.10\n");
  return 0;
}
