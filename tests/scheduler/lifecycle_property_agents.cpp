// The terminals of the lifecycle property test: agents that follow the
// contract (their retained notices say what to do: report, check at the
// start time, download and report the outcome) and requests a terminal may
// send at any time.
#include "lifecycle_property_world.h"

namespace slotwise::scheduler::testing::lifecycle {

v1::Report World::ReportOf(const SimTerminal& t, const std::string& cid) {
  v1::Report r;
  r.set_campaign_id(cid);
  r.set_current_version(t.versions.at(""));
  r.set_system_id(t.system_id);
  r.mutable_location()->set_lat(t.lat);
  r.mutable_location()->set_lon(t.lon);
  auto* app = r.add_components();
  app->set_component("app");
  app->set_version(t.versions.at("app"));
  return r;
}

void World::SendStatus(SimTerminal& t, const std::string& cid, v1::Status::State state, const std::string& version) {
  v1::Status s;
  s.set_campaign_id(cid);
  s.set_state(state);
  s.set_version(version);
  Outbox out;
  const auto reply = h_.svc().HandleStatus(t.id, s, out);
  Apply(out);
  trace_ << t.id << " status " << v1::Status::State_Name(state) << " " << cid << ": "
         << (reply.has_error() ? reply.error().message() : "ack") << "\n";
}

// A terminal that follows the contract: its retained notices say what to do.
void World::Agent(SimTerminal& t) {
  if (t.vanished || !t.connected) return;
  if (!t.online) SetOnline(t, true);
  for (const auto& [topic, notice] : notices_) {
    if (topic != topics::Notice(t.id, notice.component())) continue;
    const std::string cid = notice.campaign_id();
    const std::string component = notice.component();
    AgentWork& w = t.work[cid];
    if (!w.assignment) {
      Outbox out;
      const auto reply = h_.svc().HandleReport(t.id, ReportOf(t, cid), out);
      Apply(out);
      trace_ << t.id << " report " << cid << ": "
             << (reply.has_assignment() ? "slot " + std::to_string(reply.assignment().slot()) : reply.error().message())
             << "\n";
      if (reply.has_assignment()) t.work[cid].assignment = reply.assignment();
      return;
    }
    if (!w.go) {
      if (Now() < w.assignment->start_at_ms()) continue;
      v1::Check c;
      c.set_campaign_id(cid);
      c.set_current_version(t.versions.at(component));
      c.set_slot(w.assignment->slot());
      Outbox out;
      const auto reply = h_.svc().HandleCheck(t.id, c, out);
      Apply(out);
      if (!reply.has_check_result()) return;
      const auto& result = reply.check_result();
      trace_ << t.id << " check " << cid << ": " << v1::CheckResult::Verdict_Name(result.verdict()) << "\n";
      switch (result.verdict()) {
        case v1::CheckResult::GO:
          REQUIRE(Now() >= result.download().not_before_ms());
          t.work[cid].go = true;
          break;
        case v1::CheckResult::TOO_EARLY:
        case v1::CheckResult::RESCHEDULED: t.work[cid].assignment = result.assignment(); break;
        case v1::CheckResult::ALREADY_CURRENT:
          SendStatus(t, cid, v1::Status::SUCCEEDED, t.versions.at(component));
          t.work.erase(cid);
          break;
        default:
          SendStatus(t, cid, v1::Status::STOOD_DOWN, t.versions.at(component));
          t.work.erase(cid);
          break;
      }
      return;
    }
    // Downloading: finish (mostly succeeding), or say how it goes.
    const int roll = Pick(0, 9);
    if (roll < 2) {
      SendStatus(t, cid, v1::Status::DOWNLOADING, t.versions.at(component));
    } else if (roll < 7) {
      t.versions[component] = Target(cid);
      SendStatus(t, cid, v1::Status::SUCCEEDED, t.versions[component]);
      t.work.erase(cid);
    } else {
      SendStatus(t, cid, v1::Status::FAILED, t.versions.at(component));
      t.work.erase(cid);
    }
    return;
  }
}


// Requests a terminal may send at any time: repeated, late, for a campaign
// it has no notice of, with another version, an inventory report.
void World::Chaos() {
  if (campaigns_.empty()) return;
  auto& t = terminals_[Index(terminals_.size())];
  if (t.vanished || !t.connected) return;
  auto it = campaigns_.begin();
  std::advance(it, static_cast<long>(Index(campaigns_.size())));
  const std::string& cid = it->first;
  Outbox out;
  const int roll = Pick(0, 5);
  if (roll == 0) {
    h_.svc().HandleReport(t.id, ReportOf(t, ""), out);
    trace_ << t.id << " inventory\n";
  } else if (roll == 1) {
    const auto r = h_.svc().HandleReport(t.id, ReportOf(t, cid), out);
    trace_ << t.id << " chaos report " << cid << ": " << (r.has_error() ? r.error().message() : "assignment") << "\n";
  } else if (roll == 2) {
    v1::Check c;
    c.set_campaign_id(cid);
    c.set_current_version(Pick(0, 3) == 0 ? "9.9" : t.versions.at(it->second.component));
    const auto r = h_.svc().HandleCheck(t.id, c, out);
    trace_ << t.id << " chaos check " << cid << ": "
           << (r.has_check_result() ? v1::CheckResult::Verdict_Name(r.check_result().verdict()) : r.error().message())
           << "\n";
  } else {
    static const v1::Status::State kStates[] = {v1::Status::DOWNLOADING, v1::Status::SUCCEEDED,
                                                v1::Status::FAILED, v1::Status::STOOD_DOWN};
    Apply(out);
    SendStatus(t, cid, kStates[Pick(0, 3)], t.versions.at(it->second.component));
    return;
  }
  Apply(out);
}


}  // namespace slotwise::scheduler::testing::lifecycle
