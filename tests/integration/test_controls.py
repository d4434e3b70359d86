#!/usr/bin/env python3
"""End to end: an operator pauses a campaign before its first slot, then resumes it.

Real broker + plugin, scheduler, CLI, nginx nodes and slotwise-agent processes
(the localstack package). While the campaign is paused no download may start
(the terminals' checks are answered STAND_DOWN and their bookings released);
after `campaign resume` the scheduler sends the notices again, the terminals
that stood down take the campaign up again, and every terminal ends on the
new version with no node over its per_slot in any slot (nginx access logs).

    python3 tests/integration/test_controls.py --build-dir build [--keep]

The last line is `N passed, M failed`; the exit code is 0 only if all passed.
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
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402

CAMPAIGN = "it-controls"
OPTS = argparse.Namespace(build_dir=str(REPO / "build"), terminals=8, per_slot=1,
                          slot_seconds=2.0, keep=False)


class PauseResume(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        stack = cls.stack
        stack.start()
        ls.build_demo_topology(stack, per_slot=OPTS.per_slot)
        _, cls.url_path = stack.versions[ls.NEW_VERSION]
        agents = stack.spawn_fleet(OPTS.terminals)
        cls.tids = [a.id for a in agents]
        stack.wait_terminals_known(cls.tids, timeout=30)
        cls.agents = agents

        stack.cli("campaign", "create", CAMPAIGN, "--version", ls.NEW_VERSION,
                  "--terminals", ",".join(cls.tids))
        # A window of 12 slots from the next but one: the fleet needs 2 of
        # them (8 terminals, 4 nodes x per_slot 1), so the pause below spans
        # where the downloads would have been, and the rest still has room.
        slot_ms = stack.slot_ms
        first = int(time.time() * 1000) // slot_ms + 2
        stack.cli("campaign", "schedule", CAMPAIGN, "--start-slot", str(first),
                  "--end-slot", str(first + 12))
        stack.cli("campaign", "pause", CAMPAIGN)
        cls.paused_at_ms = time.time() * 1000
        cls.paused = stack.cli_json("campaign", "status", CAMPAIGN)
        # Until 2 slots past the window's start: without the pause every
        # terminal would have downloaded by now.
        while time.time() * 1000 < (first + 2) * slot_ms + 500:
            time.sleep(0.1)
        cls.during = stack.cli_json("campaign", "status", CAMPAIGN)
        cls.resumed_at_ms = time.time() * 1000
        stack.cli("campaign", "resume", CAMPAIGN)
        cls.wait_rc = stack.cli_stream("campaign", "status", CAMPAIGN, "--wait", "60", timeout=75)
        cls.report = stack.cli_json("campaign", "status", CAMPAIGN)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(
                a.installed_version() != ls.NEW_VERSION for a in agents):
            time.sleep(0.1)
        cls.downloads = stack.downloads(cls.url_path)

    def test_pause_is_acknowledged(self):
        self.assertEqual(self.paused["campaign"]["state"], "PAUSED")

    def test_no_download_starts_while_paused(self):
        self.assertEqual(self.during["campaign"]["state"], "PAUSED")
        # A GO answered just before the pause may still start its download a
        # moment later; none may start once the pause has had time to reach
        # the terminals' next check.
        late = [d for d in self.downloads
                if self.paused_at_ms + 500 <= d.start_ms < self.resumed_at_ms]
        self.assertEqual(late, [], "downloads started while the campaign was paused")

    def test_terminals_stood_down_while_paused(self):
        # Their keep-alive timers fired inside the pause: the checks were
        # answered STAND_DOWN, which they reported. These are the terminals
        # that must take the campaign up again after the resume.
        states = Counter(t.get("state") for t in self.during.get("terminals", []))
        self.assertGreater(states["STOOD_DOWN"], 0, f"states while paused: {dict(states)}")

    def test_resumed_campaign_completes(self):
        self.assertEqual(self.wait_rc, 0, "`campaign status --wait` did not see the campaign DONE")
        self.assertEqual(self.report["campaign"]["state"], "DONE")
        self.assertEqual(int(self.report.get("succeeded", 0)), len(self.tids))

    def test_every_terminal_on_new_version(self):
        for a in self.agents:
            with self.subTest(terminal=a.id):
                self.assertEqual(a.installed_version(), ls.NEW_VERSION)

    def test_no_node_over_per_slot(self):
        slot_ms = int(self.report.get("slot_ms") or self.stack.slot_ms)
        per_node_slot = Counter((d.node, d.start_ms // slot_ms) for d in self.downloads)
        over = {k: v for k, v in per_node_slot.items() if v > OPTS.per_slot}
        self.assertEqual(over, {}, "a node got more downloads in a slot than its per_slot")


def main() -> int:
    return st.run_test_file([PauseResume], OPTS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
