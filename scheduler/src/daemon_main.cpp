// slotwise-scheduler: opens the store, loads the state and serves MQTT until
// SIGINT or SIGTERM.
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <memory>

#include "slotwise/clock.h"
#include "slotwise/log.h"
#include "keys.h"
#include "slotwise/build_info.h"
#include "slotwise/scheduler/event_feed.h"
#include "slotwise/scheduler/http_server.h"
#include "slotwise/scheduler/leadership.h"
#include "slotwise/scheduler/load_poller.h"
#include "slotwise/scheduler/mqtt_server.h"
#include "slotwise/scheduler/postgres_store.h"
#include "slotwise/scheduler/rocksdb_store.h"
#include "slotwise/scheduler/service.h"
#include "slotwise/scheduler/store.h"
#include "slotwise/scheduler/webhooks.h"
#include "slotwise/v1/store.pb.h"

namespace {
std::atomic<bool> g_stop{false};
extern "C" void OnSignal(int) { g_stop = true; }
// A standby refuses at start, not at failover, a database written with
// another slot length (SchedulerService::Load would refuse it then).
slotwise::Status CheckPostgresSlotLength(const std::string& url, const slotwise::scheduler::PostgresStoreOptions& pg,
                                         std::int64_t slot_ms) {
  auto store = slotwise::scheduler::OpenPostgresStore(url, pg);
  if (!store) return store.error();
  auto bytes = (*store)->Get(slotwise::scheduler::keys::kMeta);
  if (!bytes) return bytes.error();
  if (!bytes->has_value()) return slotwise::OkStatus();
  slotwise::v1::StoreMeta meta;
  if (!meta.ParseFromString(**bytes)) return slotwise::MakeError(slotwise::v1::INTERNAL, "store meta record is corrupt");
  if (meta.slot_ms() != slot_ms) {
    return slotwise::MakeError(slotwise::v1::FAILED_PRECONDITION,
                               "refusing to start: the database was written with slot length " +
                                   std::to_string(meta.slot_ms()) + " ms, not " + std::to_string(slot_ms) +
                                   " ms; use the same --slot-seconds as the other scheduler of the pair");
  }
  return slotwise::OkStatus();
}
}  // namespace

