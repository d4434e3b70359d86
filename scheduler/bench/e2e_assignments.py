#!/usr/bin/env python3
"""End-to-end benchmark (issue 14): reports answered with assignments per
second through the real mosquitto + Slotwise plugin + scheduler (RocksDB),
beside the same broker and plugin with an echo responder answering the same
message pattern (the ceiling), in one run.

Both phases use e2e_load (scheduler/bench/e2e_load.cpp): N terminal
identities (one MQTT connection each, the plugin's identity, rate limits and
payload checks as in production), one Report outstanding per terminal. The
echo responder subscribes to slotwise/v1/t/+/report as the scheduler does and
answers on the request's response topic with as many bytes as the
scheduler's mean reply. Prints both figures and the ratio (target >= 0.5).

    scheduler/bench/e2e_assignments.sh [BUILD_DIR] [TERMINALS] [SECONDS]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
import localstack as ls  # noqa: E402

CAMPAIGN = "e2e"


def figures(text: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(\w+) ([\d.]+)", text, re.M)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=str(REPO / "build"))
    ap.add_argument("--terminals", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    build = ls.resolve_build_dir(args.build_dir)
    load_bin = build / "scheduler" / "bench" / "e2e_load"
    if not load_bin.exists():
        print(f"missing {load_bin} (cmake --build build --target e2e_load)")
        return 1
    ls.raise_nofile_limit()
    with ls.Stack(build, slot_seconds=60, keep=args.keep, quiet=True) as s:
        try:
            s.start()
            s.add_cluster("paris", 48.85, 2.35)
            s.add_node("p1", "paris", 100000)
            s.add_node("p2", "paris", 100000)
            s.add_version(ls.NEW_VERSION, 1024)
            ids = [f"E{i:05d}" for i in range(args.terminals)]
            pw = s.register_terminals(ids)
            tfile = s.root / "terminals.txt"
            tfile.write_text("".join(f"{t} {pw[t]}\n" for t in ids))
            idfile = s.root / "ids.txt"
            idfile.write_text("".join(t + "\n" for t in ids))
            s.cli("campaign", "create", CAMPAIGN, "--version", ls.NEW_VERSION, "--terminals-file", str(idfile))
            s.cli("campaign", "schedule", CAMPAIGN, "--window", "earliest")

            def run_load(name: str) -> dict[str, float]:
                r = subprocess.run([str(load_bin), "load", "--broker", s.broker_url, "--terminals", str(tfile),
                                    "--campaign", CAMPAIGN, "--seconds", str(args.seconds)],
                                   capture_output=True, text=True, timeout=args.seconds + 60 + args.terminals // 20)
                (s.logs / f"load-{name}.log").write_text(r.stdout + r.stderr)
                if r.returncode != 0:
                    raise ls.StackError(f"e2e_load load ({name}) failed: {r.stderr[-1000:]}")
                print(f"--- {name}\n{r.stdout.strip()}", flush=True)
                return figures(r.stdout)

            # The plugin's counters (every 5 s, retained): dropped messages show there.
            stats_out = s.logs / "broker-stats.out"
            stats = subprocess.Popen(["mosquitto_sub", "-V", "5", "-h", "127.0.0.1", "-p", str(s.broker_port),
                                      *s.mqtt_auth_args(ls.SERVICE_USERNAME), "-i", "e2e-stats",
                                      "-t", "slotwise/v1/stats/broker"],
                                     stdout=open(stats_out, "wb"), stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
            sched = run_load("scheduler")
            ls.stop_processes([s.scheduler], timeout=15)
            s.scheduler = None
            echo = s.spawn("echo", [str(load_bin), "echo", "--broker", s.broker_url, "--username",
                                    ls.SERVICE_USERNAME, "--password", s.password_of(ls.SERVICE_USERNAME),
                                    "--client-id", "slotwise-echo",
                                    "--reply-bytes", str(int(sched.get("mean_reply_bytes", 100)))])
            try:
                ls.wait_until(lambda: "answering" in echo.log_path.read_text(), 15)
                ceiling = run_load("echo")
            finally:
                ls.stop_processes([echo], timeout=10)
            import time
            time.sleep(5.5)
            ls.stop_popen(stats)
            last = [l for l in stats_out.read_text(errors="replace").splitlines() if l.startswith("{")]
            print(f"broker plugin stats at the end: {last[-1][:600] if last else '(none seen)'}")
            a, c = sched.get("assignments_per_s", 0), ceiling.get("replies_per_s", 0)
            ratio = a / c if c else 0
            print(f"\ne2e: {args.terminals} terminals, one report outstanding each, {args.seconds:g} s measured")
            print(f"e2e_assignments_per_s {a:.0f} (scheduler; errors {sched.get('errors', 0):.0f}, "
                  f"p50 {sched.get('latency_p50_ms', 0):.1f} ms, p99 {sched.get('latency_p99_ms', 0):.1f} ms; "
                  f"first reports, each a new booking: {sched.get('first_wave_replies_per_s', 0):.0f}/s; "
                  f"resent after 5 s {sched.get('resent', 0):.0f}, connections lost {sched.get('lost_connections', 0):.0f})")
            print(f"e2e_echo_ceiling_per_s {c:.0f} (same broker + plugin, echo of "
                  f"{int(sched.get('mean_reply_bytes', 0))} bytes; p50 {ceiling.get('latency_p50_ms', 0):.1f} ms, "
                  f"p99 {ceiling.get('latency_p99_ms', 0):.1f} ms; resent {ceiling.get('resent', 0):.0f}, "
                  f"connections lost {ceiling.get('lost_connections', 0):.0f})")
            print(f"e2e_ratio {ratio:.2f} (target >= 0.50) {'PASS' if ratio >= 0.5 else 'FAIL'}")
            return 0 if ratio >= 0.5 else 1
        except ls.StackError as e:
            s.report_failure(e)
            return 1


if __name__ == "__main__":
    sys.exit(main())
