// S2-S6 and progress: `slotwise campaign create|windows|schedule|status|
// pause|resume|cancel|list ...`.
#include <google/protobuf/util/json_util.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
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
namespace {

void PrintCampaignReport(const v1::CampaignReport& r, bool json) {
  if (json) {
    std::cout << Json(r) << "\n";
    return;
  }
  const auto& c = r.campaign();
  std::cout << "campaign " << c.id() << " -> " << c.target_version() << ": "
            << v1::CampaignState_Name(c.state()) << ", " << r.succeeded() << " succeeded, "
            << r.failed() << " failed, " << r.assigned() << " assigned, " << r.pending()
            << " pending of " << c.terminal_ids_size() << "\n";
  Table t({"TERMINAL", "NODE", "SLOT", "START", "STATE", "VERSION", "DETAIL"});
  for (const auto& p : r.terminals()) {
    t.Add({p.terminal_id(), p.assigned() ? p.node_id() : "-",
           p.assigned() ? std::to_string(p.slot()) : "-", FormatTime(p.start_at_ms()),
           StateName(p.state()), p.version().empty() ? "-" : p.version(), p.detail()});
  }
  t.Print(std::cout);
}

int WaitForCampaign(OperatorClient& c, const std::string& id, int wait_s, bool json) {
  v1::OperatorRequest req;
  req.mutable_get_campaign()->set_campaign_id(id);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
  std::string last;
  for (;;) {
    v1::CampaignReport report;
    const int rc = Call(c, req, [&](const v1::OperatorReply& r) {
      report = r.campaign();
      return kExitOk;
    });
    if (rc != kExitOk) return rc;
    const bool done = report.campaign().state() == v1::DONE;
    std::ostringstream line;
    line << "progress " << id << ": " << report.succeeded() << " succeeded, " << report.failed()
         << " failed, " << report.assigned() << " assigned, " << report.pending() << " pending of "
         << report.campaign().terminal_ids_size();
    if (line.str() != last) {
      std::cerr << "[" << FormatTime(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count())
                << "] " << line.str() << "\n";
      last = line.str();
    }
    if (done) {
      PrintCampaignReport(report, json);
      return kExitOk;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      std::cerr << "slotwise: campaign " << id << " is not done after " << wait_s << " s\n";
      PrintCampaignReport(report, json);
      return kExitRefused;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}


void PrintWindows(const v1::WindowList& w) {
  std::cout << w.terminals() << " terminals, " << w.capacity_per_slot() << " downloads per slot in all, slot "
            << Fixed(static_cast<double>(w.slot_ms()) / 1000.0, 3) << " s, lower bound " << w.lower_bound_slots()
            << " slots\n";
  Table d({"CLUSTER", "NEAREST_TERMINALS", "PER_SLOT"});
  for (const auto& c : w.demand()) {
    d.Add({c.cluster_id(), std::to_string(c.terminals()), std::to_string(c.capacity_per_slot())});
  }
  d.Print(std::cout);
  std::cout << "\n";
  Table t({"WINDOW", "START_SLOT", "END_SLOT", "START", "EXPECTED_COMPLETION", "SLOTS", "VS_LOWER_BOUND", "PEAK",
           "FILL_CAP"});
  for (const auto& x : w.windows()) {
    const double ratio = w.lower_bound_slots() ? static_cast<double>(x.slots_used()) / w.lower_bound_slots() : 0;
    t.Add({x.label(), std::to_string(x.start_slot()), std::to_string(x.end_slot()), FormatTime(x.start_ms()),
           FormatTime(x.expected_completion_ms()), std::to_string(x.slots_used()), Fixed(ratio, 2),
           Fixed(100 * x.peak_utilisation(), 0) + "%",
           x.max_utilisation() > 0 ? Fixed(100 * x.max_utilisation(), 0) + "%" : "-"});
  }
  t.Print(std::cout);
}

}  // namespace


void AddCampaignCommands(CLI::App& app, Globals& g, Action& action) {
  auto* campaign = app.add_subcommand("campaign", "S2-S5: campaigns")->require_subcommand(1);

  auto* create = campaign->add_subcommand("create", "S2: choose terminals and a target version");
  auto cc = std::make_shared<v1::CreateCampaign>();
  auto terminals = std::make_shared<std::string>();
  auto terminals_file = std::make_shared<std::string>();
  create->add_option_function<std::string>("id", [cc](const std::string& v) { cc->set_id(v); }, "campaign id")
      ->required();
  create->add_option_function<std::string>("--version", [cc](const std::string& v) { cc->set_target_version(v); },
                                           "target version")
      ->required();
  auto* t_opt = create->add_option("--terminals", *terminals, "comma-separated terminal ids");
  auto* f_opt = create->add_option("--terminals-file", *terminals_file, "file with one terminal id per line")
                    ->check(CLI::ExistingFile);
  t_opt->excludes(f_opt);
  create->add_option_function<std::uint32_t>("--max-failures", [cc](std::uint32_t v) { cc->set_max_failures(v); },
                                             "FAILED terminals after which the campaign pauses itself (0 = never)");
  create->add_option_function<std::uint32_t>("--max-retries", [cc](std::uint32_t v) { cc->set_max_retries(v); },
                                             "new attempts a terminal gets after a failure");
  create->add_flag_callback("--allow-downgrade", [cc] { cc->set_allow_downgrade(true); },
                            "let agents install the target version where it is older than theirs");
  auto hours = std::make_shared<std::string>();
  create->add_option("--hours", *hours,
                     "allowed hours in each terminal's local time, HH:MM-HH:MM (e.g. 01:00-05:00)");
  create->callback([=, &action] {
    if (!hours->empty()) {
      int h1 = 0, m1 = 0, h2 = 0, m2 = 0;
      char tail = 0;
      if (std::sscanf(hours->c_str(), "%d:%d-%d:%d%c", &h1, &m1, &h2, &m2, &tail) != 4 || h1 < 0 || h1 > 23 ||
          h2 < 0 || h2 > 23 || m1 < 0 || m1 > 59 || m2 < 0 || m2 > 59) {
        throw CLI::ValidationError("--hours", "expected HH:MM-HH:MM");
      }
      cc->set_allowed_from_minute(static_cast<std::uint32_t>(h1 * 60 + m1));
      cc->set_allowed_to_minute(static_cast<std::uint32_t>(h2 * 60 + m2));
    }
    if (terminals->empty() && terminals_file->empty()) {
      throw CLI::ValidationError("--terminals or --terminals-file", "one of them is required");
    }
    std::vector<std::string> ids;
    if (!terminals_file->empty()) {
      auto read = ReadIdFile(*terminals_file);
      if (!read) throw CLI::ValidationError("--terminals-file", read.error().message);
      ids = std::move(*read);
    } else {
      ids = SplitCsv(*terminals);
    }
    v1::OperatorRequest req;
    *req.mutable_create_campaign() = *cc;
    for (auto& id : ids) req.mutable_create_campaign()->add_terminal_ids(std::move(id));
    action = AckAction(req, "campaign " + cc->id() + " created for " + std::to_string(ids.size()) + " terminals");
  });

  auto* windows = campaign->add_subcommand("windows", "S3-S4: candidate windows with room for the campaign");
  auto wid = std::make_shared<std::string>();
  auto deadline_ms = std::make_shared<std::int64_t>(0);
  windows->add_option("id", *wid, "campaign id")->required();
  windows->add_option("--deadline-ms", *deadline_ms, "every terminal done by then (Unix ms); 0 = none");
  windows->callback([wid, deadline_ms, &g, &action] {
    v1::OperatorRequest req;
    req.mutable_query_windows()->set_campaign_id(*wid);
    req.mutable_query_windows()->set_deadline_ms(*deadline_ms);
    action = QueryAction(req, g, [](const v1::OperatorReply& r) -> const auto& { return r.windows(); }, PrintWindows);
  });

  auto* schedule = campaign->add_subcommand("schedule", "S5: choose the window; notices go out (S6)");
  auto sid = std::make_shared<std::string>();
  auto label = std::make_shared<std::string>();
  auto start = std::make_shared<std::int64_t>(0);
  auto end = std::make_shared<std::int64_t>(0);
  auto utilisation = std::make_shared<double>(0);
  schedule->add_option("id", *sid, "campaign id")->required();
  auto* l_opt = schedule->add_option("--window", *label, "a window label from `campaign windows`, e.g. earliest");
  auto* s_opt = schedule->add_option("--start-slot", *start, "first slot of the window");
  auto* e_opt = schedule->add_option("--end-slot", *end, "slot after the window");
  s_opt->needs(e_opt);
  e_opt->needs(s_opt);
  l_opt->excludes(s_opt)->excludes(e_opt);
  schedule->callback([=, &action] {
    if (label->empty() && s_opt->count() == 0) {
      throw CLI::ValidationError("--window or --start-slot/--end-slot", "one of them is required");
    }
    action = [=](OperatorClient& c) {
      auto request = [&](std::int64_t first, std::int64_t last, std::int64_t core_end) {
        v1::OperatorRequest req;
        auto* s = req.mutable_schedule_campaign();
        s->set_campaign_id(*sid);
        s->set_start_slot(first);
        s->set_end_slot(last);
        s->set_max_utilisation(*utilisation);
        s->set_core_end_slot(core_end);
        return req;
      };
      auto done = [&](const v1::OperatorRequest& req) {
        const auto& s = req.schedule_campaign();
        return "campaign " + *sid + " scheduled in slots [" + std::to_string(s.start_slot()) + ", " +
               std::to_string(s.end_slot()) + "); notices sent";
      };
      if (label->empty()) {
        const v1::OperatorRequest req = request(*start, *end, 0);
        return AckAction(req, done(req))(c);
      }
      // A labelled window comes from the scheduler itself, so the only way it
      // can be refused as invalid is that its first slot began in the
      // meantime (short slots): ask for the windows again, a few times.
      constexpr int kAttempts = 3;
      for (int attempt = 1;; ++attempt) {
        v1::OperatorRequest q;
        q.mutable_query_windows()->set_campaign_id(*sid);
        std::optional<v1::OperatorRequest> req;
        const int rc = Call(c, q, [&](const v1::OperatorReply& r) {
          for (const auto& w : r.windows().windows()) {
            if (w.label() == *label) {
              *utilisation = w.max_utilisation();
              req = request(w.start_slot(), w.end_slot(), w.core_end_slot());
            }
          }
          return kExitOk;
        });
        if (rc != kExitOk) return rc;
        if (!req) {
          std::cerr << "slotwise: no window labelled '" << *label << "' for campaign " << *sid << "\n";
          return kExitRefused;
        }
        auto reply = c.Call(*req);
        if (!reply) {
          std::cerr << "slotwise: " << reply.error().message << "\n";
          return kExitUnreachable;
        }
        if (!reply->has_error()) {
          std::cout << done(*req) << "\n";
          return kExitOk;
        }
        if (reply->error().code() != v1::INVALID_ARGUMENT || attempt == kAttempts) {
          std::cerr << "slotwise: error: " << v1::ErrorCode_Name(reply->error().code()) << ": "
                    << reply->error().message() << "\n";
          return kExitRefused;
        }
        log::Debug("slotwise") << "window '" << *label << "' refused (" << reply->error().message()
                               << "); asking for windows again";
      }
    };
  });

  auto* status = campaign->add_subcommand("status", "progress of a campaign, per terminal");
  auto st_id = std::make_shared<std::string>();
  auto wait_s = std::make_shared<int>(0);
  status->add_option("id", *st_id, "campaign id")->required();
  status->add_option("--wait", *wait_s, "poll until the campaign is done, at most this many seconds")
      ->check(CLI::Range(1, 7 * 24 * 3600));
  status->callback([st_id, wait_s, &g, &action] {
    action = [st_id, wait_s, &g](OperatorClient& c) {
      if (*wait_s > 0) return WaitForCampaign(c, *st_id, *wait_s, g.json);
      v1::OperatorRequest req;
      req.mutable_get_campaign()->set_campaign_id(*st_id);
      return Call(c, req, [&](const v1::OperatorReply& r) {
        PrintCampaignReport(r.campaign(), g.json);
        return kExitOk;
      });
    };
  });

  struct Control {
    const char* name;
    const char* help;
    const char* done;
    void (*fill)(v1::OperatorRequest&, const std::string&);
  };
  static const Control kControls[] = {
      {"pause", "pause: checks stand down, bookings not started on are released", "paused",
       [](v1::OperatorRequest& r, const std::string& id) { r.mutable_pause_campaign()->set_campaign_id(id); }},
      {"resume", "resume a paused campaign; notices go out again", "resumed",
       [](v1::OperatorRequest& r, const std::string& id) { r.mutable_resume_campaign()->set_campaign_id(id); }},
      {"cancel", "cancel: every booking released, every notice cleared", "cancelled",
       [](v1::OperatorRequest& r, const std::string& id) { r.mutable_cancel_campaign()->set_campaign_id(id); }},
  };
  for (const Control& control : kControls) {
    auto* sub = campaign->add_subcommand(control.name, control.help);
    auto id = std::make_shared<std::string>();
    sub->add_option("id", *id, "campaign id")->required();
    sub->callback([id, &control, &action] {
      v1::OperatorRequest req;
      control.fill(req, *id);
      action = AckAction(req, "campaign " + *id + " " + control.done);
    });
  }

  campaign->add_subcommand("list", "list campaigns")->callback([&g, &action] {
    v1::OperatorRequest req;
    req.mutable_list_campaigns();
    action = QueryAction(req, g, [](const v1::OperatorReply& r) -> const auto& { return r.campaigns(); },
                         [](const v1::CampaignList& r) {
      Table t({"CAMPAIGN", "VERSION", "STATE", "WINDOW_START_SLOT", "WINDOW_END_SLOT", "CREATED"});
      for (const auto& c : r.campaigns()) {
        t.Add({c.id(), c.target_version(), v1::CampaignState_Name(c.state()),
               c.state() == v1::DRAFT ? "-" : std::to_string(c.window_start_slot()),
               c.state() == v1::DRAFT ? "-" : std::to_string(c.window_end_slot()), FormatTime(c.created_ms())});
      }
      t.Print(std::cout);
    });
  });
}

}  // namespace slotwise::cli
