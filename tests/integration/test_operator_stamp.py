#!/usr/bin/env python3
"""Operator requests carry the operator the broker vouched for (issue 12).

The broker plugin stamps every request on slotwise/v1/op/request with the
MQTT v5 user properties `slotwise-operator` (the operator's username) and
`slotwise-operator-client` (its client id); the scheduler refuses a request
without them (OperatorReply.error UNAUTHENTICATED, nothing changes), answers
a stamped one only on slotwise/v1/op/reply/{the stamped client id}, and logs
which operator sent each state-changing request.

Against the real stack (mosquitto with the plugin, the scheduler, the CLI),
with real MQTT v5 clients (mosquitto_rr / mosquitto_pub / mosquitto_sub):
  1. the CLI's requests work and are logged with their operator;
  2. a request is seen stamped by a service subscriber and answered;
  3. an operator's request carrying its own forged stamp is dropped (0x87)
     and never reaches the scheduler;
  4. an unstamped request that reaches the scheduler (published by a
     service-role client, which the plugin does not stamp) is refused
     UNAUTHENTICATED and changes nothing.

    python3 tests/integration/test_operator_stamp.py --build-dir build [--keep]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402

OPTS = argparse.Namespace(build_dir=str(REPO / "build"), keep=False)
pb = st.protobuf
REQUEST = "slotwise/v1/op/request"
UNAUTHENTICATED = 9  # slotwise.v1.ErrorCode


def add_cluster(cluster_id: str) -> bytes:
    """OperatorRequest{add_cluster{cluster{id, location{lat, lon}, region}}}, without
    NUL bytes (mosquitto_rr 2.0.11 takes its payload only as -m, from argv)."""
    location = pb.double_field(1, 45.123) + pb.double_field(2, 5.321)
    cluster = pb.len_field(1, cluster_id) + pb.len_field(2, location) + pb.len_field(3, "eu")
    return pb.len_field(1, pb.len_field(1, cluster))


def reply_error(payload: bytes) -> tuple[int, str] | None:
    """OperatorReply.error (field 1) as (code, message), or None."""
    error = pb.decode_fields(payload).get(1)
    if not error:
        return None
    f = pb.decode_fields(error[0])
    return f.get(1, [0])[0], f.get(2, [b""])[0].decode(errors="replace")


class OperatorStamp(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        cls.stack.start()

    def base(self, username: str, client_id: str) -> list[str]:
        return ["-V", "5", "-h", "127.0.0.1", "-p", str(self.stack.broker_port),
                *self.stack.mqtt_auth_args(username), "-i", client_id]

    def rr(self, username: str, client_id: str, payload: bytes, reply_topic: str,
           extra: tuple = ()) -> bytes | None:
        """mosquitto_rr: publish on op/request naming `reply_topic`; the reply or None."""
        assert b"\0" not in payload
        argv = ["mosquitto_rr", *self.base(username, client_id), "-t", REQUEST, "-e", reply_topic,
                "-q", "1", "-m", payload, "-F", "%x", "-W", "5",
                "-D", "publish", "correlation-data", client_id, *extra]
        r = subprocess.run(argv, capture_output=True, timeout=20)
        out = r.stdout.decode().strip()
        return bytes.fromhex(out) if r.returncode == 0 and out else None

    def watch_requests(self, name: str) -> tuple[subprocess.Popen, Path]:
        """A service subscriber on op/request printing topic, user properties and payload."""
        out = self.stack.logs / f"watch-{name}.out"
        argv = ["stdbuf", "-oL", "mosquitto_sub", *self.base(ls.SERVICE_USERNAME, f"watch-{name}"),
                "-t", REQUEST, "-q", "1", "-d", "-F", "MSG|%P|%x"]
        f = open(out, "wb")
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        f.close()
        self.addCleanup(ls.stop_popen, proc)
        self.assertTrue(st.wait_until(lambda: "SUBACK" in out.read_text(errors="replace"), timeout=10),
                        f"watcher did not subscribe:\n{ls.tail(out)}")
        return proc, out

    @staticmethod
    def seen(out: Path) -> list[tuple[str, bytes]]:
        found = []
        for line in out.read_text(errors="replace").splitlines():
            if line.startswith("MSG|"):
                _, props, hexpayload = line.split("|", 2)
                found.append((props, bytes.fromhex(hexpayload)))
        return found

    def clusters(self) -> list[str]:
        return [c.get("id") for c in self.stack.cli_json("cluster", "list").get("clusters", [])]

    def scheduler_log(self) -> str:
        return self.stack.scheduler.log_path.read_text(errors="replace")

    def test_1_cli_requests_work_and_are_logged_with_their_operator(self):
        self.stack.cli("cluster", "add", "c-cli", "--lat", "48.85", "--lon", "2.35")
        self.assertIn("c-cli", self.clusters())
        self.assertTrue(st.wait_until(
            lambda: f"operator '{ls.OPERATOR_USERNAME}' (client '" in self.scheduler_log()
            and "requested add_cluster: done" in self.scheduler_log(), timeout=10),
            f"the scheduler did not log the operator of add_cluster:\n{self.scheduler_log()[-3000:]}")

    def test_2_a_request_is_stamped_and_answered(self):
        _, out = self.watch_requests("stamped")
        reply = self.rr(ls.OPERATOR_USERNAME, "op-stamped", add_cluster("c-stamped"),
                        "slotwise/v1/op/reply/op-stamped")
        self.assertIsNotNone(reply, "no reply to a stamped operator request")
        self.assertIsNone(reply_error(reply), f"refused: {reply_error(reply)}")
        self.assertIn("c-stamped", self.clusters())
        self.assertTrue(st.wait_until(lambda: self.seen(out), timeout=5), "the watcher saw nothing")
        props = [p for p, payload in self.seen(out) if b"c-stamped" in payload]
        self.assertEqual(len(props), 1, self.seen(out))
        self.assertIn(f"slotwise-operator:{ls.OPERATOR_USERNAME}", props[0])
        self.assertIn("slotwise-operator-client:op-stamped", props[0])
        self.assertTrue(st.wait_until(
            lambda: f"operator '{ls.OPERATOR_USERNAME}' (client 'op-stamped') requested add_cluster: done"
            in self.scheduler_log(), timeout=10), "the scheduler did not log the stamped operator")

    def test_3_a_forged_stamp_is_dropped(self):
        _, out = self.watch_requests("forged")
        for i, (prop, value) in enumerate((("slotwise-operator", "someone-else"),
                                           ("slotwise-operator-client", "op-victim"))):
            cid = f"op-forger{i}"
            f = self.stack.root / f"forged-{i}.bin"
            f.write_bytes(add_cluster(f"c-forged{i}"))
            r = subprocess.run(["mosquitto_pub", *self.base(ls.OPERATOR_USERNAME, cid), "-t", REQUEST,
                                "-q", "1", "-f", str(f), "-D", "publish", "user-property", prop, value,
                                "-D", "publish", "response-topic", f"slotwise/v1/op/reply/{cid}"],
                               capture_output=True, text=True, timeout=20)
            self.assertIn("not authorized", (r.stdout + r.stderr).lower(),
                          f"{prop}={value}: no PUBACK 0x87 ({r.stdout}{r.stderr})")
        # A fence after both: the watcher has seen everything before it.
        self.rr(ls.OPERATOR_USERNAME, "op-fence", add_cluster("c-fence"), "slotwise/v1/op/reply/op-fence")
        self.assertTrue(st.wait_until(lambda: any(b"c-fence" in p for _, p in self.seen(out)), timeout=5))
        self.assertFalse(any(b"c-forged" in p for _, p in self.seen(out)), self.seen(out))
        clusters = self.clusters()
        self.assertNotIn("c-forged0", clusters)
        self.assertNotIn("c-forged1", clusters)

    def test_4_an_unstamped_request_is_refused_unauthenticated(self):
        # A service-role client is trusted by the broker but stamps nothing:
        # its request reaches the scheduler unstamped.
        reply = self.rr(ls.SERVICE_USERNAME, "svc-unstamped", add_cluster("c-unstamped"),
                        "slotwise/v1/op/reply/svc-unstamped")
        self.assertIsNotNone(reply, "no reply to the unstamped request")
        error = reply_error(reply)
        self.assertIsNotNone(error, "the unstamped request was not refused")
        self.assertEqual(error[0], UNAUTHENTICATED, error)
        self.assertIn("did not vouch", error[1])
        self.assertNotIn("c-unstamped", self.clusters())
        self.stack.check_alive()

    def test_5_a_stamped_request_is_answered_only_on_its_clients_reply_topic(self):
        # Only a service can send stamps the plugin did not check (trusted role);
        # it stands here for a stamp and a response topic that disagree.
        out = self.stack.logs / "watch-misdirected.out"
        argv = ["stdbuf", "-oL", "mosquitto_sub", *self.base(ls.SERVICE_USERNAME, "watch-misdirected"),
                "-t", "slotwise/v1/op/reply/op-b", "-q", "1", "-d", "-F", "MSG|%x"]
        with open(out, "wb") as f:
            proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.addCleanup(ls.stop_popen, proc)
        self.assertTrue(st.wait_until(lambda: "SUBACK" in out.read_text(errors="replace"), timeout=10))
        f = self.stack.root / "misdirected.bin"
        f.write_bytes(add_cluster("c-misdirected"))
        subprocess.run(["mosquitto_pub", *self.base(ls.SERVICE_USERNAME, "svc-misdirected"), "-t", REQUEST,
                        "-q", "1", "-f", str(f),
                        "-D", "publish", "user-property", "slotwise-operator", ls.OPERATOR_USERNAME,
                        "-D", "publish", "user-property", "slotwise-operator-client", "op-a",
                        "-D", "publish", "response-topic", "slotwise/v1/op/reply/op-b",
                        "-D", "publish", "correlation-data", "misdirected"],
                       check=True, capture_output=True, timeout=20)
        # Processed (the stamp is there) ...
        self.assertTrue(st.wait_until(lambda: "c-misdirected" in self.clusters(), timeout=10))
        # ... but its answer never goes to another client's reply topic.
        reply = self.rr(ls.OPERATOR_USERNAME, "op-b", add_cluster("c-fence-b"), "slotwise/v1/op/reply/op-b")
        self.assertIsNotNone(reply)
        self.assertTrue(st.wait_until(lambda: out.read_text(errors="replace").count("MSG|") >= 1, timeout=5))
        self.assertEqual(out.read_text(errors="replace").count("MSG|"), 1,
                         f"op-b's reply topic got more than its own answer:\n{out.read_text()}")


def main() -> int:
    return st.run_test_file([OperatorStamp], OPTS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
