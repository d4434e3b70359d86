// slotwise::mqtt::Client over mqtt::async_client. Every Paho call is inside
// a try block here; what leaves this file is a Result, a Status or a value.
#include <mqtt/async_client.h>

#include <mutex>
#include <utility>

#include "slotwise/mqtt/client.h"
#include "slotwise/mqtt/paho.h"

namespace slotwise::mqtt {
namespace {

// MQTT v5 CONNACK reason codes for refused credentials.
constexpr int kBadUserNameOrPassword = 0x86;  // 134
constexpr int kNotAuthorized = 0x87;          // 135
constexpr int kFirstFailureReason = 0x80;

std::string Describe(int return_code, int reason_code) {
  return ::mqtt::exception::printable_error(return_code, reason_code);
}

// A failed CONNECT as an Error: UNAUTHENTICATED for refused credentials,
// INTERNAL otherwise, with a hint for what a TLS failure usually means.
Error ConnectError(const std::string& uri, int return_code, int reason_code, const std::string& what) {
  // Paho C++ 1.2.0 puts a v5 CONNACK refusal in the return code, not the
  // reason code; accept either.
  for (const int code : {return_code, reason_code}) {
    if (code == kBadUserNameOrPassword || code == kNotAuthorized) {
      return MakeError(v1::UNAUTHENTICATED, "the broker at " + uri + " refused the credentials (MQTT reason " +
                                                std::to_string(code) + ": " +
                                                ::mqtt::exception::reason_code_str(code) + ")");
    }
  }
  std::string message = "cannot connect to " + uri + ": " + what;
  // Negative return codes are Paho's own (no CONNACK): over TLS, usually the
  // handshake.
  if (IsTlsUri(uri) && return_code < 0 && reason_code < kFirstFailureReason) {
    message += " (TLS: is the CA file the one that signed the broker's certificate, and does the "
               "certificate name this host? does the broker require a client certificate?)";
  }
  return MakeError(v1::INTERNAL, std::move(message));
}

// The first refused filter of a SUBACK, or "" when all were granted.
std::string RefusedFilter(const ::mqtt::token& tok, const std::vector<std::string>& filters) {
  try {
    const auto codes = tok.get_subscribe_response().get_reason_codes();
    for (std::size_t i = 0; i < codes.size(); ++i) {
      if (static_cast<int>(codes[i]) >= kFirstFailureReason) {
        return (i < filters.size() ? filters[i] : std::string("a filter")) + " (reason " +
               std::to_string(static_cast<int>(codes[i])) + ": " +
               ::mqtt::exception::reason_code_str(codes[i]) + ")";
      }
    }
  } catch (const std::exception&) {
    // No SUBACK data (single filter): the token's own reason code says it.
  }
  const int rc = static_cast<int>(tok.get_reason_code());
  if (rc >= kFirstFailureReason) {
    return (filters.empty() ? std::string("a filter") : filters.front()) + " (reason " + std::to_string(rc) +
           ": " + ::mqtt::exception::reason_code_str(rc) + ")";
  }
  return {};
}

// Runs a std::function on a token's completion (Paho's callback thread).
class Listener final : public ::mqtt::iaction_listener {
 public:
  using Fn = std::function<void(const ::mqtt::token&, bool ok)>;
  explicit Listener(Fn fn) : fn_(std::move(fn)) {}
  void on_success(const ::mqtt::token& tok) override { fn_(tok, true); }
  void on_failure(const ::mqtt::token& tok) override { fn_(tok, false); }

 private:
  Fn fn_;
};

void InitPahoOnce() {
  // OpenSSL 3 initialises itself on first use; Paho's own eager init (error
  // strings, locks) would make every client (thousands of agents in one
  // fleet process) pay for TLS it may never use. Paho reads this flag at its
  // first client creation only.
  static std::once_flag once;
  std::call_once(once, [] {
    MQTTAsync_init_options init = MQTTAsync_init_options_initializer;
    init.do_openssl_init = 0;
    MQTTAsync_global_init(&init);
  });
}

}  // namespace

struct Client::Impl {
  Impl(ClientConfig c, std::unique_ptr<::mqtt::async_client> p) : config(std::move(c)), paho(std::move(p)) {}

  ClientConfig config;
  std::unique_ptr<::mqtt::async_client> paho;
  // The object Paho reads at connect(): filled in place (paho.h).
  ::mqtt::connect_options connect_opts;

  // Guards the handlers: the destructor clears them under it, so no handler
  // is still running once ~Client returns. Recursive: a handler may call
  // this client's non-blocking methods (e.g. SubscribeAsync on connect).
  std::recursive_mutex mu;
  Handlers handlers;
  std::function<void(Result<Connected>)> connect_done;
  std::vector<std::string> subscribe_filters;
  std::function<void(Status)> subscribe_done;

  std::unique_ptr<Listener> connect_listener;
  std::unique_ptr<Listener> subscribe_listener;

