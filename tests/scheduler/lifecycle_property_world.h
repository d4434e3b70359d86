// The world of the lifecycle property test (lifecycle_property_test.cpp):
// a scheduler on a MemoryStore and a fake clock, a random fleet, the
// broker's retained notices replayed from every Outbox, the operator's
// commands, and the invariants checked after every step. The terminals'
// behaviour (contract-following agents and random requests) is in
// lifecycle_property_agents.cpp.
#pragma once

#include <doctest/doctest.h>

#include <array>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"
#include "slotwise/scheduler/campaign_table.h"
#include "slotwise/geo.h"
#include "slotwise/version.h"
#include <algorithm>

namespace slotwise::scheduler::testing::lifecycle {

using P = v1::TerminalProgress;

inline std::uint64_t EnvOr(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

// The last `lines` lines of `text`.
inline std::string Tail(const std::string& text, int lines) {
  std::size_t at = text.size();
  for (int n = 0; n <= lines && at != std::string::npos && at > 0; ++n) at = text.rfind('\n', at - 1);
  return at == std::string::npos ? text : text.substr(at + 1);
}

constexpr std::int64_t kAllowanceMs = 5 * kSlotMs;
// The system image's size: 1.5 slots at the default link rate (1 Mbit/s).
constexpr std::uint64_t kSystemBytes = 375'000;
constexpr std::int64_t kGraceMs = 3 * kSlotMs;

struct AgentWork {  // what a well-behaved agent holds for one campaign
  std::optional<v1::Assignment> assignment;
  bool go = false;
};

struct SimTerminal {
  std::string id;
  std::string system_id;  // "PAX-..." or "ING-..."
  bool connected = true;  // false: not known to the scheduler until it connects (a late terminal)
  double lat = 0, lon = 0;
  std::map<std::string, std::string> versions;  // component ("" = system) -> version
  bool online = true;
  bool vanished = false;
  std::map<std::string, AgentWork> work;  // by campaign id
};

class World {
 public:
  World(std::uint64_t seed, std::ostringstream& trace) : rng_(seed), trace_(trace), h_(false, Options()) {}

  static ServiceOptions Options() {
    ServiceOptions o{kSlotMs, 1};
    o.download_allowance_ms = kAllowanceMs;
    o.offline_grace_ms = kGraceMs;
    o.rolling_horizon_ms = 40 * kSlotMs;
    return o;
  }

  void SetUp() {
    const int clusters = Pick(1, 2);
    clusters_ = clusters;
    for (int c = 0; c < clusters; ++c) {
      const std::string cid = "c" + std::to_string(c);
      REQUIRE(h_.Op(AddCluster(cid, 40 + c * 5, c * 5)).has_ack());
      for (int n = Pick(1, 2); n > 0; --n) {
        const std::string nid = cid + "n" + std::to_string(n);
        const auto per_slot = static_cast<std::uint32_t>(Pick(1, 3));
        auto add = AddNode(nid, cid, per_slot);
        // Capacity in bytes: some nodes also limit downloads in progress.
        const auto max_connections = static_cast<std::uint32_t>(Pick(0, 2));
        add.mutable_add_node()->mutable_node()->set_max_connections(max_connections);
        REQUIRE(h_.Op(add).has_ack());
        per_slot_[nid] = per_slot;
        max_connections_[nid] = max_connections;
      }
    }
    for (const char* v : {"2.0.0", "3.0.0"}) {
      auto a = AddArtifact(v);
      // 1.5 slots at the default 1 Mbit/s: downloads overlap the next slot.
      a.mutable_add_artifact()->mutable_artifact()->set_size(kSystemBytes);
      REQUIRE(h_.Op(a).has_ack());
    }
    for (const char* v : {"1.5", "2.0"}) {
      auto a = AddArtifact(v);
      a.mutable_add_artifact()->mutable_artifact()->set_component("app");
      REQUIRE(h_.Op(a).has_ack());
    }
    for (int t = Pick(3, 10); t > 0; --t) {
      SimTerminal s;
      s.id = "T" + std::to_string(terminals_.size());
      s.lat = 40 + Pick(0, 10);
      s.lon = Pick(0, 10);
      s.versions[""] = Pick(0, 5) == 0 ? "2.0.0" : "1.0.0";
      s.versions["app"] = Pick(0, 4) == 0 ? "2.0" : "1.0";
      s.system_id = (Pick(0, 1) == 0 ? "PAX-" : "ING-") + std::to_string(Pick(1, 9));
      s.connected = Pick(0, 2) != 0;  // a third of the fleet connects later (first sign: its inventory)
      terminals_.push_back(s);
    }
  }

  // One random step; `drain` = the end phase (no chaos, no vanishing).
  void Step(bool drain) {
    const int roll = Pick(0, 99);
    if (!drain && roll < 12) return Operator();
    if (!drain && roll < 15) return Reload();
    if (!drain && roll < 17) return Vanish();
    if (!drain && roll < 20) return Presence();
    if (!drain && roll < 22) return Connect(terminals_[Index(terminals_.size())]);
    if (!drain && roll < 30) return Chaos();
    // The drain moves in quarter slots, so a terminal meets its start time
    // (starts are spread over the first half of a slot) before its slot ends.
    if (roll < 45 || drain) Advance(drain ? kSlotMs / 4 : Pick(0, 2) * kSlotMs + Pick(0, 1999));
    if (drain) {
      for (auto& t : terminals_) Agent(t);
      return;
    }
    Agent(terminals_[Index(terminals_.size())]);
  }

  // What the case's campaigns ended with, for the coverage check.
  void Tally(std::map<std::string, int>& seen) {
    for (const auto& [cid, c] : campaigns_) {
      const auto report = Get(cid);
      ++seen["campaign " + v1::CampaignState_Name(report.campaign().state())];
      for (const auto& p : report.terminals()) {
        ++seen[P::Outcome_Name(p.outcome())];
        if (c.filter && !c.named.contains(p.terminal_id())) ++seen["taken in by a filter"];
        if (p.detail().find("timed out") != std::string::npos) ++seen["timed out at least once"];
      }
    }
    seen["reloads"] += reloads_;
  }

  void Drain() {
    // The operator finishes its part: every DRAFT is scheduled, every
    // PAUSED campaign resumed (again and again: the threshold may pause it).
    TimeMs until = Now();
    for (auto& [cid, c] : campaigns_) until = std::max(until, c.deadline_ms);
    until += kAllowanceMs + kGraceMs + 60 * kSlotMs;
    for (auto& t : terminals_) {
      if (!t.vanished && !t.online) SetOnline(t, true);
      if (!t.vanished && !t.connected) Connect(t);
    }
    while (Now() < until) {
      for (auto& [cid, c] : campaigns_) {
        const auto state = State(cid);
        if (state == v1::DRAFT) Schedule(cid);
        if (state == v1::PAUSED) Control("resume", cid);
      }
      Step(true);
      CheckInvariants("drain");
    }
    Advance(kSlotMs);
    CheckInvariants("end");
    for (auto& [cid, c] : campaigns_) {
      const auto report = Get(cid);
      std::set<std::string> vanished;
      for (const auto& t : terminals_) {
        if (t.vanished) vanished.insert(t.id);
      }
      bool any_vanished = false;
      for (const auto& p : report.terminals()) {
        if (vanished.contains(p.terminal_id())) any_vanished = true;
        if (c.deadline_ms != 0 || !vanished.contains(p.terminal_id())) {
          INFO("campaign " << cid << " terminal " << p.terminal_id() << " outcome " << P::Outcome_Name(p.outcome())
                           << " state " << v1::CampaignState_Name(report.campaign().state()));
          REQUIRE(HasOutcome(p));
        }
      }
      if (c.deadline_ms != 0 || !any_vanished) {
        INFO("campaign " << cid);
        REQUIRE(IsFinalCampaign(report.campaign().state()));
      }
    }
  }

  void CheckInvariants(const std::string& where) {
    INFO("after " << where << " at " << Now());
    // Capacity: the ledger and the records.
    std::map<std::pair<std::string, Slot>, std::uint32_t> booked;
    std::map<std::pair<std::string, std::string>, int> live;   // (terminal, component) -> live bookings
    std::map<std::pair<std::string, std::string>, int> owners;  // (terminal, component) -> unfinished campaigns
    // The metrics' counts per outcome (kept incrementally) are the records' (issue 13).
    std::map<std::string, std::array<std::size_t, P::Outcome_ARRAYSIZE>> counted;
    for (const auto& g : h_.svc().Gauges(100000, 100000).campaigns) counted[g.id] = g.outcomes;
    for (auto& [cid, c] : campaigns_) {
      const auto report = Get(cid);
      const auto state = report.campaign().state();
      {
        std::array<std::size_t, P::Outcome_ARRAYSIZE> recount{};
        for (const auto& p : report.terminals()) ++recount[p.outcome()];
        INFO("metrics outcome counts of campaign " << cid);
        REQUIRE(counted.contains(cid));
        REQUIRE(counted[cid] == recount);
      }
      bool all_final = true;
      for (const auto& p : report.terminals()) {
        if (p.assigned()) ++booked[{p.node_id(), p.slot()}];
        if (p.assigned() && !HasOutcome(p)) ++live[{p.terminal_id(), c.component}];
        if (!HasOutcome(p) && !IsFinalCampaign(state)) ++owners[{p.terminal_id(), c.component}];
        all_final = all_final && HasOutcome(p);
        const std::string topic = topics::Notice(p.terminal_id(), c.component);
        const auto retained = notices_.find(topic);
        if (state == v1::SCHEDULED && Unfinished(p)) {
          INFO("terminal " << p.terminal_id() << " of " << cid << " has no retained notice for it");
          REQUIRE(retained != notices_.end());
          REQUIRE(retained->second.campaign_id() == cid);
        }
        if (retained != notices_.end() && retained->second.campaign_id() == cid) {
          INFO("retained notice of " << cid << " for " << p.terminal_id() << " whose work is over");
          REQUIRE_FALSE(HasOutcome(p));
        }
        if (just_ticked_ && p.checked_in() && !HasOutcome(p)) {
          INFO("GO of " << p.terminal_id() << " in " << cid << " outlived its allowance");
          REQUIRE(Now() < h_.svc().grid().End(p.slot()) + kAllowanceMs);
        }
      }
      INFO("campaign " << cid << " is " << v1::CampaignState_Name(state));
      if (c.filter) {
        // Open for terminals still to come: final only at its deadline (or cancelled).
        if (IsFinalCampaign(state)) REQUIRE(all_final);
        if (state == v1::DONE) REQUIRE(Now() >= c.deadline_ms);
      } else {
        REQUIRE(IsFinalCampaign(state) == all_final);
      }
      if (c.done) REQUIRE(state == v1::DONE);
      c.done = state == v1::DONE;
      if (just_ticked_ && report.campaign().deadline_ms() != 0 && Now() >= report.campaign().deadline_ms()) {
        REQUIRE(IsFinalCampaign(state));
      }
    }
    // Connections: in every time bucket, the bookings' reservations (from
    // the records) fit the node's limit, and the ledger holds exactly them
    // (nothing leaked by a release, an undo or a move).
    for (const auto& [nid, limit] : max_connections_) {
      if (limit == 0) continue;
      std::map<std::int64_t, std::uint32_t> in_progress;
      NodeCapacity node{nid, per_slot_[nid], per_slot_[nid]};
      node.max_connections = limit;
      for (auto& [cid, c] : campaigns_) {
        const auto report = Get(cid);
        for (const auto& p : report.terminals()) {
          if (!p.assigned() || p.node_id() != nid) continue;
          const ServiceOptions defaults;
          const ByteDemand d{c.component.empty() ? kSystemBytes : 1234, defaults.default_link_bps, kSlotMs,
                             kSlotMs / kBucketsPerSlot, defaults.download_guard_ms, defaults.download_guard_permille};
          const auto r = ReservationFor(node, d, p.start_at_ms());
          REQUIRE(r);
          for (std::int64_t b = r->first; b < r->end; ++b) ++in_progress[b];
        }
      }
      std::uint32_t peak = 0;
      for (const auto& [b, n] : in_progress) peak = std::max(peak, n);
      INFO("node " << nid << " max_connections " << limit);
      REQUIRE(peak <= limit);
      REQUIRE(h_.svc().ledger().PeakConnections(nid, -(std::int64_t{1} << 40), std::int64_t{1} << 40) == peak);
    }
    for (const auto& [cell, n] : booked) {
      INFO("node " << cell.first << " slot " << cell.second);
      REQUIRE(n <= per_slot_[cell.first]);
      REQUIRE(h_.svc().ledger().Booked(cell.first, cell.second) == n);
    }
    for (const auto& [key, n] : live) {
      INFO("terminal " << key.first << " component '" << key.second << "'");
      REQUIRE(n <= 1);
    }
    for (const auto& [key, n] : owners) {
      INFO("terminal " << key.first << " component '" << key.second << "' has unfinished work in " << n);
      REQUIRE(n <= 1);
    }
  }

 private:
  struct SimCampaign {
    std::string component;
    TimeMs deadline_ms = 0;
    bool done = false;
    std::optional<v1::CampaignFilter> filter;
    std::string target;
    std::set<std::string> named;  // the terminals the operator listed
  };

  // The sim's own reading of a filter (schemas/README.md "Filter campaigns").
  bool Matches(const SimCampaign& c, const SimTerminal& t) const {
    const v1::CampaignFilter& f = *c.filter;
    if (!t.system_id.starts_with(f.system_id_prefix())) return false;
    if (!f.cluster_ids().empty()) {
      // Home cluster: the nearest (clusters sit at (40 + 5c, 5c)).
      int home = 0;
      double best = 1e18;
      for (int k = 0; k < clusters_; ++k) {
        const double d = DistanceKm({t.lat, t.lon}, {40.0 + k * 5, k * 5.0});
        if (d < best) best = d, home = k;
      }
      if (f.cluster_ids(0) != "c" + std::to_string(home)) return false;
    }
    if (f.below_target() && CompareVersions(t.versions.at(c.component), c.target) >= 0) return false;
    return true;
  }

  // A terminal connects: its inventory Report (as the agent sends on every
  // connect). Then every open filter campaign it matches holds it, unless
  // it has unfinished work for the component elsewhere.
  void Connect(SimTerminal& t) {
    if (t.vanished) return;
    t.connected = true;
    Outbox out;
    const auto reply = h_.svc().HandleReport(t.id, ReportOf(t, ""), out);
    Apply(out);
    trace_ << t.id << " connects: " << (reply.has_ack() ? std::to_string(reply.notices_size()) + " notices" : reply.error().message()) << "\n";
    REQUIRE(reply.has_ack());
    std::map<std::string, int> busy;  // component -> unfinished campaigns
    std::map<std::string, v1::CampaignReport> reports;
    for (const auto& [cid, c] : campaigns_) {
      reports[cid] = Get(cid);
      if (IsFinalCampaign(reports[cid].campaign().state())) continue;
      for (const auto& p : reports[cid].terminals()) {
        if (p.terminal_id() == t.id && !HasOutcome(p)) ++busy[c.component];
      }
    }
    for (const auto& [cid, c] : campaigns_) {
      const auto& r = reports[cid];
      if (!c.filter || IsFinalCampaign(r.campaign().state()) || !Matches(c, t)) continue;
      const bool member = std::any_of(r.terminals().begin(), r.terminals().end(),
                                      [&](const P& p) { return p.terminal_id() == t.id; });
      INFO("terminal " << t.id << " matches filter campaign " << cid << " but was not taken in");
      REQUIRE((member || busy[c.component] > 0));
    }
    // The Ack lists what the retained notices say (the agent takes both alike).
    for (const auto& n : reply.notices()) {
      const auto retained = notices_.find(topics::Notice(t.id, n.component()));
      REQUIRE(retained != notices_.end());
      REQUIRE(retained->second.campaign_id() == n.campaign_id());
    }
  }

  int Pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::size_t Index(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }
  TimeMs Now() { return h_.clock().NowMs(); }

  void Apply(const Outbox& out) {
    for (const auto& p : out) {
      if (p.payload.empty()) {
        notices_.erase(p.topic);
        continue;
      }
      v1::Notice n;
      REQUIRE(n.ParseFromString(p.payload));
      notices_[p.topic] = n;
      // A fresh notice is new work for the agent: it starts over.
      for (auto& t : terminals_) {
        if (topics::Notice(t.id, n.component()) == p.topic) t.work.erase(n.campaign_id());
      }
    }
  }

  v1::OperatorReply Op(const v1::OperatorRequest& r) {
    Outbox out;
    auto reply = h_.svc().HandleOperator(r, out);
    Apply(out);
    return reply;
  }
  v1::CampaignReport Get(const std::string& cid) {
    auto r = Op(testing::Get(cid));
    REQUIRE(r.has_campaign());
    return r.campaign();
  }
  v1::CampaignState State(const std::string& cid) { return Get(cid).campaign().state(); }

  void Advance(TimeMs by) {
    h_.clock().Advance(by);
    Outbox out;
    h_.svc().Tick(out);
    Apply(out);
    trace_ << "advance " << by << " -> " << Now() << "\n";
    just_ticked_ = true;
  }

  void Schedule(const std::string& cid) {
    v1::OperatorRequest s;
    const Slot now = h_.svc().grid().SlotAt(Now());
    s.mutable_schedule_campaign()->set_campaign_id(cid);
    s.mutable_schedule_campaign()->set_start_slot(now + 1);
    s.mutable_schedule_campaign()->set_end_slot(now + 1 + Pick(1, 4));
    const auto r = Op(s);
    trace_ << "schedule " << cid << ": " << (r.has_error() ? r.error().message() : "ok") << "\n";
  }

  void Control(const std::string& what, const std::string& cid) {
    v1::OperatorRequest r;
    if (what == "pause") r.mutable_pause_campaign()->set_campaign_id(cid);
    if (what == "resume") r.mutable_resume_campaign()->set_campaign_id(cid);
    if (what == "cancel") r.mutable_cancel_campaign()->set_campaign_id(cid);
    const auto reply = Op(r);
    trace_ << what << " " << cid << ": " << (reply.has_error() ? reply.error().message() : "ok") << "\n";
  }

  void Operator() {
    const int roll = Pick(0, 9);
    if (roll < 4 || campaigns_.empty()) {
      const std::string cid = "k" + std::to_string(campaigns_.size());
      const bool app = Pick(0, 2) == 0;
      auto r = CreateCampaign(cid, app ? (Pick(0, 1) ? "1.5" : "2.0") : (Pick(0, 1) ? "2.0.0" : "3.0.0"), {});
      auto* c = r.mutable_create_campaign();
      for (const auto& t : terminals_) {
        if (Pick(0, 2) != 0) c->add_terminal_ids(t.id);
      }
      // A third are filter campaigns (some also naming terminals), always
      // with a deadline: without one a filter campaign stays open for good.
      const bool filter = Pick(0, 2) == 0;
      if (filter) {
        if (Pick(0, 1) == 0) c->clear_terminal_ids();
        auto* f = c->mutable_filter();
        if (Pick(0, 1) == 0) f->set_system_id_prefix("PAX-");
        if (Pick(0, 2) == 0) f->add_cluster_ids("c" + std::to_string(Pick(0, clusters_ - 1)));
        f->set_below_target(Pick(0, 1) == 0 || (f->system_id_prefix().empty() && f->cluster_ids().empty()));
      } else if (c->terminal_ids().empty()) {
        c->add_terminal_ids(terminals_.front().id);
      }
      if (app) c->set_component("app");
      c->set_max_retries(static_cast<std::uint32_t>(Pick(0, 2)));
      c->set_max_failures(static_cast<std::uint32_t>(Pick(0, 2)));
      c->set_supersede(Pick(0, 2) == 0);
      if (filter || Pick(0, 4) != 0) c->set_deadline_ms(Now() + Pick(4, 40) * kSlotMs);
      const auto reply = Op(r);
      trace_ << "create " << cid << (app ? " app" : "") << (filter ? " filter" : "") << " supersede=" << c->supersede()
             << " deadline=" << c->deadline_ms() << ": " << (reply.has_error() ? reply.error().message() : "ok")
             << "\n";
      if (reply.has_ack()) {
        SimCampaign sim;
        sim.component = app ? "app" : "";
        sim.deadline_ms = c->deadline_ms();
        if (filter) sim.filter = c->filter();
        sim.target = c->target_version();
        sim.named.insert(c->terminal_ids().begin(), c->terminal_ids().end());
        campaigns_[cid] = std::move(sim);
      }
      return;
    }
    auto it = campaigns_.begin();
    std::advance(it, static_cast<long>(Index(campaigns_.size())));
    if (roll < 5) return Schedule(it->first);
    if (roll < 6) return Membership(it->first);
    Control(roll < 8 ? "pause" : roll < 9 ? "resume" : "cancel", it->first);
  }

  // AddTerminals (sometimes superseding) or RemoveTerminals of a few terminals.
  void Membership(const std::string& cid) {
    v1::OperatorRequest r;
    const bool add = Pick(0, 1) == 0;
    std::string names;
    for (int n = Pick(1, 3); n > 0; --n) {
      const std::string& t = terminals_[Index(terminals_.size())].id;
      if (names.find(t + " ") != std::string::npos) continue;
      names += t + " ";
      if (add) r.mutable_add_terminals()->add_terminal_ids(t);
      if (!add) r.mutable_remove_terminals()->add_terminal_ids(t);
    }
    if (add) {
      for (const auto& t : r.add_terminals().terminal_ids()) campaigns_[cid].named.insert(t);
      r.mutable_add_terminals()->set_campaign_id(cid);
      r.mutable_add_terminals()->set_supersede(Pick(0, 1) == 0);
    } else {
      r.mutable_remove_terminals()->set_campaign_id(cid);
    }
    const auto reply = Op(r);
    trace_ << (add ? "add " : "remove ") << names << "to/from " << cid << ": "
           << (reply.has_error() ? reply.error().message() : "ok") << "\n";
  }

  void Reload() {
    std::map<std::string, std::string> before;
    for (const auto& [cid, c] : campaigns_) before[cid] = Get(cid).SerializeAsString();
    const std::string terminals = Op([] {
                                    v1::OperatorRequest r;
                                    r.mutable_list_terminals();
                                    return r;
                                  }()).SerializeAsString();
    h_.Reopen();
    ++reloads_;
    for (const auto& [cid, c] : campaigns_) {
      INFO("campaign " << cid << " changed across a reload");
      REQUIRE(Get(cid).SerializeAsString() == before[cid]);
    }
    REQUIRE(Op([] {
            v1::OperatorRequest r;
            r.mutable_list_terminals();
            return r;
          }()).SerializeAsString() == terminals);
    Outbox out;
    h_.svc().PendingNotices(out);  // as the daemon does after it connects
    Apply(out);
    trace_ << "reload\n";
  }

  void SetOnline(SimTerminal& t, bool online) {
    v1::Presence p;
    p.set_terminal_id(t.id);
    p.set_online(online);
    p.set_at_ms(Now());
    h_.svc().HandlePresence(t.id, p);
    t.online = online;
  }

  void Vanish() {
    auto& t = terminals_[Index(terminals_.size())];
    if (t.vanished) return;
    t.vanished = true;
    SetOnline(t, false);
    trace_ << "vanish " << t.id << "\n";
  }

  void Presence() {
    auto& t = terminals_[Index(terminals_.size())];
    if (!t.vanished) SetOnline(t, !t.online);
  }

  v1::Report ReportOf(const SimTerminal& t, const std::string& cid);
  void SendStatus(SimTerminal& t, const std::string& cid, v1::Status::State state, const std::string& version);
  // A terminal that follows the contract: its retained notices say what to do.
  void Agent(SimTerminal& t);
  std::string Target(const std::string& cid) { return Get(cid).campaign().target_version(); }
  // Requests a terminal may send at any time: repeated, late, for a campaign
  // it has no notice of, with another version, an inventory report.
  void Chaos();
 public:
  bool just_ticked_ = false;

 private:
  std::mt19937_64 rng_;
  std::ostringstream& trace_;
  Harness h_;
  std::map<std::string, std::uint32_t> per_slot_;
  int clusters_ = 1;
  std::map<std::string, std::uint32_t> max_connections_;
  std::vector<SimTerminal> terminals_;
  std::map<std::string, SimCampaign> campaigns_;
  std::map<std::string, v1::Notice> notices_;  // the broker's retained notices
  int reloads_ = 0;
};


}  // namespace slotwise::scheduler::testing::lifecycle
