#!/usr/bin/env python3
"""Bad input against the real stack: every refusal is answered and changes nothing.

(a) MQTT: a terminal publishes a malformed payload (and a well-formed report
    for a campaign that does not exist) on its own report topic with an MQTT v5
    response topic; an error reply must arrive on slotwise/v1/t/{tid}/reply
    with the same correlation data, and neither `slotwise terminal list` nor
    the campaign report may change. A terminal publishing on another
    terminal's topic gets nothing through.
(b) `slotwise campaign status no-such-campaign` exits 1 naming the campaign.
(c) invalid CLI arguments exit 2 (usage) or 1 (refused) with a message, and
    the registry is unchanged.

The reply topic is watched with mosquitto_sub as the service user
(slotwise-scheduler, which may read everything) under its own client id, so
the terminal's session is never taken over.

    python3 tests/integration/test_bad_input.py --build-dir build [--keep]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import unittest
from typing import Optional
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402

OPTS = argparse.Namespace(build_dir=str(REPO / "build"), keep=False)
CAMPAIGN = "bad-input"
PARIS = (48.8566, 2.3522)

# common.proto ErrorCode
MALFORMED, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS = 1, 2, 3, 4
UNAUTHENTICATED = 9
FAILED_PRECONDITION, NOT_IN_CAMPAIGN = 5, 7


# -- a Report built and a TerminalReply read by hand (tests/support protobuf) -----

pb = st.protobuf


def encode_report(campaign_id: str, current: str, target: str, lat: float, lon: float,
                  system_id: str) -> bytes:
    loc = pb.double_field(1, lat) + pb.double_field(2, lon)
    return (pb.len_field(1, campaign_id) + pb.len_field(2, current)
            + pb.len_field(3, target) + pb.len_field(4, loc)
            + pb.len_field(5, system_id))


def decode_terminal_reply(payload: bytes) -> dict:
    """TerminalReply: which body it has; for `error`, its code and message."""
    f = pb.decode_fields(payload)
    names = {1: "ack", 2: "assignment", 3: "check_result", 4: "error"}
    body = next((names[k] for k in sorted(f) if k in names), "empty")
    out = {"body": body}
    if body == "error":
        e = pb.decode_fields(f[4][0])
        out["code"] = e.get(1, [0])[0]
        out["message"] = e.get(2, [b""])[0].decode("utf-8", "replace")
    return out


# -- the test --------------------------------------------------------------------

class BadInput(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        s = cls.stack
        s.start()
        s.add_cluster("c1", *PARIS, "eu")
        s.add_node("n1", "c1", per_slot=2)
        s.add_version(ls.NEW_VERSION, 64 * 1024)
        for tid in ("T001", "T002"):
            s.start_agent(tid, PARIS[0] + 0.1, PARIS[1] + 0.1)
        missing = s.wait_terminals_known(["T001", "T002"], timeout=30, location_timeout=1)
        if missing:
            s.log(f"warning: no location known yet for {missing}")
        # A campaign in DRAFT: nothing moves unless a request changes it.
        s.cli("campaign", "create", CAMPAIGN, "--version", ls.NEW_VERSION,
              "--terminals", "T001,T002")
        # T002's agent goes away, so the test can speak as T002 without a session takeover.
        ls.stop_processes([s.agents["T002"].process])
        time.sleep(0.5)

    # -- helpers -------------------------------------------------------------

    def snapshot(self) -> dict:
        """Everything a refused request must leave as it was (presence fields aside)."""
        queries = {
            "terminals": ("terminal", "list"),
            "campaign": ("campaign", "status", CAMPAIGN),
            "campaigns": ("campaign", "list"),
            "nodes": ("node", "list"),
            "clusters": ("cluster", "list"),
            "versions": ("version", "list"),
        }
        # Independent CLI processes (each its own MQTT client id): ask all at once.
        with ThreadPoolExecutor(len(queries)) as pool:
            futures = {k: pool.submit(self.stack.cli_json, *q) for k, q in queries.items()}
            snap = {k: f.result() for k, f in futures.items()}
        terminals = snap["terminals"].get("terminals", [])
        for t in terminals:
            t.pop("online", None)
            t.pop("last_seen_ms", None)
        snap["terminals"] = sorted(terminals, key=lambda t: t.get("id", ""))
        # A node's live health (schemas/README.md "Node health") is the latest
        # poll of its status_url, not state a request could change.
        for n in snap["nodes"].get("nodes", []):
            for live in ("health", "health_detail", "active_connections", "effective_per_slot", "health_since_ms"):
                n.pop(live, None)
        return snap

    def assertUnchanged(self, before: dict, what: str) -> None:
        time.sleep(0.3)  # a change would have been persisted before any answer
        after = self.snapshot()
        for key in before:
            self.assertEqual(json.dumps(after[key], sort_keys=True),
                             json.dumps(before[key], sort_keys=True),
                             f"{what} changed `{key}`")

    def watch(self, topics: list[str], seconds: float, client_id: str) -> tuple[subprocess.Popen, Path]:
        """mosquitto_sub as the service user on `topics`; returns once SUBACK arrived."""
        out = self.stack.logs / f"{client_id}.out"
        # stdbuf: mosquitto_sub's stdout is a file here, line-buffer it to see SUBACK now.
        argv = ["stdbuf", "-oL", "mosquitto_sub", "-V", "5", "-h", "127.0.0.1", "-p", str(self.stack.broker_port),
                *self.stack.mqtt_auth_args(ls.SERVICE_USERNAME), "-i", client_id, "-q", "1", "-d",
                "-W", str(int(seconds)), "-F", "REPLY|%t|%x|%D"]
        for t in topics:
            argv += ["-t", t]
        f = open(out, "wb")
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        f.close()
        self.addCleanup(ls.stop_popen, proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if "SUBACK" in out.read_text(errors="replace"):
                return proc, out
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        self.fail(f"mosquitto_sub as {ls.SERVICE_USERNAME} did not subscribe:\n{ls.tail(out)}")

    @staticmethod
    def replies(out: Path) -> list[dict]:
        found = []
        for line in out.read_text(errors="replace").splitlines():
            if line.startswith("REPLY|"):
                _, topic, hexpayload, corr = (line.split("|", 3) + [""])[:4]
                found.append({"topic": topic, "payload": bytes.fromhex(hexpayload), "corr": corr})
        return found

    def wait_replies(self, out: Path, n: int, seconds: float) -> list[dict]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            r = self.replies(out)
            if len(r) >= n:
                return r
            time.sleep(0.05)
        return self.replies(out)

    def publish_as_terminal(self, tid: str, topic: str, payload: bytes, corr: str,
                            username: Optional[str] = None) -> subprocess.CompletedProcess:
        """A request on `topic` with tid's reply topic, sent as terminal `tid` or, with
        `username`, as that (non-terminal) user under another client id."""
        f = self.stack.root / f"payload-{corr}.bin"
        f.write_bytes(payload)
        client = ["-i", tid, *self.stack.mqtt_auth_args(tid)] if username is None else \
            ["-i", f"{username}-{corr}", *self.stack.mqtt_auth_args(username)]
        argv = ["mosquitto_pub", "-V", "5", "-h", "127.0.0.1", "-p", str(self.stack.broker_port),
                *client, "-q", "1", "-t", topic, "-f", str(f),
                "-D", "publish", "response-topic", f"slotwise/v1/t/{tid}/reply",
                "-D", "publish", "correlation-data", corr]
        return subprocess.run(argv, capture_output=True, text=True, timeout=20)

    def request_error(self, tid: str, payload: bytes, corr: str, username: Optional[str] = None) -> dict:
        reply_topic = f"slotwise/v1/t/{tid}/reply"
        _, out = self.watch([reply_topic], 15, f"bad-input-watch-{corr}")
        pub = self.publish_as_terminal(tid, f"slotwise/v1/t/{tid}/report", payload, corr, username)
        replies = self.wait_replies(out, 1, 10)
        self.assertTrue(replies, f"no reply on {reply_topic} (mosquitto_pub exit {pub.returncode}: "
                                 f"{pub.stderr.strip()})")
        self.assertEqual(len(replies), 1, f"answered more than once: {replies}")
        r = replies[0]
        self.assertEqual(r["topic"], reply_topic)
        self.assertEqual(r["corr"], corr, "correlation data not echoed")
        return decode_terminal_reply(r["payload"])

    # -- (a) MQTT ---------------------------------------------------------------

    def test_a1_malformed_report_gets_error_reply_and_changes_nothing(self):
        before = self.snapshot()
        # A varint of 11 bytes: no protobuf parser accepts it.
        reply = self.request_error("T002", b"\xff" * 10 + b"\x01garbage", "malformed-1")
        self.assertEqual(reply["body"], "error", reply)
        self.assertIn(reply["code"], (MALFORMED, INVALID_ARGUMENT), reply)
        self.assertTrue(reply["message"], "error without a message")
        self.assertUnchanged(before, "a malformed report")

    def test_a2_report_for_unknown_campaign_gets_error_reply_and_changes_nothing(self):
        before = self.snapshot()
        # Location and system id differ from what T002 reported: a change would show.
        payload = encode_report("no-such-campaign", ls.OLD_VERSION, ls.NEW_VERSION,
                                PARIS[0] + 0.4, PARIS[1] - 0.4, "forged-system-id")
        reply = self.request_error("T002", payload, "unknown-campaign-1")
        self.assertEqual(reply["body"], "error", reply)
        self.assertIn(reply["code"], (NOT_FOUND, NOT_IN_CAMPAIGN, INVALID_ARGUMENT), reply)
        self.assertUnchanged(before, "a report for an unknown campaign")

    def test_a3_terminal_cannot_publish_on_another_terminals_topic(self):
        before = self.snapshot()
        _, out = self.watch(["slotwise/v1/t/T001/reply", "slotwise/v1/t/T002/reply"], 15,
                            "bad-input-watch-cross")
        payload = encode_report(CAMPAIGN, ls.OLD_VERSION, ls.NEW_VERSION, *PARIS, "pos")
        self.publish_as_terminal("T002", "slotwise/v1/t/T001/report", payload, "cross-1")
        time.sleep(2)
        self.assertEqual(self.replies(out), [], "a request on another terminal's topic was served")
        self.assertUnchanged(before, "a publish on another terminal's topic")

    def test_a4_request_the_plugin_did_not_stamp_is_refused(self):
        """Only the broker plugin's `slotwise-terminal` stamp makes a request a terminal's:
        the service user may publish on a terminal topic, but the scheduler does not act
        on what it says there."""
        before = self.snapshot()
        payload = encode_report(CAMPAIGN, ls.OLD_VERSION, ls.NEW_VERSION,
                                PARIS[0] + 0.3, PARIS[1] + 0.3, "forged-by-service")
        reply = self.request_error("T002", payload, "unstamped-1", username=ls.SERVICE_USERNAME)
        self.assertEqual(reply["body"], "error", reply)
        self.assertEqual(reply["code"], UNAUTHENTICATED, reply)
        self.assertUnchanged(before, "an unstamped report")

    # -- (b) CLI: unknown objects -------------------------------------------------

    def test_b1_status_of_unknown_campaign(self):
        before = self.snapshot()
        res = self.stack.cli("campaign", "status", "no-such-campaign", check=False)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("no-such-campaign", res.stderr)
        self.assertUnchanged(before, "status of an unknown campaign")

    def test_b2_create_campaign_with_unknown_version(self):
        before = self.snapshot()
        res = self.stack.cli("campaign", "create", "c-bad-version", "--version", "9.9.9",
                             "--terminals", "T001", check=False)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertTrue(res.stderr.strip())
        self.assertUnchanged(before, "a campaign for an unknown version")

    def test_b3_schedule_with_unknown_window_label(self):
        before = self.snapshot()
        res = self.stack.cli("campaign", "schedule", CAMPAIGN, "--window", "no-such-window",
                             check=False)
        self.assertIn(res.returncode, (1, 2), res.stderr)
        self.assertTrue(res.stderr.strip())
        self.assertUnchanged(before, "scheduling an unknown window")

    # -- (c) CLI: invalid arguments ------------------------------------------------

    def test_c1_node_per_slot_zero(self):
        before = self.snapshot()
        res = self.stack.cli("node", "add", "n9", "--cluster", "c1", "--url", "http://127.0.0.1:9",
                             "--per-slot", "0", check=False)
        self.assertIn(res.returncode, (1, 2), res.stderr)
        self.assertTrue(res.stderr.strip(), "refused without a message")
        self.assertUnchanged(before, "node add --per-slot 0")

    def test_c2_node_per_slot_not_a_number(self):
        before = self.snapshot()
        res = self.stack.cli("node", "add", "n9", "--cluster", "c1", "--url", "http://127.0.0.1:9",
                             "--per-slot", "abc", check=False)
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertTrue(res.stderr.strip())
        self.assertUnchanged(before, "node add --per-slot abc")

    def test_c3_node_bad_url(self):
        before = self.snapshot()
        res = self.stack.cli("node", "add", "n9", "--cluster", "c1", "--url", "x",
                             "--per-slot", "2", check=False)
        self.assertIn(res.returncode, (1, 2), res.stderr)
        self.assertTrue(res.stderr.strip())
        self.assertUnchanged(before, "node add --url x")

    def test_c4_node_in_unknown_cluster(self):
        before = self.snapshot()
        res = self.stack.cli("node", "add", "n9", "--cluster", "no-such-cluster",
                             "--url", "http://127.0.0.1:9", "--per-slot", "2", check=False)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("no-such-cluster", res.stderr)
        self.assertUnchanged(before, "a node in an unknown cluster")

    def test_c5_duplicate_cluster(self):
        before = self.snapshot()
        res = self.stack.cli("cluster", "add", "c1", "--lat", "10", "--lon", "10", check=False)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertTrue(res.stderr.strip())
        self.assertUnchanged(before, "adding an existing cluster again")

    def test_c6_latitude_out_of_range(self):
        before = self.snapshot()
        res = self.stack.cli("cluster", "add", "c9", "--lat", "123", "--lon", "10", check=False)
        self.assertIn(res.returncode, (1, 2), res.stderr)
        self.assertTrue(res.stderr.strip())
        self.assertUnchanged(before, "a cluster at latitude 123")

    def test_c7_unknown_command_and_set_state(self):
        before = self.snapshot()
        res = self.stack.cli("frobnicate", check=False)
        self.assertEqual(res.returncode, 2, res.stderr)
        res = self.stack.cli("node", "set-state", "n1", "sideways", check=False)
        self.assertEqual(res.returncode, 2, res.stderr)
        res = self.stack.cli("node", "set-state", "no-such-node", "down", check=False)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertUnchanged(before, "unknown commands and states")

    def test_c8_unreachable_broker_exits_3(self):
        port = ls.free_port()  # nobody listens there
        res = subprocess.run([str(self.stack.cli_bin), "--broker", f"tcp://127.0.0.1:{port}",
                              "--timeout", "2", "node", "list"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(res.returncode, 3, res.stderr)
        self.assertTrue(res.stderr.strip())


def main() -> int:
    return st.run_test_file([BadInput], OPTS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
