#!/usr/bin/env python3
"""scheduler/bench/node_load.py on made-up access logs (no stack, < 1 s): the
live check's arithmetic. Requests run from msec - request_time to msec; a
refused (429) request counts as in progress while it was there; bytes/s
spread each request's bytes_sent over its time; the targets' PASS/FAIL and
--check's exit code follow the declared limits.

    python3 tests/scheduler/test_node_load.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "scheduler" / "bench" / "node_load.py"


def entry(end: float, took: float, nbytes: int, status: str = "200", uri: str = "/fw.bin?md5=x") -> str:
    return json.dumps({"msec": f"{end:.3f}", "request_time": f"{took:.3f}", "bytes_sent": str(nbytes),
                       "status": status, "request_uri": uri})


def run(lines: list[str], bandwidth: int, conns: int) -> tuple[int, str, dict]:
    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "access.log"
        log.write_text("\n".join(lines) + "\n")
        out = Path(d) / "out"
        res = subprocess.run([sys.executable, str(TOOL), "--node", f"n1={log}:{bandwidth}:{conns}",
                              "--out", str(out), "--check"], capture_output=True, text=True, timeout=60)
        summary = json.loads((out / "summary.json").read_text())["n1"]
        assert (out / "n1-bytes_per_s.gp").exists() and (out / "n1-concurrent.gp").exists()
        return res.returncode, res.stdout, summary


class NodeLoad(unittest.TestCase):
    def test_within_the_declared_limits(self):
        # 4 downloads of 1 Mbit/s for 8 s on a 4 Mbit/s, 4-connection node, back to back.
        lines = [entry(1000 + 8 + i * 0.001, 8.0, 1_000_000) for i in range(4)]
        lines += [entry(1008.1 + 8, 8.0, 1_000_000)]
        lines += [entry(1010.0, 0.0, 300, "200", "/nginx_status")]  # the live-load poll: not a download
        rc, out, s = run(lines, 4_000_000, 4)
        self.assertEqual(rc, 0, out)
        self.assertEqual(s["requests"], 5)
        self.assertEqual(s["peak_concurrent"], 4)
        self.assertLessEqual(s["peak_bw_ratio"], 1.0)
        self.assertAlmostEqual(s["peak_bps_1s"], 4_000_000, delta=10_000)
        self.assertIn("targets: PASS", out)

    def test_a_refused_request_counts_and_the_limits_are_judged(self):
        lines = [entry(1010 + i * 0.001, 10.0, 1_250_000) for i in range(4)]
        lines.append(entry(1005.0, 0.0, 339, "429"))  # a fifth while four were in progress
        rc, out, s = run(lines, 4_000_000, 4)
        self.assertEqual(rc, 1, out)
        self.assertEqual(s["refused_429"], 1)
        self.assertEqual(s["peak_concurrent"], 5)
        self.assertAlmostEqual(s["peak_conn_ratio"], 1.25)
        self.assertGreater(s["peak_bw_ratio"], 1.0)  # its header bytes on top of a full node
        self.assertIn("FAIL", out)

    def test_bytes_are_spread_over_each_request(self):
        # one request of 10 s moving 10 MB: 8 Mbit/s in every 1 s bin, twice the bandwidth.
        rc, out, s = run([entry(1010.0, 10.0, 10_000_000)], 4_000_000, 4)
        self.assertEqual(rc, 1, out)
        self.assertAlmostEqual(s["peak_bps_1s"], 8_000_000, delta=1)
        self.assertAlmostEqual(s["peak_bw_ratio"], 2.0, delta=1e-6)
        self.assertEqual(s["peak_concurrent"], 1)


if __name__ == "__main__":
    unittest.main()
