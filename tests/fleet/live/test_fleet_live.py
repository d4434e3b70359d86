#!/usr/bin/env python3
"""`slotwise-fleet live` end to end, small: 300 terminals in one fleet process.

The same path as the 10,000-terminal run (fleet/fleet.py live): real mosquitto
with the plugin, the scheduler with RocksDB, four nginx nodes with limit_rate,
10% of the terminals offline when the campaign starts and 10% dropping out
mid-wait. Asserts from the fleet's per-terminal results and from nginx's
access logs (the independent observer): all upgraded, none lost, no node over
per_slot in any slot, no download start outside its slot, and every output
file written.

    python3 tests/fleet/live/test_fleet_live.py --build-dir build [--keep]

The last line is `N passed, M failed`; the exit code is 0 only if all passed.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402

fleet = st.load_fleet_driver()

OPTS = argparse.Namespace(build_dir=str(REPO / "build"), keep=False)
TERMINALS = 300


class LiveFleetSmall(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.out = Path(tempfile.mkdtemp(prefix="slotwise-fleet-test-"))
        argv = ["live", "--build-dir", OPTS.build_dir, "--terminals", str(TERMINALS), "--nodes", "4",
                "--per-slot", "15", "--slot-seconds", "2", "--offline-share", "0.1", "--offline-for", "10",
                "--dropout-share", "0.1", "--dropout-for", "6", "--timeout", "150", "--json",
                "--out", str(cls.out)] + (["--keep"] if OPTS.keep else [])
        cls.rc = fleet.main(argv)
        summary = cls.out / "summary.json"
        cls.summary = json.loads(summary.read_text()) if summary.exists() else {}
        terminals = cls.out / "terminals.json"
        cls.terminals = json.loads(terminals.read_text())["terminals"] if terminals.exists() else []

    def test_exit_code_and_targets(self):
        self.assertEqual(self.rc, 0, json.dumps(self.summary.get("problems", []), indent=1))
        self.assertTrue(self.summary["targets"])
        for name, ok in self.summary["targets"].items():
            with self.subTest(target=name):
                self.assertTrue(ok)

    def test_all_upgraded_none_lost(self):
        self.assertEqual(len(self.terminals), TERMINALS)
        self.assertEqual(self.summary["upgraded"], TERMINALS)
        self.assertEqual(self.summary["lost"], 0)
        self.assertEqual(self.summary["scheduler_succeeded"], TERMINALS)
        for t in self.terminals:
            with self.subTest(terminal=t["terminal"]):
                self.assertEqual(t["result"], "SUCCEEDED")
                self.assertEqual(t["final_version"], ls.NEW_VERSION)
                self.assertLessEqual(t["slot_start_ms"], t["download_start_ms"])
                self.assertLess(t["download_start_ms"], t["slot_end_ms"])

    def test_offline_and_dropouts_happened(self):
        self.assertEqual(self.summary["offline_at_start"], TERMINALS // 10)
        self.assertGreater(self.summary["dropouts"], 0)
        self.assertGreater(self.summary["rescheduled"], 0)

    def test_nginx_per_slot_and_slot_starts(self):
        self.assertEqual(self.summary["downloads_in_nginx_logs"], TERMINALS)
        self.assertEqual(self.summary["node_slots_over_per_slot"], 0)
        self.assertEqual(self.summary["starts_outside_slot"], 0)
        self.assertLessEqual(self.summary["max_started_per_node_slot"], 15)
        with open(self.out / "node_slots.csv") as f:
            for row in csv.DictReader(f):
                self.assertLessEqual(int(row["started"]), int(row["per_slot"]))

    def test_outputs_written(self):
        for name in ("summary.json", "terminals.csv", "terminals.json", "node_seconds.csv",
                     "node_slots.csv", "node_load.svg"):
            with self.subTest(file=name):
                self.assertGreater((self.out / name).stat().st_size, 0)
        self.assertIn("<svg", (self.out / "node_load.svg").read_text()[:2000])
        with open(self.out / "node_seconds.csv") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(sum(int(r["started"]) for r in rows), TERMINALS)


class LiveCommandBadInput(unittest.TestCase):
    """slotwise-fleet live refuses bad input with a clear message and exit 2."""

    def run_fleet(self, *args: str):
        import subprocess
        binary = ls.resolve_build_dir(OPTS.build_dir) / "fleet/slotwise-fleet"
        return subprocess.run([str(binary), "live", *args], capture_output=True, text=True, timeout=30)

    def test_missing_required_options(self):
        res = self.run_fleet("--broker", "tcp://127.0.0.1:1")
        self.assertEqual(res.returncode, 2)
        self.assertIn("--terminals-file", res.stderr)

    def test_malformed_terminal_file(self):
        with tempfile.TemporaryDirectory() as d:
            bad = Path(d) / "t.csv"
            bad.write_text("id,password,lat,lon\nT1,pw,48.1,2.3\nT1,pw,48.1,2.3\nT 2,pw,1,2\n")
            res = self.run_fleet("--broker", "tcp://127.0.0.1:1", "--terminals-file", str(bad),
                                 "--state-root", d)
            self.assertEqual(res.returncode, 2)
            self.assertIn("t.csv:3: terminal id 'T1' listed twice", res.stderr)
            bad.write_text("T1,pw,91,2\n")
            res = self.run_fleet("--broker", "tcp://127.0.0.1:1", "--terminals-file", str(bad),
                                 "--state-root", d)
            self.assertEqual(res.returncode, 2)
            self.assertIn("t.csv:1: location '91,2'", res.stderr)

    def test_shares_over_one(self):
        res = self.run_fleet("--broker", "tcp://x:1", "--terminals-file", "/dev/null", "--state-root", ".",
                             "--offline-share", "0.6", "--dropout-share", "0.6")
        self.assertEqual(res.returncode, 2)
        self.assertIn("must not exceed 1", res.stderr)


if __name__ == "__main__":
    sys.exit(st.run_test_file([LiveCommandBadInput, LiveFleetSmall], OPTS, __doc__))
