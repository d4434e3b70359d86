// CurlDownloader against a tiny HTTP/1.1 server on 127.0.0.1 (free port):
// Range resume, a server that ignores Range, cut connections, how errors are
// classified, progress and the speed-limit option. No timed assertions.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>

#include "fakes.h"
#include "slotwise/agent/downloader.h"

namespace slotwise::agent::testing {
namespace {

// Serves `body` for every path. Modes per test: honour or ignore Range,
// answer with a fixed status, or cut each response after `cut` body bytes.
class TinyServer {
 public:
  explicit TinyServer(std::string body) : body_(std::move(body)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 8) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TinyServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/fw.bin"; }

  bool honour_range = true;
  int status = 200;
  std::size_t cut = 0;  // 0 = whole body
  std::atomic<int> requests{0};
  std::string last_range;

 private:
  void Serve() {
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      Handle(c);
      ::close(c);
    }
  }
  void Handle(int c) {
    std::string head;
    char buf[2048];
    while (head.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      head.append(buf, static_cast<std::size_t>(n));
    }
    ++requests;
    std::ostringstream out;
    if (status != 200) {
      out << "HTTP/1.1 " << status << " Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      Send(c, out.str());
      return;
    }
    std::size_t from = 0;
    const auto r = head.find("Range: bytes=");
    last_range = r == std::string::npos ? "" : head.substr(r + 13, head.find("\r\n", r) - r - 13);
    if (r != std::string::npos && honour_range) {
      from = std::strtoull(head.c_str() + r + 13, nullptr, 10);
      out << "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " << from << "-" << body_.size() - 1 << "/"
          << body_.size() << "\r\n";
    } else {
      out << "HTTP/1.1 200 OK\r\n";
    }
    out << "Content-Length: " << body_.size() - from << "\r\nConnection: close\r\n\r\n";
    std::string rest = body_.substr(from);
    if (cut > 0 && rest.size() > cut) rest.resize(cut);
    Send(c, out.str() + rest);
  }
  static void Send(int c, const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ::send(c, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }

  std::string body_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string Body() {
  std::string s;
  for (int i = 0; i < 20000; ++i) s += static_cast<char>('a' + i % 26);
  return s;
}

TEST_CASE("CurlDownloader: Range resume appends only the missing bytes") {
  TempDir dir;
  const std::string body = Body();
  TinyServer server(body);
  const auto dest = dir.path() / "fw.part";
  WriteFile(dest, body.substr(0, 7000));
  CurlDownloader curl;
  DownloadRequest req{server.Url(), dest, {}, 7000, 0, {}, {}, {}};
  std::uint64_t last_have = 0;
  std::uint64_t last_total = 0;
  req.on_progress = [&](std::uint64_t have, std::uint64_t total) {
    last_have = have;
    last_total = total;
  };
  std::uint64_t measured_bytes = 0;
  std::uint64_t measured_calls = 0;
  req.on_measured = [&](std::uint64_t bytes, std::uint64_t) {
    measured_bytes = bytes;
    ++measured_calls;
  };
  REQUIRE(curl.Fetch(req, {}).ok());
  CHECK(server.last_range == "7000-");
  CHECK(ReadFile(dest) == body);
  CHECK(last_have == body.size());
  CHECK(last_total == body.size());
  // What this transfer received: the rest after the Range, not the file.
  CHECK(measured_calls == 1);
  CHECK(measured_bytes == body.size() - 7000);
}

TEST_CASE("CurlDownloader: may_start is asked right before the request, and false sends nothing") {
  TempDir dir;
  TinyServer server(Body());
  CurlDownloader curl;
  DownloadRequest req{server.Url(), dir.path() / "fw.part", {}, 0, 0, {}, {}, {}};
  int asked = 0;
  req.may_start = [&] {
    ++asked;
    return false;
  };
  auto refused = curl.Fetch(req, {});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == v1::FAILED_PRECONDITION);
  CHECK(asked == 1);
  CHECK(server.requests == 0);
  req.may_start = [&] { return ++asked > 0; };
  REQUIRE(curl.Fetch(req, {}).ok());
  CHECK(server.requests == 1);
}

TEST_CASE("CurlDownloader: a server that ignores Range gets the file rewritten from byte 0") {
  TempDir dir;
  const std::string body = Body();
  TinyServer server(body);
  server.honour_range = false;
  const auto dest = dir.path() / "fw.part";
  WriteFile(dest, "stale bytes that must not stay in front");
  CurlDownloader curl;
  REQUIRE(curl.Fetch(DownloadRequest{server.Url(), dest, {}, 39, 0, {}, {}, {}}, {}).ok());
  CHECK(ReadFile(dest) == body);
}

TEST_CASE("CurlDownloader: a cut response is INTERNAL and keeps what arrived") {
  TempDir dir;
  const std::string body = Body();
  TinyServer server(body);
  server.cut = 5000;
  const auto dest = dir.path() / "fw.part";
  CurlDownloader curl;
  auto first = curl.Fetch(DownloadRequest{server.Url(), dest, {}, 0, 0, {}, {}, {}}, {});
  REQUIRE_FALSE(first.ok());
  CHECK(first.error().code == v1::INTERNAL);
  CHECK(ReadFile(dest) == body.substr(0, 5000));
  server.cut = 0;
  REQUIRE(curl.Fetch(DownloadRequest{server.Url(), dest, {}, 5000, 1 << 20, {}, {}, {}}, {}).ok());
  CHECK(ReadFile(dest) == body);
}

TEST_CASE("CurlDownloader: max_bytes_per_second holds a fast sender back") {
  TempDir dir;
  const std::string body = Body();
  TinyServer server(body);
  CurlDownloader curl;
  DownloadRequest req{server.Url(), dir.path() / "f", {}, 0, body.size() * 2, {}, {}, {}};  // half a second's worth
  std::uint64_t micros = 0;
  req.on_measured = [&](std::uint64_t, std::uint64_t us) { micros = us; };
  REQUIRE(curl.Fetch(req, {}).ok());
  CHECK(ReadFile(dir.path() / "f") == body);
  // Never faster than the limit (a lower bound only: a loaded machine is slower).
  CHECK(micros >= 450'000);
}

TEST_CASE("CurlDownloader: error classes") {
  TempDir dir;
  CurlDownloader curl;
  SUBCASE("403, 404 and 410 mean: ask the scheduler again (NOT_FOUND)") {
    for (int status : {403, 404, 410}) {
      TinyServer server("x");
      server.status = status;
      auto r = curl.Fetch(DownloadRequest{server.Url(), dir.path() / "f", {}, 0, 0, {}, {}, {}}, {});
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == v1::NOT_FOUND);
      CHECK(r.error().message.find("HTTP " + std::to_string(status)) != std::string::npos);
    }
  }
  SUBCASE("503 is worth a retry (INTERNAL)") {
    TinyServer server("x");
    server.status = 503;
    auto r = curl.Fetch(DownloadRequest{server.Url(), dir.path() / "f", {}, 0, 0, {}, {}, {}}, {});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == v1::INTERNAL);
  }
  SUBCASE("416: the partial file does not fit the server's, emptied, INTERNAL") {
    TinyServer server("x");
    server.status = 416;
    WriteFile(dir.path() / "f", "too long already");
    auto r = curl.Fetch(DownloadRequest{server.Url(), dir.path() / "f", {}, 16, 0, {}, {}, {}}, {});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == v1::INTERNAL);
    CHECK(ReadFile(dir.path() / "f").empty());
  }
  SUBCASE("an unwritable destination is INVALID_ARGUMENT") {
    TinyServer server("x");
    auto r = curl.Fetch(DownloadRequest{server.Url(), dir.path() / "no-such-dir" / "f", {}, 0, 0, {}, {}, {}}, {});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == v1::INVALID_ARGUMENT);
  }
}

}  // namespace
}  // namespace slotwise::agent::testing
