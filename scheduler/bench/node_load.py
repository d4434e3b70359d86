#!/usr/bin/env python3
"""Bytes per second and downloads in progress per download node, over time,
from nginx access logs (issue 15, "Live check"), against what each node
declared (Node.bandwidth_bps, Node.max_connections).

Input: one access log per node in the localstack format (JSON lines,
localstack/configs.py NGINX_LOG_FORMAT: `msec`, `request_time`, `bytes_sent`,
`status`, `request_uri`), and the nodes' declared limits. Each request runs
from start = msec - request_time to end = msec.

  - concurrent downloads: at every instant, the requests in progress (every
    request the node saw, so one it refused at its connection limit, HTTP
    429, counts while it was there: the figure is what the scheduler sent,
    not what nginx let through);
  - bytes/s: each request's bytes_sent spread evenly over [start, end], summed
    per 1-second bin (and per 0.1 s bin, the finer figure).

Printed per node: peak bytes/s / bandwidth and peak concurrent /
max_connections (targets <= 1.00), the requests, the refused ones (429) and
the bytes. Written to --out: one data file and one gnuplot script per node
and figure, and their PNGs (gnuplot-nox).

    scheduler/bench/node_load.py --node n1=LOG:BANDWIDTH_BPS:MAX_CONNECTIONS [--node ...]
        --out DIR [--title TEXT] [--check]

--check: exit 1 when a target is missed. Nothing here is timed; the figures
do not depend on how fast the machine is.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Request:
    start: float  # s
    end: float    # s
    bytes: int
    status: str
    uri: str


@dataclass
class NodeLoad:
    node: str
    bandwidth_bps: int
    max_connections: int
    requests: list[Request] = field(default_factory=list)


def read_log(path: Path) -> list[Request]:
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            e = json.loads(line)
            end = float(e["msec"])
            took = float(e.get("request_time") or 0)
            nbytes = int(e.get("bytes_sent") or e.get("body_bytes_sent") or 0)
        except (ValueError, KeyError, json.JSONDecodeError):
            continue
        uri = e.get("request_uri", "")
        if uri.startswith("/nginx_status"):
            continue  # the scheduler's live-load poll, not a download
        out.append(Request(end - took, end, nbytes, e.get("status", ""), uri.split("?")[0]))
    return out


def concurrency(requests: list[Request]) -> list[tuple[float, int]]:
    """(time, requests in progress from then on), one point per change. A request
    that ends at the instant another starts is not counted with it."""
    events = []
    for r in requests:
        events.append((r.start, 1))
        events.append((max(r.end, r.start + 0.001), -1))  # nginx's msec: a request lasts >= 1 ms
    events.sort(key=lambda e: (e[0], e[1]))  # ends before starts at one instant
    out, now = [], 0
    for t, d in events:
        now += d
        if out and out[-1][0] == t:
            out[-1] = (t, now)
        else:
            out.append((t, now))
    return out


def rate_bins(requests: list[Request], width: float, t0: float) -> dict[int, float]:
    """bin index -> bits/s in that bin (each request's bytes spread over its time)."""
    bins: dict[int, float] = {}
    for r in requests:
        dur = r.end - r.start
        if dur <= 0:
            b = int((r.end - t0) // width)
            bins[b] = bins.get(b, 0.0) + 8.0 * r.bytes / width
            continue
        per_s = r.bytes / dur
        first, last = int((r.start - t0) // width), int((r.end - t0) // width)
        for b in range(first, last + 1):
            lo = max(r.start, t0 + b * width)
            hi = min(r.end, t0 + (b + 1) * width)
            if hi > lo:
                bins[b] = bins.get(b, 0.0) + 8.0 * per_s * (hi - lo) / width
    return bins


def gnuplot(out: Path, name: str, title: str, ylabel: str, data: Path, limit: float, ylimit_label: str,
            steps: bool) -> Path:
    script = out / f"{name}.gp"
    png = out / f"{name}.png"
    style = "steps" if steps else "lines"
    script.write_text(f"""set terminal pngcairo size 1000,420 noenhanced
set output '{png.name}'
set title '{title}'
set xlabel 'seconds since the first request'
set ylabel '{ylabel}'
set grid
set key top right
set yrange [0:{limit * 1.3:g}]
plot '{data.name}' using 1:2 with {style} lw 1.5 title '{ylabel}', \\
     {limit:g} with lines dt 2 lw 2 title '{ylimit_label}'
""")
    return script


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--node", action="append", required=True,
                    help="ID=ACCESS_LOG:BANDWIDTH_BPS:MAX_CONNECTIONS")
    ap.add_argument("--out", required=True)
    ap.add_argument("--title", default="slotwise live check")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    nodes = []
    for spec in args.node:
        node_id, rest = spec.split("=", 1)
        log, bw, conns = rest.rsplit(":", 2)
        n = NodeLoad(node_id, int(bw), int(conns))
        n.requests = read_log(Path(log))
        nodes.append(n)
    everything = [r for n in nodes for r in n.requests]
    if not everything:
        print("node_load: no requests in the logs", file=sys.stderr)
        return 2
    t0 = min(r.start for r in everything)
    missed = []
    scripts = []
    summary = {}
    for n in nodes:
        conc = concurrency(n.requests)
        peak_conc = max((c for _, c in conc), default=0)
        served = [r for r in n.requests if r.status in ("200", "206")]
        refused = [r for r in n.requests if r.status == "429"]
        peak_served = max((c for _, c in concurrency(served)), default=0)
        bins1 = rate_bins(n.requests, 1.0, t0)
        bins01 = rate_bins(n.requests, 0.1, t0)
        peak1 = max(bins1.values(), default=0.0)
        peak01 = max(bins01.values(), default=0.0)
        total = sum(r.bytes for r in n.requests)
        span = (max(r.end for r in n.requests) - min(r.start for r in n.requests)) if n.requests else 0.0
        bw_ratio = peak1 / n.bandwidth_bps if n.bandwidth_bps else 0.0
        conn_ratio = peak_conc / n.max_connections if n.max_connections else 0.0
        print(f"node {n.node}: {len(n.requests)} requests ({len(served)} served 200/206, {len(refused)} refused 429), "
              f"{total} bytes in {span:.1f} s")
        print(f"  peak bytes/s / bandwidth          {bw_ratio:.4f}  ({peak1 / 8:.0f} B/s in a 1 s bin of "
              f"{n.bandwidth_bps / 8:.0f} B/s declared; 0.1 s bins: {peak01 / n.bandwidth_bps:.4f})  "
              f"{'PASS' if bw_ratio <= 1.0 else 'FAIL'} (target <= 1.00)")
        print(f"  peak concurrent / max_connections {conn_ratio:.4f}  ({peak_conc} of {n.max_connections}; "
              f"served only: {peak_served})  {'PASS' if conn_ratio <= 1.0 else 'FAIL'} (target <= 1.00)")
        if bw_ratio > 1.0:
            missed.append(f"{n.node} bytes/s")
        if conn_ratio > 1.0:
            missed.append(f"{n.node} connections")
        summary[n.node] = {"requests": len(n.requests), "served": len(served), "refused_429": len(refused),
                           "bytes": total, "peak_bps_1s": peak1, "peak_bps_100ms": peak01,
                           "bandwidth_bps": n.bandwidth_bps, "peak_bw_ratio": bw_ratio,
                           "peak_concurrent": peak_conc, "max_connections": n.max_connections,
                           "peak_conn_ratio": conn_ratio}
        rate_dat = out / f"{n.node}-bytes_per_s.dat"
        rate_dat.write_text("# seconds  bits/s (1 s bins)\n" + "".join(
            f"{b:.1f} {bins1.get(b, 0.0):.0f}\n" for b in range(min(bins1), max(bins1) + 1)))
        conc_dat = out / f"{n.node}-concurrent.dat"
        conc_dat.write_text("# seconds  requests in progress\n" + "".join(f"{t - t0:.3f} {c}\n" for t, c in conc))
        scripts.append(gnuplot(out, f"{n.node}-bytes_per_s", f"{args.title}: node {n.node}, bits/s (1 s bins)",
                               "bits/s", rate_dat, n.bandwidth_bps, "bandwidth_bps", False))
        scripts.append(gnuplot(out, f"{n.node}-concurrent",
                               f"{args.title}: node {n.node}, downloads in progress",
                               "concurrent requests", conc_dat, n.max_connections, "max_connections", True))
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    tool = shutil.which("gnuplot")
    if tool:
        for s in scripts:
            res = subprocess.run([tool, s.name], cwd=out, capture_output=True, text=True)
            if res.returncode != 0:
                print(f"node_load: gnuplot {s.name}: {res.stderr.strip()}", file=sys.stderr)
        print(f"plots: {out}/*.png")
    else:
        print(f"node_load: gnuplot not found; scripts in {out}/*.gp", file=sys.stderr)
    print("targets: " + ("PASS" if not missed else "FAIL " + ", ".join(missed)))
    return 1 if (missed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
