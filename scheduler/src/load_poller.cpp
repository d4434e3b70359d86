#include "slotwise/scheduler/load_poller.h"

#include <curl/curl.h>

#include <charconv>

namespace slotwise::scheduler {
namespace {

std::size_t Collect(char* data, std::size_t size, std::size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() > 64 * 1024) return 0;  // a status page is tiny: stop
  body->append(data, size * n);
  return size * n;
}

NodeObservation Poll(const std::string& node, const std::string& url, std::chrono::milliseconds timeout) {
  NodeObservation o{node, std::nullopt, url, {}};
  CURL* curl = curl_easy_init();
  if (!curl) {
    o.error = "curl_easy_init failed";
    return o;
  }
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    o.error = curl_easy_strerror(rc);
  } else if (status != 200) {
    o.error = "HTTP " + std::to_string(status);
  } else if (!(o.active_connections = ParseStubStatus(body))) {
    o.error = "the answer has no 'Active connections: N' (not an nginx stub_status page)";
  }
  return o;
}

}  // namespace

std::optional<std::uint32_t> ParseStubStatus(std::string_view body) {
  constexpr std::string_view kLabel = "Active connections:";
  const auto at = body.find(kLabel);
  if (at == std::string_view::npos) return std::nullopt;
  auto rest = body.substr(at + kLabel.size());
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  std::uint32_t value = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
  if (ec != std::errc() || end == rest.data()) return std::nullopt;
  return value;
}

LoadPoller::LoadPoller(std::chrono::milliseconds interval, std::chrono::milliseconds timeout)
    : interval_(interval), timeout_(timeout), thread_([this] { Run(); }) {}

LoadPoller::~LoadPoller() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void LoadPoller::SetTargets(std::map<std::string, std::string> targets) {
  std::lock_guard lock(mu_);
  targets_ = std::move(targets);
}

std::vector<NodeObservation> LoadPoller::Take() {
  std::lock_guard lock(mu_);
  std::vector<NodeObservation> out;
  out.swap(observed_);
  return out;
}

void LoadPoller::Run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    const auto targets = targets_;
    lock.unlock();
    std::vector<NodeObservation> round;
    for (const auto& [node, url] : targets) round.push_back(Poll(node, url, timeout_));
    lock.lock();
    for (auto& o : round) observed_.push_back(std::move(o));
    wake_.wait_for(lock, interval_, [this] { return stop_; });
  }
}

}  // namespace slotwise::scheduler
