#!/usr/bin/env python3
"""Console first paint against the REAL daemon with a 1,000,000-terminal campaign
(issue 13; a benchmark that prints its figures, not a test).

Starts a localstack broker + slotwise-scheduler with --http-listen (plain HTTP
on 127.0.0.1, --http-insecure, so Chromium needs no certificate) and
--console-dir console/dist, registers a cluster, a node and a version, creates
a campaign of N terminals (default 1,000,000) with one POST /v1/campaigns and
schedules its earliest window, then:
  - times the reads the campaign page makes, each the full HTTP round trip
    (summary, downloads heatmap, failures with their total, a page of 50,
    the capacity calendar), median of --repeat;
  - runs console/bench/first_paint.mjs against it: headless Chromium's first
    contentful paint and the time until counts + downloads heatmap + terminal
    table are drawn (target <= 2 s).
The terminals never report (no agents), so nothing is booked and the heatmap
is empty; every aggregate is still computed over all N records per request.

    sh console/bench/first_paint_real.sh [build-dir] [--terminals N] [--runs R]
"""
import argparse
import base64
import json
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO))
from localstack import free_port  # noqa: E402
from localstack.stack import Stack  # noqa: E402
from test_http_api import mosquitto_hash  # noqa: E402

USER, PASSWORD = "otto", "otto-pw"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--build-dir", default=str(REPO / "build"))
    p.add_argument("--terminals", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--repeat", type=int, default=10)
    a = p.parse_args()
    subprocess.run(["sh", str(REPO / "console" / "build.sh")], check=True, capture_output=True)
    stack = Stack(a.build_dir, slot_seconds=60, quiet=True)
    users = stack.root / "users"
    users.write_text(f"{USER}:admin:{mosquitto_hash(PASSWORD)}\n")
    port = free_port()
    stack.scheduler_extra_args = ["--http-listen", f"127.0.0.1:{port}", "--http-insecure", "--http-users", str(users),
                                  "--console-dir", str(REPO / "console" / "dist")]
    base = f"http://127.0.0.1:{port}"
    auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    def call(method: str, path: str, body=None, timeout: float = 60):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(base + path, data=data, method=method, headers={"Authorization": auth})
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raise SystemExit(f"{method} {path}: HTTP {e.code} {e.read()[:300]!r}")

    try:
        stack.start()
        call("POST", "/v1/clusters", {"id": "c1", "location": {"lat": 45.1, "lon": 5.3}})
        for n in range(4):
            call("POST", "/v1/nodes", {"id": f"n{n}", "clusterId": "c1", "baseUrl": "http://127.0.0.1:9", "perSlot": 2000})
        call("POST", "/v1/versions", {"version": "2.0.0", "path": "/fw.bin", "sha256": "ab" * 32, "size": 1})
        ids = [f"t-{i:07d}" for i in range(a.terminals)]
        t0 = time.monotonic()
        call("POST", "/v1/campaigns", {"id": "big", "targetVersion": "2.0.0", "terminalIds": ids}, timeout=600)
        print(f"created a campaign of {a.terminals:,} terminals in {time.monotonic() - t0:.1f} s", flush=True)
        w = call("GET", "/v1/campaigns/big/windows", timeout=600)["windows"][0]
        call("POST", "/v1/campaigns/big/schedule", {"startSlot": w["startSlot"], "endSlot": w["endSlot"],
                                                    "maxUtilisation": w.get("maxUtilisation", 0),
                                                    "coreEndSlot": w.get("coreEndSlot", "0")})
        reads = {
            "summary": "/v1/campaigns/big/summary",
            "downloads heatmap": "/v1/campaigns/big/downloads",
            "failures (20, with total)": "/v1/campaigns/big/terminals?page_size=20&outcomes=FAILED",
            "page of 50 (with total)": "/v1/campaigns/big/terminals?page_size=50",
            "capacity calendar (4 nodes x 2016 slots)": f"/v1/capacity?from_slot={w['startSlot']}&to_slot={int(w['startSlot']) + 2016}",
        }
        for name, path in reads.items():
            times = []
            for _ in range(a.repeat):
                t1 = time.monotonic()
                call("GET", path)
                times.append((time.monotonic() - t1) * 1000)
            print(f"GET {name}: median {statistics.median(times):.1f} ms, worst {max(times):.1f} ms", flush=True)
        t1 = time.monotonic()
        with urllib.request.urlopen(base + "/", timeout=30) as r:
            r.read()
        print(f"GET / (the console's index.html): {(time.monotonic() - t1) * 1000:.1f} ms", flush=True)
        node = shutil.which("node") or "node"
        r = subprocess.run([node, str(REPO / "console" / "bench" / "first_paint.mjs"), "--url", base, "--user", USER,
                            "--password", PASSWORD, "--campaign", "big", "--runs", str(a.runs), "--slow-requests", "500"],
                           capture_output=True, text=True, timeout=600)
        print(r.stdout + r.stderr, end="", flush=True)
        return r.returncode
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
