#!/usr/bin/env python3
"""End to end: campaigns that always finish, on the real stack.

Real broker + plugin, scheduler, CLI, nginx nodes and slotwise-agent
processes (the localstack package). Every agent here is today's v1 agent (it
reports no components): each completed campaign below is also the proof that
a v1 terminal still completes.

  RollingAndDeadline
    - a terminal that first reports after its campaign's window has passed is
      placed after it (rolling window) and upgraded; the campaign ends DONE
      with every terminal SUCCEEDED;
    - a campaign with `--deadline` whose terminal never shows up ends DONE at
      the deadline, that terminal EXPIRED, the one that did show up SUCCEEDED.
  VanishAfterGo
    - a terminal whose agent dies right after GO (its install command kills
      it) sends no final status: after the download allowance it is TIMED_OUT
      (one retry left, its notice kept); restarted, it checks again, gets a
      new slot and GO, and dies again: FAILED ("timed out"), campaign DONE.

    python3 tests/integration/test_lifecycle.py --build-dir build [--keep]

The last line is `N passed, M failed`; the exit code is 0 only if all passed.
"""

from __future__ import annotations

import argparse
import sys
import time
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402

OPTS = argparse.Namespace(build_dir=str(REPO / "build"), slot_seconds=2.0, keep=False)
ALLOWANCE_S = 2  # scheduler --download-allowance for VanishAfterGo


def outcomes(report: dict) -> dict[str, str]:
    return {t["terminal_id"]: t.get("outcome", "OUTCOME_PENDING") for t in report.get("terminals", [])}


