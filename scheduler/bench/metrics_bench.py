#!/usr/bin/env python3
"""GET /metrics at scale (issue 13), against the real daemon (a localstack
broker + scheduler with --http-listen over TLS): 100 nodes in 10 clusters,
20 open campaigns of 1,000 terminals and one of N (default 1,000,000). Prints
  * scrapes taken while the scheduler thread is busy creating the big
    campaign (a scrape never waits for that thread),
  * the median and worst of R scrapes afterwards, on a kept-alive HTTPS
    connection (the render) and on a new connection each (plus the TLS
    handshake), with the body's size and series count,
  * what the scheduler thread's snapshot for the metrics costs
    (slotwise_snapshot_duration_seconds), beside a campaign summary of the
    same N terminals (which does walk them, cached per change).

    python3 scheduler/bench/metrics_bench.py --build-dir build [--terminals 1000000] [--repeat 50]
"""
import argparse
import base64
import http.client
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "support"))
sys.path.insert(0, str(REPO))
import test_http_api as t  # noqa: E402  (Api, users, certificate set-up)
from localstack.stack import Stack  # noqa: E402

AUTH = {"Authorization": "Basic " + base64.b64encode(b"vera:vera-pw").decode()}


def scrape(conn: http.client.HTTPSConnection) -> str:
    conn.request("GET", "/metrics", headers=AUTH)
    r = conn.getresponse()
    body = r.read().decode()
    assert r.status == 200, body[:200]
    return body


def value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--build-dir", default=str(REPO / "build"))
    p.add_argument("--terminals", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=50)
    a = p.parse_args()
    stack = Stack(a.build_dir, slot_seconds=2, quiet=True)
    try:
        t.HttpApi.stack = stack
        t.HttpApi.set_up_stack.__func__(t.HttpApi)
        api = t.HttpApi.api
        port = t.HttpApi.port

        def conn() -> http.client.HTTPSConnection:
            return http.client.HTTPSConnection("127.0.0.1", port, context=api.ctx, timeout=120)

        for c in range(10):
            api.call("POST", "/v1/clusters", {"id": f"c{c}", "location": {"lat": 40 + c, "lon": 5 + c}})
            for n in range(10):
                api.call("POST", "/v1/nodes", {"id": f"n{c}-{n}", "clusterId": f"c{c}",
                                               "baseUrl": "http://127.0.0.1:9", "perSlot": 50,
                                               "bandwidthBps": "1000000000", "maxConnections": 200})
        api.call("POST", "/v1/versions", {"version": "2.0.0", "path": "/fw.bin", "sha256": "ab" * 32, "size": 1})
        for k in range(20):
            status, body = api.call("POST", "/v1/campaigns", {"id": f"small-{k}", "targetVersion": "2.0.0",
                                                              "terminalIds": [f"s{k}-{i}" for i in range(1000)]},
                                    user="otto")
            assert status == 200, body

        # The big campaign, while scrapes go on beside it.
        ids = [f"t-{i:07d}" for i in range(a.terminals)]
        created: dict = {}

        def create() -> None:
            # In chunks of 100,000 (create, then add_terminals): each request well inside
            # the API's 30 s answer time even on a loaded machine.
            t0 = time.monotonic()
            chunk = 100_000
            created["status"] = api.call("POST", "/v1/campaigns", {"id": "big", "targetVersion": "2.0.0",
                                                                   "terminalIds": ids[:chunk]}, user="otto", timeout=900)
            for at in range(chunk, len(ids), chunk):
                if created["status"][0] != 200:
                    break
                created["status"] = api.call("POST", "/v1/campaigns/big/terminals",
                                             {"terminalIds": ids[at:at + chunk]}, user="otto", timeout=900)
            created["s"] = time.monotonic() - t0
        worker = threading.Thread(target=create)
        busy = []
        c = conn()
        worker.start()
        while worker.is_alive():
            t1 = time.monotonic()
            scrape(c)
            busy.append((time.monotonic() - t1) * 1000)
            time.sleep(0.05)
        worker.join()
        assert created["status"][0] == 200, created["status"]
        print(f"created a campaign of {a.terminals:,} terminals over HTTPS in {created['s']:.2f} s; "
              f"{len(busy)} scrapes meanwhile: median {statistics.median(busy):.1f} ms, worst {max(busy):.1f} ms")

        time.sleep(2.5)  # a tick: the snapshot holds the big campaign
        kept, fresh = [], []
        text = ""
        for _ in range(a.repeat):
            t1 = time.monotonic()
            text = scrape(c)
            kept.append((time.monotonic() - t1) * 1000)
        for _ in range(max(5, a.repeat // 5)):
            t1 = time.monotonic()
            nc = conn()
            scrape(nc)
            nc.close()
            fresh.append((time.monotonic() - t1) * 1000)
        assert 'slotwise_campaign_terminals{campaign="big",outcome="OUTCOME_PENDING"} ' + str(a.terminals) in text
        samples = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        print(f"scrape ({len(text):,} bytes, {samples:,} samples; 100 nodes, 21 open campaigns, one of "
              f"{a.terminals:,} terminals): kept-alive median {statistics.median(kept):.2f} ms, "
              f"worst {max(kept):.2f} ms; new connection median {statistics.median(fresh):.1f} ms")
        snap = [value(scrape(c), "slotwise_snapshot_duration_seconds") * 1000 for _ in range(5) if time.sleep(1.1) is None]
        print(f"scheduler thread's snapshot for the metrics: median {statistics.median(snap):.3f} ms, "
              f"worst {max(snap):.3f} ms (every tick)")
        t1 = time.monotonic()
        s, b = api.call("GET", "/v1/campaigns/big/summary", user="vera", timeout=120)
        assert s == 200, b
        print(f"for contrast, a summary of the {a.terminals:,}-terminal campaign: {(time.monotonic() - t1) * 1000:.1f} ms")
        c.close()
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
