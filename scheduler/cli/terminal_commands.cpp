// `slotwise terminal list`: what the scheduler knows of each terminal.
#include <google/protobuf/util/json_util.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>

#include "operator_client.h"
#include "slotwise/log.h"
#include "slotwise/sha256.h"
#include "slotwise/signature.h"
#include "table.h"

#include "command_support.h"

namespace slotwise::cli {

void AddTerminalCommands(CLI::App& app, Globals& g, Action& action) {
  auto* terminal = app.add_subcommand("terminal", "what the scheduler knows of terminals")->require_subcommand(1);
  terminal->add_subcommand("list", "list terminals")->callback([&g, &action] {
    v1::OperatorRequest req;
    req.mutable_list_terminals();
    action = QueryAction(req, g, [](const v1::OperatorReply& r) -> const auto& { return r.terminals(); },
                         [](const v1::TerminalList& r) {
      Table t({"TERMINAL", "ONLINE", "VERSION", "LAT", "LON", "SYSTEM", "LAST_SEEN"});
      for (const auto& x : r.terminals()) {
        const bool loc = x.has_location();
        t.Add({x.id(), x.online() ? "yes" : "no", x.current_version().empty() ? "-" : x.current_version(),
               loc ? Fixed(x.location().lat(), 4) : "-", loc ? Fixed(x.location().lon(), 4) : "-",
               x.system_id().empty() ? "-" : x.system_id(), FormatTime(x.last_seen_ms())});
      }
      t.Print(std::cout);
    });
  });
}

}  // namespace slotwise::cli
