#!/usr/bin/env python3
"""End to end: one campaign through the real broker, plugin, scheduler, CLI, agents and nginx.

Two clusters (Paris, Munich), four nginx nodes with per_slot 2, 24 terminals:
the fleet needs ceil(24 / 8) = 3 slots at least. The campaign runs S1-S11 to
completion; then the evidence is checked from three independent sources:
the agents' version files, the scheduler's campaign report (`slotwise
campaign status --json`) and the nginx access logs (which node served whom,
and when each download started: $msec - $request_time).

    python3 tests/integration/test_campaign.py --build-dir build [--keep]

The last line is `N passed, M failed`; the exit code is 0 only if all passed.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402

CAMPAIGN = "it-campaign"
ROUNDING_MS = 2  # $msec and $request_time are rounded to 1 ms each
OPTS = argparse.Namespace(build_dir=str(REPO / "build"), terminals=24, per_slot=2,
                          slot_seconds=2.0, keep=False, exit_when_idle=True, wait=90)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


class CampaignEndToEnd(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        stack = cls.stack
        t0 = time.monotonic()
        stack.start()
        ls.build_demo_topology(stack, per_slot=OPTS.per_slot)
        cls.artifact, cls.url_path = stack.versions[ls.NEW_VERSION]
        agents = stack.spawn_fleet(OPTS.terminals, exit_when_idle=OPTS.exit_when_idle)
        cls.tids = [a.id for a in agents]
        missing = stack.wait_terminals_known(cls.tids, timeout=30)
        early = [a.id for a in agents if not a.process.alive()]
        if early:
            raise ls.StackError(f"agents exited before any campaign existed: {early}\n"
                                + agents[0].process.describe_failure("first agent"))
        if missing:
            stack.log(f"warning: no location known yet for {missing}")

        # S2 (terminals on the command line; the demo uses --terminals-file)
        stack.cli("campaign", "create", CAMPAIGN, "--version", ls.NEW_VERSION,
                  "--terminals", ",".join(cls.tids))
        # S3-S4
        cls.windows = stack.cli_json("campaign", "windows", CAMPAIGN)
        # S5
        stack.cli("campaign", "schedule", CAMPAIGN, "--window", "earliest")
        cls.t_scheduled = time.monotonic()
        # S6-S11: the CLI waits, printing a progress line per second.
        cls.wait_rc = stack.cli_stream("campaign", "status", CAMPAIGN, "--wait", str(OPTS.wait),
                                       timeout=OPTS.wait + 15)
        cls.t_done = time.monotonic()
        stack.check_alive(include_agents=False)
        cls.report = stack.cli_json("campaign", "status", CAMPAIGN)
        cls.slot_ms = int(cls.report.get("slot_ms") or stack.slot_ms)
        cls.node_list = {n["id"]: n for n in stack.cli_json("node", "list").get("nodes", [])}
        # Agents with --exit-when-idle leave once their final status is acknowledged.
        cls.agent_exits = stack.wait_agents_exit(20) if OPTS.exit_when_idle else {}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(
                a.installed_version() != ls.NEW_VERSION for a in agents):
            time.sleep(0.1)
        cls.downloads = stack.downloads(cls.url_path)
        cls.progress = {t["terminal_id"]: t for t in cls.report.get("terminals", [])}

        table, _ = ls.campaign_table(stack, cls.report, cls.url_path)
        ntable, _ = ls.node_slot_table(stack, cls.url_path, cls.slot_ms)
        print(f"\ncampaign ran in {cls.t_done - cls.t_scheduled:.1f}s after S5 "
              f"({cls.t_done - t0:.1f}s with set-up)\n{table}\n\n{ntable}\n", flush=True)

    # -- helpers -------------------------------------------------------------

    def assigned(self, tid: str) -> dict:
        t = self.progress.get(tid)
        self.assertIsNotNone(t, f"{tid} missing from the campaign report")
        return t

    def downloads_of(self, tid: str) -> list[ls.Download]:
        return [d for d in self.downloads if d.terminal == tid]

    # -- outcome -------------------------------------------------------------

    def test_status_wait_exits_zero(self):
        self.assertEqual(self.wait_rc, 0, "`campaign status --wait` did not see the campaign DONE")

    def test_campaign_done_all_succeeded(self):
        r = self.report
        self.assertEqual(r["campaign"]["state"], "DONE")
        self.assertEqual(r["campaign"]["target_version"], ls.NEW_VERSION)
        self.assertEqual(int(r.get("succeeded", 0)), len(self.tids))
        self.assertEqual(int(r.get("failed", 0)), 0)

    def test_report_every_terminal_succeeded_on_new_version(self):
        self.assertEqual(sorted(self.progress), sorted(self.tids))
        for tid in self.tids:
            t = self.assigned(tid)
            with self.subTest(terminal=tid):
                self.assertEqual(t.get("state"), "SUCCEEDED")
                self.assertEqual(t.get("version"), ls.NEW_VERSION)
                self.assertTrue(t.get("assigned"))
                self.assertIn(t.get("node_id"), self.stack.nodes)

    def test_version_files_on_new_version(self):
        for tid, agent in self.stack.agents.items():
            with self.subTest(terminal=tid):
                self.assertEqual(agent.installed_version(), ls.NEW_VERSION)

    def test_install_hook_got_the_verified_file(self):
        want = self.artifact.read_bytes()
        for tid, agent in self.stack.agents.items():
            with self.subTest(terminal=tid):
                got = (agent.dir / "installed" / "firmware.bin").read_bytes()
                self.assertEqual(got, want, "SLOTWISE_FILE was not the artifact")
                self.assertIn(ls.NEW_VERSION, agent.install_log.read_text())

    def test_agents_exit_when_idle(self):
        if not OPTS.exit_when_idle:
            self.skipTest("agents run without --exit-when-idle")
        self.assertEqual({t: rc for t, rc in self.agent_exits.items() if rc != 0}, {},
                         "agents still running (None) or failed after the campaign")

    # -- S3-S5: windows ------------------------------------------------------

    def test_windows_lower_bound(self):
        w = self.windows
        capacity = len(self.stack.nodes) * OPTS.per_slot
        self.assertEqual(int(w.get("terminals", 0)), len(self.tids))
        self.assertEqual(int(w.get("capacity_per_slot", 0)), capacity)
        self.assertEqual(int(w.get("lower_bound_slots", 0)), math.ceil(len(self.tids) / capacity))
        self.assertGreaterEqual(int(w.get("lower_bound_slots", 0)), 3, "setup should need >= 3 slots")
        labels = [x.get("label") for x in w.get("windows", [])]
        self.assertIn("earliest", labels)
        for x in w.get("windows", []):
            with self.subTest(window=x.get("label")):
                self.assertGreaterEqual(int(x["end_slot"]) - int(x["start_slot"]),
                                        int(w["lower_bound_slots"]))

    def test_windows_demand_counts_every_terminal(self):
        # S3: demand per cluster comes from the terminals' last known locations; every
        # terminal was online (and is an agent that could have reported) before the query.
        demand = {d.get("cluster_id"): int(d.get("terminals", 0))
                  for d in self.windows.get("demand", [])}
        self.assertEqual(set(demand), set(self.stack.clusters))
        self.assertEqual(sum(demand.values()), len(self.tids),
                         f"demand per cluster {demand}: terminals without a known location")

    def test_assignments_inside_scheduled_window(self):
        c = self.report["campaign"]
        lo, hi = int(c["window_start_slot"]), int(c["window_end_slot"])
        earliest = next(x for x in self.windows["windows"] if x["label"] == "earliest")
        e_lo, e_hi = int(earliest["start_slot"]), int(earliest["end_slot"])
        # `schedule --window earliest` asks again: a slot boundary may have passed since S4.
        self.assertEqual(hi - lo, e_hi - e_lo, "scheduled window is not the earliest's length")
        self.assertTrue(e_lo <= lo <= e_lo + 2, f"scheduled [{lo}, {hi}), earliest was [{e_lo}, {e_hi})")
        for tid in self.tids:
            with self.subTest(terminal=tid):
                self.assertTrue(lo <= int(self.assigned(tid)["slot"]) < hi)

    def test_needs_at_least_three_slots(self):
        slots = {int(t["slot"]) for t in self.progress.values()}
        self.assertGreaterEqual(len(slots), 3)

    # -- S8: bookings --------------------------------------------------------

    def test_bookings_within_per_slot_and_spread(self):
        by_node_slot: dict[tuple[str, int], list[int]] = {}
        for tid in self.tids:
            t = self.assigned(tid)
            by_node_slot.setdefault((t["node_id"], int(t["slot"])), []).append(int(t["start_at_ms"]))
        for (node_id, slot), starts in sorted(by_node_slot.items()):
            per_slot = self.stack.nodes[node_id].per_slot
            with self.subTest(node=node_id, slot=slot):
                self.assertLessEqual(len(starts), per_slot)
                for s in starts:
                    self.assertTrue(slot * self.slot_ms <= s < (slot + 1) * self.slot_ms,
                                    f"start_at {s} outside slot {slot}")
                self.assertEqual(len(set(starts)), len(starts), "starts not spread inside the slot")

    def test_nearest_cluster(self):
        for tid, agent in self.stack.agents.items():
            nearest = min(self.stack.clusters, key=lambda c: haversine_km(
                agent.lat, agent.lon, *self.stack.clusters[c][:2]))
            node = self.stack.nodes[self.assigned(tid)["node_id"]]
            with self.subTest(terminal=tid):
                self.assertEqual(node.cluster, nearest)

    # -- S11: the nginx access logs -------------------------------------------

    def test_each_terminal_downloaded_from_its_assigned_node(self):
        size = self.artifact.stat().st_size
        for tid in self.tids:
            node_id = self.assigned(tid)["node_id"]
            dls = self.downloads_of(tid)
            with self.subTest(terminal=tid):
                self.assertTrue(dls, f"{tid} never downloaded {self.url_path}")
                self.assertEqual({d.node for d in dls}, {node_id},
                                 f"{tid} assigned {node_id}, downloaded from {[d.node for d in dls]}")
                self.assertGreaterEqual(sum(d.bytes for d in dls), size)
                self.assertTrue(all(s in ("200", "206") for d in dls for s in d.statuses))

    def test_no_unattributed_downloads(self):
        stray = [d for d in self.downloads if d.terminal not in self.progress]
        self.assertEqual(stray, [], "downloads without a campaign terminal in X-Slotwise-Terminal")

    def test_no_node_over_per_slot(self):
        counts = self.stack.node_slot_counts(self.url_path, self.slot_ms)
        self.assertTrue(counts)
        for (node_id, slot), n in sorted(counts.items()):
            with self.subTest(node=node_id, slot=slot):
                self.assertLessEqual(n, self.stack.nodes[node_id].per_slot)

    def test_no_download_before_its_slot(self):
        for d in self.downloads:
            slot = int(self.assigned(d.terminal)["slot"])
            with self.subTest(terminal=d.terminal):
                self.assertGreaterEqual(d.start_ms, slot * self.slot_ms - ROUNDING_MS,
                                        f"started {slot * self.slot_ms - d.start_ms} ms before slot {slot}")

    def test_no_download_before_its_start_at(self):
        for d in self.downloads:
            start_at = int(self.assigned(d.terminal)["start_at_ms"])
            with self.subTest(terminal=d.terminal):
                self.assertGreaterEqual(d.start_ms, start_at - ROUNDING_MS,
                                        f"started {start_at - d.start_ms} ms before start_at_ms")

    def test_download_started_inside_its_slot(self):
        for d in self.downloads:
            slot = int(self.assigned(d.terminal)["slot"])
            with self.subTest(terminal=d.terminal):
                self.assertLess(d.start_ms, (slot + 1) * self.slot_ms + ROUNDING_MS,
                                f"started {d.start_ms - (slot + 1) * self.slot_ms} ms after its slot ended")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build-dir", default=OPTS.build_dir)
    p.add_argument("--terminals", type=int, default=OPTS.terminals)
    p.add_argument("--per-slot", type=int, default=OPTS.per_slot)
    p.add_argument("--slot-seconds", type=float, default=OPTS.slot_seconds)
    p.add_argument("--wait", type=int, default=OPTS.wait, help="seconds the campaign may take")
    p.add_argument("--no-exit-when-idle", dest="exit_when_idle", action="store_false",
                   help="run the agents without --exit-when-idle")
    p.add_argument("--keep", action="store_true", help="keep the stack's temp dir")
    p.parse_args(namespace=OPTS)
    if OPTS.terminals < 20:
        p.error("--terminals must be >= 20")
    ls.install_signal_handlers()
    return st.run_unittest([CampaignEndToEnd])


if __name__ == "__main__":
    sys.exit(main())
