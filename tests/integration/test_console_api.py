#!/usr/bin/env python3
"""The console's aggregates in the HTTP API (issue 13) against the real daemon.

A real stack (mosquitto with the plugin, slotwise-scheduler with
--http-listen over TLS and the users of test_http_api.py, nginx nodes and
real agents): GET /v1/capacity (the capacity calendar of every campaign's
bookings), GET /v1/campaigns/{id}/window-load (what a DRAFT campaign's
window would book), GET /v1/campaigns/{id}/downloads (downloads started
and failed per node and slot), the total of a page of a campaign's
terminals, and GET /v1's user and role: values checked against the
campaign's own terminal records, bad arguments 400 (nothing changes), no
credentials 401, a viewer may read them all.

    python3 tests/integration/test_console_api.py --build-dir build [--keep]
"""

from __future__ import annotations

import argparse
import sys
import time
import unittest
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
sys.path.insert(0, str(Path(__file__).resolve().parent))
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402
import test_http_api as http_api  # noqa: E402

OPTS = argparse.Namespace(build_dir=str(REPO / "build"), keep=False, slot_seconds=3.0)
FLEET = 6


class ConsoleApi(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        http_api.HttpApi.set_up_stack.__func__(cls)
        s = cls.stack
        ls.build_demo_topology(s, per_slot=2)
        agents = s.spawn_fleet(FLEET)
        cls.tids = sorted(a.id for a in agents)
        s.wait_terminals_known(cls.tids, timeout=30)

    def call(self, *a, **k):
        return self.api.call(*a, **k)

    def assert_error(self, status, body, want_status, want_code) -> None:
        self.assertEqual(status, want_status, body)
        self.assertEqual(body.get("code"), want_code, body)
        self.assertTrue(body.get("message"), body)

    def nodes(self) -> list[str]:
        return sorted(n["id"] for n in self.call("GET", "/v1/nodes")[1].get("nodes", []))

    def test_whoami(self) -> None:
        for user, role in (("vera", "viewer"), ("otto", "operator"), ("ada", "admin")):
            st_, b = self.call("GET", "/v1", user=user)
            self.assertEqual(st_, 200, b)
            self.assertEqual((b["user"], b["role"]), (user, role))

    def test_capacity_bad_args_400_and_401(self) -> None:
        for q in ("from_slot=10&to_slot=5", "from_slot=100&to_slot=100", "from_slot=1&to_slot=3000",
                  "from_slot=-1", "to_slot=-4"):
            self.assert_error(*self.call("GET", f"/v1/capacity?{q}", user="vera"), 400, "INVALID_ARGUMENT")
        for q in ("from_slot=abc", "colour=red", "to_slot=1.5"):
            self.assert_error(*self.call("GET", f"/v1/capacity?{q}", user="vera"), 400, "MALFORMED")
        self.assert_error(*self.call("GET", "/v1/capacity?cluster=nope", user="vera"), 404, "NOT_FOUND")
        self.assert_error(*self.call("GET", "/v1/capacity", user=None), 401, "UNAUTHENTICATED")
        self.assert_error(*self.call("GET", "/v1/campaigns/none/downloads", user="vera"), 404, "NOT_FOUND")
        self.assert_error(*self.call("GET", "/v1/campaigns/none/window-load?start_slot=1&end_slot=2", user="vera"),
                          404, "NOT_FOUND")
        # The limit is exactly 2016 slots.
        st_, b = self.call("GET", "/v1/capacity?from_slot=1000&to_slot=3016", user="vera")
        self.assertEqual(st_, 200, b)
        self.assertEqual({len(r["booked"]) for r in b["nodes"]}, {2016})

    def test_window_load_then_calendar_then_downloads(self) -> None:
        cid = "agg"
        st_, b = self.call("POST", "/v1/campaigns", {"id": cid, "targetVersion": ls.NEW_VERSION,
                                                     "terminalIds": self.tids}, user="otto")
        self.assertEqual(st_, 200, b)
        st_, w = self.call("GET", f"/v1/campaigns/{cid}/windows", user="vera")
        self.assertEqual(st_, 200, w)
        win = w["windows"][0]
        q = f"start_slot={win['startSlot']}&end_slot={win['endSlot']}"
        if float(win.get("maxUtilisation", 0)):
            q += f"&max_utilisation={win['maxUtilisation']}"
        if int(win.get("coreEndSlot", 0)):
            q += f"&core_end_slot={win['coreEndSlot']}"
        # Bad windows: 400, or 409 for a campaign that is not DRAFT (below).
        for bad in ("", "start_slot=5&end_slot=5", f"{q}&max_utilisation=2", "start_slot=10&end_slot=20&core_end_slot=5",
                    f"{q}&from_slot=1&to_slot=5000"):
            self.assert_error(*self.call("GET", f"/v1/campaigns/{cid}/window-load?{bad}", user="vera"),
                              400, "INVALID_ARGUMENT")
        st_, load = self.call("GET", f"/v1/campaigns/{cid}/window-load?{q}", user="vera")
        self.assertEqual(st_, 200, load)
        self.assertEqual(load["placed"], FLEET, load)
        self.assertEqual(load.get("unplaced", 0), 0, load)
        added = sum(sum(r["booked"]) for r in load["nodes"])
        self.assertEqual(added + load.get("placedOutside", 0), FLEET, load)
        self.assertEqual(sorted(r["nodeId"] for r in load["nodes"]), self.nodes())
        # A dry run: nothing booked yet.
        st_, cal = self.call("GET", f"/v1/capacity?from_slot={win['startSlot']}&to_slot={win['endSlot']}", user="vera")
        self.assertEqual(st_, 200, cal)
        self.assertEqual(sum(sum(r["booked"]) for r in cal["nodes"]), 0, cal)
        for r in cal["nodes"]:
            self.assertEqual(r["capacityPerSlot"], r["perSlot"], r)
            self.assertEqual(r["state"], "ACTIVE")
        st_, b = self.call("POST", f"/v1/campaigns/{cid}/schedule",
                           {"startSlot": win["startSlot"], "endSlot": win["endSlot"],
                            "maxUtilisation": win.get("maxUtilisation", 0), "coreEndSlot": win.get("coreEndSlot", "0")},
                           user="otto")
        self.assertEqual(st_, 200, b)
        self.assert_error(*self.call("GET", f"/v1/campaigns/{cid}/window-load?{q}", user="vera"),
                          409, "FAILED_PRECONDITION")
        # The agents fetch their notices and book; wait until all are booked or done.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            st_, p = self.call("GET", f"/v1/campaigns/{cid}/terminals?page_size=1000", user="vera")
            terms = p.get("terminals", [])
            if all(t.get("nodeId") for t in terms) and len(terms) == FLEET:
                break
            time.sleep(0.5)
        # The calendar holds exactly the campaign's bookings (no other campaign books here).
        from_slot = min(int(t["slot"]) for t in terms)
        to_slot = max(int(t["slot"]) for t in terms) + 1
        st_, cal = self.call("GET", f"/v1/capacity?from_slot={from_slot}&to_slot={to_slot}", user="vera")
        self.assertEqual(st_, 200, cal)
        got = Counter()
        for r in cal["nodes"]:
            for i, n in enumerate(r["booked"]):
                if n:
                    got[(r["nodeId"], from_slot + i)] = n
        want = Counter((t["nodeId"], int(t["slot"])) for t in terms if t.get("nodeId"))
        self.assertEqual(got, want)
        # Per cluster.
        cluster = cal["nodes"][0]["clusterId"]
        st_, one = self.call("GET", f"/v1/capacity?from_slot={from_slot}&to_slot={to_slot}&cluster={cluster}",
                             user="vera")
        self.assertEqual({r["clusterId"] for r in one["nodes"]}, {cluster})
        # Wait for DONE, then the downloads heatmap matches the records.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            s = self.call("GET", f"/v1/campaigns/{cid}/summary", user="vera")[1]
            if s["campaign"]["state"] == "DONE":
                break
            time.sleep(0.5)
        self.assertEqual(s["campaign"]["state"], "DONE", s)
        st_, p = self.call("GET", f"/v1/campaigns/{cid}/terminals?page_size=1000", user="vera")
        self.assertEqual(p["total"], FLEET)
        want = Counter((t["nodeId"], int(t["slot"])) for t in p["terminals"])
        st_, d = self.call("GET", f"/v1/campaigns/{cid}/downloads", user="vera")
        self.assertEqual(st_, 200, d)
        self.assertEqual((d.get("started", 0), d.get("failed", 0)), (FLEET, 0), d)
        got = Counter()
        for r in d["nodes"]:
            for i, n in enumerate(r["started"]):
                if n:
                    got[(r["nodeId"], int(d["fromSlot"]) + i)] = n
        self.assertEqual(got, want)
        self.assertEqual(int(d["fromSlot"]), min(s for _, s in want))
        self.assertEqual(int(d["toSlot"]), max(s for _, s in want) + 1)
        for bad in ("from_slot=-1", "from_slot=10&to_slot=9", "from_slot=1&to_slot=2018"):
            self.assert_error(*self.call("GET", f"/v1/campaigns/{cid}/downloads?{bad}", user="vera"),
                              400, "INVALID_ARGUMENT")
        # The page's total follows the filter.
        st_, f = self.call("GET", f"/v1/campaigns/{cid}/terminals?page_size=2&outcomes=SUCCEEDED", user="vera")
        self.assertEqual((len(f["terminals"]), f["total"]), (2, FLEET))
        st_, f = self.call("GET", f"/v1/campaigns/{cid}/terminals?page_size=2&outcomes=FAILED", user="vera")
        self.assertEqual(f.get("total", 0), 0)
        # Reads are not audited.
        st_, a = self.call("GET", "/v1/audit?page_size=1000", user="vera")
        self.assertFalse([e for e in a["entries"] if e["command"] in
                          ("get_capacity", "query_window_load", "get_campaign_downloads")])


def main() -> int:
    return st.run_test_file([ConsoleApi], OPTS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
