// The plugin's entry points (mosquitto plugin API version 5): negotiate the
// version, parse plugin_opt_* once, load the password file, register one
// callback per concern, and
// undo it all at cleanup. No policy lives here.
// mosquitto calls these on its main thread, once each per load.
#include <exception>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <google/protobuf/stubs/logging.h>

#include "mosquitto_api.h"
#include "plugin_context.h"

namespace {

using slotwise::broker::PluginContext;

struct Registration {
  int event;
  MOSQ_FUNC_generic_callback callback;
};

constexpr Registration kCallbacks[] = {
    {MOSQ_EVT_BASIC_AUTH, slotwise::broker::OnBasicAuth},
    {MOSQ_EVT_ACL_CHECK, slotwise::broker::OnAclCheck},
    {MOSQ_EVT_DISCONNECT, slotwise::broker::OnDisconnect},
    {MOSQ_EVT_RELOAD, slotwise::broker::OnReload},
    {MOSQ_EVT_TICK, slotwise::broker::OnTick},
    {MOSQ_EVT_MESSAGE, slotwise::broker::OnMessage},
};

void UnregisterFirst(const PluginContext& ctx, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    mosquitto_callback_unregister(ctx.plugin_id, kCallbacks[i].event, kCallbacks[i].callback,
                                  nullptr);
  }
}

std::string JoinNames(const std::set<std::string, std::less<>>& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += ',';
    out += name;
  }
  return out.empty() ? "(none)" : out;
}

}  // namespace

#define SLOTWISE_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))

SLOTWISE_PLUGIN_EXPORT int mosquitto_plugin_version(int supported_version_count,
                                                    const int* supported_versions) {
  for (int i = 0; i < supported_version_count; ++i) {
    if (supported_versions[i] == 5) return 5;
  }
  return -1;
}

SLOTWISE_PLUGIN_EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t* identifier,
                                                 void** userdata, struct mosquitto_opt* options,
                                                 int option_count) {
  try {
    std::vector<slotwise::broker::Option> opts;
    for (int i = 0; i < option_count; ++i) {
      opts.push_back({options[i].key ? options[i].key : "",
                      options[i].value ? options[i].value : ""});
    }
    auto config = slotwise::broker::ParseConfig(opts);
    if (!config) {
      mosquitto_log_printf(MOSQ_LOG_ERR, "slotwise: plugin init failed: %s",
                           config.error().message.c_str());
      return MOSQ_ERR_INVAL;
    }

    auto passwords = slotwise::broker::PasswordFile::Load(config->password_file);
    if (!passwords) {
      mosquitto_log_printf(MOSQ_LOG_ERR, "slotwise: plugin init failed: %s",
                           passwords.error().message.c_str());
      return MOSQ_ERR_INVAL;
    }
    // A client can make protobuf log (e.g. invalid UTF-8 in a string field);
    // those messages are dropped and counted, they must not flood the log.
    google::protobuf::SetLogHandler(nullptr);

    auto ctx = std::make_unique<PluginContext>();
    ctx->plugin_id = identifier;
    ctx->config = std::move(*config);
    ctx->passwords = std::move(*passwords);
    ctx->limiter = slotwise::broker::RateLimiter(slotwise::broker::RateLimitOptions{
        ctx->config.rate_per_second, ctx->config.rate_burst,
        ctx->config.flood_disconnect_after, ctx->config.flood_window_ms});
    for (std::size_t i = 0; i < std::size(kCallbacks); ++i) {
      const int rc = mosquitto_callback_register(identifier, kCallbacks[i].event,
                                                 kCallbacks[i].callback, nullptr, ctx.get());
      if (rc != MOSQ_ERR_SUCCESS) {
        mosquitto_log_printf(MOSQ_LOG_ERR,
                             "slotwise: plugin init failed: cannot register event %d: %s",
                             kCallbacks[i].event, mosquitto_strerror(rc));
        UnregisterFirst(*ctx, i);
        return rc;
      }
    }
    mosquitto_log_printf(
        MOSQ_LOG_INFO,
        "slotwise: plugin ready (services: %s; operators: %s; %zu passwords; terminal_auth %s; "
        "rate %g/s burst %u)",
        JoinNames(ctx->config.services).c_str(), JoinNames(ctx->config.operators).c_str(),
        ctx->passwords.size(),
        std::string(slotwise::broker::TerminalAuthName(ctx->config.terminal_auth)).c_str(),
        ctx->config.rate_per_second, ctx->config.rate_burst);
    *userdata = ctx.release();
    return MOSQ_ERR_SUCCESS;
  } catch (const std::exception& e) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "slotwise: plugin init failed: %s", e.what());
  } catch (...) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "slotwise: plugin init failed");
  }
  return MOSQ_ERR_UNKNOWN;
}

SLOTWISE_PLUGIN_EXPORT int mosquitto_plugin_cleanup(void* userdata,
                                                    struct mosquitto_opt* /*options*/,
                                                    int /*option_count*/) {
  std::unique_ptr<PluginContext> ctx(static_cast<PluginContext*>(userdata));
  if (ctx) UnregisterFirst(*ctx, std::size(kCallbacks));
  slotwise::broker::UnwatchStopSignals();
  return MOSQ_ERR_SUCCESS;
}
