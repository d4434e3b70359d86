#!/usr/bin/env python3
"""HTTP API figures at scale (issue 13), against the real daemon (a localstack
broker + scheduler with --http-listen over TLS): creates one campaign of N
terminals (default 1,000,000) through POST /v1/campaigns, then prints the
median and worst of R requests of GET /v1/campaigns/{id}/summary (target
<= 100 ms) and of a page of 1,000 terminals from the middle of the campaign
(GET .../terminals?page_size=1000&page_token=..., target <= 50 ms), each the
full round trip over HTTPS including JSON.

    python3 scheduler/bench/api_bench.py --build-dir build [--terminals 1000000] [--repeat 20]
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "support"))
sys.path.insert(0, str(REPO))
import test_http_api as t  # noqa: E402  (Api, users, certificate set-up)
from localstack.stack import Stack  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--build-dir", default=str(REPO / "build"))
    p.add_argument("--terminals", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=20)
    a = p.parse_args()
    stack = Stack(a.build_dir, slot_seconds=2, quiet=True)

    class Holder:
        pass
    Holder.stack = stack
    try:
        t.HttpApi.stack = stack
        t.HttpApi.set_up_stack.__func__(t.HttpApi)
        api = t.HttpApi.api
        api.call("POST", "/v1/clusters", {"id": "c1", "location": {"lat": 45.1, "lon": 5.3}})
        api.call("POST", "/v1/nodes", {"id": "n1", "clusterId": "c1", "baseUrl": "http://127.0.0.1:9", "perSlot": 50})
        api.call("POST", "/v1/versions", {"version": "2.0.0", "path": "/fw.bin", "sha256": "ab" * 32, "size": 1})
        ids = [f"t-{i:07d}" for i in range(a.terminals)]
        t0 = time.monotonic()
        status, body = api.call("POST", "/v1/campaigns", {"id": "big", "targetVersion": "2.0.0", "terminalIds": ids},
                                user="otto", timeout=600)
        assert status == 200, body
        print(f"created a campaign of {a.terminals:,} terminals over HTTPS in {time.monotonic() - t0:.2f} s")

        def timed(path: str) -> list[float]:
            out = []
            for _ in range(a.repeat):
                t1 = time.monotonic()
                s, b = api.call("GET", path, user="vera", timeout=60)
                out.append((time.monotonic() - t1) * 1000)
                assert s == 200, b
            return out
        summary = timed("/v1/campaigns/big/summary")
        page = timed(f"/v1/campaigns/big/terminals?page_size=1000&page_token={ids[a.terminals // 2]}")
        print(f"summary of {a.terminals:,} terminals: median {statistics.median(summary):.1f} ms, "
              f"worst {max(summary):.1f} ms (target <= 100 ms)")
        print(f"page of 1,000 terminals: median {statistics.median(page):.1f} ms, worst {max(page):.1f} ms "
              f"(target <= 50 ms)")
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
