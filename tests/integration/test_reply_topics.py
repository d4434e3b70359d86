#!/usr/bin/env python3
"""The confused deputy through MQTT v5 Response Topic, against the real stack.

The scheduler publishes its answers with the service's rights. A request that
names someone else's topic as its Response Topic must not make it write there:
terminal TA (not in any campaign) sends requests on its own topics naming, in
turn, each of the five targets of issue 12 -- TB's presence, TB's reply, TB's
notice, an operator's reply topic and the broker stats -- and nothing may
arrive there, while TB (online, booked in a scheduled campaign) keeps its
booking and stays online. The same is tried by an operator naming TB's topics,
by a will (which the broker plugin's message check never sees, so the
scheduler's own reply rule must hold), and by a service writing TB's presence
directly (no client may write presence: what the scheduler reads there is the
broker plugin's word).

Every attempt goes through a real MQTT v5 client (mosquitto_pub / mosquitto_sub
with `-D publish response-topic` / `-D will response-topic`); the targets are
watched by mosquitto_sub as the service user, which may read everything.

    python3 tests/integration/test_reply_topics.py --build-dir build [--keep]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402

OPTS = argparse.Namespace(build_dir=str(REPO / "build"), keep=False)
CAMPAIGN = "deputy"
PARIS = (48.8566, 2.3522)
ATTACKER, VICTIM = "TA", "TB"
OPERATOR_VICTIM = "op-victim"  # an operator's client id; nobody else uses it

pb = st.protobuf

TARGETS = {
    "presence": f"slotwise/v1/presence/{VICTIM}",
    "reply": f"slotwise/v1/t/{VICTIM}/reply",
    "notice": f"slotwise/v1/t/{VICTIM}/notice",
    "operator reply": f"slotwise/v1/op/reply/{OPERATOR_VICTIM}",
    "stats": "slotwise/v1/stats/broker",
}


def decode_presence(payload: bytes) -> dict:
    f = pb.decode_fields(payload)
    return {"terminal_id": f.get(1, [b""])[0].decode(), "online": bool(f.get(2, [0])[0]),
            "at_ms": f.get(3, [0])[0]}


class ReplyTopics(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        s = cls.stack
        s.start()
        s.add_cluster("c1", *PARIS, "eu")
        s.add_node("n1", "c1", per_slot=2)
        s.add_version(ls.NEW_VERSION, 64 * 1024)
        s.terminal_password(ATTACKER)  # a registered terminal without an agent: the test speaks as it
        s.start_agent(VICTIM, PARIS[0] + 0.1, PARIS[1] + 0.1)
        missing = s.wait_terminals_known([VICTIM], timeout=30, location_timeout=5)
        if missing:
            s.log(f"warning: no location known yet for {missing}")
        s.cli("campaign", "create", CAMPAIGN, "--version", ls.NEW_VERSION, "--terminals", VICTIM)
        # A window far enough ahead that TB is booked and waits for its slot
        # during the whole test (no check, no download, no reply).
        first = int(time.time() * 1000) // s.slot_ms + 150
        s.cli("campaign", "schedule", CAMPAIGN, "--start-slot", str(first),
              "--end-slot", str(first + 10))
        booked = st.wait_until(lambda: cls.booking_of_victim(s) is not None, timeout=30, interval=0.5)
        if not booked:
            raise AssertionError(f"{VICTIM} was not booked: {s.cli_json('campaign', 'status', CAMPAIGN)}")
        cls.booking = cls.booking_of_victim(s)
        s.log(f"{VICTIM} booked: {cls.booking}")

    # -- helpers -------------------------------------------------------------

    @staticmethod
    def booking_of_victim(stack) -> tuple | None:
        report = stack.cli_json("campaign", "status", CAMPAIGN)
        for t in report.get("terminals", []):
            if t.get("terminal_id") == VICTIM and t.get("assigned"):
                return (t.get("node_id"), t.get("slot"), t.get("start_at_ms"))
        return None

    def mqtt_base(self, username: str, client_id: str) -> list[str]:
        return ["-V", "5", "-h", "127.0.0.1", "-p", str(self.stack.broker_port),
                *self.stack.mqtt_auth_args(username), "-i", client_id]

    def watch(self, name: str) -> Path:
        """mosquitto_sub as the service user on every target (stale retained
        messages skipped); returns its output file once SUBACK arrived."""
        out = self.stack.logs / f"watch-{name}.out"
        argv = ["stdbuf", "-oL", "mosquitto_sub", *self.mqtt_base(ls.SERVICE_USERNAME, f"watch-{name}"),
                "-q", "1", "-d", "-R", "-W", "60", "-F", "MSG|%t|%x|%D"]
        for t in TARGETS.values():
            argv += ["-t", t]
        f = open(out, "wb")
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        f.close()
        self.addCleanup(ls.stop_popen, proc)
        ok = st.wait_until(lambda: "SUBACK" in out.read_text(errors="replace") or proc.poll() is not None,
                           timeout=10)
        if not ok or proc.poll() is not None:
            self.fail(f"watcher did not subscribe:\n{ls.tail(out)}")
        return out

    @staticmethod
    def seen(out: Path) -> list[dict]:
        found = []
        for line in out.read_text(errors="replace").splitlines():
            if line.startswith("MSG|"):
                _, topic, hexpayload, corr = (line.split("|", 3) + [""])[:4]
                found.append({"topic": topic, "payload": bytes.fromhex(hexpayload), "corr": corr})
        return found

    def publish(self, username: str, client_id: str, topic: str, response_topic: str,
                corr: str, payload: bytes = b"") -> subprocess.CompletedProcess:
        argv = ["mosquitto_pub", *self.mqtt_base(username, client_id), "-q", "1", "-t", topic]
        if payload:
            f = self.stack.root / f"payload-{corr}.bin"
            f.write_bytes(payload)
            argv += ["-f", str(f)]
        else:
            argv += ["-n"]
        if response_topic:
            argv += ["-D", "publish", "response-topic", response_topic]
        argv += ["-D", "publish", "correlation-data", corr]
        return subprocess.run(argv, capture_output=True, text=True, timeout=20)

    def assert_nothing_reached_targets(self, out: Path, corr: str, what: str) -> None:
        # The scheduler ticks every second and would release a booking of a
        # terminal "offline since 0" on the next one: give it three.
        time.sleep(3)
        for m in self.seen(out):
            with self.subTest(what=what, topic=m["topic"]):
                self.assertNotEqual(m["corr"], corr,
                                    f"{what}: the attempt (correlation data {corr}) reached {m['topic']}")
                if m["topic"] == TARGETS["stats"]:
                    # The plugin's own stats (JSON) keep coming; nothing else may.
                    json.loads(m["payload"].decode("utf-8"))
                else:
                    self.fail(f"{what}: a message reached {m['topic']}: {m}")
        self.assert_victim_untouched(what)

    def assert_victim_untouched(self, what: str) -> None:
        self.assertEqual(self.booking_of_victim(self.stack), self.booking,
                         f"{what}: {VICTIM}'s booking did not survive")
        res = subprocess.run(["mosquitto_sub", *self.mqtt_base(ls.SERVICE_USERNAME, "presence-probe"),
                              "-t", TARGETS["presence"], "-C", "1", "-W", "3", "-F", "%x"],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(res.returncode, 0, f"no retained presence of {VICTIM}: {res.stderr}")
        presence = decode_presence(bytes.fromhex(res.stdout.strip()))
        self.assertEqual(presence["terminal_id"], VICTIM, presence)
        self.assertTrue(presence["online"], f"{what}: {VICTIM} no longer online: {presence}")
        self.stack.check_alive()

    def terminal_attempt(self, target: str, leaf: str = "report") -> None:
        corr = f"deputy-{leaf}-{target.replace(' ', '-')}"
        out = self.watch(corr)
        pub = self.publish(ATTACKER, ATTACKER, f"slotwise/v1/t/{ATTACKER}/{leaf}", TARGETS[target], corr)
        self.stack.log(f"{ATTACKER} {leaf} -> {TARGETS[target]}: exit {pub.returncode} "
                       f"{(pub.stdout + pub.stderr).strip()}")
        self.assert_nothing_reached_targets(out, corr, f"{ATTACKER}'s {leaf} naming {TARGETS[target]}")

    # -- a terminal names another's topic ------------------------------------------

    def test_1_terminal_towards_victims_presence(self):
        self.terminal_attempt("presence")

    def test_2_terminal_towards_victims_reply(self):
        self.terminal_attempt("reply")

    def test_3_terminal_towards_victims_notice(self):
        self.terminal_attempt("notice")

    def test_4_terminal_towards_an_operators_reply(self):
        self.terminal_attempt("operator reply")

    def test_5_terminal_towards_the_stats(self):
        self.terminal_attempt("stats")

    def test_6_check_and_status_towards_victims_presence(self):
        self.terminal_attempt("presence", leaf="check")
        self.terminal_attempt("presence", leaf="status")

    # -- an operator, a will, a direct write ------------------------------------------

    def test_7_operator_towards_victims_topics(self):
        for target in ("presence", "notice", "reply"):
            corr = f"deputy-operator-{target}"
            out = self.watch(corr)
            # An empty OperatorRequest: answered with an error, before the fix on the target.
            self.publish(ls.OPERATOR_USERNAME, "op-attacker", "slotwise/v1/op/request", TARGETS[target], corr)
            self.assert_nothing_reached_targets(out, corr, f"an operator request naming {TARGETS[target]}")

    def test_8_will_towards_victims_presence(self):
        """A will on the attacker's own report topic: the plugin's message check never
        sees wills (mosquitto 2.0.11), so only the scheduler's reply rule stops it."""
        corr = "deputy-will-presence"
        out = self.watch(corr)
        log = self.stack.logs / "will-client.out"
        argv = ["stdbuf", "-oL", "mosquitto_sub", *self.mqtt_base(ATTACKER, ATTACKER), "-t", f"slotwise/v1/t/{ATTACKER}/reply",
                "--will-topic", f"slotwise/v1/t/{ATTACKER}/report", "--will-payload", "will",
                "--will-qos", "1",
                "-D", "will", "response-topic", TARGETS["presence"],
                "-D", "will", "correlation-data", corr, "-d"]
        with open(log, "wb") as f:
            proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.addCleanup(ls.stop_popen, proc)
        self.assertTrue(st.wait_until(lambda: "SUBACK" in log.read_text(errors="replace"), timeout=10),
                        f"will client did not connect:\n{ls.tail(log)}")
        proc.kill()  # no DISCONNECT: the broker publishes the will
        proc.wait(timeout=5)
        self.assert_nothing_reached_targets(out, corr, "a will naming TB's presence")

    def test_9_nobody_writes_presence_directly(self):
        """Presence is written by the broker plugin only: not even a service may publish
        there, so an offline Presence for TB from a client never reaches the scheduler."""
        offline = pb.len_field(1, VICTIM) + pb.varint_field(3, 1)  # online=false, at_ms=1
        for username, cid in ((ls.SERVICE_USERNAME, "fake-presence-svc"),
                              (ls.OPERATOR_USERNAME, "fake-presence-op"),
                              (ATTACKER, ATTACKER)):
            corr = f"deputy-direct-{cid}"
            out = self.watch(corr)
            self.publish(username, cid, TARGETS["presence"], "", corr, payload=offline)
            self.assert_nothing_reached_targets(out, corr, f"{username} publishing {VICTIM}'s presence")


def main() -> int:
    return st.run_test_file([ReplyTopics], OPTS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
