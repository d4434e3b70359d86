// Presence bookkeeping under the event orders mosquitto 2.0.11 produces
// (broker-plugin/include/slotwise/broker/presence.h).
#include <doctest/doctest.h>

#include "slotwise/broker/presence.h"
#include "slotwise/v1/terminal.pb.h"

using namespace slotwise::broker;

namespace {

// Distinct fake connection handles: the tracker only compares them.
int conn_storage[4];
const ConnectionHandle kConn1 = &conn_storage[0];
const ConnectionHandle kConn2 = &conn_storage[1];
const ConnectionHandle kConn3 = &conn_storage[2];

void CheckChange(const std::optional<PresenceChange>& change, std::string_view tid, bool online) {
  REQUIRE(change.has_value());
  CHECK(change->terminal_id == tid);
  CHECK(change->online == online);
}

}  // namespace

TEST_CASE("presence: connect then disconnect") {
  PresenceTracker tracker;
  CheckChange(tracker.OnAuthenticated(kConn1, "A"), "A", true);
  CHECK(tracker.IsOnline("A"));
  CheckChange(tracker.OnDisconnected(kConn1), "A", false);
  CHECK_FALSE(tracker.IsOnline("A"));
  CHECK(tracker.live_connections() == 0);
}

TEST_CASE("presence: session takeover keeps the terminal online") {
  // 2.0.11 order: new connection's BASIC_AUTH, then DISCONNECT of the old one.
  PresenceTracker tracker;
  CheckChange(tracker.OnAuthenticated(kConn1, "A"), "A", true);
  CheckChange(tracker.OnAuthenticated(kConn2, "A"), "A", true);
  CHECK_FALSE(tracker.OnDisconnected(kConn1).has_value());
  CHECK(tracker.IsOnline("A"));
  CheckChange(tracker.OnDisconnected(kConn2), "A", false);
}

TEST_CASE("presence: a new connection that dies before taking over leaves the old one online") {
  PresenceTracker tracker;
  (void)tracker.OnAuthenticated(kConn1, "A");
  (void)tracker.OnAuthenticated(kConn2, "A");
  CHECK_FALSE(tracker.OnDisconnected(kConn2).has_value());
  CHECK(tracker.IsOnline("A"));
}

TEST_CASE("presence: DISCONNECT of a refused or unknown connection is ignored") {
  PresenceTracker tracker;
  (void)tracker.OnAuthenticated(kConn1, "A");
  CHECK_FALSE(tracker.OnDisconnected(kConn3).has_value());
  CHECK(tracker.IsOnline("A"));
  // A second DISCONNECT for the same connection changes nothing.
  (void)tracker.OnDisconnected(kConn1);
  CHECK_FALSE(tracker.OnDisconnected(kConn1).has_value());
}

TEST_CASE("presence: repeated authentication of a live connection publishes nothing") {
  PresenceTracker tracker;
  (void)tracker.OnAuthenticated(kConn1, "A");
  CHECK_FALSE(tracker.OnAuthenticated(kConn1, "A").has_value());
  CHECK(tracker.live_connections() == 1);
}

TEST_CASE("presence: the SIGHUP re-authentication pass changes nothing") {
  PresenceTracker tracker;
  (void)tracker.OnAuthenticated(kConn1, "A");
  (void)tracker.OnAuthenticated(kConn2, "B");
  CheckChange(tracker.OnDisconnected(kConn2), "B", false);  // B keeps a session

  tracker.BeginReauthPass();
  CHECK(tracker.in_reauth_pass());
  CHECK_FALSE(tracker.OnAuthenticated(kConn1, "A").has_value());  // live client
  CHECK_FALSE(tracker.OnAuthenticated(kConn2, "B").has_value());  // dormant session
  tracker.EndReauthPass();

  CHECK(tracker.IsOnline("A"));
  CHECK_FALSE(tracker.IsOnline("B"));
  // A real connect after the pass is seen again.
  CheckChange(tracker.OnAuthenticated(kConn3, "B"), "B", true);
  // A client refused by the pass gets a DISCONNECT, which still counts.
  CheckChange(tracker.OnDisconnected(kConn1), "A", false);
}

TEST_CASE("presence: a connection re-authenticated under another id moves") {
  PresenceTracker tracker;
  (void)tracker.OnAuthenticated(kConn1, "A");
  CheckChange(tracker.OnAuthenticated(kConn1, "B"), "B", true);
  CHECK_FALSE(tracker.IsOnline("A"));
  CHECK(tracker.IsOnline("B"));
  CHECK(tracker.live_connections() == 1);
}

TEST_CASE("presence: EncodePresence produces a slotwise.v1.Presence") {
  slotwise::v1::Presence decoded;
  REQUIRE(decoded.ParseFromString(EncodePresence("term-7", true, 1'700'000'000'123)));
  CHECK(decoded.terminal_id() == "term-7");
  CHECK(decoded.online());
  CHECK(decoded.at_ms() == 1'700'000'000'123);

  REQUIRE(decoded.ParseFromString(EncodePresence("term-7", false, 5)));
  CHECK_FALSE(decoded.online());
  CHECK(decoded.at_ms() == 5);
}
