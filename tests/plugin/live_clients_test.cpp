// LiveClients (broker-plugin/include/slotwise/broker/live_clients.h): which
// connection may publish for a client id; a write from any other is a will.
#include <doctest/doctest.h>

#include "slotwise/broker/live_clients.h"

using slotwise::broker::LiveClients;

namespace {
int a, b;  // two connections
const void* const kA = &a;
const void* const kB = &b;
}  // namespace

TEST_CASE("live clients: a connection is live from its connect to its disconnect") {
  LiveClients live;
  CHECK_FALSE(live.IsLive("T1", kA));
  live.OnAuthenticated("T1", kA);
  CHECK(live.IsLive("T1", kA));
  CHECK_FALSE(live.IsLive("T2", kA));
  live.OnDisconnected("T1", kA);
  CHECK_FALSE(live.IsLive("T1", kA));  // its will comes after this
  CHECK(live.size() == 0);
}

TEST_CASE("live clients: a session takeover ends the old connection at once") {
  LiveClients live;
  live.OnAuthenticated("T1", kA);
  live.OnAuthenticated("T1", kB);  // the new connection, before the old one's DISCONNECT
  CHECK_FALSE(live.IsLive("T1", kA));
  CHECK(live.IsLive("T1", kB));
  live.OnDisconnected("T1", kA);  // the old one's DISCONNECT leaves the new one live
  CHECK(live.IsLive("T1", kB));
}

TEST_CASE("live clients: the SIGHUP pass revives no ended session") {
  LiveClients live;
  live.OnAuthenticated("T1", kA);
  live.OnAuthenticated("T2", kB);
  live.OnDisconnected("T2", kB);
  live.BeginReauthPass();
  live.OnAuthenticated("T1", kA);  // held, connected
  live.OnAuthenticated("T2", kB);  // held persistent session, connection gone
  live.EndReauthPass();
  CHECK(live.IsLive("T1", kA));
  CHECK_FALSE(live.IsLive("T2", kB));
  live.OnAuthenticated("T2", kB);  // a real reconnect after the pass
  CHECK(live.IsLive("T2", kB));
}
