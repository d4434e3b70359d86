#!/usr/bin/env python3
"""`slotwise-fleet live` against a real local stack: the live fleet and the reconnect storm.

  python3 fleet/fleet.py live  [--terminals 10000] [--build-dir build] [--json] ...
      Starts mosquitto with the plugin, the scheduler (RocksDB), nginx nodes with
      limit_rate, registers clusters, nodes and a version, runs N real agents in one
      `slotwise-fleet live` process (a share offline at the start, a share dropping
      out mid-wait), creates and schedules the campaign, waits until every terminal
      is done, then reads the evidence from nginx's access logs: per node and second
      the downloads started, active and bytes served; per node and slot the starts
      against per_slot; every start against its terminal's slot.
      With --shards N the terminals reach N mosquitto shards through HAProxy, the
      scheduler connects to each; --kill-shard-after S kills one mid-campaign
      (fleet/live/shards_live.sh).
  python3 fleet/fleet.py storm [--terminals 3000] [--build-dir build] [--json] ...
      Restarts the broker under a connected fleet twice (the agents' jittered
      reconnect, then Paho's schedule without jitter) and counts connects per second
      in mosquitto's own log.

Both print a summary table (or JSON with --json), write CSV files and an SVG plot
(gnuplot) into --out, and exit 0 only when the targets are met.
fleet/live/README.md documents both, with measured output.

Why one file of about 600 lines: it is a script a person runs by hand, read top
to bottom as the two runs it performs (live, then storm), sharing their command
line, their evidence reading and their report; the stack itself, its configs
and the log analysis it builds on live in the localstack package.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Optional

# The local stack is the `localstack` package at the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import localstack as ls  # noqa: E402

# Download sites the terminals are drawn around (id, lat, lon, region).
FLEET_CLUSTERS = (
    ("paris", 48.8566, 2.3522, "eu"),
    ("munich", 48.1351, 11.5820, "eu"),
    ("madrid", 40.4168, -3.7038, "eu"),
    ("milan", 45.4642, 9.1900, "eu"),
    ("warsaw", 52.2297, 21.0122, "eu"),
)
CAMPAIGN = "fleet-live"
ROUNDING_MS = 2  # nginx's $msec and $request_time are each rounded to 1 ms
CONNECT_LINE = re.compile(r"^(\S+): New client connected from \S+ as (\S+) ")


# ---------------------------------------------------------------------------
# the fleet process


def fleet_bin(stack: ls.LocalStack) -> Path:
    path = stack.build_dir / "fleet/slotwise-fleet"
    if not path.exists():
        raise ls.StackError(f"missing: {path} (cmake --build <dir> --target slotwise-fleet)")
    return path


def make_terminals(stack: ls.LocalStack, count: int, seed: int, spread_deg: float) -> Path:
    """`count` terminals F00001.. located around the clusters, registered with the
    broker in one go; returns their CSV file (id,password,lat,lon)."""
    rng = random.Random(seed)
    ids = [f"F{i + 1:05d}" for i in range(count)]
    passwords = stack.register_terminals(ids)
    path = stack.root / "fleet-terminals.csv"
    with open(path, "w") as f:
        f.write("id,password,lat,lon\n")
        for tid in ids:
            _, lat, lon, _ = rng.choice(FLEET_CLUSTERS)
            f.write(f"{tid},{passwords[tid]},{lat + rng.gauss(0, spread_deg):.5f},"
                    f"{lon + rng.gauss(0, spread_deg):.5f}\n")
    return path


# Terminals per `slotwise-fleet live` process, by command. Paho C finds the
# client of each packet it reads by a linear search over every client of the
# process, so one process of 10,000 busy terminals reads too few packets a
# second to answer its checks within a slot; a fleet larger than this runs as
# several processes, each with its own Paho (fleet/live/README.md,
# "Scale"). The storm needs smaller ones: the unjittered round must be able to
# reconnect everyone at once, as separate terminals would.
TERMINALS_PER_PROCESS = {"live": 2500, "storm": 500}
PAHO_LOOP_S = 2.0  # the period at which connects complete in one process (measured)
PROGRESS_FIELD = re.compile(r"(running|connected|connects|assigned|go|finished|away) (\d+)")


class FleetProcesses:
    """`slotwise-fleet live` processes that share the fleet's terminals between them."""

    def __init__(self, stack: ls.LocalStack, name: str, terminals_file: Path, processes: int, seed: int,
                 extra: list[str], outputs: Optional[Path] = None):
        lines = terminals_file.read_text().splitlines()
        header, rows = lines[0], lines[1:]
        processes = max(1, min(processes, len(rows)))
        self.parts: list[tuple[ls.Process, Optional[Path], Optional[Path]]] = []
        self.sizes = [len(rows[k::processes]) for k in range(processes)]
        for k in range(processes):
            part = f"{name}-{k + 1}" if processes > 1 else name
            tfile = stack.root / f"{part}-terminals.csv"
            tfile.write_text("\n".join([header] + rows[k::processes]) + "\n")
            csv_out = outputs / f"{part}.csv" if outputs else None
            json_out = outputs / f"{part}.json" if outputs else None
            files = ["--csv", str(csv_out), "--json", str(json_out)] if outputs else []
            argv = [str(fleet_bin(stack)), "live", "--broker", stack.broker_url,
                    "--terminals-file", str(tfile), "--state-root", str(stack.root / part),
                    "--initial-version", ls.OLD_VERSION, "--public-key", str(stack.signing_keys()[1]),
                    "--agent-log", str(stack.logs / f"{part}-agents.log"), "--seed", str(seed * 1000 + k)] + extra + files
            self.parts.append((stack.spawn(part, argv), csv_out, json_out))
            # Paho's loop in each process polls connects on its own clock; started
            # together, every process would finish its pending connects in the same
            # instants. Real terminals are not in step: neither are the processes.
            time.sleep(PAHO_LOOP_S / processes)
        stack.log(f"slotwise-fleet live x {processes} ({len(rows)} terminals): {' '.join(extra)}")

    @property
    def procs(self) -> list[ls.Process]:
        return [p for p, _, _ in self.parts]

    def check_running(self, what: str) -> None:
        for p in self.procs:
            if not p.alive():
                raise ls.StackError(p.describe_failure(what))

    def progress(self) -> str:
        """The processes' last progress lines, added up."""
        totals: Counter = Counter()
        seen = False
        for p in self.procs:
            lines = [line for line in p.tail(20).splitlines() if line.startswith("fleet ")]
            if lines:
                seen = True
                totals.update({k: int(v) for k, v in PROGRESS_FIELD.findall(lines[-1])})
        if not seen:
            return "(no progress yet)"
        return "fleet " + "  ".join(f"{k} {totals[k]}" for k in
                                    ("running", "connected", "connects", "assigned", "go", "finished", "away"))

    def wait_exit(self, stack: ls.LocalStack, timeout: float, echo_every: float = 5) -> int:
        """Until every process exits; the worst exit code."""
        deadline, next_echo = time.monotonic() + timeout, 0.0
        while any(p.alive() for p in self.procs) and time.monotonic() < deadline:
            stack.check_alive(include_agents=False)
            if time.monotonic() >= next_echo:
                stack.log(self.progress())
                next_echo = time.monotonic() + echo_every
            time.sleep(0.5)
        for p in self.procs:
            if p.alive():
                raise ls.StackError(p.describe_failure(f"did not finish within {timeout:.0f}s"))
        return max(p.returncode or 0 for p in self.procs)

    def stop(self) -> None:
        ls.stop_processes(self.procs, timeout=30)

    def results(self, csv_out: Path) -> dict:
        """Every process's terminals and summary counts as one; writes their rows to `csv_out`."""
        merged: dict = {"summary": Counter(), "terminals": []}
        rows: list[str] = []
        for _, part_csv, part_json in self.parts:
            if part_json and part_json.exists():
                part = json.loads(part_json.read_text())
                merged["terminals"] += part.get("terminals", [])
                merged["summary"].update({k: v for k, v in part.get("summary", {}).items()
                                          if isinstance(v, int) and not isinstance(v, bool)})
                part_json.unlink()
            if part_csv and part_csv.exists():
                lines = part_csv.read_text().splitlines()
                rows += lines if not rows else lines[1:]
                part_csv.unlink()
        csv_out.write_text("\n".join(rows) + "\n" if rows else "")
        return merged


