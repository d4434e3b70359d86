#include "slotwise/scheduler/webhooks.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

#include "slotwise/hex.h"
#include "slotwise/log.h"

namespace slotwise::scheduler {
namespace {

constexpr std::string_view kLog = "webhooks";

std::size_t Discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

}  // namespace

std::string WebhookSignature(const std::string& secret, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  return HexEncode(std::string(reinterpret_cast<const char*>(mac), len));
}

Webhooks::Webhooks(WebhookOptions options) : options_(std::move(options)) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  worker_ = std::thread([this] { Run(); });
}

Webhooks::~Webhooks() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

bool Webhooks::Post(const std::string& event_name, const std::string& json) {
  bool all = true;
  {
    std::lock_guard lock(mu_);
    for (const auto& url : options_.urls) {
      if (queue_.size() >= options_.queue_limit) {
        ++dropped_;
        all = false;
        log::Warn(kLog) << "queue full (" << options_.queue_limit << "): dropped a " << event_name << " event for "
                        << url;
        continue;
      }
      queue_.push_back(Delivery{url, event_name, json, ++next_id_});
    }
  }
  cv_.notify_all();
  return all;
}

Webhooks::Counters Webhooks::counters() const {
  return Counters{delivered_.load(), retried_.load(), failed_.load(), dropped_.load()};
}

bool Webhooks::Attempt(const Delivery& d, std::string& error) const {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    error = "curl_easy_init failed";
    return false;
  }
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, ("X-Slotwise-Event: " + d.event).c_str());
  headers = curl_slist_append(headers, ("X-Slotwise-Delivery: " + std::to_string(d.id)).c_str());
  if (!options_.secret.empty()) {
    headers = curl_slist_append(headers,
                                ("X-Slotwise-Signature: sha256=" + WebhookSignature(options_.secret, d.body)).c_str());
  }
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(curl, CURLOPT_URL, d.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, d.body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(d.body.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Discard);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    error = curl_easy_strerror(rc);
    return false;
  }
  if (status < 200 || status > 299) {
    error = "HTTP " + std::to_string(status);
    return false;
  }
  return true;
}

void Webhooks::Run() {
  for (;;) {
    Delivery d;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      d = std::move(queue_.front());
      queue_.pop_front();
    }
    auto backoff = options_.first_backoff;
    for (int attempt = 1;; ++attempt) {
      std::string error;
      if (Attempt(d, error)) {
        ++delivered_;
        log::Debug(kLog) << "delivered " << d.event << " #" << d.id << " to " << d.url << " (attempt " << attempt
                         << ")";
        break;
      }
      if (attempt >= options_.attempts) {
        ++failed_;
        log::Error(kLog) << "gave up delivering " << d.event << " #" << d.id << " to " << d.url << " after "
                         << attempt << " attempts: " << error;
        break;
      }
      log::Warn(kLog) << d.url << ": " << error << " (" << d.event << " #" << d.id << ", attempt " << attempt
                      << "): retrying in " << backoff.count() << " ms";
      {
        std::unique_lock lock(mu_);
        if (cv_.wait_for(lock, backoff, [&] { return stop_; })) return;
      }
      ++retried_;
      backoff = std::min(options_.max_backoff, backoff * 2);
    }
  }
}

}  // namespace slotwise::scheduler