def wait_for(stack, campaign: str, cond, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    report = {}
    while time.monotonic() < deadline:
        report = stack.cli_json("campaign", "status", campaign)
        if cond(report):
            return report
        time.sleep(0.25)
    return report


class RollingAndDeadline(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        stack = cls.stack
        stack.start()
        ls.build_demo_topology(stack, per_slot=1)
        _, cls.url_path = stack.versions[ls.NEW_VERSION]
        slot_ms = stack.slot_ms
        early = stack.spawn_fleet(2, prefix="E")
        ontime = stack.spawn_fleet(1, prefix="D")
        stack.wait_terminals_known([a.id for a in early + ontime], timeout=30)
        cls.early, cls.ontime = early, ontime

        # Rolling: E001, E002 and L001 (not running yet) in a 2-slot window.
        cls.late_id = "L001"
        stack.register_terminals([cls.late_id])
        stack.cli("campaign", "create", "it-rolling", "--version", ls.NEW_VERSION,
                  "--terminals", ",".join([a.id for a in early] + [cls.late_id]))
        first = int(time.time() * 1000) // slot_ms + 2
        cls.window_end_slot = first + 2
        stack.cli("campaign", "schedule", "it-rolling", "--start-slot", str(first),
                  "--end-slot", str(cls.window_end_slot))
        # Deadline: D001 and a terminal that never shows up, 12 s from now.
        stack.cli("campaign", "create", "it-deadline", "--version", ls.NEW_VERSION,
                  "--terminals", f"{ontime[0].id},G001", "--deadline", "12s")
        cls.deadline_report_created = stack.cli_json("campaign", "status", "it-deadline")
        stack.cli("campaign", "schedule", "it-deadline", "--start", "+3s", "--end", "+9s")

        # The late terminal starts only once the window is over.
        while time.time() * 1000 < cls.window_end_slot * slot_ms + 200:
            time.sleep(0.1)
        lat, lon, _ = next(iter(stack.clusters.values()))
        cls.late = stack.start_agent(cls.late_id, lat, lon)
        cls.rolling_rc = stack.cli_stream("campaign", "status", "it-rolling", "--wait", "60", timeout=75)
        cls.rolling = stack.cli_json("campaign", "status", "it-rolling")
        cls.deadline_rc = stack.cli_stream("campaign", "status", "it-deadline", "--wait", "40", timeout=50)
        cls.deadline = stack.cli_json("campaign", "status", "it-deadline")
        cls.downloads = stack.downloads(cls.url_path)

    def test_late_terminal_is_upgraded_after_the_window(self):
        self.assertEqual(self.rolling_rc, 0)
        self.assertEqual(self.rolling["campaign"]["state"], "DONE")
        self.assertEqual(set(outcomes(self.rolling).values()), {"SUCCEEDED"}, outcomes(self.rolling))
        self.assertEqual(int(self.rolling.get("succeeded", 0)), 3)
        late = [t for t in self.rolling["terminals"] if t["terminal_id"] == self.late_id][0]
        self.assertGreaterEqual(int(late.get("slot", 0)), self.window_end_slot,
                                "the late terminal's booking lies after the window")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.late.installed_version() != ls.NEW_VERSION:
            time.sleep(0.1)
        self.assertEqual(self.late.installed_version(), ls.NEW_VERSION)

    def test_deadline_ends_done_with_expired_terminals(self):
        self.assertEqual(self.deadline_rc, 0)
        self.assertEqual(self.deadline["campaign"]["state"], "DONE")
        got = outcomes(self.deadline)
        self.assertEqual(got, {self.ontime[0].id: "SUCCEEDED", "G001": "EXPIRED"})
        self.assertEqual(int(self.deadline.get("expired", 0)), 1)
        self.assertGreater(int(self.deadline_report_created["campaign"]["deadline_ms"]), 0)

    def test_v1_agents_completed(self):
        for a in self.early + self.ontime:
            with self.subTest(terminal=a.id):
                self.assertEqual(a.installed_version(), ls.NEW_VERSION)


class VanishAfterGo(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        original = ls.configs.scheduler_args

        def with_allowance(*args, **kwargs):
            return original(*args, **kwargs) + ["--download-allowance", str(ALLOWANCE_S)]

        ls.configs.scheduler_args = with_allowance
        try:
            cls.stack.start()
        finally:
            ls.configs.scheduler_args = original
        stack = cls.stack
        ls.build_demo_topology(stack, per_slot=1)
        lat, lon, _ = next(iter(stack.clusters.values()))
        # The install command kills its agent: GO, download, then silence.
        cls.agent = stack.start_agent("V001", lat, lon, install_command='kill -KILL "$PPID"')
        stack.wait_terminals_known(["V001"], timeout=30)
        stack.cli("campaign", "create", "it-vanish", "--version", ls.NEW_VERSION, "--terminals", "V001",
                  "--max-retries", "1")
        stack.cli("campaign", "schedule", "it-vanish", "--start", "+3s", "--end", "+9s")
        cls.timed_out = wait_for(stack, "it-vanish",
                                 lambda r: outcomes(r).get("V001") == "TIMED_OUT", timeout=40)
        cls.first_death = cls.agent.process.alive()
        cls.agent.process.stopped_by_us = True  # it died as the test made it
        stack.restart_agent(cls.agent)
        cls.final = wait_for(stack, "it-vanish", lambda r: r["campaign"]["state"] == "DONE", timeout=60)
        cls.agent.process.stopped_by_us = True

    def test_timed_out_after_the_allowance(self):
        self.assertFalse(self.first_death, "the agent was still alive after GO")
        self.assertEqual(outcomes(self.timed_out).get("V001"), "TIMED_OUT", self.timed_out)
        self.assertEqual(self.timed_out["campaign"]["state"], "SCHEDULED")
        self.assertEqual(int(self.timed_out.get("timed_out", 0)), 1)

    def test_then_failed_and_done(self):
        self.assertEqual(self.final["campaign"]["state"], "DONE", self.final)
        t = self.final["terminals"][0]
        self.assertEqual(t.get("outcome"), "FAILED")
        self.assertIn("timed out", t.get("detail", ""))
        self.assertEqual(int(t.get("attempts", 0)), 1)


def main() -> int:
    return st.run_test_file([RollingAndDeadline, VanishAfterGo], OPTS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
