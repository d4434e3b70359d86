#include "slotwise/scheduler/http_server.h"

#include <google/protobuf/util/json_util.h>
#include <httplib.h>
#include <openssl/evp.h>

#include <cmath>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <regex>
#include <vector>

#include "slotwise/log.h"

namespace slotwise::scheduler {
namespace {

namespace pb = google::protobuf;
constexpr std::string_view kLog = "http";

std::string ToJson(const pb::Message& m) {
  std::string out;
  pb::util::JsonPrintOptions opts;
  (void)pb::util::MessageToJsonString(m, &out, opts);
  return out;
}

std::string ErrorJson(v1::ErrorCode code, const std::string& message) {
  v1::Error e;
  e.set_code(code);
  e.set_message(message);
  return ToJson(e);
}

int HttpStatusOf(v1::ErrorCode code) {
  switch (code) {
    case v1::MALFORMED:
    case v1::INVALID_ARGUMENT: return 400;
    case v1::UNAUTHENTICATED: return 401;
    case v1::PERMISSION_DENIED: return 403;
    case v1::NOT_FOUND:
    case v1::NOT_IN_CAMPAIGN: return 404;
    case v1::ALREADY_EXISTS:
    case v1::FAILED_PRECONDITION:
    case v1::NO_CAPACITY: return 409;
    default: return 500;
  }
}

void SendError(httplib::Response& res, int status, v1::ErrorCode code, const std::string& message) {
  res.status = status;
  res.set_content(ErrorJson(code, message), "application/json");
}

// The request body (a JSON object in the proto3 JSON mapping) into `m`; an
// empty body leaves `m` empty. Unknown fields are refused.
std::optional<std::string> BodyInto(const httplib::Request& req, pb::Message& m) {
  if (req.body.empty()) return std::nullopt;
  pb::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  const auto s = pb::util::JsonStringToMessage(req.body, &m, opts);
  if (!s.ok()) return "the body is not a " + m.GetDescriptor()->name() + " in JSON: " + std::string(s.message());
  return std::nullopt;
}

// Query parameters into the scalar fields of `m`, by proto or JSON name.
std::optional<std::string> QueryInto(const httplib::Request& req, pb::Message& m) {
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  for (const auto& [name, value] : req.params) {
    const pb::FieldDescriptor* f = d->FindFieldByName(name);
    if (f == nullptr) f = d->FindFieldByCamelcaseName(name);
    if (f == nullptr || f->is_map() || f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      return "unknown query parameter '" + name + "'";
    }
    const std::string bad = "bad value for " + name + ": '" + value + "'";
    try {
      std::size_t used = 0;
      switch (f->cpp_type()) {
        case pb::FieldDescriptor::CPPTYPE_STRING:
          f->is_repeated() ? r->AddString(&m, f, value) : r->SetString(&m, f, value);
          break;
        case pb::FieldDescriptor::CPPTYPE_BOOL:
          if (value != "true" && value != "false") return bad;
          r->SetBool(&m, f, value == "true");
          break;
        case pb::FieldDescriptor::CPPTYPE_UINT32: {
          if (value.empty() || value[0] == '-') return bad;
          const auto v = std::stoull(value, &used);
          if (used != value.size() || v > UINT32_MAX) return bad;
          r->SetUInt32(&m, f, static_cast<std::uint32_t>(v));
          break;
        }
        case pb::FieldDescriptor::CPPTYPE_INT64: {
          const auto v = std::stoll(value, &used);
          if (used != value.size()) return bad;
          r->SetInt64(&m, f, v);
          break;
        }
        case pb::FieldDescriptor::CPPTYPE_DOUBLE: {
          const double v = std::stod(value, &used);
          if (used != value.size() || !std::isfinite(v)) return bad;
          r->SetDouble(&m, f, v);
          break;
        }
        case pb::FieldDescriptor::CPPTYPE_ENUM: {
          const auto* e = f->enum_type()->FindValueByName(value);
          if (e == nullptr) return bad + " (expected one of the " + f->enum_type()->name() + " names)";
          f->is_repeated() ? r->AddEnum(&m, f, e) : r->SetEnum(&m, f, e);
          break;
        }
        default:
          return "unsupported query parameter '" + name + "'";
      }
    } catch (const std::exception&) {
      return bad;
    }
  }
  return std::nullopt;
}

using Builder = std::function<std::optional<std::string>(const httplib::Request&, const std::smatch&,
                                                         v1::OperatorRequest&)>;

struct Route {
  std::string method;
  std::string path;  // as in the OpenAPI document: /v1/campaigns/{id}
  std::regex re;
  Builder build;
  bool events = false;  // the SSE stream
};

std::regex PathRegex(const std::string& path) {
  return std::regex("^" + std::regex_replace(path, std::regex("\\{[a-z_]+\\}"), "([A-Za-z0-9._-]{1,64})") + "$");
}

// A reading command: its query parameters into the command's message.
template <class Mutable>
Builder Query(Mutable mutable_cmd) {
  return [mutable_cmd](const httplib::Request& req, const std::smatch&, v1::OperatorRequest& op) {
    return QueryInto(req, *(op.*mutable_cmd)());
  };
}

// A command on a campaign: its body (or query) plus campaign_id from the path.
template <class Mutable>
Builder OnCampaign(Mutable mutable_cmd, bool body) {
  return [mutable_cmd, body](const httplib::Request& req, const std::smatch& m,
                             v1::OperatorRequest& op) -> std::optional<std::string> {
    auto* cmd = (op.*mutable_cmd)();
    if (body) {
      if (!req.params.empty()) return std::string("this resource takes no query parameters");
      if (auto e = BodyInto(req, *cmd)) return e;
    } else if (auto e = QueryInto(req, *cmd)) {
      return e;
    }
    const auto* f = cmd->GetDescriptor()->FindFieldByName("campaign_id");
    const auto* r = cmd->GetReflection();
    const std::string given = r->GetString(*cmd, f);
    if (!given.empty() && given != m[1].str()) return "campaignId in the body is not the campaign of the path";
    r->SetString(cmd, f, m[1].str());
    return std::nullopt;
  };
}

// A command whose whole message is the body.
template <class Mutable>
Builder Body(Mutable mutable_cmd) {
  return [mutable_cmd](const httplib::Request& req, const std::smatch&,
                       v1::OperatorRequest& op) -> std::optional<std::string> {
    if (!req.params.empty()) return std::string("this resource takes no query parameters");
    if (req.body.empty()) return std::string("this resource needs a JSON body");
    return BodyInto(req, *(op.*mutable_cmd)());
  };
}

// The message of a reply body (or the error) as JSON, and its HTTP status.
std::pair<int, std::string> Render(const v1::OperatorReply& reply) {
  if (reply.has_error()) return {HttpStatusOf(reply.error().code()), ToJson(reply.error())};
  const auto* d = v1::OperatorReply::descriptor();
  const auto* f = d->FindFieldByNumber(static_cast<int>(reply.body_case()));
  if (f == nullptr) return {500, ErrorJson(v1::INTERNAL, "the scheduler gave no answer")};
  return {200, ToJson(reply.GetReflection()->GetMessage(reply, f))};
}

std::optional<std::pair<std::string, std::string>> BasicCredentials(const httplib::Request& req) {
  const auto h = req.get_header_value("Authorization");
  if (h.rfind("Basic ", 0) != 0) return std::nullopt;
  const std::string b64 = h.substr(6);
  if (b64.empty() || b64.size() % 4 != 0 || b64.size() > 4096) return std::nullopt;
  std::string decoded(b64.size() / 4 * 3 + 1, '\0');
  const int len = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                                  reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  if (len < 0) return std::nullopt;
  std::size_t n = static_cast<std::size_t>(len);
  for (std::size_t i = b64.size(); i > 0 && b64[i - 1] == '='; --i) --n;
  decoded.resize(n);
  const auto colon = decoded.find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::pair{decoded.substr(0, colon), decoded.substr(colon + 1)};
}

}  // namespace

struct HttpServer::Impl {
  std::unique_ptr<httplib::Server> server;
  std::vector<Route> routes;
  // Live events: a sequence and the latest events, for the streams.
  std::mutex mu;
  std::condition_variable cv;
  std::uint64_t seq = 0;
  // Each formatted SSE event with its seq and what the filters look at.
  struct Held {
    std::uint64_t seq;
    std::string text;
    std::string campaign_id;  // "" = not a campaign's
    bool node = false;        // a node event
    bool live = false;        // a typed live event (else "commit")
  };
  std::deque<Held> events;
  std::atomic<bool> stopping{false};
};

HttpServer::HttpServer(HttpOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  using O = v1::OperatorRequest;
  auto& routes = impl_->routes;
  auto add = [&routes](std::string method, std::string path, Builder b) {
    routes.push_back(Route{std::move(method), path, PathRegex(path), std::move(b)});
  };
  add("GET", "/v1/clusters", Query(&O::mutable_list_clusters));
  add("POST", "/v1/clusters", [](const httplib::Request& req, const std::smatch&, O& op) {
    if (req.body.empty()) return std::optional<std::string>("this resource needs a JSON body (a Cluster)");
    return BodyInto(req, *op.mutable_add_cluster()->mutable_cluster());
  });
  add("GET", "/v1/nodes", Query(&O::mutable_list_nodes));
  add("POST", "/v1/nodes", [](const httplib::Request& req, const std::smatch&, O& op) {
    if (req.body.empty()) return std::optional<std::string>("this resource needs a JSON body (a Node)");
    return BodyInto(req, *op.mutable_add_node()->mutable_node());
  });
  add("PUT", "/v1/nodes/{id}/state",
      [](const httplib::Request& req, const std::smatch& m, O& op) -> std::optional<std::string> {
        auto* cmd = op.mutable_set_node_state();
        if (req.body.empty()) return std::string("this resource needs a JSON body {\"state\": ...}");
        if (auto e = BodyInto(req, *cmd)) return e;
        if (!cmd->node_id().empty() && cmd->node_id() != m[1].str()) return std::string("nodeId is not the path's");
        cmd->set_node_id(m[1].str());
        return std::nullopt;
      });
  add("GET", "/v1/versions", Query(&O::mutable_list_artifacts));
  add("POST", "/v1/versions", [](const httplib::Request& req, const std::smatch&, O& op) {
    if (req.body.empty()) return std::optional<std::string>("this resource needs a JSON body (an Artifact)");
    return BodyInto(req, *op.mutable_add_artifact()->mutable_artifact());
  });
  add("GET", "/v1/campaigns", Query(&O::mutable_list_campaigns));
  add("POST", "/v1/campaigns", Body(&O::mutable_create_campaign));
  add("GET", "/v1/campaigns/{id}", OnCampaign(&O::mutable_get_campaign, false));
  add("GET", "/v1/campaigns/{id}/summary", OnCampaign(&O::mutable_get_campaign_summary, false));
  add("GET", "/v1/campaigns/{id}/windows", OnCampaign(&O::mutable_query_windows, false));
  add("POST", "/v1/campaigns/{id}/schedule", OnCampaign(&O::mutable_schedule_campaign, true));
  add("POST", "/v1/campaigns/{id}/pause", OnCampaign(&O::mutable_pause_campaign, true));
  add("POST", "/v1/campaigns/{id}/resume", OnCampaign(&O::mutable_resume_campaign, true));
  add("POST", "/v1/campaigns/{id}/cancel", OnCampaign(&O::mutable_cancel_campaign, true));
  add("GET", "/v1/campaigns/{id}/terminals", OnCampaign(&O::mutable_list_campaign_terminals, false));
  add("POST", "/v1/campaigns/{id}/terminals", OnCampaign(&O::mutable_add_terminals, true));
  add("POST", "/v1/campaigns/{id}/terminals/remove", OnCampaign(&O::mutable_remove_terminals, true));
  add("GET", "/v1/terminals", Query(&O::mutable_list_terminals));
  // Issue 13, the console's aggregates.
  add("GET", "/v1/capacity", Query(&O::mutable_get_capacity));
  add("GET", "/v1/campaigns/{id}/window-load", OnCampaign(&O::mutable_query_window_load, false));
  add("GET", "/v1/campaigns/{id}/downloads", OnCampaign(&O::mutable_get_campaign_downloads, false));
  add("GET", "/v1/audit", Query(&O::mutable_list_audit));
  routes.push_back(Route{"GET", "/v1/events", PathRegex("/v1/events"), nullptr, true});
  routes.push_back(Route{"GET", "/v1", PathRegex("/v1"), nullptr, false});
  if (options_.metrics) routes.push_back(Route{"GET", "/metrics", PathRegex("/metrics"), nullptr, false});
}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  if (!options_.tls_cert.empty() || !options_.tls_key.empty()) {
    auto ssl = std::make_unique<httplib::SSLServer>(options_.tls_cert.c_str(), options_.tls_key.c_str());
    if (!ssl->is_valid()) {
      return MakeError(v1::INVALID_ARGUMENT, "cannot use the TLS certificate " + options_.tls_cert + " and key " +
                                                 options_.tls_key);
    }
    impl_->server = std::move(ssl);
  } else {
    impl_->server = std::make_unique<httplib::Server>();
  }
  auto& server = *impl_->server;
  // Streams hold a worker each: room for many beside the requests.
  server.new_task_queue = [] { return new httplib::ThreadPool(32); };
  server.set_payload_max_length(64 * 1024 * 1024);
  Impl* impl = impl_.get();
  const HttpOptions opts = options_;
  auto handle = [impl, opts](const httplib::Request& req, httplib::Response& res) {
    const Route* path_match = nullptr;
    const Route* route = nullptr;
    std::smatch m;
    std::string allow;
    for (const auto& r : impl->routes) {
      std::smatch mm;
      if (!std::regex_match(req.path, mm, r.re)) continue;
      path_match = &r;
      allow += (allow.empty() ? "" : ", ") + r.method;
      if (r.method == req.method && route == nullptr) {
        route = &r;
        m = mm;
      }
    }
    if (path_match == nullptr) return SendError(res, 404, v1::NOT_FOUND, "no resource " + req.path);
    if (route == nullptr) {
      res.set_header("Allow", allow);
      return SendError(res, 405, v1::INVALID_ARGUMENT, req.method + " is not allowed on " + req.path + " (" + allow + ")");
    }
    auto scrape = [&] {
      res.set_header("Cache-Control", "no-store");
      res.set_content(opts.metrics->Render(), "text/plain; version=0.0.4; charset=utf-8");
    };
    if (route->path == "/metrics" && opts.metrics_open) return scrape();
    const auto creds = BasicCredentials(req);
    std::optional<Role> role;
    if (creds && opts.users) role = opts.users->Authenticate(creds->first, creds->second);
    if (!role) {
      // Not to the web console (X-Requested-With): a browser answers the
      // challenge with its own login dialog, over the console's login form.
      if (!req.has_header("X-Requested-With")) res.set_header("WWW-Authenticate", "Basic realm=\"slotwise\"");
      return SendError(res, 401, v1::UNAUTHENTICATED,
                       creds ? "unknown user or wrong password" : "credentials needed (HTTP Basic)");
    }
    if (route->path == "/metrics") return scrape();  // any role may read it
    if (route->path == "/v1") {
      std::string out = "{\"routes\":[";
      for (std::size_t i = 0; i < impl->routes.size(); ++i) {
        out += (i ? "," : "") + std::string("{\"method\":\"") + impl->routes[i].method + "\",\"path\":\"" +
               impl->routes[i].path + "\"}";
      }
      // Who is asking, so the console shows only the commands the role allows.
      std::string who;
      for (const char c : creds->first) {
        if (c == '"' || c == '\\') who += '\\';
        if (static_cast<unsigned char>(c) >= 0x20) who += c;
      }
      out += "],\"user\":\"" + who + "\",\"role\":\"" + std::string(RoleName(*role)) + "\"}";
      res.set_content(out, "application/json");
      return;
    }
    if (route->events) {
      std::uint64_t from;
      std::string resume = req.get_header_value("Last-Event-ID");
      if (resume.empty() && req.has_param("last_event_id")) resume = req.get_param_value("last_event_id");
      {
        std::lock_guard lock(impl->mu);
        from = impl->seq;
        if (!resume.empty()) {
          try {
            from = std::min<std::uint64_t>(from, std::stoull(resume));
          } catch (const std::exception&) {
            return SendError(res, 400, v1::MALFORMED, "Last-Event-ID is not a number");
          }
        }
      }
      std::string campaign = req.has_param("campaign") ? req.get_param_value("campaign") : "";
      if (campaign.empty() && req.has_param("campaign_id")) campaign = req.get_param_value("campaign_id");
      const bool nodes_only = req.has_param("topics") && req.get_param_value("topics") == "nodes";
      auto wanted = [campaign, nodes_only](const Impl::Held& e) {
        if (!e.live) return true;
        if (!campaign.empty()) return e.campaign_id == campaign;
        if (nodes_only) return e.node;
        return true;
      };
      res.set_header("Cache-Control", "no-cache");
      res.set_chunked_content_provider("text/event-stream", [impl, from, wanted](std::size_t, httplib::DataSink& sink) mutable {
        std::vector<std::string> send;
        {
          std::unique_lock lock(impl->mu);
          impl->cv.wait_for(lock, std::chrono::seconds(15),
                            [&] { return impl->stopping.load() || impl->seq > from; });
          if (impl->stopping) return false;
          for (const auto& e : impl->events) {
            if (e.seq > from && wanted(e)) send.push_back(e.text);
          }
          from = impl->seq;
        }
        if (send.empty()) send.push_back(": keep-alive\n\n");
        for (const auto& text : send) {
          if (!sink.write(text.data(), text.size())) return false;
        }
        return true;
      });
      return;
    }
    v1::OperatorRequest op;
    if (auto bad = route->build(req, m, op)) return SendError(res, 400, v1::MALFORMED, *bad);
    auto promise = std::make_shared<std::promise<v1::OperatorReply>>();
    auto future = promise->get_future();
    OperatorJob job;
    job.caller = Caller{creds->first, "http", *role};
    job.request = std::move(op);
    job.done = [promise](const v1::OperatorReply& reply) { promise->set_value(reply); };
    opts.inbox->Push(std::move(job));
    if (future.wait_for(opts.timeout) != std::future_status::ready) {
      return SendError(res, 503, v1::INTERNAL, "the scheduler did not answer in time");
    }
    const auto [status, body] = Render(future.get());
    res.status = status;
    res.set_content(body, "application/json");
  };
  // The console's files: httplib answers a GET of an existing file under the
  // mount before any handler, so /v1 and everything else still reach `handle`.
  // The browser may keep them 5 minutes (echarts is 1 MB): a reload of the
  // console costs its API requests only.
  if (!options_.console_dir.empty() &&
      !server.set_mount_point("/", options_.console_dir, {{"Cache-Control", "max-age=300"}})) {
    return MakeError(v1::INVALID_ARGUMENT, "--console-dir " + options_.console_dir + " is not a directory");
  }
  for (const char* method : {"GET", "POST", "PUT", "DELETE", "PATCH"}) {
    const std::string pattern = ".*";
    if (std::string_view(method) == "GET") server.Get(pattern, handle);
    if (std::string_view(method) == "POST") server.Post(pattern, handle);
    if (std::string_view(method) == "PUT") server.Put(pattern, handle);
    if (std::string_view(method) == "DELETE") server.Delete(pattern, handle);
    if (std::string_view(method) == "PATCH") server.Patch(pattern, handle);
  }
  if (options_.metrics) {
    server.set_logger([metrics = options_.metrics](const httplib::Request&, const httplib::Response& res) {
      metrics->ObserveHttp(res.status);
    });
  }
  if (options_.port == 0) {
    port_ = server.bind_to_any_port(options_.host.c_str());
    if (port_ < 0) return MakeError(v1::INTERNAL, "cannot listen on " + options_.host);
  } else {
    if (!server.bind_to_port(options_.host.c_str(), options_.port)) {
      return MakeError(v1::INTERNAL, "cannot listen on " + options_.host + ":" + std::to_string(options_.port));
    }
    port_ = options_.port;
  }
  thread_ = std::thread([&server] { server.listen_after_bind(); });
  log::Info(kLog) << "HTTP API on " << (options_.tls_cert.empty() ? "http" : "https") << "://" << options_.host << ":"
                  << port_ << "/v1";
  return OkStatus();
}

void HttpServer::Stop() {
  impl_->stopping = true;
  impl_->cv.notify_all();
  if (impl_->server) impl_->server->stop();
  if (thread_.joinable()) thread_.join();
}

void HttpServer::Publish(const std::string& event, const std::string& data) {
  {
    std::lock_guard lock(impl_->mu);
    ++impl_->seq;
    impl_->events.push_back(Impl::Held{impl_->seq, "event: " + event + "\ndata: " + data + "\n\n", "", false, false});
    while (impl_->events.size() > 1024) impl_->events.pop_front();
  }
  impl_->cv.notify_all();
}

void HttpServer::PublishLive(const std::string& event, const std::string& data, const std::string& campaign_id) {
  {
    std::lock_guard lock(impl_->mu);
    const std::uint64_t seq = ++impl_->seq;
    impl_->events.push_back(Impl::Held{seq,
                                       "id: " + std::to_string(seq) + "\nevent: " + event + "\ndata: " + data + "\n\n",
                                       campaign_id, campaign_id.empty(), true});
    while (impl_->events.size() > 1024) impl_->events.pop_front();
  }
  impl_->cv.notify_all();
}

}  // namespace slotwise::scheduler