# ---------------------------------------------------------------------------
# live: evidence from the nginx access logs


def node_seconds(stack: ls.LocalStack, url_path: str) -> tuple[list[dict], int]:
    """Per node and wall-clock second: downloads started (a merged download's first
    request), active requests, bytes served (each request's bytes spread evenly over
    its duration). Returns the rows and the first second."""
    starts = Counter((d.node, d.start_ms // 1000) for d in stack.downloads(url_path))
    active: Counter = Counter()
    served: defaultdict = defaultdict(float)
    for node_id in stack.nodes:
        for e in stack.access_entries(node_id):
            if e["path"] != url_path:
                continue
            first, last = e["start_ms"] // 1000, e["end_ms"] // 1000
            span = max(1, e["end_ms"] - e["start_ms"])
            for sec in range(first, last + 1):
                active[(node_id, sec)] += 1
                overlap = min(e["end_ms"], (sec + 1) * 1000) - max(e["start_ms"], sec * 1000)
                share = overlap / span if e["end_ms"] > e["start_ms"] else 1.0
                served[(node_id, sec)] += int(e.get("body_bytes_sent") or 0) * max(0.0, share)
    seconds = [s for _, s in list(starts) + list(active)]
    if not seconds:
        return [], 0
    first, last = min(seconds), max(seconds)
    rows = [{"node": n, "second": s, "t_s": s - first, "started": starts[(n, s)],
             "active": active[(n, s)], "bytes": int(round(served[(n, s)]))}
            for n in stack.nodes for s in range(first, last + 1)]
    return rows, first


def slot_violations(stack: ls.LocalStack, url_path: str, terminals: dict[str, dict],
                    slot_ms: int) -> tuple[list[str], list[str]]:
    """(per-slot capacity problems, starts outside the terminal's slot or node)."""
    over = [f"node {n} slot {s}: {c} downloads started, per_slot {stack.nodes[n].per_slot}"
            for (n, s), c in sorted(stack.node_slot_counts(url_path, slot_ms).items())
            if c > stack.nodes[n].per_slot]
    outside = []
    for d in stack.downloads(url_path):
        t = terminals.get(d.terminal)
        if t is None:
            outside.append(f"{d.terminal}: a download by a terminal not in the fleet")
            continue
        lo, hi = int(t["slot_start_ms"]), int(t["slot_end_ms"])
        if not lo - ROUNDING_MS <= d.start_ms < hi + ROUNDING_MS:
            outside.append(f"{d.terminal}: started {ls.fmt_ms(d.start_ms)} on {d.node}, "
                           f"slot {t['slot']} is {ls.fmt_ms(lo)}-{ls.fmt_ms(hi)}")
        elif d.node != t["node"]:
            outside.append(f"{d.terminal}: downloaded from {d.node}, assigned {t['node']}")
    return over, outside


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        if rows:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


def gnuplot_svg(script: str, out: Path) -> Optional[str]:
    """Render a gnuplot script to `out`; returns an error text, or None."""
    tool = ls.find_tool("gnuplot")
    if not tool:
        return "gnuplot not installed (Debian package gnuplot-nox): no plot"
    header = f"set terminal svg size 1100,900 dynamic background '#ffffff'\nset output '{out}'\n"
    res = subprocess.run([tool], input=header + script, text=True, capture_output=True, timeout=60)
    return None if res.returncode == 0 else f"gnuplot failed: {res.stderr.strip()[:500]}"


def datablock(name: str, columns: list[str], rows: list[list[object]]) -> str:
    body = "\n".join(" ".join(str(c) for c in r) for r in rows)
    return f"${name} << EOD\n{' '.join(columns)}\n{body}\nEOD\n"


def plot_node_load(rows: list[dict], nodes: list[str], per_slot: int, slot_s: int, out: Path) -> Optional[str]:
    by = {(r["node"], r["t_s"]): r for r in rows}
    times = sorted({r["t_s"] for r in rows})
    blocks = ""
    for metric, scale in (("started", 1), ("active", 1), ("bytes", 1 / 1e6)):
        blocks += datablock(metric, ["t"] + nodes,
                            [[t] + [round(by[(n, t)][metric] * scale, 3) for n in nodes] for t in times])
    n = len(nodes) + 1
    script = blocks + f"""
set multiplot layout 3,1 title "Node load over time, from nginx access logs ({len(nodes)} nodes, per_slot {per_slot} per {slot_s} s slot)"
set key outside right top
set grid
set xlabel "seconds since the first download"
set ylabel "downloads started / s"
plot for [i=2:{n}] $started using 1:i with steps title columnhead(i)
set ylabel "active downloads"
plot for [i=2:{n}] $active using 1:i with steps title columnhead(i)
set ylabel "MB served / s"
plot for [i=2:{n}] $bytes using 1:i with steps title columnhead(i)
unset multiplot
"""
    return gnuplot_svg(script, out)


def run_live(args: argparse.Namespace) -> int:
    out = prepare_out(args, "live")
    with ls.LocalStack(args.build_dir, slot_seconds=args.slot_seconds, keep=args.keep,
                       quiet=args.json, shards=args.shards,
                       haproxy_processes=haproxy_processes_for(args)) as stack:
        try:
            summary, ok = _live(stack, args, out)
        except ls.StackError as e:
            stack.report_failure(e)
            return 1
    print_summary(summary, args.json, out)
    return 0 if ok else 1


def _live(stack: ls.LocalStack, args: argparse.Namespace, out: Path) -> tuple[dict, bool]:
    t0 = time.monotonic()
    stack.start()
    for cid, lat, lon, region in FLEET_CLUSTERS:
        stack.add_cluster(cid, lat, lon, region)
    for i in range(args.nodes):
        stack.add_node(f"n{i + 1}", FLEET_CLUSTERS[i % len(FLEET_CLUSTERS)][0], args.per_slot,
                       limit_rate=args.limit_rate)
    _, url_path = stack.add_version(ls.NEW_VERSION, args.artifact_kib * 1024)
    tfile = make_terminals(stack, args.terminals, args.seed, args.spread_deg)
    ids = [line.split(",", 1)[0] for line in tfile.read_text().splitlines()[1:]]
    fleet = FleetProcesses(stack, "fleet", tfile, processes_for(args), args.seed, [
        "--target-version", ls.NEW_VERSION, "--ramp-up", str(args.ramp_up), "--offline-share", str(args.offline_share),
        "--offline-for", str(args.offline_for), "--dropout-share", str(args.dropout_share),
        "--dropout-for", str(args.dropout_for), "--timeout", str(args.timeout)], outputs=out)
    # Each process takes its own offline share, rounded as slotwise-fleet does.
    online = sum(n - int(args.offline_share * n + 0.5) for n in fleet.sizes)
    wait_located(stack, fleet, set(ids), online, timeout=args.timeout)

    (stack.root / "campaign-terminals.txt").write_text("\n".join(ids) + "\n")
    stack.cli("campaign", "create", CAMPAIGN, "--version", ls.NEW_VERSION,
              "--terminals-file", str(stack.root / "campaign-terminals.txt"), timeout=60)
    windows = stack.cli_json("campaign", "windows", CAMPAIGN, timeout=60)
    # The earliest window fits the terminals online now; the operator books one with
    # room for the late and dropped-out ones too (they are rescheduled inside it).
    # With slots of a few seconds the earliest start may have come round by the
    # time the schedule request arrives (it is refused then): allow two slots.
    now_slot = int(time.time() * 1000) // stack.slot_ms
    start = max(int(windows["windows"][0]["start_slot"]), now_slot + 2)
    late_slots = math.ceil((args.offline_for + args.dropout_for) / args.slot_seconds)
    end = start + 2 * int(windows.get("lower_bound_slots", 1)) + late_slots + 2
    stack.cli("campaign", "schedule", CAMPAIGN, "--start-slot", str(start), "--end-slot", str(end), timeout=60)
    t_scheduled = time.monotonic()
    stack.log(f"S5 campaign {CAMPAIGN} scheduled for {len(ids)} terminals")
    killed = None
    if args.kill_shard_after is not None:
        # A shard dies mid-campaign: its terminals reconnect through HAProxy
        # to the others (docker/README.md "Sharded brokers").
        deadline = t_scheduled + args.kill_shard_after
        while time.monotonic() < deadline:
            stack.check_alive(include_agents=False)
            time.sleep(0.5)
        killed = stack.kill_shard(0).name
    rc = fleet.wait_exit(stack, timeout=args.timeout + 30)
    t_done = time.monotonic()
    report = stack.cli_json("campaign", "status", CAMPAIGN, timeout=60)
    results = fleet.results(out / "terminals.csv")
    (out / "terminals.json").write_text(json.dumps(results, indent=1) + "\n")
    terminals = {t["terminal"]: t for t in results["terminals"]}
    slot_ms = int(report.get("slot_ms") or stack.slot_ms)

    rows, _ = node_seconds(stack, url_path)
    write_csv(out / "node_seconds.csv", rows)
    counts = stack.node_slot_counts(url_path, slot_ms)
    write_csv(out / "node_slots.csv", [{"node": n, "slot": s, "started": c, "per_slot": stack.nodes[n].per_slot}
                                       for (n, s), c in sorted(counts.items())])
    plot_error = plot_node_load(rows, list(stack.nodes), args.per_slot, args.slot_seconds, out / "node_load.svg")
    over, outside = slot_violations(stack, url_path, terminals, slot_ms)
    downloads = stack.downloads(url_path)
    per_terminal = Counter(d.terminal for d in downloads)
    fs = results["summary"]
    upgraded = sum(1 for t in terminals.values() if t["final_version"] == ls.NEW_VERSION)
    lost = args.terminals - sum(1 for t in terminals.values() if int(t["finished_at_ms"]) > 0)
    slots_used = sorted({s for _, s in counts})
    summary = {
        "command": "live", "terminals": args.terminals, "broker_shards": args.shards,
        "haproxy_processes": len(stack.haproxy), "shard_killed": killed or "",
        "nodes": args.nodes, "per_slot": args.per_slot,
        "slot_seconds": args.slot_seconds, "artifact_bytes": args.artifact_kib * 1024,
        "limit_rate": args.limit_rate, "offline_at_start": fs.get("offline_at_start", 0),
        "dropouts": fs.get("dropouts", 0), "rescheduled": fs.get("rescheduled", 0),
        "upgraded": upgraded, "lost": lost,
        "scheduler_succeeded": int(report.get("succeeded", 0)),
        "scheduler_failed": int(report.get("failed", 0)),
        "campaign_state": report.get("campaign", {}).get("state", ""),
        "lower_bound_slots": int(windows.get("lower_bound_slots", 0)), "window_slots": end - start,
        "slots_with_downloads": len(slots_used),
        "slot_span": (slots_used[-1] - slots_used[0] + 1) if slots_used else 0,
        "downloads_in_nginx_logs": len(downloads),
        "terminals_with_more_than_one_download": sum(1 for c in per_terminal.values() if c > 1),
        "max_started_per_node_slot": max(counts.values(), default=0),
        "node_slots_over_per_slot": len(over), "starts_outside_slot": len(outside),
        "peak_active_per_node": max((r["active"] for r in rows), default=0),
        "peak_started_per_node_second": max((r["started"] for r in rows), default=0),
        "bytes_served": sum(r["bytes"] for r in rows),
        "campaign_seconds": round(t_done - t_scheduled, 1), "total_seconds": round(t_done - t0, 1),
        "fleet_processes": len(fleet.parts), "fleet_peak_rss_mb_sum": fs.get("peak_rss_mb", 0),
        "fleet_exit_code": rc,
        "out": str(out),
        "problems": (over + outside)[:20] + ([plot_error] if plot_error else []),
    }
    summary["targets"] = {
        f"{args.terminals} terminals all upgraded, none lost": upgraded == args.terminals and lost == 0,
        "nginx: no node over per_slot in any slot": not over,
        "nginx: no download start outside its slot": not outside,
    }
    summary["node_table"] = [
        {"node": n, "cluster": node.cluster, "per_slot": node.per_slot,
         "downloads": sum(c for (m, _), c in counts.items() if m == n),
         "max_per_slot": max((c for (m, _), c in counts.items() if m == n), default=0),
         "peak_active": max((r["active"] for r in rows if r["node"] == n), default=0),
         "mb_served": round(sum(r["bytes"] for r in rows if r["node"] == n) / 1e6, 1)}
        for n, node in stack.nodes.items()]
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary, all(summary["targets"].values())


def wait_located(stack: ls.LocalStack, fleet: FleetProcesses, ids: set[str], expected: int,
                 timeout: float) -> None:
    """Until the scheduler knows the location of `expected` of the fleet's terminals
    (their inventory reports), so the window query counts them per cluster."""
    deadline = time.monotonic() + timeout
    located = 0
    while time.monotonic() < deadline:
        fleet.check_running("exited before the campaign")
        stack.check_alive(include_agents=False)
        located = sum(1 for t in stack.terminal_list() if t.get("id") in ids and t.get("location"))
        stack.log(f"S7 {located}/{expected} online terminals located; {fleet.progress()}")
        if located >= expected:
            return
        time.sleep(2)
    raise ls.StackError(f"only {located} of {expected} terminals reported a location in {timeout}s")


# ---------------------------------------------------------------------------
# storm: connects per second in the broker's log


def broker_connects(stack: ls.LocalStack, offset: int, ids: set[str]) -> list[tuple[str, str]]:
    """(timestamp second, client id) of fleet connects the broker logged after `offset`."""
    assert stack.broker is not None
    with open(stack.broker.log_path, "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    return [(m.group(1), m.group(2)) for m in map(CONNECT_LINE.match, text.splitlines())
            if m and m.group(2) in ids]


def wait_connected(stack: ls.LocalStack, fleet: FleetProcesses, offset: int, ids: set[str],
                   timeout: float, what: str) -> list[tuple[str, str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fleet.check_running("exited during the storm")
        connects = broker_connects(stack, offset, ids)
        if len({tid for _, tid in connects}) >= len(ids):
            return connects
        time.sleep(1)
    seen = len({tid for _, tid in broker_connects(stack, offset, ids)})
    raise ls.StackError(f"{what}: only {seen} of {len(ids)} terminals connected within {timeout}s")


def storm_round(stack: ls.LocalStack, tfile: Path, ids: set[str], jitter: bool,
                args: argparse.Namespace) -> list[int]:
    """Connects per second after one broker restart under the whole fleet."""
    assert stack.broker is not None
    name = "storm-" + ("jittered" if jitter else "unjittered")
    offset = stack.broker.log_path.stat().st_size
    fleet = FleetProcesses(stack, name, tfile, processes_for(args), args.seed,
                           ["--until", "signal", "--ramp-up", str(args.ramp_up)] +
                           ([] if jitter else ["--no-reconnect-jitter"]))
    try:
        wait_connected(stack, fleet, offset, ids, args.connect_timeout, f"{name} start")
        stack.log(f"{name}: all {len(ids)} connected; settling {args.settle}s, then restarting the broker")
        time.sleep(args.settle)
        offset = stack.broker.log_path.stat().st_size
        stack.restart_broker()
        connects = wait_connected(stack, fleet, offset, ids, args.reconnect_timeout, f"{name} reconnect")
    finally:
        fleet.stop()
    per_second = Counter(stamp for stamp, _ in connects)
    stamps = sorted(per_second)
    first = time.mktime(time.strptime(stamps[0], "%Y-%m-%dT%H:%M:%S"))
    series = [0] * (int(time.mktime(time.strptime(stamps[-1], "%Y-%m-%dT%H:%M:%S")) - first) + 1)
    for stamp, n in per_second.items():
        series[int(time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S")) - first)] = n
    stack.log(f"{name}: {len(connects)} reconnects over {len(series)} s, peak {max(series)}/s")
    return series


def run_storm(args: argparse.Namespace) -> int:
    out = prepare_out(args, "storm")
    with ls.LocalStack(args.build_dir, keep=args.keep, quiet=args.json) as stack:
        try:
            stack.start()
            tfile = make_terminals(stack, args.terminals, args.seed, args.spread_deg)
            ids = {line.split(",", 1)[0] for line in tfile.read_text().splitlines()[1:]}
            jittered = storm_round(stack, tfile, ids, True, args)
            unjittered = storm_round(stack, tfile, ids, False, args)
        except ls.StackError as e:
            stack.report_failure(e)
            return 1
    length = max(len(jittered), len(unjittered))
    padded = [s + [0] * (length - len(s)) for s in (jittered, unjittered)]
    write_csv(out / "connects_per_second.csv", [{"t_s": t, "jittered": padded[0][t], "unjittered": padded[1][t]}
                                                for t in range(length)])
    plot_error = gnuplot_svg(datablock("c", ["t", "jittered", "unjittered"],
                                       [[t, padded[0][t], padded[1][t]] for t in range(length)]) + f"""
set title "Broker restart under {args.terminals} agents: connects per second (mosquitto log)"
set xlabel "seconds since the first reconnect"
set ylabel "connects / s"
set grid
set logscale y
plot $c using 1:($2>0?$2:1/0) with impulses lw 3 title "agent jitter (spread 60 s)", \\
     $c using 1:($3>0?$3:1/0) with impulses lw 3 title "Paho schedule (1 s, doubling, no jitter)"
""", out / "storm.svg")
    ratio = max(jittered) / max(unjittered)
    summary = {
        "command": "storm", "terminals": args.terminals,
        "peak_connects_per_s_jittered": max(jittered), "peak_connects_per_s_unjittered": max(unjittered),
        "reconnect_peak_ratio": round(ratio, 4),
        "seconds_to_reconnect_all_jittered": len(jittered),
        "seconds_to_reconnect_all_unjittered": len(unjittered),
        "out": str(out), "problems": [plot_error] if plot_error else [],
        "targets": {"reconnect_peak_ratio <= 0.1": ratio <= 0.1},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print_summary(summary, args.json, out)
    return 0 if ratio <= 0.1 else 1


# ---------------------------------------------------------------------------
# output and command line


# Connections one HAProxy process carries (configs.haproxy_conf: two file
# descriptors each, 20,000 per process here).
HAPROXY_CONNECTIONS = 9000


def haproxy_processes_for(args: argparse.Namespace) -> int:
    if getattr(args, "shards", 1) <= 1:
        return 1
    return args.haproxy_processes or math.ceil((args.terminals + 100) / HAPROXY_CONNECTIONS)


def processes_for(args: argparse.Namespace) -> int:
    return args.processes or math.ceil(args.terminals / TERMINALS_PER_PROCESS[args.command])


def prepare_out(args: argparse.Namespace, command: str) -> Path:
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix=f"slotwise-fleet-{command}-"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def print_summary(summary: dict, as_json: bool, out: Path) -> None:
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    skip = {"targets", "problems", "node_table", "out", "command"}
    print(f"\n== slotwise-fleet {summary['command']}")
    print(ls.render_table(["measure", "value"], [[k, v] for k, v in summary.items() if k not in skip]))
    if summary.get("node_table"):
        table = summary["node_table"]
        print("\n== per node, from the nginx access logs")
        print(ls.render_table(list(table[0]), [list(r.values()) for r in table]))
    print("\n== targets")
    for name, ok in summary["targets"].items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    for p in summary["problems"]:
        print(f"  problem: {p}")
    print(f"\nfiles: {out} ({', '.join(sorted(p.name for p in out.iterdir()))})")


def positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def share(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    live = sub.add_parser("live", help="N agents through one campaign; nginx logs as evidence")
    storm = sub.add_parser("storm", help="broker restart under a fleet, with and without jitter")
    for p, terminals in ((live, 10000), (storm, 3000)):
        p.add_argument("--build-dir", default="build", help="CMake build dir (default: build)")
        p.add_argument("--terminals", type=positive(int), default=terminals)
        p.add_argument("--seed", type=int, default=7)
        p.add_argument("--spread-deg", type=float, default=0.5, help="terminal scatter around a site")
        p.add_argument("--out", help="directory for CSV, JSON and SVG (default: a new temp dir)")
        p.add_argument("--json", action="store_true", help="print the summary as JSON")
        p.add_argument("--ramp-up", type=float, default=None,
                       help="seconds over which the terminals switch on (default: live 150 a second, "
                            "storm 1 per ms)")
        p.add_argument("--keep", action="store_true", help="keep the stack's temp dir")
        p.add_argument("--processes", type=positive(int), default=None,
                       help="slotwise-fleet processes (default: one per "
                            f"{TERMINALS_PER_PROCESS[p.prog.split()[-1]]} terminals)")
    live.add_argument("--nodes", type=positive(int), default=10)
    live.add_argument("--per-slot", type=positive(int), default=25)
    live.add_argument("--slot-seconds", type=positive(int), default=4)
    live.add_argument("--artifact-kib", type=positive(int), default=64)
    live.add_argument("--limit-rate", default="256k", help="nginx limit_rate per download")
    live.add_argument("--offline-share", type=share, default=0.1)
    live.add_argument("--offline-for", type=positive(float), default=20.0)
    live.add_argument("--dropout-share", type=share, default=0.1)
    live.add_argument("--dropout-for", type=positive(float), default=8.0)
    live.add_argument("--timeout", type=positive(int), default=900, help="seconds for the whole campaign")
    live.add_argument("--shards", type=positive(int), default=1,
                      help="mosquitto shards behind HAProxy (default 1: one broker, no HAProxy)")
    live.add_argument("--haproxy-processes", type=positive(int), default=None,
                      help=f"HAProxy processes on the one port (default: one per {HAPROXY_CONNECTIONS} terminals)")
    live.add_argument("--kill-shard-after", type=positive(float), default=None,
                      help="SIGKILL the first shard this many seconds after S5 (needs --shards >= 2)")
    storm.add_argument("--settle", type=positive(float), default=5.0, help="seconds connected before the restart")
    storm.add_argument("--connect-timeout", type=positive(float), default=120.0)
    storm.add_argument("--reconnect-timeout", type=positive(float), default=120.0)
    args = parser.parse_args(argv)
    if args.ramp_up is None:
        # Live: connects, inventory reports and notices at a pace the fleet's
        # Paho instances keep up with; storm: as fast as the fleet connects.
        args.ramp_up = args.terminals / (150 if args.command == "live" else 1000)
    if args.command == "live" and args.offline_share + args.dropout_share >= 1:
        parser.error("--offline-share + --dropout-share must be < 1")
    if args.command == "live" and args.kill_shard_after is not None and args.shards < 2:
        parser.error("--kill-shard-after needs --shards >= 2")
    ls.install_signal_handlers()
    try:
        return run_live(args) if args.command == "live" else run_storm(args)
    except KeyboardInterrupt:
        print("\nfleet: interrupted, stopping the stack", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
