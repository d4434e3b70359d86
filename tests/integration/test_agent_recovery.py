#!/usr/bin/env python3
"""End to end: agents with a wrong clock, and an agent that lost its state, still upgrade.

Real broker + plugin, scheduler, nginx nodes and slotwise-agent processes (the
localstack package), 2 s slots.

* Clocks (issue 12, findings 6 and 7): one agent runs with its clock an hour
  ahead, one 30 s behind (Debian's libfaketime, FAKETIME=+1h / -30s, with
  DONT_FAKE_MONOTONIC=1 so the monotonic clock is the real one, as on a
  terminal whose wall clock is simply wrong). Both must upgrade in their
  campaign; the one ahead must send a bounded number of checks (it used to
  loop on "the slot ended before the download could start").
* Lost state (finding 5): an agent that got its assignment is stopped, its
  state file is overwritten with garbage, its slot passes (the scheduler
  releases the booking as a no-show), and it is started again with its
  persistent session (so the broker does not resend the retained notice).
  It must get back into the campaign (the notices of its inventory report's
  Ack) and upgrade.
* Components: an agent configured with an application besides its system
  image (component.payapp.*) upgrades its system image in a campaign of a
  scheduler that knows nothing of components, as a v1 terminal does, and
  leaves the application alone.

    python3 tests/integration/test_agent_recovery.py --build-dir build [--keep]

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

OPTS = argparse.Namespace(build_dir=str(REPO / "build"), slot_seconds=2.0, keep=False, wait=90.0)
LAT, LON = 48.8566, 2.3522
# The multi-threaded preload library of Debian's faketime package (the
# `faketime` wrapper forks, so it could not be stopped by the agent's pid).
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
# At most this many checks for the agent an hour ahead: one per slot it is
# given, plus a few for the scheduler's clock to be learned. It sent
# hundreds before.
MAX_CHECKS_AHEAD = 6


def faketime_prefix(offset: str) -> list[str]:
    return ["env", f"LD_PRELOAD={LIBFAKETIME}", f"FAKETIME={offset}", "DONT_FAKE_MONOTONIC=1"]


def log_of(agent) -> str:
    return agent.process.log_path.read_text(errors="replace")


def wait_installed(agents, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(a.installed_version() != ls.NEW_VERSION for a in agents):
        time.sleep(0.2)


def schedule(stack, campaign: str, tids: list[str], first_in_slots: int, length: int = 30) -> int:
    stack.cli("campaign", "create", campaign, "--version", ls.NEW_VERSION, "--terminals", ",".join(tids))
    first = int(time.time() * 1000) // stack.slot_ms + first_in_slots
    stack.cli("campaign", "schedule", campaign, "--start-slot", str(first), "--end-slot", str(first + length))
    return first


class WrongClocks(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        if not LIBFAKETIME.exists():
            raise unittest.SkipTest(f"{LIBFAKETIME} missing (Debian package faketime, docker/install-deps.sh)")
        stack = cls.stack
        stack.start()
        stack.add_cluster("paris", LAT, LON)
        stack.add_node("n1", "paris", 2)
        stack.add_version(ls.NEW_VERSION)
        cls.ahead = stack.start_agent("AHEAD", LAT, LON, argv_prefix=faketime_prefix("+1h"))
        cls.behind = stack.start_agent("BEHIND", LAT, LON, argv_prefix=faketime_prefix("-30s"))
        agents = [cls.ahead, cls.behind]
        stack.wait_terminals_known([a.id for a in agents], timeout=30)
        schedule(stack, "it-clocks", [a.id for a in agents], first_in_slots=3)
        wait_installed(agents, OPTS.wait)
        cls.report = stack.cli_json("campaign", "status", "it-clocks")

    def test_the_clocks_are_really_off(self):
        # The agents' own log lines carry their (faked) wall clock.
        for agent, hour_off in ((self.ahead, True), (self.behind, False)):
            with self.subTest(terminal=agent.id):
                self.assertIn("scheduler clock is", log_of(agent))
        self.assertRegex(log_of(self.ahead), r"scheduler clock is -3[56]\d\d\d\d\d ms off")
        self.assertRegex(log_of(self.behind), r"scheduler clock is (29|30)\d\d\d ms off")

    def test_an_hour_ahead_upgrades(self):
        self.assertEqual(self.ahead.installed_version(), ls.NEW_VERSION)

    def test_thirty_seconds_behind_upgrades(self):
        self.assertEqual(self.behind.installed_version(), ls.NEW_VERSION)

    def test_an_hour_ahead_sends_a_bounded_number_of_checks(self):
        checks = log_of(self.ahead).count("-> CHECKING")
        self.assertGreaterEqual(checks, 1)
        self.assertLessEqual(checks, MAX_CHECKS_AHEAD, "checks sent by the agent an hour ahead")
        self.assertNotIn("the slot ended before the download could start", log_of(self.ahead))

    def test_campaign_done(self):
        terminals = {t["terminal_id"]: t.get("state") for t in self.report.get("terminals", [])}
        self.assertEqual(terminals, {"AHEAD": "SUCCEEDED", "BEHIND": "SUCCEEDED"})


class LostState(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        stack = cls.stack
        stack.start()
        stack.add_cluster("paris", LAT, LON)
        stack.add_node("n1", "paris", 2)
        stack.add_version(ls.NEW_VERSION)
        agent = cls.agent = stack.start_agent("LOST", LAT, LON)
        stack.wait_terminals_known([agent.id], timeout=30)
        schedule(stack, "it-lost", [agent.id], first_in_slots=4)
        if not st.wait_until(lambda: "NOTIFIED -> WAITING" in log_of(agent), timeout=20):
            raise ls.StackError(agent.process.describe_failure("no assignment within 20 s"))
        state_file = agent.dir / "state" / "state.pb"
        fields = st.protobuf.decode_fields(state_file.read_bytes())
        assignment = st.protobuf.decode_fields(fields[3][0])
        cls.start_at_ms = assignment[8][0]
        # Stopped cleanly (the broker keeps its session), then the state file is damaged.
        ls.stop_processes([agent.process], timeout=10)
        state_file.write_bytes(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff not an AgentState")
        # Off past its slot: the scheduler releases the booking (no check came).
        while time.time() * 1000 < cls.start_at_ms + 3 * stack.slot_ms:
            time.sleep(0.2)
        stack.restart_agent(agent)
        wait_installed([agent], OPTS.wait)
        cls.report = stack.cli_json("campaign", "status", "it-lost")

    def test_the_state_was_moved_aside(self):
        self.assertTrue((self.agent.dir / "state" / "state.pb.corrupt").exists())
        self.assertIn("starting with no saved state", log_of(self.agent))

    def test_it_upgrades(self):
        self.assertEqual(self.agent.installed_version(), ls.NEW_VERSION)
        terminals = {t["terminal_id"]: t.get("state") for t in self.report.get("terminals", [])}
        self.assertEqual(terminals, {"LOST": "SUCCEEDED"})


class ComponentsWithV1Campaign(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        stack = cls.stack
        stack.start()
        stack.add_cluster("paris", LAT, LON)
        stack.add_node("n1", "paris", 2)
        stack.add_version(ls.NEW_VERSION)
        adir = stack.root / "agents" / "COMP"
        adir.mkdir(parents=True, exist_ok=True)
        cls.app_version = adir / "payapp.version"
        cls.app_version.write_text("3.1\n")
        cls.app_log = adir / "payapp-install.log"
        agent = cls.agent = stack.start_agent("COMP", LAT, LON, extra_config={
            "component.payapp.version_file": str(cls.app_version),
            "component.payapp.install_command": f'echo "$SLOTWISE_VERSION" >> {cls.app_log}',
        })
        stack.wait_terminals_known([agent.id], timeout=30)
        schedule(stack, "it-comp", [agent.id], first_in_slots=3)
        wait_installed([agent], OPTS.wait)
        # The image is in place before the agent's final status reaches the
        # scheduler: wait for that status, not only for the file.
        def final_report():
            report = stack.cli_json("campaign", "status", "it-comp")
            states = [t.get("state") for t in report.get("terminals", [])]
            return report if states and all(s in ("SUCCEEDED", "FAILED") for s in states) else None
        cls.report = st.wait_until(final_report, 30, interval=0.3) or stack.cli_json("campaign", "status", "it-comp")

    def test_the_system_image_upgrades(self):
        self.assertEqual(self.agent.installed_version(), ls.NEW_VERSION)
        terminals = {t["terminal_id"]: t.get("state") for t in self.report.get("terminals", [])}
        self.assertEqual(terminals, {"COMP": "SUCCEEDED"})

    def test_the_application_is_untouched(self):
        self.assertEqual(self.app_version.read_text(), "3.1\n")
        self.assertFalse(self.app_log.exists())


def main() -> int:
    def add_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--wait", type=float, default=OPTS.wait, help="seconds to wait for the upgrades")
    return st.run_test_file([WrongClocks, LostState, ComponentsWithV1Campaign], OPTS, __doc__, add_args)


if __name__ == "__main__":
    sys.exit(main())
