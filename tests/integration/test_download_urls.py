#!/usr/bin/env python3
"""Signed download URLs name their terminal and are signed for it (issue 12).

Against the real stack: mosquitto with the plugin, the scheduler signing
URLs, one nginx download node from the reference config
(localstack/configs.py: secure_link per terminal, limit_conn per token,
the terminal in the access log). Terminals TA and TB (no agents: the test
speaks for them over MQTT v5 with mosquitto_rr) are booked in the same slot
on the same node and path and get their GO. Then, with curl:

  * each URL names its terminal, and TA's differs from TB's;
  * TA's URL works (range request: 206) and the access log names TA;
  * TA's URL with terminal=TB (or without its terminal) is refused: 403;
  * two downloads with one token at once: the second is refused with 429
    (the node's limit_rate keeps the first one open meanwhile);
  * the same token works again once the first download is gone.

    python3 tests/integration/test_download_urls.py --build-dir build [--keep]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import unittest
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402

OPTS = argparse.Namespace(build_dir=str(REPO / "build"), keep=False)
pb = st.protobuf
CAMPAIGN = "urls"
TERMINALS = ("TA", "TB")
LAT, LON = 48.8566, 2.3522  # eight non-zero bytes each (mosquitto_rr -m takes no NUL)
ARTIFACT_SIZE = 1024 * 1024
LIMIT_RATE = "64k"          # a full download takes ~16 s: long enough to overlap
GO = 1


def report(campaign: str) -> bytes:
    location = pb.double_field(1, 48.8566) + pb.double_field(2, 2.3522)
    body = pb.len_field(2, ls.OLD_VERSION) + pb.len_field(4, location)
    return (pb.len_field(1, campaign) if campaign else b"") + body


def check_request(slot: int) -> bytes:
    return pb.len_field(1, CAMPAIGN) + pb.len_field(2, ls.OLD_VERSION) + pb.varint_field(3, slot)


class DownloadUrls(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        s = cls.stack
        s.start()
        s.add_cluster("c1", LAT, LON, "eu")
        cls.node = s.add_node("n1", "c1", per_slot=4, limit_rate=LIMIT_RATE)
        s.add_version(ls.NEW_VERSION, ARTIFACT_SIZE)
        for tid in TERMINALS:
            s.terminal_password(tid)
            cls.rr(tid, "report", report(""))  # inventory: location and presence
        s.cli("campaign", "create", CAMPAIGN, "--version", ls.NEW_VERSION,
              "--terminals", ",".join(TERMINALS))
        first = int(time.time() * 1000) // s.slot_ms + 3
        s.cli("campaign", "schedule", CAMPAIGN, "--start-slot", str(first), "--end-slot", str(first + 1))
        booked = {tid: cls.book(tid) for tid in TERMINALS}
        cls.urls = {tid: cls.go_url(tid, *booked[tid]) for tid in TERMINALS}
        s.log(f"download URLs: {cls.urls}")

    # -- speaking for a terminal -----------------------------------------------

    @classmethod
    def rr(cls, tid: str, leaf: str, payload: bytes) -> dict:
        assert b"\0" not in payload
        s = cls.stack
        argv = ["mosquitto_rr", "-V", "5", "-h", "127.0.0.1", "-p", str(s.broker_port),
                *s.mqtt_auth_args(tid), "-i", tid, "-t", f"slotwise/v1/t/{tid}/{leaf}",
                "-e", f"slotwise/v1/t/{tid}/reply", "-q", "1", "-m", payload, "-F", "%x",
                "-W", "10", "-D", "publish", "correlation-data", f"{tid}-{leaf}"]
        r = subprocess.run(argv, capture_output=True, timeout=20)
        out = r.stdout.decode().strip()
        if r.returncode != 0 or not out:
            raise AssertionError(f"{tid} {leaf}: no reply ({r.stderr.decode(errors='replace')})")
        reply = pb.decode_fields(bytes.fromhex(out))
        if 4 in reply:
            raise AssertionError(f"{tid} {leaf}: refused: {pb.decode_fields(reply[4][0])}")
        return reply

    @classmethod
    def book(cls, tid: str) -> tuple[int, int]:
        """Report in the campaign: the booked (slot, start_at_ms)."""
        assignment = pb.decode_fields(cls.rr(tid, "report", report(CAMPAIGN))[2][0])
        return assignment[5][0], assignment.get(8, [0])[0]

    @classmethod
    def go_url(cls, tid: str, slot: int, start_at: int) -> str:
        """Wait for the booked start, Check: the GO's Download.url."""
        while time.time() * 1000 < start_at + 50:
            time.sleep(0.05)
        result = pb.decode_fields(cls.rr(tid, "check", check_request(slot))[3][0])
        if result.get(2, [0])[0] != GO:
            raise AssertionError(f"{tid}: no GO: {result}")
        return pb.decode_fields(result[3][0])[1][0].decode()

    # -- helpers -----------------------------------------------------------

    @staticmethod
    def with_terminal(url: str, tid: str | None) -> str:
        parts = urlsplit(url)
        query = "&".join(p for p in parts.query.split("&") if not p.startswith("terminal="))
        if tid is not None:
            query += f"&terminal={tid}"
        return parts._replace(query=query).geturl()

    def curl_status(self, url: str, first_bytes: bool = True) -> int:
        argv = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30"]
        if first_bytes:
            argv += ["-r", "0-1023"]
        r = subprocess.run(argv + [url], capture_output=True, text=True, timeout=40)
        return int(r.stdout or 0)

    def access_log(self) -> list[dict]:
        return [json.loads(line) for line in self.node.access_log.read_text().splitlines() if line.strip()]

    # -- the tests ----------------------------------------------------------

    def test_1_each_url_names_its_terminal_and_is_signed_for_it(self):
        for tid, url in self.urls.items():
            q = parse_qs(urlsplit(url).query)
            self.assertEqual(q.get("terminal"), [tid], url)
            self.assertEqual(len(q.get("md5", [""])[0]), 22, url)
            self.assertIn("expires", q, url)
        a, b = (urlsplit(self.urls[t]) for t in TERMINALS)
        self.assertEqual(a.path, b.path, "same node and path for both")
        self.assertNotEqual(parse_qs(a.query)["md5"], parse_qs(b.query)["md5"],
                            "TA and TB got the same token")

    def test_2_the_url_works_for_its_terminal_and_the_log_names_it(self):
        url = self.urls["TA"]
        self.assertEqual(self.curl_status(url), 206)
        path = urlsplit(url).path
        entries = [e for e in self.access_log() if e["request_uri"].startswith(path)]
        ok = [e for e in entries if e["status"] == "206"]
        self.assertTrue(ok, entries)
        self.assertEqual(ok[-1]["url_terminal"], "TA", ok[-1])

    def test_3_another_terminals_id_in_the_url_is_refused(self):
        url = self.urls["TA"]
        self.assertEqual(self.curl_status(self.with_terminal(url, "TB")), 403)
        self.assertEqual(self.curl_status(self.with_terminal(url, None)), 403)
        self.assertEqual(self.curl_status(self.with_terminal(url, "TAx")), 403)
        # TB's own URL still works for TB.
        self.assertEqual(self.curl_status(self.urls["TB"]), 206)

    def test_4_one_connection_per_token(self):
        url = self.urls["TA"]
        out = self.stack.root / "first-download.bin"
        first = subprocess.Popen(["curl", "-s", "-o", str(out), "--max-time", "60", url],
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        self.addCleanup(ls.stop_popen, first)
        # The first download is under way once bytes arrive; at 64k/s it lasts ~16 s.
        self.assertTrue(st.wait_until(lambda: out.exists() and out.stat().st_size > 0, timeout=10),
                        "the first download did not start")
        self.assertIsNone(first.poll(), "the first download ended already")
        self.assertEqual(self.curl_status(url), 429, "a second connection with the same token")
        # Another terminal's token is not affected.
        self.assertEqual(self.curl_status(self.urls["TB"]), 206)
        ls.stop_popen(first)
        # Once the first connection is gone, the token works again.
        self.assertTrue(st.wait_until(lambda: self.curl_status(url) == 206, timeout=10, interval=0.5))
        statuses = [e["status"] for e in self.access_log() if e["url_terminal"] == "TA"]
        self.assertIn("429", statuses)


def main() -> int:
    return st.run_test_file([DownloadUrls], OPTS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
