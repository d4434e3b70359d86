// Webhooks (issue 13): POSTs a JSON event (a LiveEvent, schemas/README.md
// "Webhooks") to every configured URL, on a worker thread of its own, with
// retries and exponential backoff, so the scheduler's loop never waits for a
// receiver.
//
// Post() only queues: the queue is bounded (`queue_limit` deliveries); when
// it is full the delivery is dropped, logged and counted. A delivery is
// retried on a transport error or an HTTP status outside 2xx, up to
// `attempts` times, waiting first_backoff, 2x, 4x ... (at most max_backoff)
// between attempts; then it is given up, logged and counted. Deliveries go
// out one at a time, in the order they were posted.
//
// Headers: Content-Type: application/json; X-Slotwise-Event: the event name;
// X-Slotwise-Delivery: a delivery id, the same on every retry; and with a
// secret X-Slotwise-Signature: sha256=<hex HMAC-SHA256 of the body under
// the secret>.
//
// Threading: Post(), counters() and the destructor are thread-safe; the
// destructor stops the worker (what is queued is dropped).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace slotwise::scheduler {

struct WebhookOptions {
  std::vector<std::string> urls;
  // HMAC-SHA256 key of X-Slotwise-Signature; "" = no signature header.
  std::string secret;
  // Default: 1000.
  std::size_t queue_limit = 1000;
  // Attempts per delivery and URL. Default: 6.
  int attempts = 6;
  // Default: 500 ms, doubling, at most 30 s.
  std::chrono::milliseconds first_backoff{500};
  std::chrono::milliseconds max_backoff{30000};
  // One attempt's connect + transfer. Default: 5 s.
  std::chrono::milliseconds timeout{5000};
};

// The hex HMAC-SHA256 of `body` under `secret` (the signature's value after
// "sha256=").
std::string WebhookSignature(const std::string& secret, const std::string& body);

class Webhooks {
 public:
  explicit Webhooks(WebhookOptions options);
  ~Webhooks();
  Webhooks(const Webhooks&) = delete;
  Webhooks& operator=(const Webhooks&) = delete;

  // Queues `json` for every URL; false when the queue was full (dropped).
  bool Post(const std::string& event_name, const std::string& json);

  struct Counters {
    std::uint64_t delivered = 0;
    std::uint64_t retried = 0;   // attempts after a first that failed
    std::uint64_t failed = 0;    // given up after every attempt
    std::uint64_t dropped = 0;   // the queue was full
  };
  Counters counters() const;

 private:
  struct Delivery {
    std::string url;
    std::string event;
    std::string body;
    std::uint64_t id = 0;
  };
  void Run();
  bool Attempt(const Delivery& d, std::string& error) const;

  WebhookOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Delivery> queue_;
  bool stop_ = false;
  std::uint64_t next_id_ = 0;
  std::atomic<std::uint64_t> delivered_{0}, retried_{0}, failed_{0}, dropped_{0};
  std::thread worker_;
};

}  // namespace slotwise::scheduler
