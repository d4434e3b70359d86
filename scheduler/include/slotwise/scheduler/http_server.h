// HttpServer (issue 13): the scheduler's HTTP API, in the daemon itself
// (scheduler/README.md, "HTTP API", says why not a gateway). Resources under
// /v1 (schemas/openapi.json is the contract; schemas/README.md "HTTP API"
// the table); JSON is the proto3 JSON mapping of the operator.proto messages.
//
// One handler path: every request becomes an OperatorRequest, pushed with
// its Caller into the OperatorInbox the MQTT server's loop reads; the
// scheduler thread handles it in its next batch with
// SchedulerService::HandleOperatorAs (the same call as the MQTT operator
// channel) and the reply goes back once the batch is durable. The HTTP
// threads never touch the service.
//
// Authentication: HTTP Basic against the users file (access.h); no or bad
// credentials: 401 (with WWW-Authenticate), a role too low: 403 (the
// service refuses PERMISSION_DENIED and audits it). Error bodies are the
// proto3 JSON of slotwise.v1.Error.
//
// Metrics: GET /metrics (Prometheus text format 0.0.4, metrics.h), on the
// same port, TLS and logins as /v1.
//
// Live events: GET /v1/events (Server-Sent Events); Publish() is called on
// the scheduler thread after each durable batch and wakes every stream.
//
// Threading: Start() runs httplib's listener thread and its worker pool;
// every public member is thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "slotwise/result.h"
#include "slotwise/scheduler/access.h"
#include "slotwise/scheduler/metrics.h"
#include "slotwise/scheduler/operator_inbox.h"

namespace slotwise::scheduler {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = any free port (port() says which)
  // PEM certificate and key; both empty = plain HTTP (for tests only).
  std::string tls_cert;
  std::string tls_key;
  std::shared_ptr<const Users> users;
  std::shared_ptr<OperatorInbox> inbox;
  // How long a request waits for the scheduler thread. Default: 30 s.
  std::chrono::milliseconds timeout{30000};
  // Issue 13: the web console's static files (console/dist), served at "/"
  // without a login (the console logs in to /v1 itself); "" = none.
  std::string console_dir;
  // Issue 13: GET /metrics, the Prometheus exposition (metrics.h); nullptr
  // = 404. It wants the HTTP Basic login of any user of the users file
  // (viewer is enough: Prometheus' basic_auth), unless `metrics_open`
  // (a scraper on a trusted network without credentials).
  std::shared_ptr<Metrics> metrics;
  bool metrics_open = false;
};

class HttpServer {
 public:
  explicit HttpServer(HttpOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving on a thread of its own.
  Status Start();
  int port() const { return port_; }
  void Stop();

  // On the scheduler thread: `event` (an SSE event name) with a JSON `data`
  // line goes to every open /v1/events stream.
  void Publish(const std::string& event, const std::string& data);
  // Issue 13: a live event (event_feed.h) of campaign `campaign_id` ("" =
  // a node event); streams opened with ?campaign=ID (or campaign_id) get
  // only that campaign's events, ?topics=nodes only node events (and every
  // stream the "commit" events). Each event has an SSE id: a stream opened
  // with Last-Event-ID (header, or ?last_event_id=) first gets the events
  // after it that are still held (the latest 1024).
  void PublishLive(const std::string& event, const std::string& data, const std::string& campaign_id);

  struct Impl;

 private:
  HttpOptions options_;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace slotwise::scheduler
