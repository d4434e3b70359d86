#!/usr/bin/env python3
"""The web console (console/) on a real stack, in headless Chromium.

mosquitto with the plugin, slotwise-scheduler with --http-listen, a users
file and --console-dir console/dist, nginx nodes and real agents (localstack).
tests/console/e2e.mjs drives Chromium as a new operator would (log in,
register a cluster and a node, create a campaign from terminal ids, compare
the windows, schedule, pause, resume, watch DONE, the audit page).
Screenshots: <build-dir>/test-artifacts/console/e2e-*.png

    python3 tests/integration/test_console.py --build-dir build [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_http_api import mosquitto_hash  # noqa: E402

# Slots of 10 s: a window stays schedulable while the browser compares it.
OPTS = argparse.Namespace(build_dir=str(REPO / "build"), keep=False, slot_seconds=10.0)
CAMPAIGN = "web-rollout"


class Console(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        subprocess.run(["sh", str(REPO / "console" / "build.sh")], check=True, capture_output=True)
        s = cls.stack
        users = s.root / "users"
        users.write_text(f"otto:admin:{mosquitto_hash('otto-pw')}\n")
        cls.port = ls.free_port()
        s.scheduler_extra_args = ["--http-listen", f"127.0.0.1:{cls.port}", "--http-insecure",
                                  "--http-users", str(users), "--console-dir", str(REPO / "console" / "dist")]
        s.start()
        ls.build_demo_topology(s, per_slot=2)
        agents = s.spawn_fleet(6)
        cls.tids = [a.id for a in agents]
        s.wait_terminals_known(cls.tids, timeout=30)
        web = s.start_node("nweb", "web", 1)  # registered through the console
        cls.artifacts = Path(s.build_dir) / "test-artifacts" / "console"
        cfg = {"url": f"http://127.0.0.1:{cls.port}", "user": "otto", "password": "otto-pw",
               "campaign": CAMPAIGN, "version": ls.NEW_VERSION, "terminals": cls.tids,
               "cluster": {"id": "web", "lat": -70.0, "lon": 120.0}, "node": {"id": "nweb", "url": web.url, "perSlot": 1},
               "artifacts": str(cls.artifacts), "timeoutMs": 120000}
        (s.root / "console.json").write_text(json.dumps(cfg))
        cls.browser = subprocess.run([shutil.which("node") or "node", str(REPO / "tests" / "console" / "e2e.mjs"),
                                  str(s.root / "console.json")], capture_output=True, text=True, timeout=240)
        print(cls.browser.stdout + cls.browser.stderr, flush=True)
        cls.report = s.cli_json("campaign", "status", CAMPAIGN)

    def test_browser_run_passed(self):
        self.assertEqual(self.browser.returncode, 0, self.browser.stdout + self.browser.stderr)

    def test_campaign_done_every_terminal_succeeded(self):
        self.assertEqual(self.report["campaign"]["state"], "DONE", self.report["campaign"])
        outcomes = {t.get("terminalId", t.get("terminal_id")): t.get("outcome") for t in self.report["terminals"]}
        self.assertEqual(outcomes, {t: "SUCCEEDED" for t in self.tids})

    def test_screenshots_saved(self):
        for name in ("e2e-fleet", "e2e-windows", "e2e-capacity-heatmap", "e2e-paused", "e2e-campaign-done",
                     "e2e-downloads-heatmap", "e2e-audit"):
            self.assertTrue((self.artifacts / f"{name}.png").is_file(), name)


def main() -> int:
    return st.run_test_file([Console], OPTS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
