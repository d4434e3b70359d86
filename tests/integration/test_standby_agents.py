#!/usr/bin/env python3
"""A scheduler pair on PostgreSQL 15 under a real campaign: the active
scheduler is SIGKILLed mid-campaign, the standby takes over, and every reply
a terminal was given still holds (the crash test's check, across two
processes); the campaign completes.

Real mosquitto with the Slotwise plugin, four nginx nodes (per_slot 2), 40
slotwise-agents, two slotwise-schedulers on one PostgreSQL 15
(localstack.postgres, synchronous commit) with a 3 s lease
(localstack.scheduler_pair). A service-side watcher (mosquitto_sub, QoS 1, on
slotwise/v1/t/+/reply) records every reply sent to a terminal, in order.
The standby waits from the start. Once some terminals hold assignments, some
have been told GO and some final statuses were acknowledged, the leader is
SIGKILLed; the standby loads the state from the database and serves.

A reply is a promise; after the failover each must hold, per terminal:
  * an Assignment (answer to a Report) or the one in a TOO_EARLY equals the
    terminal's standing promise while that promise's slot has not ended
    (repeated reports get the same answer);
  * a RESCHEDULED comes only once the promised slot has ended on the
    scheduler's clock (a standby that forgot the booking would place the
    terminal again inside its slot);
  * a GO is for the promised node and slot;
  * no error reply;
and the campaign is DONE with every terminal SUCCEEDED, every agent runs the
new version, nginx's logs show no (node, slot) over per_slot, and the
standby kept at least one promise the killed leader made (the check crossed
the two processes).

    python3 tests/integration/test_standby_agents.py --build-dir build [--keep]
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402
from slotwise_testing.protobuf import decode_fields  # noqa: E402
from localstack import postgres  # noqa: E402
from localstack.scheduler_pair import SchedulerPair  # noqa: E402

CAMPAIGN = "standby-campaign"
OPTS = argparse.Namespace(build_dir=str(REPO / "build"), terminals=40, per_slot=2, slot_seconds=2.0,
                          lease_ms=3000, keep=False, wait=75)

# TerminalReply (schemas/slotwise/v1/terminal.proto) field numbers
ACK, ASSIGNMENT, CHECK_RESULT, ERROR, SERVER_TIME = 1, 2, 3, 4, 10
GO, RESCHEDULED, TOO_EARLY = 1, 3, 5


def _s(fields: dict, n: int) -> str:
    return fields.get(n, [b""])[0].decode()


def _i(fields: dict, n: int) -> int:
    v = fields.get(n, [0])[0]
    return v - (1 << 64) if v >= 1 << 63 else v


def assignment_of(raw: bytes) -> tuple[str, int, int, int]:
    """(node, slot, start_at_ms, slot_end_ms) of an Assignment."""
    f = decode_fields(raw)
    return _s(f, 3), _i(f, 5), _i(f, 8), _i(f, 7)


def parse_reply(topic: str, hexpayload: str) -> dict:
    tid = topic.split("/")[3]
    f = decode_fields(bytes.fromhex(hexpayload))
    r = {"tid": tid, "time": _i(f, SERVER_TIME)}
    if ASSIGNMENT in f:
        r["kind"], r["assignment"] = "assignment", assignment_of(f[ASSIGNMENT][0])
    elif CHECK_RESULT in f:
        c = decode_fields(f[CHECK_RESULT][0])
        r["kind"], r["verdict"] = "check", _i(c, 2)
        if 4 in c:
            r["assignment"] = assignment_of(c[4][0])
        if 3 in c:
            d = decode_fields(c[3][0])
            r["url"], r["not_after"] = _s(d, 1), _i(d, 6)
    elif ERROR in f:
        e = decode_fields(f[ERROR][0])
        r["kind"], r["error"] = "error", f"{_i(e, 1)} {_s(e, 2)}"
    else:
        r["kind"] = "ack"
    return r


def broken_promises(replies: list[dict], node_of_port: dict[int, str]) -> list[str]:
    """The crash test's check on the replies of every terminal, in order: each
    way a reply broke the terminal's standing promise."""
    failures: list[str] = []
    promise: dict[str, tuple[str, int, int, int]] = {}
    for r in replies:
        tid, t = r["tid"], r["time"]
        held = promise.get(tid)
        live = held is not None and t < held[3]
        if r["kind"] == "error":
            failures.append(f"{tid}: error reply {r['error']}")
        elif r["kind"] == "assignment" or (r["kind"] == "check" and r["verdict"] == TOO_EARLY):
            a = r.get("assignment")
            if live and a != held:
                failures.append(f"{tid}: told {held}, then {a} at {t} inside that slot")
            if a:
                promise[tid] = a
        elif r["kind"] == "check" and r["verdict"] == RESCHEDULED:
            if live:
                failures.append(f"{tid}: RESCHEDULED at {t} inside its promised slot {held} "
                                f"(the booking was forgotten)")
            promise[tid] = r["assignment"]
        elif r["kind"] == "check" and r["verdict"] == GO:
            port = urlparse(r["url"]).port
            node = node_of_port.get(port or 0)
            if held is None:
                failures.append(f"{tid}: GO at {t} with no assignment told before")
            elif node != held[0] or r["not_after"] != held[3]:
                failures.append(f"{tid}: GO for {node} until {r['not_after']}, promised {held}")
    return failures


