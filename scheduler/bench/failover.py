#!/usr/bin/env python3
"""Failover benchmark (issue 14): a scheduler pair on PostgreSQL 15 under
load, the active one SIGKILLed several times, and (with --db-failover) the
database's primary killed and its synchronous streaming replica promoted.

Load: crash_client (tests/scheduler/crash_client.cpp), thousands of
terminals reporting through a plain mosquitto (one client publishes for all
of them), every assignment it is told written to a file. After the run, as
the crash test does, every told assignment must be the booking the store
holds (an acknowledged change lost would show as a difference), no (node,
slot) over per_slot, every terminal booked.

Printed, one run:
  kill K: SIGKILL of the active -> standby connected, first assignment, operator answered
  failover_serving_max_s  Y   (target <= 10: SIGKILL -> the first assignment the standby publishes)
  failover_operator_max_s O   (SIGKILL -> the first operator request answered: it queues behind
                               the terminals' requests that waited for the new leader)
  db_failover_serving_s   Z   (primary SIGKILL -> replica promoted -> a scheduler acknowledging writes)
  acknowledged_assignments N  lost L  (target 0)

    scheduler/bench/failover.py --build-dir build [--terminals 5000] [--kills 3]
        [--db-failover] [--async-replica] [--lease-ms 3000] [--promote-after 0]

--async-replica runs the replica without synchronous_standby_names: the
comparison for "commits are synchronous" (a primary that dies may take the
last acknowledged commits with it). The promotion is done by this script the
moment the primary dies (--promote-after adds a delay); Patroni would do it
after its TTL (docker/README.md, "PostgreSQL high availability").
Schedulers that exit (status 3 when they lose the lease) are started again
as a supervisor (systemd Restart=always) would.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
import localstack as ls  # noqa: E402
from localstack import postgres  # noqa: E402
sys.path.insert(0, str(REPO / "tests" / "support"))
from slotwise_testing.crash_campaign import NODES, seed_campaign  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=str(REPO / "build"))
    ap.add_argument("--terminals", type=int, default=40000)
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--lease-ms", type=int, default=3000)
    ap.add_argument("--per-second", type=int, default=2000, help="crash_client: new terminals reporting per second")
    ap.add_argument("--retry-ms", type=int, default=4000, help="crash_client: a report unanswered is sent again after")
    ap.add_argument("--db-failover", action="store_true")
    ap.add_argument("--async-replica", action="store_true")
    ap.add_argument("--promote-after", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    build = ls.resolve_build_dir(args.build_dir)
    sched_bin, cli_bin = build / "scheduler" / "slotwise-scheduler", build / "scheduler" / "slotwise"
    client_bin = build / "tests" / "scheduler" / "crash_client"
    for b in (sched_bin, cli_bin, client_bin):
        if not b.exists():
            print(f"missing {b} (cmake --build build --target slotwise-scheduler slotwise crash_client)")
            return 1
    if why := postgres.available():
        print(why)
        return 1
    print(f"seed {args.seed}, {args.terminals} terminals, {args.kills} kills of the active scheduler, "
          f"lease {args.lease_ms} ms" + (", then a database failover" if args.db_failover else ""), flush=True)

    root = Path(tempfile.mkdtemp(prefix="slotwise-failover-"))
    logs = root / "logs"
    logs.mkdir()
    procs: list[ls.Process] = []
    pgs: list[postgres.Postgres] = []
    ok = False
    try:
        primary = postgres.Postgres(Path(tempfile.mkdtemp(prefix="slotwise-pg-")))
        pgs.append(primary)
        primary.start()
        db_url = primary.url
        replica = None
        if args.db_failover:
            replica = postgres.Postgres(Path(tempfile.mkdtemp(prefix="slotwise-pg-replica-")))
            pgs.append(replica)
            replica.start(replica_of=primary)
            if not args.async_replica:
                primary.sql("ALTER SYSTEM SET synchronous_standby_names = '*'")
                primary.sql("SELECT pg_reload_conf()")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                state = primary.sql("SELECT sync_state FROM pg_stat_replication")
                if state in (("sync",) if not args.async_replica else ("async",)):
                    break
                time.sleep(0.2)
            print(f"replica streaming from the primary: {state}", flush=True)
            db_url = (f"postgresql://postgres@127.0.0.1:{primary.port},127.0.0.1:{replica.port}/postgres"
                      "?target_session_attrs=read-write")

        port = ls.free_port()
        conf = root / "mosquitto.conf"
        lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false", "log_dest stderr",
                 "max_queued_messages 200000", "max_inflight_messages 0"]
        if os.geteuid() == 0:
            lines.append("user root")
        conf.write_text("\n".join(lines) + "\n")
        broker = ls.Process("mosquitto", [ls.find_tool("mosquitto"), "-c", str(conf)], logs / "mosquitto.log", root)
        procs.append(broker)
        if not ls.wait_port(broker, port, 15):
            print(broker.describe_failure("did not listen"))
            return 1
        url = f"tcp://127.0.0.1:{port}"
        starts = [0]

        def start_scheduler() -> ls.Process:
            starts[0] += 1
            p = ls.Process(f"scheduler-{starts[0]}",
                           [str(sched_bin), "--broker", url, "--db", db_url, "--slot-seconds", "60",
                            "--no-show-grace", "3600", "--poll-ms", "0", "--max-batch", "128",
                            "--lease-ms", str(args.lease_ms), "--trust-unstamped-terminals"],
                           logs / f"scheduler-{starts[0]}.log", root)
            procs.append(p)
            return p

        def log_of(p: ls.Process) -> str:
            return p.log_path.read_text(errors="replace")

        def wait_text(p: ls.Process, text: str, timeout: float) -> float | None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if text in log_of(p):
                    return time.monotonic()
                time.sleep(0.01)
            return None

        def cli(*a: str, check: bool = True, timeout: int = 20) -> subprocess.CompletedProcess:
            r = subprocess.run([str(cli_bin), "--broker", url, "--timeout", str(timeout), *a],
                               capture_output=True, text=True, timeout=timeout + 40)
            if check and r.returncode != 0:
                raise RuntimeError(f"slotwise {' '.join(a)}: {r.stderr.strip()}")
            return r

        probes = [0]

        def wait_serving(t0: float, limit: float = 60, write: bool = False) -> float | None:
            """Seconds from t0 until `slotwise node list` is answered (1 s timeout per try);
            with write, until an operator write (a new cluster) is acknowledged: a
            leader whose database died still answers reads from memory."""
            while time.monotonic() - t0 < limit:
                supervise()
                probes[0] += 1
                a = ("cluster", "add", f"probe{probes[0]}", "--lat", "0", "--lon", "0") if write else ("node", "list")
                if cli(*a, check=False, timeout=1).returncode == 0:
                    return time.monotonic() - t0
            return None

        running: list[ls.Process] = []

        def supervise() -> None:
            """Restart what exited on its own (systemd Restart=always)."""
            for i, p in enumerate(running):
                if not p.alive() and not p.stopped_by_us:
                    print(f"  {p.name} exited with {p.returncode}: started again", flush=True)
                    running[i] = start_scheduler()

        running.append(start_scheduler())
        if wait_serving(time.monotonic()) is None:
            print(running[0].describe_failure("does not answer"))
            return 1
        seed_campaign(cli, root, args.terminals)
        running.append(start_scheduler())
        if wait_text(running[1], "standby:", 20) is None:
            print(running[1].describe_failure("no standby"))
            return 1

        told_path = root / "told.txt"
        client = ls.Process("crash-client", [str(client_bin), "--broker", url, "--terminals", str(args.terminals),
                                             "--told", str(told_path), "--retry-ms", str(args.retry_ms), "--deadline-s", "240",
                                             "--per-second", str(args.per_second), "--retry-internal", "1"],
                            logs / "crash-client.log", root)
        procs.append(client)

        def told_lines() -> int:
            try:
                return told_path.read_text().count("\n")
            except OSError:
                return 0

        serving: list[float] = []
        operator: list[float] = []
        db_serving = None
        events = ["kill"] * args.kills
        if args.db_failover:
            events.insert(min(1, len(events)), "db")

        def first_reply_after(t: float, count: int, limit: float = 60) -> float | None:
            """The monotonic time the told file first grows past `count` after t."""
            while time.monotonic() - t < limit:
                if told_lines() > count:
                    return time.monotonic()
                if not client.alive():
                    return None
                time.sleep(0.01)
            return None

        kills = 0
        for event in events:
            time.sleep(rng.uniform(0.5, 1.5))
            if not client.alive():
                print(f"the client finished before the {event} event: use more --terminals")
                break
            if event == "db" and replica is not None:
                before = told_lines()
                t0 = time.monotonic()
                primary.kill()
                if args.promote_after:
                    time.sleep(args.promote_after)
                replica.promote()
                t_promoted = time.monotonic() - t0
                db_serving = wait_serving(t0, 90, write=True)
                print(f"database failover: primary SIGKILL ({before} assignments told so far) -> replica promoted "
                      f"{t_promoted:.2f} s -> an operator write acknowledged "
                      f"{db_serving if db_serving is not None else float('nan'):.2f} s", flush=True)
                continue
            kills += 1
            leader = next((p for p in running if p.alive() and "connected to" in log_of(p)), None)
            if leader is None:
                print("no leader found")
                return 1
            before = told_lines()
            t0 = time.monotonic()
            leader.signal(signal.SIGKILL)
            leader.popen.wait(timeout=10)
            leader.stopped_by_us = True
            standby = next(p for p in running if p is not leader)
            t_conn = wait_text(standby, "connected to", 60)
            if t_conn is None:
                print(standby.describe_failure("the standby does not lead"))
                return 1
            # Serving: the first assignment the new leader publishes (replies the
            # dead one sent arrived long before it connected).
            t_first = first_reply_after(t_conn, told_lines())
            op = wait_serving(t0)
            if t_first is None or op is None:
                print(standby.describe_failure("the standby does not serve"))
                return 1
            serving.append(t_first - t0)
            operator.append(op)
            print(f"kill {kills}: SIGKILL of the active ({before} assignments told so far) -> standby connected "
                  f"{t_conn - t0:.2f} s, first assignment {t_first - t0:.2f} s, "
                  f"operator `node list` answered {op:.2f} s", flush=True)
            running[running.index(leader)] = start_scheduler()  # back as the standby
            wait_text(running[-1], "standby:", 20)

        while client.alive():
            supervise()
            time.sleep(0.2)
        if client.returncode != 0:
            print(client.describe_failure("failed"))
            return 1
        print(client.tail(1).strip(), flush=True)

        told: dict[str, set[tuple[str, int, int]]] = {}
        n_told = 0
        for line in told_path.read_text().splitlines():
            tid, node, slot, start = line.split()
            told.setdefault(tid, set()).add((node, int(slot), int(start)))
            n_told += 1
        report = json.loads(cli("--json", "campaign", "status", "c1", timeout=30).stdout)
        stored: dict[str, tuple[str, int, int]] = {}
        per: dict[tuple[str, int], int] = {}
        for p in report.get("terminals", []):
            if p.get("assigned"):
                key = (p.get("node_id"), int(p.get("slot", 0)))
                stored[p.get("terminal_id")] = (key[0], key[1], int(p.get("start_at_ms") or 0))
                per[key] = per.get(key, 0) + 1
        lost = sum(1 for tid, answers in told.items() for a in answers if stored.get(tid) != a)
        over = sum(1 for (node, _), n in per.items() if n > NODES[node][1])
        unbooked = args.terminals - len(stored)
        print(f"failover_serving_max_s {max(serving) if serving else float('nan'):.2f} "
              f"(target <= 10; SIGKILL -> first assignment from the standby; each: "
              f"{', '.join(f'{s:.2f}' for s in serving)})")
        print(f"failover_operator_max_s {max(operator) if operator else float('nan'):.2f} "
              f"(SIGKILL -> first operator request answered; each: {', '.join(f'{s:.2f}' for s in operator)})")
        if args.db_failover:
            print(f"db_failover_serving_s {db_serving if db_serving is not None else float('nan'):.2f} "
                  f"({'asynchronous' if args.async_replica else 'synchronous'} replica)")
        print(f"acknowledged_assignments {len(told)} terminals ({n_told} replies) lost {lost} (target 0); "
              f"over per_slot {over}; without a booking {unbooked}")
        ok = lost == 0 and over == 0 and unbooked == 0 and all(s <= 10 for s in serving) and \
            (db_serving is None or db_serving <= 10 or args.promote_after > 0)
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        ls.stop_processes(procs, timeout=10)
        for pg in pgs:
            pg.cleanup()
        if ok and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"files kept in {root}")


if __name__ == "__main__":
    sys.exit(main())
