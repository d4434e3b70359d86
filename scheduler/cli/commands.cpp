#include "commands.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>

#include "command_support.h"
#include "slotwise/build_info.h"
#include "slotwise/log.h"

namespace slotwise::cli {

int RunCli(int argc, char** argv) {
  CLI::App app{"slotwise: operate Slotwise upgrade campaigns"};
  app.set_version_flag("--version", VersionLine("slotwise"));
  app.require_subcommand(1);
  Globals g;
  if (const char* broker = std::getenv("SLOTWISE_BROKER")) g.client.broker = broker;
  app.add_option("--broker", g.client.broker, "MQTT broker URL, tcp:// or ssl:// / mqtts:// (env SLOTWISE_BROKER)")
      ->capture_default_str();
  app.add_option("--username", g.client.username, "operator username")->capture_default_str();
  app.add_option("--password", g.client.password, "operator password")->envname("SLOTWISE_PASSWORD");
  // TLS: the broker's certificate chain and host name are verified against
  // --cafile (else the system trust store).
  app.add_option("--cafile", g.client.tls.ca_file, "PEM CA certificate(s) that verify a TLS broker")
      ->envname("SLOTWISE_CAFILE")
      ->check(CLI::ExistingFile);
  app.add_option("--cert", g.client.tls.cert_file, "PEM client certificate, for a broker that asks for one")
      ->envname("SLOTWISE_CERT")
      ->check(CLI::ExistingFile);
  app.add_option("--key", g.client.tls.key_file, "PEM private key of --cert (default: inside --cert)")
      ->envname("SLOTWISE_KEY")
      ->check(CLI::ExistingFile);
  app.add_option("--timeout", g.timeout_s, "seconds to wait for the broker and the scheduler")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "diagnostic lines on stderr (as SLOTWISE_LOG_LEVEL=debug)");
  app.add_flag("--json", g.json, "print the reply as JSON (proto3 JSON mapping)");

  Action action;
  AddClusterCommands(app, g, action);
  AddNodeCommands(app, g, action);
  AddVersionCommands(app, g, action);
  AddCampaignCommands(app, g, action);
  AddTerminalCommands(app, g, action);
  AddAuditCommands(app, g, action);
  // Let --json be written after the subcommand too: `slotwise node list --json`.
  for (auto* group : app.get_subcommands({})) {
    for (auto* sub : group->get_subcommands({})) sub->add_flag("--json", g.json, "print the reply as JSON");
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  if (!action) return kExitUsage;
  if (verbose) log::SetLevel(log::Level::kDebug);
  SetJsonOutput(g.json);
  g.client.timeout = std::chrono::seconds(g.timeout_s);
  auto client = OperatorClient::Connect(g.client);
  if (!client) {
    return ReportError(client.error(),
                       client.error().code == v1::UNAUTHENTICATED ? kExitNotAuthorized : kExitUnreachable);
  }
  return action(**client);
}

}  // namespace slotwise::cli

