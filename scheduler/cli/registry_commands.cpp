// S1: `slotwise cluster|node|version ...` -- the download servers and the
// versions they serve.
#include <google/protobuf/util/json_util.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cmath>
#include <optional>
#include <cstdlib>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>

#include "delta_args.h"
#include "operator_client.h"
#include "slotwise/log.h"
#include "slotwise/sha256.h"
#include "slotwise/signature.h"
#include "table.h"

#include "command_support.h"

namespace slotwise::cli {

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

namespace {

// "100Mbit", "1.5Gbit", "512kbit", "100M", "2000000" -> bits/s.
std::optional<std::uint64_t> ParseBitRate(const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::string unit = text.substr(used);
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* tail : {"bit/s", "bps", "bit"}) {
    const std::string t(tail);
    if (unit.size() >= t.size() && unit.compare(unit.size() - t.size(), t.size(), t) == 0) {
      unit.resize(unit.size() - t.size());
      break;
    }
  }
  double scale = 1;
  if (unit == "k") scale = 1e3;
  else if (unit == "m") scale = 1e6;
  else if (unit == "g") scale = 1e9;
  else if (!unit.empty()) return std::nullopt;
  const double bps = value * scale;
  if (!(bps >= 1) || bps > 1e13) return std::nullopt;
  return static_cast<std::uint64_t>(bps + 0.5);
}

}  // namespace

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
  add->add_option_function<std::string>(
         "--bandwidth",
         [n](const std::string& v) {
           auto bps = ParseBitRate(v);
           if (!bps) throw CLI::ValidationError("--bandwidth", "expected e.g. 100Mbit, 1Gbit, 512kbit or 2000000");
           n->set_bandwidth_bps(*bps);
         },
         "upstream bandwidth, e.g. 100Mbit (k/M/G = 10^3/10^6/10^9 bit/s; a bare number is bits/s); "
         "bookings then reserve a rate and never exceed it")
      ->excludes("--bandwidth-bps");
  add->add_option_function<std::uint32_t>("--max-connections", [n](std::uint32_t v) { n->set_max_connections(v); },
                                          "most downloads in progress on it at any moment (0 = no limit)")
      ->check(CLI::Range(0u, 10'000'000u));
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
      Table t({"NODE", "CLUSTER", "URL", "PER_SLOT", "NOW", "STATE", "HEALTH", "CONNS", "DETAIL"});
      for (const auto& nd : r.nodes()) {
        const bool polled = nd.health() == v1::HEALTHY || nd.health() == v1::UNREACHABLE;
        t.Add({nd.id(), nd.cluster_id(), nd.base_url(), std::to_string(nd.per_slot()),
               std::to_string(nd.effective_per_slot()), v1::NodeState_Name(nd.state()),
               nd.health() == v1::NODE_HEALTH_UNSPECIFIED ? "-" : v1::NodeHealth_Name(nd.health()),
               polled ? std::to_string(nd.active_connections()) : "-",
               nd.health_detail().empty() ? "-" : nd.health_detail()});
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
  add->add_option_function<std::string>("--component", [a](const std::string& v) { a->set_component(v); },
                                        "the component this is a version of (default: the system image)");
  add->add_option("--sign-key", *sign_key,
                  "Ed25519 private key (PEM) that signs the manifest (schemas/README.md, Artifact signatures)")
      ->check(CLI::ExistingFile);
  auto delta_from = std::make_shared<std::vector<std::string>>();
  auto delta_level = std::make_shared<int>(DeltaOptions{}.level);
  add->add_option("--delta-from", *delta_from,
                  "FROM_VERSION=BASE_FILE[:/URL/PATH] (repeatable): build a zstd patch-from delta from that "
                  "version's file, written beside --file (default URL path: --path + .from-FROM_VERSION.zst); "
                  "base + new at most 2 GiB")
      ->take_all();
  add->add_option("--delta-level", *delta_level, "zstd level of the deltas (default 19)")->check(CLI::Range(1, 22));
  add->callback([a, file, sign_key, delta_from, delta_level, &action] {
    action = [a, file, sign_key, delta_from, delta_level](OperatorClient& c) {
      auto digest = Sha256FileHex(*file);
      if (!digest) {
        return ReportError(digest.error(), kExitUsage);
      }
      a->set_sha256(*digest);
      a->set_size(std::filesystem::file_size(*file));
      std::vector<DeltaSpec> specs;
      for (const std::string& spec : *delta_from) {
        auto parsed = ParseDeltaFrom(spec);
        if (!parsed) {
          return ReportError(parsed.error(), kExitUsage);
        }
        specs.push_back(*parsed);
      }
      a->clear_deltas();
      if (auto built = AddDeltas(*a, *file, specs, DeltaOptions{*delta_level}); !built) {
        return ReportError(built.error(), kExitUsage);
      }
      for (const auto& d : a->deltas()) {
        std::cerr << "slotwise: delta from " << d.from_version() << ": " << d.path() << ", " << d.size()
                  << " bytes (" << (100.0 * static_cast<double>(d.size()) / static_cast<double>(a->size()))
                  << "% of " << a->size() << ")\n";
      }
      if (!sign_key->empty()) {
        std::ifstream key_in(*sign_key);
        const std::string pem((std::istreambuf_iterator<char>(key_in)), std::istreambuf_iterator<char>());
        auto signature = SignEd25519(pem, ArtifactManifest(a->version(), a->sha256(), a->size(), a->component()));
        if (!signature) {
          return ReportError(signature.error(), kExitUsage, "--sign-key " + *sign_key + ": ");
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

}  // namespace slotwise::cli