  template <class Fn>
  void WithHandlers(Fn&& fn) {
    std::lock_guard lock(mu);
    fn(*this);
  }
};

Result<std::unique_ptr<Client>> Client::Create(const ClientConfig& config) {
  InitPahoOnce();
  try {
    auto opts = config.max_buffered > 0 ? ::mqtt::create_options(MQTTVERSION_5, config.max_buffered)
                                        : ::mqtt::create_options(MQTTVERSION_5);
    // nullptr persistence = none: no files in the working directory.
    auto paho = std::make_unique<::mqtt::async_client>(config.server_uri, config.client_id, opts, nullptr);
    auto impl = std::make_unique<Impl>(config, std::move(paho));
    Impl* i = impl.get();
    i->connect_listener = std::make_unique<Listener>([i](const ::mqtt::token& tok, bool ok) {
      Result<Connected> result = Connected{};
      if (ok) {
        try {
          result = Connected{tok.get_connect_response().is_session_present()};
        } catch (const std::exception&) {
          // No CONNACK data: report a fresh session (costs a redundant SUBSCRIBE).
        }
      } else {
        const int reason = static_cast<int>(tok.get_reason_code());
        result = ConnectError(i->config.server_uri, tok.get_return_code(), reason,
                              Describe(tok.get_return_code(), reason));
      }
      i->WithHandlers([&](Impl& s) {
        if (s.connect_done) s.connect_done(std::move(result));
      });
    });
    i->subscribe_listener = std::make_unique<Listener>([i](const ::mqtt::token& tok, bool ok) {
      i->WithHandlers([&](Impl& s) {
        if (!s.subscribe_done) return;
        if (!ok) {
          s.subscribe_done(MakeError(v1::INTERNAL, "subscribe failed: " + Describe(tok.get_return_code(),
                                                                                  static_cast<int>(tok.get_reason_code()))));
          return;
        }
        // With several filters Paho reports a refused one (e.g. 0x87 from
        // the broker's ACL) as a success carrying a failure reason code.
        const std::string refused = RefusedFilter(tok, s.subscribe_filters);
        s.subscribe_done(refused.empty() ? OkStatus()
                                         : Status(MakeError(v1::INTERNAL, "the broker refused the subscription to " + refused)));
      });
    });
    if (!config.consume) {
      i->paho->set_message_callback([i](::mqtt::const_message_ptr msg) {
        if (!msg) return;
        Message m = FromPaho(*msg);
        i->WithHandlers([&](Impl& s) {
          if (s.handlers.on_message) s.handlers.on_message(std::move(m));
        });
      });
    }
    i->paho->set_connected_handler([i](const std::string&) {
      i->WithHandlers([](Impl& s) {
        if (s.handlers.on_connected) s.handlers.on_connected();
      });
    });
    i->paho->set_connection_lost_handler([i](const std::string& cause) {
      i->WithHandlers([&](Impl& s) {
        if (s.handlers.on_connection_lost) s.handlers.on_connection_lost(cause);
      });
    });
    // A DISCONNECT from the broker (e.g. a session taken over by another
    // client with the same id) does not also fire connection-lost in Paho.
    i->paho->set_disconnected_handler([i](const ::mqtt::properties&, ::mqtt::ReasonCode reason) {
      i->WithHandlers([&](Impl& s) {
        if (s.handlers.on_disconnected) s.handlers.on_disconnected(::mqtt::exception::reason_code_str(reason));
      });
    });
    if (config.consume) i->paho->start_consuming();
    return std::unique_ptr<Client>(new Client(std::move(impl)));
  } catch (const std::exception& e) {
    return MakeError(v1::INVALID_ARGUMENT, "cannot create an MQTT client for " + config.server_uri + ": " + e.what());
  }
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->handlers = {};
    impl_->connect_done = nullptr;
    impl_->subscribe_done = nullptr;
  }
  Disconnect(std::chrono::seconds(1));
  // Paho first: its callbacks point at the listeners and the handlers.
  impl_->paho.reset();
}

void Client::SetHandlers(Handlers handlers) {
  std::lock_guard lock(impl_->mu);
  impl_->handlers = std::move(handlers);
}

Result<Connected> Client::Connect(const ConnectOptions& options, std::chrono::milliseconds wait) {
  const std::string& uri = impl_->config.server_uri;
  try {
    FillConnectOptions(uri, options, impl_->connect_opts);
    auto tok = impl_->paho->connect(impl_->connect_opts);
    if (!tok->wait_for(wait)) {
      return MakeError(v1::INTERNAL, "no answer from the broker at " + uri + " within " +
                                         std::to_string(wait.count()) + " ms");
    }
    try {
      return Connected{tok->get_connect_response().is_session_present()};
    } catch (const std::exception&) {
      return Connected{};
    }
  } catch (const ::mqtt::exception& e) {
    return ConnectError(uri, e.get_return_code(), static_cast<int>(e.get_reason_code()), e.what());
  } catch (const std::exception& e) {
    return ConnectError(uri, -1, 0, e.what());
  }
}

