// bench_agent: the real slotwise-agent program against a real mosquitto, with
// this program playing the scheduler (over MQTT) and a download node (a small
// HTTP/1.1 server with Range support that cuts every connection after
// --cut-mb of body). Prints `name: value` lines:
//
//   resume_bytes_ratio  bytes the node sent (headers included) / artifact
//                       size, the connection cut every 10 MB of 100 MB
//                       (target <= 1.02)
//   idle_rss_mb         the agent's VmRSS while it waits for its slot with
//                       the MQTT session up (target <= 10)
//   idle_cpu_percent    its CPU use over that wait (target: near 0)
//
//   bench_agent [--size-mb 100] [--cut-mb 10] [--idle-seconds 5]
//               [--agent PATH] [--mosquitto PATH]
//
// Needs mosquitto (PATH or --mosquitto). Everything binds to 127.0.0.1 on
// free ports and lives in a mkdtemp directory that is removed at the end.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "slotwise/mqtt/client.h"
#include "slotwise/sha256.h"
#include "slotwise/topics.h"
#include "slotwise/v1/terminal.pb.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
constexpr const char* kTid = "BENCH1";

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void Die(const std::string& why) {
  std::cerr << "bench_agent: " << why << "\n";
  std::exit(1);
}

int ListenLoopback(int* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) {
    Die("cannot listen on 127.0.0.1");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

int FreePort() {
  int port = 0;
  const int fd = ListenLoopback(&port);
  ::close(fd);
  return port;
}

bool SendAll(int fd, const char* data, std::size_t size, std::atomic<std::uint64_t>& counter) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    counter += static_cast<std::uint64_t>(n);
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// The download node: GET with optional `Range: bytes=N-`; every response
// ends (connection closed) after cut_bytes of body.
class CuttingHttpServer {
 public:
  CuttingHttpServer(fs::path file, std::uint64_t cut_bytes) : file_(std::move(file)), cut_(cut_bytes) {
    listen_fd_ = ListenLoopback(&port_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~CuttingHttpServer() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    thread_.join();
  }
  int port() const { return port_; }
  std::uint64_t bytes_sent() const { return sent_; }
  int responses() const { return responses_; }

 private:
  void Serve() {
    while (!stop_) {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      Handle(fd);
      ::close(fd);
    }
  }
  void Handle(int fd) {
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      head.append(buf, static_cast<std::size_t>(n));
    }
    ++responses_;
    const std::uint64_t size = fs::file_size(file_);
    std::uint64_t from = 0;
    const auto range = head.find("Range: bytes=");
    if (range != std::string::npos) from = std::strtoull(head.c_str() + range + 13, nullptr, 10);
    std::ostringstream h;
    if (range != std::string::npos) {
      h << "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " << from << "-" << size - 1 << "/" << size
        << "\r\n";
    } else {
      h << "HTTP/1.1 200 OK\r\n";
    }
    h << "Content-Length: " << size - from << "\r\nConnection: close\r\n\r\n";
    const std::string header = h.str();
    if (!SendAll(fd, header.data(), header.size(), sent_)) return;
    std::ifstream in(file_, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(from));
    std::vector<char> chunk(64 * 1024);
    std::uint64_t body = 0;
    const std::uint64_t limit = std::min(size - from, cut_);
    while (body < limit) {
      const auto want = static_cast<std::streamsize>(std::min<std::uint64_t>(chunk.size(), limit - body));
      in.read(chunk.data(), want);
      if (in.gcount() <= 0) return;
      if (!SendAll(fd, chunk.data(), static_cast<std::size_t>(in.gcount()), sent_)) return;
      body += static_cast<std::uint64_t>(in.gcount());
    }
    // Cut (or done): close without lingering.
  }

  fs::path file_;
  std::uint64_t cut_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<int> responses_{0};
  std::thread thread_;
};

// The scheduler's side of S6-S11 for one terminal, over MQTT.
class MiniScheduler {
 public:
  MiniScheduler(const std::string& broker, slotwise::v1::Download download, std::int64_t wait_ms)
      : client_(Must(slotwise::mqtt::Client::Create({broker, "slotwise-bench-scheduler", 0, false}))),
        download_(std::move(download)),
        wait_ms_(wait_ms) {
    slotwise::mqtt::Handlers handlers;
    handlers.on_message = [this](slotwise::mqtt::Message m) { OnMessage(m); };
    client_->SetHandlers(std::move(handlers));
    Check(client_->Connect(slotwise::mqtt::ConnectOptions{}, std::chrono::seconds(30)));
    Check(client_->Subscribe({slotwise::topics::AllTerminals(slotwise::topics::Leaf::kReport),
                              slotwise::topics::AllTerminals(slotwise::topics::Leaf::kCheck),
                              slotwise::topics::AllTerminals(slotwise::topics::Leaf::kStatus)},
                             1, std::chrono::seconds(30)));
    slotwise::v1::Notice notice;
    notice.set_campaign_id("bench");
    notice.set_target_version(download_.version());
    notice.set_issued_ms(NowMs());
    Check(client_->PublishAndWait(RetainedNotice(notice.SerializeAsString()), std::chrono::seconds(30)));
  }
  ~MiniScheduler() {
    (void)client_->PublishAndWait(RetainedNotice(""), std::chrono::seconds(5));
    client_->Disconnect(std::chrono::seconds(5));
  }
  std::int64_t start_at_ms() const { return start_at_ms_; }
  bool assigned() const { return start_at_ms_ > 0; }
  bool finished() const { return finished_; }

 private:
  template <class T>
  static T Must(slotwise::Result<T> r) {
    if (!r) throw std::runtime_error(r.error().message);
    return std::move(*r);
  }
  static void Check(const slotwise::Result<slotwise::Ok>& s) {
    if (!s) throw std::runtime_error(s.error().message);
  }
  static void Check(const slotwise::Result<slotwise::mqtt::Connected>& s) {
    if (!s) throw std::runtime_error(s.error().message);
  }
  static slotwise::mqtt::Message RetainedNotice(std::string payload) {
    slotwise::mqtt::Message m;
    m.topic = slotwise::topics::Terminal(kTid, slotwise::topics::Leaf::kNotice);
    m.payload = std::move(payload);
    m.retained = true;
    return m;
  }
  void Reply(const slotwise::mqtt::Message& m, const slotwise::v1::TerminalReply& reply) {
    if (auto answer = slotwise::mqtt::MakeResponse(m, reply.SerializeAsString())) (void)client_->Publish(*answer);
  }
  void OnMessage(const slotwise::mqtt::Message& m) {
    const auto topic = slotwise::topics::ParseTerminalTopic(m.topic);
    if (!topic) return;
    slotwise::v1::TerminalReply reply;
    if (topic->leaf == slotwise::topics::Leaf::kReport) {
      slotwise::v1::Report report;
      report.ParseFromString(m.payload);
      if (report.campaign_id().empty()) {
        reply.mutable_ack();
      } else {
        std::lock_guard lock(mutex_);
        if (start_at_ms_ == 0) start_at_ms_ = NowMs() + wait_ms_;
        auto* a = reply.mutable_assignment();
        a->set_campaign_id("bench");
        a->set_target_version(download_.version());
        a->set_node_id("n1");
        a->set_slot(1);
        a->set_slot_start_ms(start_at_ms_);
        a->set_slot_end_ms(start_at_ms_ + 3'600'000);
        a->set_start_at_ms(start_at_ms_);
      }
    } else if (topic->leaf == slotwise::topics::Leaf::kCheck) {
      auto* r = reply.mutable_check_result();
      r->set_campaign_id("bench");
      r->set_verdict(slotwise::v1::CheckResult::GO);
      *r->mutable_download() = download_;
    } else if (topic->leaf == slotwise::topics::Leaf::kStatus) {
      if (m.response_topic.empty()) return;  // progress
      reply.mutable_ack();
      finished_ = true;
    }
    Reply(m, reply);
  }

  std::unique_ptr<slotwise::mqtt::Client> client_;
  slotwise::v1::Download download_;
  std::int64_t wait_ms_;
  std::mutex mutex_;
  std::int64_t start_at_ms_ = 0;
  std::atomic<bool> finished_{false};
};

struct ProcStat {
  double rss_mb = 0;
  double cpu_seconds = 0;
};

ProcStat ReadProc(pid_t pid) {
  ProcStat out;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) out.rss_mb = std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = all.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(all.substr(close + 2));
    std::vector<std::string> f;
    std::string x;
    while (fields >> x) f.push_back(x);
    // After "pid (comm) ": state is field 0, utime field 11, stime field 12.
    if (f.size() > 12) {
      out.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
  }
  return out;
}

