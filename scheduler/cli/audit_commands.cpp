// `slotwise audit`: the audit trail (issue 13), newest first, a page at a
// time (ListAudit): who, channel, role, command, outcome.
#include <CLI/CLI.hpp>
#include <iostream>

#include "command_support.h"
#include "operator_client.h"
#include "table.h"

namespace slotwise::cli {

void AddAuditCommands(CLI::App& app, Globals& g, Action& action) {
  auto* audit = app.add_subcommand("audit", "the audit trail of operator changes and refusals, newest first");
  // Options outlive this function (the callback runs after parsing).
  static std::uint32_t page_size = 50;
  static std::string page_token;
  static std::string only_who;
  auto* size = &page_size;
  auto* token = &page_token;
  auto* who = &only_who;
  audit->add_option("--page-size", *size, "entries per page (1-1000)")->capture_default_str();
  audit->add_option("--page-token", *token, "the next page (printed after a full page)");
  audit->add_option("--who", *who, "only this operator's entries");
  audit->callback([&g, &action, size, token, who] {
    v1::OperatorRequest req;
    auto* l = req.mutable_list_audit();
    l->set_page_size(*size);
    l->set_page_token(*token);
    l->set_who(*who);
    action = QueryAction(req, g, [](const v1::OperatorReply& r) -> const auto& { return r.audit(); },
                         [](const v1::AuditPage& page) {
      Table t({"SEQ", "TIME", "WHO", "CHANNEL", "ROLE", "COMMAND", "OUTCOME"});
      for (const auto& e : page.entries()) {
        const std::string outcome = e.code() == v1::ERROR_CODE_UNSPECIFIED
                                        ? std::string("done")
                                        : v1::ErrorCode_Name(e.code()) + ": " + e.message();
        t.Add({std::to_string(e.seq()), FormatTime(e.time_ms()), e.who(), e.channel(), e.role(), e.command(), outcome});
      }
      t.Print(std::cout);
      if (!page.next_page_token().empty()) std::cout << "more: --page-token " << page.next_page_token() << "\n";
    });
  });
}

}  // namespace slotwise::cli
