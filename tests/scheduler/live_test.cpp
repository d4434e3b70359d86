// Live usage: nginx stub_status parsing, the poller, and what the service
// does with observations (lower near capacity, move bookings off a node that
// stops answering). Service cases run against both stores.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <thread>

#include "harness.h"
#include "slotwise/scheduler/load_poller.h"

using namespace slotwise;
using namespace slotwise::scheduler;
using namespace slotwise::scheduler::testing;

TEST_CASE("stub_status pages are parsed and anything else is not") {
  CHECK(ParseStubStatus("Active connections: 3 \nserver accepts handled requests\n 5 5 9 \n") == 3u);
  CHECK(ParseStubStatus("Active connections:17\n") == 17u);
  CHECK_FALSE(ParseStubStatus("<html>404</html>").has_value());
  CHECK_FALSE(ParseStubStatus("Active connections: x").has_value());
  CHECK_FALSE(ParseStubStatus("").has_value());
}

TEST_CASE("the poller reports a node that does not answer as unreachable") {
  // A port that was free a moment ago: nothing listens there.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const int port = ntohs(addr.sin_port);
  ::close(fd);

  LoadPoller poller(std::chrono::milliseconds(20), std::chrono::milliseconds(500));
  poller.SetTargets({{"n1", "http://127.0.0.1:" + std::to_string(port) + "/nginx_status"}});
  std::vector<NodeObservation> seen;
  for (int i = 0; i < 1000 && seen.empty(); ++i) {
    seen = poller.Take();
    if (seen.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.front().node_id == "n1");
  CHECK_FALSE(seen.front().active_connections.has_value());
}

TEST_CASE("a node that stops answering loses its future bookings to the other nodes, at the same time") {
  for (bool rocksdb : {false, true}) {
    CAPTURE(rocksdb);
    Harness h(rocksdb);
    SetUpScheduledCampaign(h, 20);
    std::map<std::string, v1::Assignment> told;
    for (int i = 0; i < 4; ++i) {
      const std::string id = "T" + std::to_string(i);
      told[id] = h.svc().HandleReport(id, ReportFor("c1", 48.9, 2.4)).assignment();
    }
    // p1 and p2 (per_slot 2) share the first slot: 2 on each.
    REQUIRE(told["T0"].slot() == told["T3"].slot());
    CHECK(h.svc().ObserveNodeLoad("p1", std::nullopt) == 2);
    CHECK(h.svc().ObserveNodeLoad("p1", std::nullopt) == 0);  // already down
    CHECK(h.svc().ObserveNodeLoad("nope", std::nullopt) == 0);
    const auto report = h.Op(Get("c1")).campaign();
    std::map<std::pair<std::string, Slot>, int> load;
    for (const auto& p : report.terminals()) {
      if (!p.assigned()) continue;
      CHECK(p.node_id() != "p1");
      ++load[{p.node_id(), p.slot()}];
      CHECK(h.svc().ledger().Booked(p.node_id(), p.slot()) <= 2);
    }
    CHECK(h.svc().ledger().Booked("p1", told["T0"].slot()) == 0);
    // p2's slot is full, so the moved ones go to the next slot of paris.
    for (const auto& [key, count] : load) CHECK(count <= 2);
    // A check tells the terminal its new time.
    v1::Check check;
    check.set_campaign_id("c1");
    check.set_current_version("1.0.0");
    for (const auto& [id, a] : told) {
      if (a.node_id() != "p1") continue;
      const v1::TerminalReply r = h.svc().HandleCheck(id, check);
      CHECK(r.check_result().assignment().node_id() != "p1");
    }
    h.Reopen();  // the moves are durable
    const auto after = h.Op(Get("c1"));
    for (const auto& p : after.campaign().terminals()) {
      if (p.assigned()) CHECK(p.node_id() != "p1");
    }
    // When p1 answers again it takes bookings again.
    h.svc().ObserveNodeLoad("p1", 1);
    bool p1_used = false;
    for (int i = 4; i < 12; ++i) {
      const auto a = h.svc().HandleReport("T" + std::to_string(i), ReportFor("c1", 48.9, 2.4)).assignment();
      p1_used = p1_used || a.node_id() == "p1";
    }
    CHECK(p1_used);
  }
}

TEST_CASE("live load lowers the capacity of the near slots only") {
  ServiceOptions options{kSlotMs, 1};
  options.live_slots = 3;  // the current slot and the next two
  Harness h(false, options);
  SetUpScheduledCampaign(h, 20);
  // p1 busy with 1 + 2 connections nobody booked: no room in the near slots.
  h.svc().ObserveNodeLoad("p1", 3);
  const Slot now = kT0 / kSlotMs;
  for (int i = 0; i < 8; ++i) {
    const auto a = h.svc().HandleReport("T" + std::to_string(i), ReportFor("c1", 48.9, 2.4)).assignment();
    if (a.slot() < now + 3) CHECK(a.node_id() != "p1");
    CHECK(h.svc().ledger().Booked(a.node_id(), a.slot()) <= 2);
  }
  CHECK(h.svc().ledger().Booked("p1", now + 3) > 0);  // later slots keep full capacity
}