Status Client::ConnectAsync(const ConnectOptions& options, std::function<void(Result<Connected>)> done) {
  try {
    {
      std::lock_guard lock(impl_->mu);
      impl_->connect_done = std::move(done);
    }
    FillConnectOptions(impl_->config.server_uri, options, impl_->connect_opts);
    impl_->paho->connect(impl_->connect_opts, nullptr, *impl_->connect_listener);
    return OkStatus();
  } catch (const std::exception& e) {
    return MakeError(v1::INTERNAL, std::string("cannot start MQTT connect: ") + e.what());
  }
}

Status Client::Subscribe(const std::vector<std::string>& filters, int qos, std::chrono::milliseconds wait) {
  if (filters.empty()) return OkStatus();
  try {
    ::mqtt::token_ptr tok;
    if (filters.size() == 1) {
      tok = impl_->paho->subscribe(filters.front(), qos);
    } else {
      tok = impl_->paho->subscribe(::mqtt::string_collection::create(filters),
                                   ::mqtt::iasync_client::qos_collection(filters.size(), qos));
    }
    if (!tok->wait_for(wait)) return MakeError(v1::INTERNAL, "the broker did not confirm the subscription");
    if (const std::string refused = RefusedFilter(*tok, filters); !refused.empty()) {
      return MakeError(v1::INTERNAL, "the broker refused the subscription to " + refused);
    }
    return OkStatus();
  } catch (const ::mqtt::exception& e) {
    const int rc = static_cast<int>(e.get_reason_code());
    if (rc >= kFirstFailureReason) {
      return MakeError(v1::INTERNAL, "the broker refused the subscription to " + filters.front() + " (reason " +
                                         std::to_string(rc) + ": " + ::mqtt::exception::reason_code_str(rc) + ")");
    }
    return MakeError(v1::INTERNAL, std::string("subscribe failed: ") + e.what());
  } catch (const std::exception& e) {
    return MakeError(v1::INTERNAL, std::string("subscribe failed: ") + e.what());
  }
}

Status Client::SubscribeAsync(const std::vector<std::string>& filters, int qos, std::function<void(Status)> done) {
  if (filters.empty()) return OkStatus();
  try {
    {
      std::lock_guard lock(impl_->mu);
      impl_->subscribe_filters = filters;
      impl_->subscribe_done = std::move(done);
    }
    impl_->paho->subscribe(::mqtt::string_collection::create(filters),
                           ::mqtt::iasync_client::qos_collection(filters.size(), qos), nullptr,
                           *impl_->subscribe_listener);
    return OkStatus();
  } catch (const std::exception& e) {
    return MakeError(v1::INTERNAL, std::string("cannot subscribe: ") + e.what());
  }
}

PublishResult Client::Publish(const Message& message) {
  try {
    impl_->paho->publish(ToPaho(message));  // the delivery token is not waited on
    return {};
  } catch (const ::mqtt::exception& e) {
    const int rc = e.get_return_code();
    if (rc == MQTTASYNC_MAX_BUFFERED_MESSAGES || rc == MQTTASYNC_DISCONNECTED || !impl_->paho->is_connected()) {
      return {PublishStatus::kBusy, e.what()};
    }
    return {PublishStatus::kFailed, e.what()};
  } catch (const std::exception& e) {
    return {PublishStatus::kFailed, e.what()};
  }
}

std::size_t Client::PendingDeliveries() const {
  try {
    return impl_->paho->get_pending_delivery_tokens().size();
  } catch (const std::exception&) {
    return 0;
  }
}

Status Client::PublishAndWait(const Message& message, std::chrono::milliseconds wait) {
  try {
    if (!impl_->paho->publish(ToPaho(message))->wait_for(wait)) {
      return MakeError(v1::INTERNAL, "the broker did not take the message on " + message.topic);
    }
    return OkStatus();
  } catch (const std::exception& e) {
    return MakeError(v1::INTERNAL, std::string("cannot publish on ") + message.topic + ": " + e.what());
  }
}

std::optional<Message> Client::Consume(std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  try {
    ::mqtt::const_message_ptr msg;
    // Paho queues a null message when the connection is lost: skip it.
    while (impl_->paho->try_consume_message_until(&msg, deadline)) {
      if (msg) return FromPaho(*msg);
    }
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::optional<Message> Client::TryConsume() {
  try {
    ::mqtt::const_message_ptr msg;
    while (impl_->paho->try_consume_message(&msg)) {
      if (msg) return FromPaho(*msg);
    }
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

bool Client::IsConnected() const {
  try {
    return impl_->paho->is_connected();
  } catch (const std::exception&) {
    return false;
  }
}

void Client::Disconnect(std::chrono::milliseconds wait) {
  try {
    if (impl_->paho->is_connected()) impl_->paho->disconnect()->wait_for(wait);
  } catch (const std::exception&) {
    // Already gone; the broker keeps or drops the session either way.
  }
}

void Client::DisconnectAsync() {
  try {
    impl_->paho->disconnect();  // asynchronous: nothing waits here
  } catch (const std::exception&) {
  }
}

}  // namespace slotwise::mqtt
