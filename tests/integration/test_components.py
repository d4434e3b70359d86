#!/usr/bin/env python3
"""End to end: one terminal in a system-image campaign and a component campaign at once.

Real broker + plugin, scheduler, CLI, nginx nodes and one slotwise-agent
process with a component `payment-app` (agent/README.md, Components).

  TwoCampaignsOneTerminal
    - C001 is in it-fw (system image 1.0.0 -> 2.0.0) and it-app
      (payment-app 3.0.0 -> 3.1.0); both end DONE with C001 SUCCEEDED, each
      install ran its own install command, and its notices came on
      slotwise/v1/t/C001/notice and slotwise/v1/t/C001/notice/payment-app.
    - X001 (never started) is in it-fw2 and it-app2; cancelling it-app2
      clears X001's payment-app notice and keeps its system notice.

    python3 tests/integration/test_components.py --build-dir build [--keep]

The last line is `N passed, M failed`; the exit code is 0 only if all passed.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402

OPTS = argparse.Namespace(build_dir=str(REPO / "build"), slot_seconds=2.0, keep=False)
APP, APP_OLD, APP_NEW = "payment-app", "3.0.0", "3.1.0"


def outcomes(report: dict) -> dict[str, str]:
    return {t["terminal_id"]: t.get("outcome", "OUTCOME_PENDING") for t in report.get("terminals", [])}


class TwoCampaignsOneTerminal(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def mqtt_base(cls, client_id: str) -> list[str]:
        s = cls.stack
        return ["-V", "5", "-h", "127.0.0.1", "-p", str(s.broker_port),
                *s.mqtt_auth_args(ls.SERVICE_USERNAME), "-i", client_id]

    @classmethod
    def retained(cls, tid: str) -> dict[str, int]:
        """The retained notices of `tid` now: topic -> payload length."""
        res = subprocess.run(["mosquitto_sub", *cls.mqtt_base(f"retained-{tid}"), "-q", "1",
                              "--retained-only", "-W", "2", "-F", "%t %l",
                              "-t", f"slotwise/v1/t/{tid}/notice", "-t", f"slotwise/v1/t/{tid}/notice/+"],
                             capture_output=True, text=True, timeout=10)
        found = {}
        for line in res.stdout.splitlines():
            topic, _, n = line.partition(" ")
            if n.isdigit() and int(n) > 0:
                found[topic] = int(n)
        return found

    @classmethod
    def set_up_stack(cls) -> None:
        s = cls.stack
        s.start()
        ls.build_demo_topology(s, per_slot=2)
        # The application's artifact, served by every node like the system image.
        app_file = s.artifacts / f"{APP}-{APP_NEW}.bin"
        app_file.write_bytes(random.Random(f"{APP}-{APP_NEW}").randbytes(64 * 1024))
        cls.app_path = "/" + app_file.name
        s.cli("version", "add", APP_NEW, "--component", APP, "--file", str(app_file),
              "--path", cls.app_path, "--sign-key", str(s.signing_keys()[0]))

        lat, lon, _ = next(iter(s.clusters.values()))
        adir = s.root / "agents" / "C001"
        adir.mkdir(parents=True, exist_ok=True)
        cls.app_version_file = adir / f"{APP}.version"
        cls.app_version_file.write_text(APP_OLD + "\n")
        cls.app_log = adir / f"{APP}-install.log"
        app_install = (f'cp "$SLOTWISE_FILE" "{adir}/{APP}.bin"'
                       f' && echo "$SLOTWISE_VERSION" >> "{cls.app_log}"')

        # Every notice C001 gets, from before the campaigns exist.
        cls.watch_out = s.logs / "notices-C001.out"
        with open(cls.watch_out, "wb") as f:
            cls.watcher = subprocess.Popen(
                ["stdbuf", "-oL", "mosquitto_sub", *cls.mqtt_base("watch-C001"), "-q", "1",
                 "-F", "%t %l", "-t", "slotwise/v1/t/C001/notice", "-t", "slotwise/v1/t/C001/notice/+"],
                stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        time.sleep(1.0)  # the SUBACK

        cls.agent = s.start_agent("C001", lat, lon, extra_config={
            f"component.{APP}.version_file": str(cls.app_version_file),
            f"component.{APP}.install_command": app_install})
        s.wait_terminals_known(["C001"], timeout=30)

        s.cli("campaign", "create", "it-fw", "--version", ls.NEW_VERSION, "--terminals", "C001")
        s.cli("campaign", "create", "it-app", "--version", APP_NEW, "--component", APP,
              "--terminals", "C001")
        s.cli("campaign", "schedule", "it-fw", "--window", "earliest")
        s.cli("campaign", "schedule", "it-app", "--window", "earliest")
        cls.fw_rc = s.cli_stream("campaign", "status", "it-fw", "--wait", "90", timeout=105)
        cls.app_rc = s.cli_stream("campaign", "status", "it-app", "--wait", "90", timeout=105)
        cls.fw = s.cli_json("campaign", "status", "it-fw")
        cls.app = s.cli_json("campaign", "status", "it-app")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (
                cls.agent.installed_version() != ls.NEW_VERSION
                or cls.app_version_file.read_text().strip() != APP_NEW):
            time.sleep(0.1)
        time.sleep(0.5)  # the watcher's last lines
        ls.stop_popen(cls.watcher)

        # X001 never runs: its notices stay retained until something clears them.
        s.register_terminals(["X001"])
        s.cli("campaign", "create", "it-fw2", "--version", ls.NEW_VERSION, "--terminals", "X001")
        s.cli("campaign", "create", "it-app2", "--version", APP_NEW, "--component", APP,
              "--terminals", "X001")
        s.cli("campaign", "schedule", "it-fw2", "--window", "earliest")
        s.cli("campaign", "schedule", "it-app2", "--window", "earliest")
        deadline = time.monotonic() + 10
        cls.x_before = {}
        while time.monotonic() < deadline and len(cls.x_before) < 2:
            cls.x_before = cls.retained("X001")
        s.cli("campaign", "cancel", "it-app2")
        cls.x_after = cls.retained("X001")

    def test_both_campaigns_done_terminal_succeeded(self):
        self.assertEqual(self.fw_rc, 0, "`campaign status it-fw --wait` did not see DONE")
        self.assertEqual(self.app_rc, 0, "`campaign status it-app --wait` did not see DONE")
        for name, r in (("it-fw", self.fw), ("it-app", self.app)):
            with self.subTest(campaign=name):
                self.assertEqual(r["campaign"]["state"], "DONE", r)
                self.assertEqual(outcomes(r), {"C001": "SUCCEEDED"}, r)
        self.assertEqual(self.app["campaign"].get("component"), APP, self.app["campaign"])

    def test_agent_installed_both_with_their_commands(self):
        self.assertEqual(self.agent.installed_version(), ls.NEW_VERSION)
        self.assertEqual(self.app_version_file.read_text().strip(), APP_NEW)
        sys_log = self.agent.install_log.read_text().split() if self.agent.install_log.exists() else []
        self.assertIn(ls.NEW_VERSION, sys_log)
        self.assertNotIn(APP_NEW, sys_log, "the app went through the system install command")
        self.assertEqual(self.app_log.read_text().split(), [APP_NEW])
        self.assertEqual((self.agent.dir / f"{APP}.bin").read_bytes(),
                         (self.stack.artifacts / self.app_path.lstrip("/")).read_bytes())

    def test_notices_on_their_topics(self):
        seen = {}
        for line in self.watch_out.read_text(errors="replace").splitlines():
            topic, _, n = line.partition(" ")
            if n.isdigit() and int(n) > 0:
                seen[topic] = seen.get(topic, 0) + 1
        self.assertEqual(set(seen), {"slotwise/v1/t/C001/notice", f"slotwise/v1/t/C001/notice/{APP}"},
                         self.watch_out.read_text(errors="replace"))

    def test_cancelling_one_keeps_the_others_notice(self):
        both = {"slotwise/v1/t/X001/notice", f"slotwise/v1/t/X001/notice/{APP}"}
        self.assertEqual(set(self.x_before), both, "both notices retained before the cancel")
        self.assertEqual(set(self.x_after), {"slotwise/v1/t/X001/notice"},
                         "cancelling it-app2 clears its notice only")


def main() -> int:
    return st.run_test_file([TwoCampaignsOneTerminal], OPTS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
