#include "commands.h"

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

namespace slotwise::cli {
namespace {

using Action = std::function<int(OperatorClient&)>;

struct Globals {
  ClientOptions client;
  int timeout_s = 10;
  bool json = false;
};

std::string Json(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  o.always_print_enums_as_ints = false;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

std::string FormatTime(std::int64_t ms) {
  if (ms == 0) return "-";
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03lldZ", buf, static_cast<long long>(ms % 1000));
  return out;
}

std::string Fixed(double v, int digits) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << v;
  return s.str();
}

std::string StateName(v1::Status::State s) {
  return s == v1::Status::STATE_UNSPECIFIED ? "-" : v1::Status::State_Name(s);
}

// Sends one request; prints the refusal and returns its exit code, or calls
// on_reply with the successful reply.
int Call(OperatorClient& client, const v1::OperatorRequest& req,
         const std::function<int(const v1::OperatorReply&)>& on_reply) {
  auto reply = client.Call(req);
  if (!reply) {
    std::cerr << "slotwise: " << reply.error().message << "\n";
    return kExitUnreachable;
  }
  if (reply->has_error()) {
    std::cerr << "slotwise: error: " << v1::ErrorCode_Name(reply->error().code()) << ": "
              << reply->error().message() << "\n";
    return kExitRefused;
  }
  return on_reply(*reply);
}

Action AckAction(v1::OperatorRequest req, std::string done) {
  return [req = std::move(req), done = std::move(done)](OperatorClient& c) {
    return Call(c, req, [&](const v1::OperatorReply&) {
      std::cout << done << "\n";
      return kExitOk;
    });
  };
}

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

std::vector<std::string> SplitCsv(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// One id per line; blank lines and '#' comments are skipped.
Result<std::vector<std::string>> ReadIdFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return MakeError(v1::NOT_FOUND, "cannot read " + path);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    const auto b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos) continue;
    const auto e = line.find_last_not_of(" \t\r");
    out.push_back(line.substr(b, e - b + 1));
  }
  return out;
}

void AddClusterCommands(CLI::App& app, Globals& g, Action& action) {
  auto* cluster = app.add_subcommand("cluster", "S1: clusters of download nodes")->require_subcommand(1);

  auto* add = cluster->add_subcommand("add", "register a cluster");
  auto c = std::make_shared<v1::Cluster>();
  add->add_option_function<std::string>("id", [c](const std::string& v) { c->set_id(v); }, "cluster id")->required();
  add->add_option_function<double>("--lat", [c](double v) { c->mutable_location()->set_lat(v); }, "latitude")
      ->required()->check(CLI::Range(-90.0, 90.0));
  add->add_option_function<double>("--lon", [c](double v) { c->mutable_location()->set_lon(v); }, "longitude")
      ->required()->check(CLI::Range(-180.0, 180.0));
  add->add_option_function<std::string>("--region", [c](const std::string& v) { c->set_region(v); }, "region name");
  add->callback([c, &action] {
    v1::OperatorRequest req;
    *req.mutable_add_cluster()->mutable_cluster() = *c;
    action = AckAction(req, "cluster " + c->id() + " added");
  });

  cluster->add_subcommand("list", "list clusters")->callback([&g, &action] {
    v1::OperatorRequest req;
    req.mutable_list_clusters();
    action = QueryAction(req, g, [](const v1::OperatorReply& r) -> const auto& { return r.clusters(); },
                         [](const v1::ClusterList& r) {
      Table t({"CLUSTER", "LAT", "LON", "REGION"});
      for (const auto& cl : r.clusters()) {
        t.Add({cl.id(), Fixed(cl.location().lat(), 4), Fixed(cl.location().lon(), 4), cl.region()});
      }
      t.Print(std::cout);
    });
  });
}

void AddNodeCommands(CLI::App& app, Globals& g, Action& action) {
  auto* node = app.add_subcommand("node", "S1: download nodes")->require_subcommand(1);

  auto* add = node->add_subcommand("add", "register a download node");
  auto n = std::make_shared<v1::Node>();
  add->add_option_function<std::string>("id", [n](const std::string& v) { n->set_id(v); }, "node id")->required();
  add->add_option_function<std::string>("--cluster", [n](const std::string& v) { n->set_cluster_id(v); }, "cluster id")
      ->required();
  add->add_option_function<std::string>("--url", [n](const std::string& v) { n->set_base_url(v); },
                                        "base URL, e.g. http://10.0.0.5:8080")
      ->required();
  add->add_option_function<std::uint32_t>("--per-slot", [n](std::uint32_t v) { n->set_per_slot(v); },
                                          "most downloads that may start on it in one slot")
      ->required()->check(CLI::Range(1u, 1'000'000u));
  add->add_option_function<std::uint64_t>("--bandwidth-bps", [n](std::uint64_t v) { n->set_bandwidth_bps(v); },
                                          "upstream bandwidth in bits/s");
  add->add_option_function<std::string>("--status-url", [n](const std::string& v) { n->set_status_url(v); },
                                        "nginx stub_status URL polled for live load, e.g. http://10.0.0.5:8080/status");
  add->callback([n, &action] {
    v1::OperatorRequest req;
    *req.mutable_add_node()->mutable_node() = *n;
    action = AckAction(req, "node " + n->id() + " added");
  });

  auto* state = node->add_subcommand("set-state", "mark a node active, draining or down");
  auto s = std::make_shared<v1::SetNodeState>();
  state->add_option_function<std::string>("id", [s](const std::string& v) { s->set_node_id(v); }, "node id")->required();
  const std::map<std::string, v1::NodeState> states{
      {"active", v1::ACTIVE}, {"draining", v1::DRAINING}, {"down", v1::DOWN}};
  state->add_option_function<v1::NodeState>("state", [s](v1::NodeState v) { s->set_state(v); }, "active|draining|down")
      ->required()->transform(CLI::CheckedTransformer(states, CLI::ignore_case));
  state->callback([s, &action] {
    v1::OperatorRequest req;
    *req.mutable_set_node_state() = *s;
    action = AckAction(req, "node " + s->node_id() + " is now " + v1::NodeState_Name(s->state()));
  });

  node->add_subcommand("list", "list nodes")->callback([&g, &action] {
    v1::OperatorRequest req;
    req.mutable_list_nodes();
    action = QueryAction(req, g, [](const v1::OperatorReply& r) -> const auto& { return r.nodes(); },
                         [](const v1::NodeList& r) {
      Table t({"NODE", "CLUSTER", "URL", "PER_SLOT", "STATE"});
      for (const auto& nd : r.nodes()) {
        t.Add({nd.id(), nd.cluster_id(), nd.base_url(), std::to_string(nd.per_slot()), v1::NodeState_Name(nd.state())});
      }
      t.Print(std::cout);
    });
  });
}