pid_t Spawn(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) Die("cannot start " + args[0] + ": " + std::strerror(rc));
  return pid;
}

void Stop(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

bool PortOpen(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const fs::path p = fs::path(dir) / name;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  for (const char* d : {"/usr/sbin", "/usr/local/sbin", "/sbin"}) {
    const fs::path p = fs::path(d) / name;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t size_mb = 100;
  std::uint64_t cut_mb = 10;
  int idle_seconds = 5;
  std::string agent_bin = SLOTWISE_AGENT_BINARY;
  std::string mosquitto = FindInPath("mosquitto");
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--size-mb") size_mb = std::stoull(v);
    else if (k == "--cut-mb") cut_mb = std::stoull(v);
    else if (k == "--idle-seconds") idle_seconds = std::stoi(v);
    else if (k == "--agent") agent_bin = v;
    else if (k == "--mosquitto") mosquitto = v;
    else Die("unknown option " + k);
  }
  if (mosquitto.empty()) Die("mosquitto not found (PATH or --mosquitto)");

  char tmpl[] = "/tmp/slotwise-bench-agent-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) Die("mkdtemp failed");
  const fs::path dir = tmpl;

  // The artifact: size_mb of pseudo-random bytes.
  const fs::path artifact = dir / "fw-2.0.0.bin";
  {
    std::ofstream out(artifact, std::ios::binary);
    std::vector<std::uint64_t> block(128 * 1024);
    std::uint64_t x = 0x9E3779B97F4A7C15ull;
    for (std::uint64_t mb = 0; mb < size_mb; ++mb) {
      for (auto& w : block) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w = x;
      }
      out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(block.size() * 8));
    }
  }
  const std::uint64_t size = fs::file_size(artifact);
  const auto digest = slotwise::Sha256FileHex(artifact);
  if (!digest) Die(digest.error().message);

  const int mqtt_port = FreePort();
  {
    std::ofstream conf(dir / "mosquitto.conf");
    conf << "listener " << mqtt_port << " 127.0.0.1\nallow_anonymous true\npersistence false\n";
    if (::geteuid() == 0) conf << "user root\n";
  }
  const pid_t broker = Spawn({mosquitto, "-c", (dir / "mosquitto.conf").string()}, dir / "mosquitto.log");
  for (int i = 0; i < 200 && !PortOpen(mqtt_port); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  const std::string broker_url = "tcp://127.0.0.1:" + std::to_string(mqtt_port);

  int exit_code = 0;
  pid_t agent = -1;
  try {
    CuttingHttpServer node(artifact, cut_mb * 1024 * 1024);
    slotwise::v1::Download download;
    download.set_url("http://127.0.0.1:" + std::to_string(node.port()) + "/fw-2.0.0.bin");
    download.set_version("2.0.0");
    download.set_sha256(*digest);
    download.set_size(size);
    const std::int64_t wait_ms = (idle_seconds + 3) * 1000;
    MiniScheduler scheduler(broker_url, download, wait_ms);

    fs::create_directories(dir / "state");
    std::ofstream(dir / "version") << "1.0.0\n";
    {
      std::ofstream conf(dir / "agent.conf");
      conf << "broker = " << broker_url << "\nterminal_id = " << kTid << "\nstate_dir = " << (dir / "state").string()
           << "\nversion_file = " << (dir / "version").string() << "\nlocation = 48.85,2.35\n"
           << "install_command = true\ndownload_dir = " << (dir / "downloads").string() << "\n";
    }
    agent = Spawn({agent_bin, "--config", (dir / "agent.conf").string(), "--exit-when-idle"}, dir / "agent.log");

    // Idle: from 1 s after the assignment until 1 s before the slot.
    const auto give_up = Clock::now() + std::chrono::seconds(30);
    while (!scheduler.assigned() && Clock::now() < give_up) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!scheduler.assigned()) throw std::runtime_error("the agent never reported (see agent.log)");
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const ProcStat before = ReadProc(agent);
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(idle_seconds));
    const ProcStat after = ReadProc(agent);
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();

    // The download, cut every cut_mb.
    const auto deadline = Clock::now() + std::chrono::seconds(600);
    while (!scheduler.finished() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!scheduler.finished()) throw std::runtime_error("the agent did not finish (see agent.log)");
    std::string installed;
    std::getline(std::ifstream(dir / "version") >> std::ws, installed);
    if (installed != "2.0.0") throw std::runtime_error("the agent did not install 2.0.0");

    std::printf("artifact_mb: %llu\n", static_cast<unsigned long long>(size_mb));
    std::printf("cut_every_mb: %llu\n", static_cast<unsigned long long>(cut_mb));
    std::printf("http_responses: %d\n", node.responses());
    std::printf("resume_bytes_ratio: %.4f\n", static_cast<double>(node.bytes_sent()) / static_cast<double>(size));
    std::printf("idle_rss_mb: %.2f\n", after.rss_mb);
    std::printf("idle_cpu_percent: %.3f\n", 100.0 * (after.cpu_seconds - before.cpu_seconds) / wall);
    std::fflush(stdout);
  } catch (const std::exception& e) {
    std::cerr << "bench_agent: " << e.what() << " (logs in " << dir << ")\n";
    exit_code = 1;
  }
  Stop(agent);
  Stop(broker);
  if (exit_code == 0) fs::remove_all(dir);
  return exit_code;
}