class StandbyTakesOverACampaign(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        why = postgres.available()
        if why:
            raise unittest.SkipTest(why)
        cls.stack = ls.Stack(OPTS.build_dir, slot_seconds=OPTS.slot_seconds, keep=OPTS.keep)
        cls.pg = postgres.Postgres(Path(tempfile.mkdtemp(prefix="slotwise-pg-")))  # postgres-owned
        cls.pair = None
        cls.watcher = None
        try:
            cls.run_campaign()
        except BaseException as e:
            cls.stack.report_failure(e)
            cls.tear_down()
            raise

    @classmethod
    def tear_down(cls) -> None:
        if cls.watcher is not None:
            st.stop_popen(cls.watcher)
        if cls.pair is not None:
            cls.pair.stop()
        cls.stack.stop()
        cls.pg.cleanup()

    @classmethod
    def tearDownClass(cls) -> None:
        if st.tests_failed_so_far():
            cls.stack.keep = True
        cls.tear_down()

    @classmethod
    def run_campaign(cls) -> None:
        s = cls.stack
        s.check_prerequisites()
        ls.processes.raise_nofile_limit()
        url = cls.pg.start()
        s.start_broker()
        cls.pair = pair = SchedulerPair(s, url, lease_ms=OPTS.lease_ms)
        cls.a = pair.start("a")
        pair.wait_serving(cls.a)
        # The standby waits from the start: everything it serves after the
        # takeover it must have loaded from the database then.
        cls.b = pair.start("b")
        pair.wait_standby(cls.b)
        ls.build_demo_topology(s, per_slot=OPTS.per_slot)
        cls.url_path = s.versions[ls.NEW_VERSION][1]

        cls.replies_out = s.logs / "replies.out"
        with open(cls.replies_out, "wb") as f:
            cls.watcher = subprocess.Popen(
                ["mosquitto_sub", "-V", "5", "-h", "127.0.0.1", "-p", str(s.broker_port),
                 *s.mqtt_auth_args(ls.SERVICE_USERNAME), "-i", "reply-watch", "-q", "1",
                 "-t", "slotwise/v1/t/+/reply", "-F", "%t %x"],
                stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        agents = s.spawn_fleet(OPTS.terminals, exit_when_idle=True)
        cls.tids = [a.id for a in agents]
        s.wait_terminals_known(cls.tids, timeout=40)
        s.cli("campaign", "create", CAMPAIGN, "--version", ls.NEW_VERSION, "--terminals", ",".join(cls.tids))
        s.cli("campaign", "schedule", CAMPAIGN, "--window", "earliest")

        # Mid-campaign: a third of the terminals told where and when, some told
        # GO, some final statuses acknowledged (a standby that lost one would
        # never see the campaign DONE: the agent does not ask again).
        def progressed() -> bool:
            rs = cls.replies()
            told = {r["tid"] for r in rs if r["kind"] == "assignment"}
            gos = [r for r in rs if r["kind"] == "check" and r["verdict"] == GO]
            acks = [r for r in rs if r["kind"] == "ack"]
            return len(told) >= OPTS.terminals // 3 and len(gos) >= 2 and len(acks) >= 1
        if not st.wait_until(progressed, timeout=40):
            raise ls.StackError(f"the campaign did not get under way: {len(cls.replies())} replies seen")
        cls.kill_ms = int(time.time() * 1000)
        t_kill = time.monotonic()
        cls.a.signal(signal.SIGKILL)
        cls.a.popen.wait(timeout=10)
        cls.a.stopped_by_us = True
        s.log(f"SIGKILL scheduler a (pid {cls.a.pid}) after {len(cls.replies())} replies")
        cls.failover_s = pair.wait_leading(cls.b) - t_kill
        s.log(f"standby b leads and is connected {cls.failover_s:.2f} s after the kill")

        cls.wait_rc = s.cli_stream("campaign", "status", CAMPAIGN, "--wait", str(OPTS.wait),
                                   timeout=OPTS.wait + 15)
        try:
            cls.report = s.cli_json("campaign", "status", CAMPAIGN)
        except ls.StackError as e:  # asserted below, after the replies are checked
            s.log(f"no campaign report from the standby: {e}")
            cls.report = {}
        s.wait_agents_exit(20)
        time.sleep(0.5)  # the watcher's last lines
        cls.all_replies = cls.replies()
        cls.downloads = s.downloads(cls.url_path)
        print(f"\nfailover: SIGKILL -> standby serving {cls.failover_s:.2f} s; "
              f"{len(cls.all_replies)} replies recorded", flush=True)

    @classmethod
    def replies(cls) -> list[dict]:
        out = []
        for line in cls.replies_out.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].startswith("slotwise/v1/t/"):
                out.append(parse_reply(*parts))
        return out

    def node_of_port(self) -> dict[int, str]:
        return {n.port: n.id for n in self.stack.nodes.values()}

    def test_every_reply_holds_across_the_failover(self):
        failures = broken_promises(self.all_replies, self.node_of_port())
        self.assertEqual(failures[:20], [], f"{len(failures)} broken promises")

    def test_the_standby_kept_promises_of_the_killed_leader(self):
        before = {r["tid"]: r for r in self.all_replies
                  if r["time"] < self.kill_ms and r["kind"] in ("assignment", "check")}
        kept = {r["tid"] for r in self.all_replies
                if r["time"] > self.kill_ms and r["kind"] == "check" and r["verdict"] == GO
                and r["tid"] in before and before[r["tid"]].get("assignment")}
        self.assertTrue(kept, "no GO from the standby for an assignment the killed leader made")
        print(f"the standby told GO to {len(kept)} terminals booked by the killed leader", flush=True)

    def test_campaign_done_all_succeeded(self):
        self.assertEqual(self.wait_rc, 0, "`campaign status --wait` did not see the campaign DONE")
        self.assertEqual(self.report.get("campaign", {}).get("state"), "DONE")
        self.assertEqual(int(self.report.get("succeeded", 0)), OPTS.terminals)
        for tid, agent in self.stack.agents.items():
            with self.subTest(terminal=tid):
                self.assertEqual(agent.installed_version(), ls.NEW_VERSION)

    def test_no_node_over_per_slot(self):
        counts = ls.evidence.node_slot_counts(self.downloads, self.stack.slot_ms)
        over = {k: n for k, n in counts.items() if n > OPTS.per_slot}
        self.assertEqual(over, {})
        self.assertEqual(len({d.terminal for d in self.downloads}), OPTS.terminals)

    def test_the_old_leader_is_gone_and_the_standby_leads(self):
        self.assertEqual(self.a.returncode, -signal.SIGKILL)
        self.assertTrue(self.b.alive())
        self.assertIn("leader now:", SchedulerPair.log_text(self.b))


if __name__ == "__main__":
    sys.exit(st.run_test_file([StandbyTakesOverACampaign], OPTS, __doc__))