void AddVersionCommands(CLI::App& app, Globals& g, Action& action) {
  auto* version = app.add_subcommand("version", "version files the nodes serve")->require_subcommand(1);

  auto* add = version->add_subcommand("add", "register a version file (sha256 and size are computed here)");
  auto a = std::make_shared<v1::Artifact>();
  auto file = std::make_shared<std::string>();
  auto sign_key = std::make_shared<std::string>();
  add->add_option_function<std::string>("version", [a](const std::string& v) { a->set_version(v); }, "version")
      ->required();
  add->add_option("--file", *file, "the version file, as the nodes serve it")->required()->check(CLI::ExistingFile);
  add->add_option_function<std::string>("--path", [a](const std::string& v) { a->set_path(v); },
                                        "URL path of the file on every node, e.g. /fw/2.0.0.bin")
      ->required();
  add->add_option("--sign-key", *sign_key,
                  "Ed25519 private key (PEM) that signs the manifest (schemas/README.md, Artifact signatures)")
      ->check(CLI::ExistingFile);
  add->callback([a, file, sign_key, &action] {
    action = [a, file, sign_key](OperatorClient& c) {
      auto digest = Sha256FileHex(*file);
      if (!digest) {
        std::cerr << "slotwise: " << digest.error().message << "\n";
        return kExitUsage;
      }
      a->set_sha256(*digest);
      a->set_size(std::filesystem::file_size(*file));
      if (!sign_key->empty()) {
        std::ifstream key_in(*sign_key);
        const std::string pem((std::istreambuf_iterator<char>(key_in)), std::istreambuf_iterator<char>());
        auto signature = SignEd25519(pem, ArtifactManifest(a->version(), a->sha256(), a->size()));
        if (!signature) {
          std::cerr << "slotwise: --sign-key " << *sign_key << ": " << signature.error().message << "\n";
          return kExitUsage;
        }
        a->set_signature(*signature);
      }
      v1::OperatorRequest req;
      *req.mutable_add_artifact()->mutable_artifact() = *a;
      return AckAction(req, "version " + a->version() + " added (" + std::to_string(a->size()) +
                                " bytes, sha256 " + a->sha256() + ")")(c);
    };
  });

  version->add_subcommand("list", "list versions")->callback([&g, &action] {
    v1::OperatorRequest req;
    req.mutable_list_artifacts();
    action = QueryAction(req, g, [](const v1::OperatorReply& r) -> const auto& { return r.artifacts(); },
                         [](const v1::ArtifactList& r) {
      Table t({"VERSION", "PATH", "SIZE", "SHA256"});
      for (const auto& art : r.artifacts()) {
        t.Add({art.version(), art.path(), std::to_string(art.size()), art.sha256()});
      }
      t.Print(std::cout);
    });
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
      std::int64_t first = *start;
      std::int64_t last = *end;
      std::int64_t core_end = 0;
      if (!label->empty()) {
        v1::OperatorRequest q;
        q.mutable_query_windows()->set_campaign_id(*sid);
        bool found = false;
        const int rc = Call(c, q, [&](const v1::OperatorReply& r) {
          for (const auto& w : r.windows().windows()) {
            if (w.label() == *label) {
              first = w.start_slot();
              last = w.end_slot();
              *utilisation = w.max_utilisation();
              core_end = w.core_end_slot();
              found = true;
            }
          }
          return kExitOk;
        });
        if (rc != kExitOk) return rc;
        if (!found) {
          std::cerr << "slotwise: no window labelled '" << *label << "' for campaign " << *sid << "\n";
          return kExitRefused;
        }
      }
      v1::OperatorRequest req;
      auto* s = req.mutable_schedule_campaign();
      s->set_campaign_id(*sid);
      s->set_start_slot(first);
      s->set_end_slot(last);
      s->set_max_utilisation(*utilisation);
      s->set_core_end_slot(core_end);
      return AckAction(req, "campaign " + *sid + " scheduled in slots [" + std::to_string(first) + ", " +
                                std::to_string(last) + "); notices sent")(c);
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

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{"slotwise: operate Slotwise upgrade campaigns"};
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
  g.client.timeout = std::chrono::seconds(g.timeout_s);
  auto client = OperatorClient::Connect(g.client);
  if (!client) {
    std::cerr << "slotwise: " << client.error().message << "\n";
    return client.error().code == v1::UNAUTHENTICATED ? kExitNotAuthorized : kExitUnreachable;
  }
  return action(**client);
}

}  // namespace slotwise::cli
