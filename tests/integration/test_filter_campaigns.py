#!/usr/bin/env python3
"""End to end: a filter campaign takes in a terminal that connects after it was scheduled.

Real broker + plugin, scheduler, CLI, nginx nodes and slotwise-agent
processes (the localstack package); every agent is today's v1 agent (no
components): a terminal learns of a campaign it was not in from the
notices of the Ack to the inventory Report it sends when it connects (and
from the retained notice the join publishes).

  LateTerminalJoins
    - `campaign create it-dyn --filter 'system-id=PAX-*,region=eu,below-target'`
      takes in K001 (PAX, known, old version) at create and not the known
      ING-M70 terminal; its windows are sized from the one match;
    - L001 (PAX, not known when the campaign was scheduled) connects later
      and is upgraded: SUCCEEDED, installed the new version;
    - M001 (ING-M70, connects later too) is not taken in and gets no notice;
    - `campaign status` shows the filter; the campaign stays SCHEDULED
      (open for terminals still to come) with both matches SUCCEEDED.

    python3 tests/integration/test_filter_campaigns.py --build-dir build [--keep]

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
FILTER = "system-id=PAX-*,region=eu,below-target"


def outcomes(report: dict) -> dict[str, str]:
    return {t["terminal_id"]: t.get("outcome", "OUTCOME_PENDING") for t in report.get("terminals", [])}


class LateTerminalJoins(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        s = cls.stack
        s.start()
        ls.build_demo_topology(s, per_slot=2)
        lat, lon, _ = next(iter(s.clusters.values()))
        # Known before the campaign: one that matches, one that does not.
        cls.known = s.start_agent("K001", lat, lon, system_id="PAX-A920-k001")
        cls.other_known = s.start_agent("J001", lat, lon, system_id="ING-M70-j001")
        s.wait_terminals_known(["K001", "J001"], timeout=30)

        s.cli("campaign", "create", "it-dyn", "--version", ls.NEW_VERSION, "--filter", FILTER)
        cls.created = s.cli_json("campaign", "status", "it-dyn")
        cls.windows = s.cli_json("campaign", "windows", "it-dyn")
        s.cli("campaign", "schedule", "it-dyn", "--window", "earliest")

        # Later: a matching terminal and one that does not match connect.
        cls.late = s.start_agent("L001", lat + 0.1, lon, system_id="PAX-S80-l001")
        cls.other_late = s.start_agent("M001", lat - 0.1, lon, system_id="ING-M70-m001")
        deadline = time.monotonic() + 45
        cls.report = {}
        while time.monotonic() < deadline:
            cls.report = s.cli_json("campaign", "status", "it-dyn")
            if outcomes(cls.report) == {"K001": "SUCCEEDED", "L001": "SUCCEEDED"}:
                break
            time.sleep(0.25)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and cls.late.installed_version() != ls.NEW_VERSION:
            time.sleep(0.1)
        cls.status_text = s.cli("campaign", "status", "it-dyn").stdout
        cls.terminals = {t["id"]: t for t in s.terminal_list()}

    def test_known_match_taken_in_at_create(self):
        self.assertEqual(outcomes(self.created), {"K001": "OUTCOME_PENDING"}, self.created)
        self.assertEqual(self.created["campaign"]["filter"]["system_id_prefix"], "PAX-")
        self.assertEqual(int(self.windows.get("terminals", 0)), 1, self.windows)

    def test_late_terminal_joins_and_is_upgraded(self):
        self.assertEqual(outcomes(self.report), {"K001": "SUCCEEDED", "L001": "SUCCEEDED"}, self.report)
        self.assertEqual(self.late.installed_version(), ls.NEW_VERSION)
        self.assertEqual(self.known.installed_version(), ls.NEW_VERSION)

    def test_non_matching_terminals_not_taken(self):
        self.assertIn("M001", self.terminals, "M001 connected and reported")
        self.assertNotIn("M001", outcomes(self.report))
        self.assertNotIn("J001", outcomes(self.report))
        self.assertEqual(self.other_late.installed_version(), ls.OLD_VERSION)
        self.assertEqual(self.other_known.installed_version(), ls.OLD_VERSION)

    def test_status_shows_the_filter_and_stays_open(self):
        self.assertEqual(self.report["campaign"]["state"], "SCHEDULED", self.report)
        self.assertIn(f"filter {FILTER}", self.status_text)
        self.assertIn("2 terminals taken in", self.status_text)


def main() -> int:
    return st.run_test_file([LateTerminalJoins], OPTS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
