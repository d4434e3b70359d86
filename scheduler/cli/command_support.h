// Internal to the CLI: what every command family shares -- the global
// options, the Action a parsed command turns into, one request/refusal path
// (Call), printing (JSON in the proto3 mapping, times, numbers) and reading id
// files. The families: registry_commands.cpp (S1: clusters, nodes, versions),
// campaign_commands.cpp (S2-S6 and progress), terminal_commands.cpp;
// commands.cpp parses the command line and runs the chosen Action.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"
#include "operator_client.h"
#include "slotwise/result.h"

namespace slotwise::cli {

using Action = std::function<int(OperatorClient&)>;

struct Globals {
  ClientOptions client;
  int timeout_s = 10;
  bool json = false;
};

std::string Json(const google::protobuf::Message& m);
std::string FormatTime(std::int64_t ms);
std::string Fixed(double v, int digits);
std::string StateName(v1::Status::State s);

// Issue 13: --json for errors and acknowledgements too (set once, after
// parsing). Errors then go to stderr as one line
// {"error":{"code":"NOT_FOUND","message":"..."},"exitCode":1}; an
// acknowledgement to stdout as {"ack":{},"message":"campaign c1 paused"}.
void SetJsonOutput(bool json);
bool JsonOutput();
// Prints `error` ("slotwise: <prefix><message>", or the JSON line) and
// returns `exit_code`.
int ReportError(const Error& error, int exit_code, std::string_view prefix = {});

// "campaign c1 paused", or {"ack":{},"message":"campaign c1 paused"}.
void PrintAck(const std::string& done);

// Sends one request; prints the refusal and returns its exit code, or calls
// on_reply with the successful reply.
int Call(OperatorClient& client, const v1::OperatorRequest& req,
         const std::function<int(const v1::OperatorReply&)>& on_reply);

// Prints `done` once the scheduler acknowledged the request.
Action AckAction(v1::OperatorRequest req, std::string done);

// A query command: the reply's body (`Body` picks it out of the
// OperatorReply) as JSON, or a table.
template <class Body, class Printer>
Action QueryAction(v1::OperatorRequest req, const Globals& g, Body body, Printer print_table) {
  return [req = std::move(req), &g, body, print_table](OperatorClient& c) {
    return Call(c, req, [&](const v1::OperatorReply& r) {
      if (g.json) {
        std::cout << Json(body(r)) << "\n";
      } else {
        print_table(body(r));
      }
      return kExitOk;
    });
  };
}

std::vector<std::string> SplitCsv(const std::string& s);
// One id per line; blank lines and '#' comments are skipped.
Result<std::vector<std::string>> ReadIdFile(const std::string& path);

// The command families; each adds its subcommands to `app` and sets `action`
// when one of them is chosen.
void AddClusterCommands(CLI::App& app, Globals& g, Action& action);
void AddNodeCommands(CLI::App& app, Globals& g, Action& action);
void AddVersionCommands(CLI::App& app, Globals& g, Action& action);
void AddCampaignCommands(CLI::App& app, Globals& g, Action& action);
void AddTerminalCommands(CLI::App& app, Globals& g, Action& action);
void AddAuditCommands(CLI::App& app, Globals& g, Action& action);

}  // namespace slotwise::cli
