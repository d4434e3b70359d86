#!/usr/bin/env python3
"""Live check of capacity in bytes (issue 15): real broker + plugin, scheduler,
nginx download nodes limited to what they declare, and slotwise-agent
processes on links of several speeds, two concurrent campaigns of artifacts
of different sizes on shared nodes. Then node_load.py reads the nodes'
access logs: peak bytes/s / bandwidth and peak concurrent downloads /
max_connections per node (targets <= 1.00), with gnuplot plots.

The nodes: each declares Node.bandwidth_bps = B and Node.max_connections = C
and its nginx enforces that: `limit_rate` 0.99 x B/C bytes per connection
(1% for the response headers, which limit_rate does not pace)
(about the node's fair share, which is also the most the scheduler expects one
download to get, placement.h ExpectedRate) and `limit_conn` C on the server
(one more gets 429). nginx has no aggregate bandwidth limit; C connections
of at most B/C each cannot carry more than B, so the two together bound the
node to its declaration. A scheduler that sends more downloads than C shows
as 429s and as peak concurrent / max_connections > 1 (node_load counts the
refused requests while they were there).

The links: the agents' `download_rate_limit_kbps` (the agent paces its
reads) emulates them; nginx's send buffer is fixed at 16 KiB (`listen ...
sndbuf=16k`) so that on loopback a slow reader holds its connection for as
long as it reads (with the kernel's growing buffers nginx handed a 2 MB file
to the socket in 16 s and logged it done while the agent read it for 78 s);
the client's receive buffer still holds some 100 KiB more, so nginx's
request_time of a slow download ends a few seconds before the agent's; each also says its `link_kind`, which the scheduler
books by until a terminal reports a measured rate (schemas/README.md
"Capacity in bytes"). The default mix: a third ETHERNET (unlimited), a third
UMTS (128 KiB/s), a third EDGE (25 KiB/s, 205 kbit/s).

    scheduler/bench/live_bytes.py --build-dir build [--agents 24] [--nodes 2]
        [--bandwidth-bps 4000000] [--max-connections 4] [--per-slot 4]
        [--big-bytes 2000000] [--small-bytes 256000] [--out DIR] [--keep]

Prints the stack's progress, each campaign's outcome and duration, then
node_load.py's lines. Exit 0 when both campaigns are DONE with every
terminal SUCCEEDED (the figures' PASS/FAIL lines are printed, not judged).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from localstack import OLD_VERSION, Stack  # noqa: E402

LINKS = [("ethernet", 0), ("umts", 128), ("edge", 25)]  # link_kind, KiB/s (0 = unlimited)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=str(REPO / "build"))
    ap.add_argument("--agents", type=int, default=24)
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--bandwidth-bps", type=int, default=4_000_000)
    ap.add_argument("--max-connections", type=int, default=4)
    ap.add_argument("--per-slot", type=int, default=4)
    ap.add_argument("--slot-seconds", type=float, default=2.0)
    ap.add_argument("--big-bytes", type=int, default=2_000_000)
    ap.add_argument("--small-bytes", type=int, default=256_000)
    ap.add_argument("--wait", type=int, default=600, help="seconds to wait for both campaigns")
    ap.add_argument("--out", default=None, help="figures and plots (default: BUILD/test-artifacts/live_bytes)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    out = Path(args.out or Path(args.build_dir) / "test-artifacts" / "live_bytes")
    # bytes/s per connection: the fair share, 1% under it, because nginx's
    # limit_rate paces the body only and each response's headers (~270 bytes)
    # go out on top (at exactly the share, a node at its connection limit
    # measured 1.0001 x its bandwidth).
    share = args.bandwidth_bps * 99 // (100 * args.max_connections * 8)
    big, small = "2.0.0", "2.1.0"
    rc = 1
    with Stack(build_dir=args.build_dir, slot_seconds=args.slot_seconds, keep=args.keep) as s:
        s.start()
        s.add_cluster("paris", 48.85, 2.35, "eu-west")
        node_ids = [f"n{i + 1}" for i in range(args.nodes)]
        for nid in node_ids:
            s.add_node(nid, "paris", args.per_slot, bandwidth_bps=args.bandwidth_bps,
                       limit_rate=str(share), max_connections=args.max_connections, sndbuf="16k")
        s.add_version(big, args.big_bytes)
        s.add_version(small, args.small_bytes)
        groups: dict[str, list[str]] = {big: [], small: []}
        for i in range(args.agents):
            tid = f"L{i + 1:03d}"
            kind, kibps = LINKS[i % len(LINKS)]
            extra = {"link_kind": kind}
            if kibps:
                extra["download_rate_limit_kbps"] = str(kibps)
            s.start_agent(tid, 48.85 + 0.01 * (i % 7), 2.35 + 0.01 * (i % 5), version=OLD_VERSION,
                          extra_config=extra)
            groups[big if (i // len(LINKS)) % 2 == 0 else small].append(tid)
        s.wait_terminals_known([t for g in groups.values() for t in g], timeout=60)
        t_start = time.monotonic()
        for version, tids in groups.items():
            name = f"bytes-{version}"
            s.cli("campaign", "create", name, "--version", version, "--terminals", ",".join(tids))
            s.cli("campaign", "schedule", name, "--window", "earliest")
        done = {}
        for version in groups:
            name = f"bytes-{version}"
            left = max(10.0, args.wait - (time.monotonic() - t_start))
            code = s.cli_stream("campaign", "status", name, "--wait", str(int(left)), timeout=left + 15)
            report = s.cli_json("campaign", "status", name)
            outcomes = [t.get("outcome", "OUTCOME_PENDING") for t in report.get("terminals", [])]
            done[version] = code == 0 and all(o == "SUCCEEDED" for o in outcomes)
            size = args.big_bytes if version == big else args.small_bytes
            print(f"campaign {name} ({size} bytes, {len(groups[version])} terminals): "
                  f"{outcomes.count('SUCCEEDED')} SUCCEEDED, done after "
                  f"{time.monotonic() - t_start:.1f} s")
        time.sleep(1.0)  # nginx writes the last log lines
        specs = [f"{nid}={s.nodes[nid].access_log}:{args.bandwidth_bps}:{args.max_connections}" for nid in node_ids]
        total = args.big_bytes * len(groups[big]) + args.small_bytes * len(groups[small])
        bound = total * 8 / (args.bandwidth_bps * args.nodes)
        print(f"fleet: {args.agents} agents (links {', '.join(f'{k} {v or chr(8734)} KiB/s' for k, v in LINKS)}), "
              f"{args.nodes} nodes x {args.bandwidth_bps} bit/s, {args.max_connections} connections "
              f"(nginx limit_rate {share} B/s, limit_conn {args.max_connections}); bytes bound {bound:.1f} s, "
              f"makespan {time.monotonic() - t_start:.1f} s")
        res = subprocess.run([sys.executable, str(Path(__file__).with_name("node_load.py")), "--out", str(out),
                              "--title", "live_bytes"] + [a for sp in specs for a in ("--node", sp)],
                             capture_output=True, text=True)
        print(res.stdout, end="")
        if res.stderr:
            print(res.stderr, end="", file=sys.stderr)
        rc = 0 if all(done.values()) else 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