int main(int argc, char** argv) {
  using namespace slotwise::scheduler;
  CLI::App app{"Slotwise scheduler: books a download node and a time slot for every terminal"};
  app.set_version_flag("--version", slotwise::VersionLine("slotwise-scheduler"));
  // Defaults come from the options structs (their fields document them);
  // only the daemon's own settings are declared here.
  MqttOptions mqtt;
  ServiceOptions options;
  std::string db_path;
  std::int64_t slot_seconds = options.slot_ms / 1000;
  std::int64_t no_show_grace_s = options.no_show_grace_ms / 1000;
  std::int64_t offline_grace_s = options.offline_grace_ms / 1000;
  std::int64_t download_allowance_s = options.download_allowance_ms / 1000;
  int connect_timeout_s = 30;
  int poll_ms = 1000;
  app.add_option("--broker", mqtt.brokers,
                 "MQTT broker URL; several (comma-separated or repeated) for the shards of a cell, the "
                 "scheduler connects to each")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--client-id", mqtt.client_id, "MQTT client id")->capture_default_str();
  app.add_option("--username", mqtt.username, "MQTT username (a service user of the broker plugin)")
      ->capture_default_str();
  app.add_option("--password", mqtt.password, "MQTT password")->envname("SLOTWISE_SCHEDULER_PASSWORD");
  // TLS (ssl:// or mqtts:// broker URLs): the broker's certificate chain and
  // host name are verified against --cafile (else the system trust store).
  app.add_option("--cafile", mqtt.tls.ca_file, "PEM CA certificate(s) that verify a TLS broker")
      ->check(CLI::ExistingFile);
  app.add_option("--cert", mqtt.tls.cert_file, "PEM client certificate, for a broker that asks for one")
      ->check(CLI::ExistingFile);
  app.add_option("--key", mqtt.tls.key_file, "PEM private key of --cert (default: inside --cert)")
      ->check(CLI::ExistingFile);
  std::string log_level;
  app.add_option("--log-level", log_level,
                 "debug|info|warn|error|off (default: info, or SLOTWISE_LOG_LEVEL); refused terminal "
                 "requests are logged at debug")
      ->check([](const std::string& v) {
        return slotwise::log::ParseLevel(v) ? std::string() : "expected debug, info, warn, error or off";
      });
  app.add_option("--db", db_path,
                 "the store: a RocksDB directory (created if missing), or a PostgreSQL URL "
                 "(postgresql://...) for a leader/standby pair on one database (scheduler/README.md)")
      ->required();
  LeadershipOptions lease;
  std::int64_t lease_ms = lease.lease.count();
  app.add_option("--lease-ms", lease_ms, "PostgreSQL store: how long the leader's lease lasts without renewal")
      ->check(CLI::Range(std::int64_t{200}, std::int64_t{600000}))
      ->capture_default_str();
  RocksDbStoreOptions store_options;
  app.add_flag("--accept-empty-store", store_options.accept_empty_store,
               "start with an empty store although its marker says it held data (deleted WAL, emptied "
               "directory): for the one start after deciding to begin again; see scheduler/README.md");
  app.add_flag("--accept-torn-wal-tail", store_options.accept_torn_wal_tail,
               "drop an incomplete last WAL record (a write torn by a crash, never acknowledged) instead of "
               "refusing the store; other damage is still refused; see scheduler/README.md");
  app.add_option("--slot-seconds", slot_seconds, "slot length in seconds")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{86400}))
      ->capture_default_str();
  app.add_option("--lead-slots", options.lead_slots, "whole slots between now and a window's first slot")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{10000}))
      ->capture_default_str();
  app.add_option("--connect-timeout", connect_timeout_s, "seconds to wait for the broker at start-up")
      ->capture_default_str();
  app.add_option("--no-show-grace", no_show_grace_s,
                 "seconds after a slot's end before an unchecked booking is released")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{86400}))
      ->capture_default_str();
  app.add_option("--offline-grace", offline_grace_s,
                 "seconds a terminal may be offline before it loses its bookings")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{86400 * 7}))
      ->capture_default_str();
  app.add_option("--url-secret", options.url_secret,
                 "nginx secure_link secret: download URLs are signed (md5 of expires + uri + secret)")
      ->envname("SLOTWISE_URL_SECRET");
  app.add_option("--download-allowance", download_allowance_s,
                 "seconds a signed URL stays valid after the end of its slot; a terminal that got GO and "
                 "sends no final status by then is TIMED_OUT (retried) or FAILED")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{86400 * 7}))
      ->capture_default_str();
  bool trust_unstamped = false;
  app.add_flag("--trust-unstamped-terminals", trust_unstamped,
               "accept terminal and operator requests the broker plugin did not stamp (only for a broker "
               "without the Slotwise plugin, e.g. tests)");
  app.add_option("--max-batch", mqtt.max_batch, "most requests stored in one synced write (group commit)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}))
      ->capture_default_str();
  app.add_option("--fanout-window", mqtt.fanout_window,
                 "most notices unacknowledged by the broker at once (replies are never held behind them)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{65000}))
      ->capture_default_str();
  app.add_option("--poll-ms", poll_ms, "how often each node's status URL is polled (ms); 0 = never")
      ->check(CLI::Range(0, 3'600'000))
      ->capture_default_str();
  app.add_option("--live-slots", options.live_slots, "slots from now whose capacity live load lowers")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  app.add_option("--download-guard-ms", options.download_guard_ms,
                 "added to every reservation's expected download time, ms (capacity in bytes)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{3'600'000}))
      ->capture_default_str();
  app.add_option("--download-guard-permille", options.download_guard_permille,
                 "and this many thousandths of it (capacity in bytes)")
      ->check(CLI::Range(std::uint32_t{0}, std::uint32_t{1000}))
      ->capture_default_str();
  app.add_option("--default-link-bps", options.default_link_bps,
                 "link rate assumed for a terminal that reported none, bits/s (capacity in bytes)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000'000ULL}))
      ->capture_default_str();
  app.add_option("--max-fallback-km", options.max_fallback_km,
                 "a terminal falls back from its nearest cluster only this far (0 = any distance)")
      ->check(CLI::Range(0.0, 40'000.0))
      ->capture_default_str();
  // Issue 13: the HTTP API and the operators' roles (scheduler/README.md, "HTTP API").
  std::string http_listen;
  HttpOptions http;
  std::string users_file;
  std::string default_role = "admin";
  app.add_option("--http-listen", http_listen, "serve the HTTP API on HOST:PORT (e.g. 127.0.0.1:8443); default: off");
  app.add_option("--http-tls-cert", http.tls_cert, "PEM certificate of the HTTP API (HTTPS); needs --http-tls-key")
      ->check(CLI::ExistingFile);
  app.add_option("--http-tls-key", http.tls_key, "PEM private key of --http-tls-cert")->check(CLI::ExistingFile);
  app.add_option("--http-users", users_file,
                 "users file, name:role:hash a line (role viewer|operator|admin, hash as mosquitto_passwd "
                 "writes): HTTP API logins, and the role of each MQTT operator listed in it")
      ->check(CLI::ExistingFile);
  app.add_option("--operator-default-role", default_role,
                 "role of an MQTT operator the users file does not list (viewer|operator|admin)")
      ->check(CLI::IsMember({"viewer", "operator", "admin"}))
      ->capture_default_str();
  app.add_option("--console-dir", http.console_dir,
                 "serve the web console's files (console/dist, built by console/build.sh) at / of --http-listen")
      ->check(CLI::ExistingDirectory);
  bool http_plain = false;
  app.add_flag("--http-insecure", http_plain, "serve the HTTP API without TLS (tests on 127.0.0.1 only)");
  // Issue 13: the Prometheus exposition at /metrics of --http-listen (scheduler/README.md, "Metrics").
  app.add_flag("--metrics-open", http.metrics_open,
               "serve /metrics without a login (default: HTTP Basic of any --http-users user, e.g. a viewer "
               "for Prometheus' basic_auth)");
  app.add_option("--broker-stats-topic", mqtt.broker_stats_topic,
                 "the broker plugin's stats topic (plugin_opt_stats_topic), folded into /metrics; \"\" = none")
      ->capture_default_str();
  app.add_option("--metrics-recent-campaigns", mqtt.metrics_recent_campaigns,
                 "final (DONE/CANCELLED) campaigns /metrics still shows, the newest first")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1000}))
      ->capture_default_str();
  app.add_option("--metrics-open-campaigns", mqtt.metrics_open_campaigns,
                 "most open campaigns /metrics shows (the newest first)")
      ->check(CLI::Range(std::size_t{0}, std::size_t{10000}))
      ->capture_default_str();
  // Issue 13: webhooks (schemas/README.md "Webhooks").
  WebhookOptions hooks;
  app.add_option("--webhook", hooks.urls,
                 "POST every campaign state change (DONE with its final counts) as JSON to this http(s) URL; "
                 "repeatable");
  app.add_option("--webhook-secret", hooks.secret,
                 "sign each webhook body: X-Slotwise-Signature: sha256=<HMAC-SHA256 hex> (env SLOTWISE_WEBHOOK_SECRET)")
      ->envname("SLOTWISE_WEBHOOK_SECRET");
  app.add_option("--webhook-attempts", hooks.attempts, "attempts per webhook delivery")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  int webhook_backoff_ms = static_cast<int>(hooks.first_backoff.count());
  app.add_option("--webhook-backoff-ms", webhook_backoff_ms, "wait before the first retry (doubling, at most 30 s)")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!log_level.empty()) slotwise::log::SetLevel(*slotwise::log::ParseLevel(log_level));
  constexpr std::string_view kLog = "scheduler";  // as the MQTT server's lines
  mqtt.require_terminal_stamp = !trust_unstamped;
  mqtt.require_operator_stamp = !trust_unstamped;

  options.slot_ms = slot_seconds * 1000;
  // PostgreSQL: wait as a standby until this process holds the lease, then
  // open the store fenced on its epoch (leadership.h, postgres_store.h).
  std::unique_ptr<Leadership> leadership;
  slotwise::Result<std::unique_ptr<Store>> store = slotwise::MakeError(slotwise::v1::INTERNAL, "no store");
  if (IsPostgresUrl(db_path)) {
    PostgresStoreOptions pg;
    pg.accept_empty_store = store_options.accept_empty_store;
    if (auto s = CheckPostgresSlotLength(db_path, pg, options.slot_ms); !s) {
      slotwise::log::Error(kLog) << s.error().message;
      return 1;
    }
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    lease.url = db_path;
    lease.lease = std::chrono::milliseconds(lease_ms);
    auto acquired = Leadership::Acquire(lease, g_stop);
    if (!acquired) return g_stop ? 0 : 1;
    leadership = std::move(*acquired);
    // Not the leader any more: exit before any reply can leave (a supervisor
    // starts it again, as a standby).
    auto lost = [](const std::string&) {
      slotwise::log::Error(kLog) << "not the leader any more: exiting at once (status 3)";
      std::_Exit(3);
    };
    leadership->Hold(lost);
    pg.epoch = leadership->epoch();
    pg.on_fenced = lost;
    store = OpenPostgresStore(db_path, pg);
  } else {
    store = OpenRocksDbStore(db_path, store_options);
  }
  if (!store) {
    slotwise::log::Error(kLog) << store.error().message;
    return 1;
  }
  slotwise::SystemClock clock;
  options.no_show_grace_ms = no_show_grace_s * 1000;
  options.offline_grace_ms = offline_grace_s * 1000;
  options.download_allowance_ms = download_allowance_s * 1000;
  SchedulerService service(**store, clock, options);
  if (auto s = service.Load(); !s) {
    slotwise::log::Error(kLog) << s.error().message;
    return 1;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::unique_ptr<LoadPoller> poller;
  if (poll_ms > 0) {
    poller = std::make_unique<LoadPoller>(std::chrono::milliseconds(poll_ms),
                                          std::chrono::milliseconds(std::min(poll_ms, 2000)));
    mqtt.on_tick = [&service, &poller] {
      // SchedulerService logs each change of a node's health once.
      for (const auto& o : poller->Take()) service.ObserveNodeLoad(o.node_id, o.active_connections, o.error);
      poller->SetTargets(service.StatusUrls());
    };
  }
  mqtt.inbox = std::make_shared<OperatorInbox>();
  mqtt.default_operator_role = *ParseRole(default_role);
  if (!users_file.empty()) {
    auto users = Users::Load(users_file);
    if (!users) {
      slotwise::log::Error(kLog) << users.error().message;
      return 1;
    }
    mqtt.users = std::make_shared<const Users>(std::move(*users));
  }
  std::unique_ptr<HttpServer> http_server;
  if (!http_listen.empty()) {
    const auto colon = http_listen.rfind(':');
    if (colon == std::string::npos) {
      slotwise::log::Error(kLog) << "--http-listen wants HOST:PORT";
      return 1;
    }
    http.host = http_listen.substr(0, colon);
    try {
      http.port = std::stoi(http_listen.substr(colon + 1));
    } catch (const std::exception&) {
      slotwise::log::Error(kLog) << "--http-listen wants HOST:PORT";
      return 1;
    }
    if ((http.tls_cert.empty() || http.tls_key.empty()) && !http_plain) {
      slotwise::log::Error(kLog) << "--http-listen needs --http-tls-cert and --http-tls-key (or --http-insecure)";
      return 1;
    }
    if (!mqtt.users) {
      slotwise::log::Error(kLog) << "--http-listen needs --http-users (nobody could log in)";
      return 1;
    }
    http.users = mqtt.users;
    http.inbox = mqtt.inbox;
    mqtt.metrics = std::make_shared<Metrics>(mqtt.inbox);
    http.metrics = mqtt.metrics;
    http_server = std::make_unique<HttpServer>(http);
    if (auto s = http_server->Start(); !s) {
      slotwise::log::Error(kLog) << s.error().message;
      return 1;
    }
  }
  // Issue 13: the live events (event_feed.h) after each durable batch: on
  // slotwise/v1/op/events/... (operators), on GET /v1/events, and the
  // campaign state changes to the webhooks.
  hooks.first_backoff = std::chrono::milliseconds(webhook_backoff_ms);
  std::unique_ptr<Webhooks> webhooks;
  if (!hooks.urls.empty()) {
    for (const auto& url : hooks.urls) {
      if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
        slotwise::log::Error(kLog) << "--webhook " << url << ": wants an http:// or https:// URL";
        return 1;
      }
    }
    webhooks = std::make_unique<Webhooks>(hooks);
  }
  EventFeed feed;
  mqtt.on_events = [&service, &feed, &http_server, &webhooks](Outbox& out) {
    for (auto& e : feed.Collect(service)) {
      if (http_server) http_server->PublishLive(e.name, e.json, e.campaign_id);
      if (webhooks && e.event.has_campaign_state()) webhooks->Post(e.name, e.json);
      out.push_back(Publication{std::move(e.topic), std::move(e.json), false});
    }
  };
  if (http_server) {
    // Live events (GET /v1/events): after each durable batch that changed
    // something, one "commit" event with the newest audit seq and the
    // campaigns' states, driven by the scheduler's own commits.
    mqtt.on_commit = [&service, &http_server] {
      std::string data = "{\"auditSeq\":" +
                         std::to_string(service.audit().empty() ? 0 : service.audit().back().seq()) + "}";
      http_server->Publish("commit", data);
    };
  }
  MqttServer server(service, mqtt);
  if (auto s = server.Run(g_stop, std::chrono::seconds(connect_timeout_s)); !s) {
    slotwise::log::Error(kLog) << s.error().message;
    return 1;
  }
  if (http_server) http_server->Stop();
  if (leadership) leadership->Release();
  return 0;
}
