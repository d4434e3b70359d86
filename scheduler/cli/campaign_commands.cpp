// S2-S6 and progress: `slotwise campaign create|windows|schedule|status|
// pause|resume|cancel|list ...`.
#include <google/protobuf/util/json_util.h>

#include <unistd.h>

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
#include <variant>

#include "operator_client.h"
#include "slotwise/log.h"
#include "slotwise/sha256.h"
#include "slotwise/signature.h"
#include "progress.h"
#include "slotwise/topics.h"
#include "table.h"

#include "command_support.h"
#include "filter_args.h"
#include "time_args.h"

namespace slotwise::cli {
namespace {

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string OutcomeName(const v1::TerminalProgress& p) {
  if (p.outcome() == v1::TerminalProgress::OUTCOME_PENDING) {
    return p.assigned() ? (p.checked_in() ? "running" : "booked") : "waiting";
  }
  return v1::TerminalProgress::Outcome_Name(p.outcome());
}

// "3 SUCCEEDED, 1 EXPIRED, 2 pending" for the outcomes that occur.
std::string OutcomeCounts(const v1::CampaignReport& r) {
  const std::pair<const char*, std::uint32_t> counts[] = {
      {"SUCCEEDED", r.succeeded()},     {"FAILED", r.failed()},       {"ALREADY_CURRENT", r.already_current()},
      {"EXPIRED", r.expired()},         {"SUPERSEDED", r.superseded()}, {"CANCELLED", r.cancelled()},
      {"REMOVED", r.removed()},         {"TIMED_OUT", r.timed_out()}, {"booked", r.assigned()},
      {"waiting", r.pending() - std::min(r.pending(), r.timed_out())}};
  std::string out;
  for (const auto& [name, n] : counts) {
    if (n == 0) continue;
    out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + name;
  }
  return out.empty() ? "no terminals" : out;
}

bool IsFinal(v1::CampaignState s) { return s == v1::DONE || s == v1::CANCELLED; }

void PrintCampaignReport(const v1::CampaignReport& r, bool json) {
  if (json) {
    std::cout << Json(r) << "\n";
    return;
  }
  const auto& c = r.campaign();
  std::cout << "campaign " << c.id() << " -> " << (c.component().empty() ? "" : c.component() + " ")
            << c.target_version() << ": " << v1::CampaignState_Name(c.state()) << ", " << OutcomeCounts(r) << " of "
            << r.terminals_size() << (c.deadline_ms() != 0 ? "; deadline " + FormatTime(c.deadline_ms()) : "")
            << (c.paused_reason().empty() ? "" : "; " + c.paused_reason()) << "\n";
  if (c.has_filter()) {
    std::cout << "filter " << FormatFilter(c.filter()) << (c.supersede() ? " (supersedes)" : "") << ": "
              << r.terminals_size() - c.terminal_ids_size() << " terminals taken in, " << c.terminal_ids_size()
              << " named" << (IsFinal(c.state()) ? "" : "; terminals that report later and match join") << "\n";
  }
  Table t({"TERMINAL", "OUTCOME", "NODE", "SLOT", "START", "STATE", "VERSION", "DETAIL"});
  for (const auto& p : r.terminals()) {
    t.Add({p.terminal_id(), OutcomeName(p), p.assigned() ? p.node_id() : "-",
           p.assigned() ? std::to_string(p.slot()) : "-", FormatTime(p.start_at_ms()),
           StateName(p.state()), p.version().empty() ? "-" : p.version(), p.detail()});
  }
  t.Print(std::cout);
}

// The old way, for a broker whose plugin does not let operators read the
// live events: a GetCampaign a second, a line when the counts change.
int PollCampaign(OperatorClient& c, const std::string& id, std::chrono::steady_clock::time_point deadline,
                 int wait_s, bool json) {
  v1::OperatorRequest req;
  req.mutable_get_campaign()->set_campaign_id(id);
  std::string last;
  for (;;) {
    v1::CampaignReport report;
    const int rc = Call(c, req, [&](const v1::OperatorReply& r) {
      report = r.campaign();
      return kExitOk;
    });
    if (rc != kExitOk) return rc;
    const bool done = IsFinal(report.campaign().state());
    std::ostringstream line;
    line << "progress " << id << ": " << v1::CampaignState_Name(report.campaign().state()) << ", "
         << OutcomeCounts(report) << " of " << report.terminals_size();
    if (line.str() != last) {
      std::cerr << "[" << FormatTime(NowMs()) << "] " << line.str() << "\n";
      last = line.str();
    }
    if (done) {
      PrintCampaignReport(report, json);
      return kExitOk;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      (void)ReportError(MakeError(v1::FAILED_PRECONDITION,
                                  "campaign " + id + " is not done after " + std::to_string(wait_s) + " s"),
                        kExitRefused);
      PrintCampaignReport(report, json);
      return kExitRefused;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

// Issue 13: --wait on the live events (slotwise/v1/op/events/campaign/{id},
// schemas/README.md "Live events"): a progress bar with percentage, rate and
// ETA on stderr when it is a terminal, a plain line per change when it is
// not, and under --json each event as a JSON line on stdout. Ends with the
// campaign's report, as `campaign status` prints it.
int WaitForCampaign(OperatorClient& c, const std::string& id, int wait_s, bool json) {
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::seconds(wait_s);
  if (auto sub = c.SubscribeEvents(topics::CampaignEvents(id)); !sub) {
    log::Debug("slotwise") << sub.error().message << ": polling instead";
    return PollCampaign(c, id, deadline, wait_s, json);
  }
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  RateMeter meter;
  std::uint32_t finished = 0;
  std::uint32_t total = 0;
  v1::CampaignState state = v1::CAMPAIGN_STATE_UNSPECIFIED;
  std::string last_line;
  auto seconds = [start] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  auto show = [&] {
    meter.Add(seconds(), finished);
    const auto rate = meter.Rate();
    const auto eta = meter.Eta(finished, total);
    const std::string name = v1::CampaignState_Name(state);
    if (json) return;
    if (tty) {
      std::cerr << "\r\x1b[2K" << id << " " << ProgressBar(finished, total, rate, eta, name) << std::flush;
      return;
    }
    std::string line = ProgressLine(finished, total, rate, eta, name);
    // Same counts and state: no new line (the rate alone does not make one).
    const std::string key = std::to_string(finished) + "/" + std::to_string(total) + " " + name;
    if (key == last_line) return;
    last_line = key;
    std::cerr << "[" << FormatTime(NowMs()) << "] progress " << id << ": " << line << "\n";
  };
  // Where it stands now (subscribed first: no change can fall between).
  auto summary = [&]() -> int {
    v1::OperatorRequest req;
    req.mutable_get_campaign_summary()->set_campaign_id(id);
    return Call(c, req, [&](const v1::OperatorReply& r) {
      const auto& s = r.summary();
      total = s.terminals();
      finished = total - std::min(total, s.assigned() + s.pending());
      state = s.campaign().state();
      return kExitOk;
    });
  };
  if (const int rc = summary(); rc != kExitOk) return rc;
  show();
  auto last_event = std::chrono::steady_clock::now();
  while (!IsFinal(state)) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    const auto wait = std::min<std::chrono::steady_clock::duration>(deadline - now, std::chrono::seconds(1));
    auto m = c.NextEvent(std::chrono::duration_cast<std::chrono::milliseconds>(wait));
    if (!m) {
      // Nothing for a while (a scheduler restart loses what was in flight):
      // ask again now and then; and keep the rate and ETA moving on a TTY.
      if (std::chrono::steady_clock::now() - last_event > std::chrono::seconds(15)) {
        if (const int rc = summary(); rc != kExitOk) return rc;
        last_event = std::chrono::steady_clock::now();
      }
      show();
      continue;
    }
    last_event = std::chrono::steady_clock::now();
    v1::LiveEvent e;
    google::protobuf::util::JsonParseOptions o;
    o.ignore_unknown_fields = true;
    if (!google::protobuf::util::JsonStringToMessage(m->payload, &e, o).ok()) {
      log::Debug("slotwise") << "an event on " << m->topic << " could not be parsed";
      continue;
    }
    if (json) std::cout << m->payload << "\n" << std::flush;
    const v1::CampaignProgressEvent* p = nullptr;
    if (e.has_campaign_progress()) p = &e.campaign_progress();
    if (e.has_campaign_state()) p = &e.campaign_state().progress();
    if (p == nullptr || p->campaign_id() != id) continue;
    total = p->terminals();
    finished = p->finished();
    if (e.has_campaign_state()) state = e.campaign_state().state();
    else if (p->state() != v1::CAMPAIGN_STATE_UNSPECIFIED) state = p->state();
    show();
  }
  if (tty && !json) std::cerr << "\n";
  v1::OperatorRequest req;
  req.mutable_get_campaign()->set_campaign_id(id);
  return Call(c, req, [&](const v1::OperatorReply& r) {
    const bool done = IsFinal(r.campaign().campaign().state());
    if (!done) {
      (void)ReportError(MakeError(v1::FAILED_PRECONDITION,
                                  "campaign " + id + " is not done after " + std::to_string(wait_s) + " s"),
                        kExitRefused);
    }
    PrintCampaignReport(r.campaign(), json);
    return done ? kExitOk : kExitRefused;
  });
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
                     "allowed hours in each terminal's local time: HH:MM-HH:MM, DAYS/HH:MM-HH:MM or DAYS "
                     "(e.g. 01:00-05:00, Mon-Fri/01:00-05:00, Sat,Sun)");
  create->add_option_function<std::string>("--component", [cc](const std::string& v) { cc->set_component(v); },
                                           "the component to upgrade (default: the system image)");
  auto deadline = std::make_shared<std::string>();
  create->add_option("--deadline", *deadline,
                     "unfinished terminals EXPIRE then: a duration from now (48h, 2d) or a UTC time "
                     "(2026-12-02T10:00Z) or epoch ms");
  create->add_flag_callback("--supersede", [cc] { cc->set_supersede(true); },
                            "take over terminals with unfinished work for the component in another campaign "
                            "(it ends SUPERSEDED there)");
  auto filter = std::make_shared<std::string>();
  create->add_option("--filter", *filter,
                     "a filter campaign: also take in every terminal that matches, now and when it reports later; "
                     "comma-separated conditions, all must hold: system-id=PREFIX*, cluster=ID and region=NAME "
                     "(repeatable: any of them), below-target (e.g. 'system-id=PAX-*,region=eu-west,below-target')");
  create->callback([=, &action] {
    if (!filter->empty()) {
      auto f = ParseFilter(*filter);
      if (!f) throw CLI::ValidationError("--filter", f.error().message);
      *cc->mutable_filter() = std::move(*f);
    }
    if (!hours->empty()) {
      auto h = ParseHours(*hours);
      if (!h) throw CLI::ValidationError("--hours", h.error().message);
      cc->set_allowed_from_minute(h->from_minute);
      cc->set_allowed_to_minute(h->to_minute);
      cc->set_allowed_weekdays(h->weekdays);
    }
    if (!deadline->empty()) {
      auto d = ParseTimeMs(*deadline, NowMs());
      if (!d) throw CLI::ValidationError("--deadline", d.error().message);
      cc->set_deadline_ms(*d);
    }
    if (terminals->empty() && terminals_file->empty() && filter->empty()) {
      throw CLI::ValidationError("--terminals, --terminals-file or --filter", "one of them is required");
    }
    std::vector<std::string> ids;
    if (!terminals_file->empty()) {
      auto read = ReadIdFile(*terminals_file);
      if (!read) throw CLI::ValidationError("--terminals-file", read.error().message);
      ids = std::move(*read);
    } else if (!terminals->empty()) {
      ids = SplitCsv(*terminals);
    }
    v1::OperatorRequest req;
    *req.mutable_create_campaign() = *cc;
    for (auto& id : ids) req.mutable_create_campaign()->add_terminal_ids(std::move(id));
    std::string what = "campaign " + cc->id() + " created for " + std::to_string(ids.size()) + " terminals";
    if (cc->has_filter()) {
      what = "campaign " + cc->id() + " created with filter " + FormatFilter(cc->filter()) +
             (ids.empty() ? "" : " and " + std::to_string(ids.size()) + " named terminals") +
             " (see campaign status for the terminals it took in)";
    }
    action = AckAction(req, what);
  });

  auto* windows = campaign->add_subcommand("windows", "S3-S4: candidate windows with room for the campaign");
  auto wid = std::make_shared<std::string>();
  auto deadline_text = std::make_shared<std::string>();
  windows->add_option("id", *wid, "campaign id")->required();
  windows->add_option("--deadline,--deadline-ms", *deadline_text,
                      "every terminal done by then: 48h, 2026-12-02T10:00Z or epoch ms; none by default");
  windows->callback([wid, deadline_text, &g, &action] {
    v1::OperatorRequest req;
    req.mutable_query_windows()->set_campaign_id(*wid);
    if (!deadline_text->empty()) {
      auto d = ParseTimeMs(*deadline_text, NowMs());
      if (!d) throw CLI::ValidationError("--deadline", d.error().message);
      req.mutable_query_windows()->set_deadline_ms(*d);
    }
    action = QueryAction(req, g, [](const v1::OperatorReply& r) -> const auto& { return r.windows(); }, PrintWindows);
  });

  auto* schedule = campaign->add_subcommand("schedule", "S5: choose the window; notices go out (S6)");
  auto sid = std::make_shared<std::string>();
  auto label = std::make_shared<std::string>();
  auto start = std::make_shared<std::string>();
  auto end = std::make_shared<std::string>();
  auto utilisation = std::make_shared<double>(0);
  schedule->add_option("id", *sid, "campaign id")->required();
  auto* l_opt = schedule->add_option("--window", *label, "a window label from `campaign windows`, e.g. earliest");
  auto* s_opt = schedule->add_option("--start-slot,--start", *start,
                                     "first slot of the window: a slot number, or a time (2026-12-02T01:00Z, "
                                     "+1h): the first slot starting at or after it");
  auto* e_opt = schedule->add_option("--end-slot,--end", *end,
                                     "slot after the window: a slot number or a time (the window ends by it)");
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
        // Times become slots with the scheduler's slot length.
        auto first = ParseSlotArg(*start, NowMs());
        auto last = ParseSlotArg(*end, NowMs());
        if (!first || !last) {
          return ReportError(!first ? first.error() : last.error(), kExitUsage);
        }
        std::int64_t slot_ms = 0;
        if (std::holds_alternative<TimePoint>(*first) || std::holds_alternative<TimePoint>(*last)) {
          v1::OperatorRequest get;
          get.mutable_get_campaign()->set_campaign_id(*sid);
          const int rc = Call(c, get, [&](const v1::OperatorReply& r) {
            slot_ms = r.campaign().slot_ms();
            return kExitOk;
          });
          if (rc != kExitOk) return rc;
          if (slot_ms <= 0) return kExitRefused;
        }
        auto slot_of = [&](const std::variant<SlotNumber, TimePoint>& v) {
          if (const auto* n = std::get_if<SlotNumber>(&v)) return n->slot;
          const std::int64_t t = std::get<TimePoint>(v).ms;
          return t / slot_ms + (t % slot_ms != 0 ? 1 : 0);  // the first slot starting at or after it
        };
        const v1::OperatorRequest req = request(slot_of(*first), slot_of(*last), 0);
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
          return ReportError(MakeError(v1::NOT_FOUND, "no window labelled '" + *label + "' for campaign " + *sid),
                             kExitRefused);
        }
        auto reply = c.Call(*req);
        if (!reply) return ReportError(reply.error(), kExitUnreachable);
        if (!reply->has_error()) {
          PrintAck(done(*req));
          return kExitOk;
        }
        if (reply->error().code() != v1::INVALID_ARGUMENT || attempt == kAttempts) {
          return ReportError(Error{reply->error().code(), reply->error().message()}, kExitRefused,
                             "error: " + v1::ErrorCode_Name(reply->error().code()) + ": ");
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
  status->add_option("--wait", *wait_s, "follow the live progress until the campaign is final (DONE or CANCELLED), at most this many seconds")
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

  for (const bool add : {true, false}) {
    auto* sub = campaign->add_subcommand(add ? "add-terminals" : "remove-terminals",
                                         add ? "terminals join a campaign that is not final"
                                             : "terminals leave a campaign (outcome REMOVED)");
    auto id = std::make_shared<std::string>();
    auto list = std::make_shared<std::string>();
    auto file = std::make_shared<std::string>();
    auto supersede = std::make_shared<bool>(false);
    sub->add_option("id", *id, "campaign id")->required();
    auto* lo = sub->add_option("--terminals", *list, "comma-separated terminal ids");
    auto* fo = sub->add_option("--terminals-file", *file, "file with one terminal id per line")->check(CLI::ExistingFile);
    lo->excludes(fo);
    if (add) sub->add_flag("--supersede", *supersede, "take them over from another campaign for the component");
    sub->callback([=, &action] {
      std::vector<std::string> ids;
      if (!file->empty()) {
        auto read = ReadIdFile(*file);
        if (!read) throw CLI::ValidationError("--terminals-file", read.error().message);
        ids = std::move(*read);
      } else if (!list->empty()) {
        ids = SplitCsv(*list);
      } else {
        throw CLI::ValidationError("--terminals or --terminals-file", "one of them is required");
      }
      v1::OperatorRequest req;
      if (add) {
        auto* a = req.mutable_add_terminals();
        a->set_campaign_id(*id);
        a->set_supersede(*supersede);
        for (auto& t : ids) a->add_terminal_ids(std::move(t));
      } else {
        auto* r = req.mutable_remove_terminals();
        r->set_campaign_id(*id);
        for (auto& t : ids) r->add_terminal_ids(std::move(t));
      }
      action = AckAction(req, std::to_string(ids.size()) + " terminals " + (add ? "added to" : "removed from") +
                                  " campaign " + *id);
    });
  }

  campaign->add_subcommand("list", "list campaigns")->callback([&g, &action] {
    v1::OperatorRequest req;
    req.mutable_list_campaigns();
    action = QueryAction(req, g, [](const v1::OperatorReply& r) -> const auto& { return r.campaigns(); },
                         [](const v1::CampaignList& r) {
      Table t({"CAMPAIGN", "COMPONENT", "VERSION", "STATE", "WINDOW_START_SLOT", "WINDOW_END_SLOT", "DEADLINE",
               "CREATED", "FILTER"});
      for (const auto& c : r.campaigns()) {
        t.Add({c.id(), c.component().empty() ? "system" : c.component(), c.target_version(),
               v1::CampaignState_Name(c.state()),
               c.window_end_slot() == 0 ? "-" : std::to_string(c.window_start_slot()),
               c.window_end_slot() == 0 ? "-" : std::to_string(c.window_end_slot()), FormatTime(c.deadline_ms()),
               FormatTime(c.created_ms()), c.has_filter() ? FormatFilter(c.filter()) : "-"});
      }
      t.Print(std::cout);
    });
  });
}

}  // namespace slotwise::cli
