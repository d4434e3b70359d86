#!/usr/bin/env python3
"""Crash test: the real slotwise-scheduler killed with SIGKILL at random
moments while thousands of terminals report (crash_client, one MQTT
connection for all of them), restarted each time, then checked against what
the terminals were told:

  * every assignment a terminal received is the booking the store holds
    (nothing told is lost, nothing told changes: repeated reports get the
    same answer);
  * no (node, slot) holds more than the node's per_slot;
  * every terminal ends with a booking (the campaign carries on);
  * the same after one more restart.

A plain mosquitto (no Slotwise plugin) on a free loopback port; everything
under one temp dir, every process stopped by its pid.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402
from slotwise_testing.crash_campaign import NODES, seed_campaign  # noqa: E402



def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--client", required=True)
    ap.add_argument("--terminals", type=int, default=3000)
    ap.add_argument("--kills", type=int, default=6)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    print(f"seed {args.seed}, {args.terminals} terminals, {args.kills} kills", flush=True)

    build = Path(args.build_dir).resolve()
    scheduler_bin = build / "scheduler" / "slotwise-scheduler"
    cli_bin = build / "scheduler" / "slotwise"
    mosquitto = ls.find_tool("mosquitto")
    if not mosquitto:
        print("mosquitto is not installed")
        return 1
    root = Path(tempfile.mkdtemp(prefix="slotwise-crash-"))
    logs = root / "logs"
    logs.mkdir()
    procs: list[ls.Process] = []
    ok = False
    try:
        port = ls.free_port()
        conf = root / "mosquitto.conf"
        lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false",
                 "log_dest stderr", "max_queued_messages 200000", "max_inflight_messages 0"]
        if os.geteuid() == 0:
            lines.append("user root")
        conf.write_text("\n".join(lines) + "\n")
        broker = ls.Process("mosquitto", [mosquitto, "-c", str(conf)], logs / "mosquitto.log", root)
        procs.append(broker)
        deadline = time.monotonic() + 15
        while not ls.port_open(port):
            if time.monotonic() > deadline or not broker.alive():
                print(broker.describe_failure("did not listen"))
                return 1
            time.sleep(0.05)
        url = f"tcp://127.0.0.1:{port}"
        db = root / "db"
        starts = [0]

        def start_scheduler() -> ls.Process:
            starts[0] += 1
            p = ls.Process(f"scheduler-{starts[0]}",
                           [str(scheduler_bin), "--broker", url, "--db", str(db), "--slot-seconds", "60",
                            "--no-show-grace", "3600", "--poll-ms", "0", "--max-batch", "128",
                            "--trust-unstamped-terminals"],  # a plain mosquitto stamps nothing
                           logs / f"scheduler-{starts[0]}.log", root)
            procs.append(p)
            return p

        def cli(*a: str, check: bool = True):
            import subprocess
            r = subprocess.run([str(cli_bin), "--broker", url, "--timeout", "20", *a],
                               capture_output=True, text=True, timeout=60)
            if check and r.returncode != 0:
                raise RuntimeError(f"slotwise {' '.join(a)}: {r.stderr.strip()}")
            return r

        sched = start_scheduler()
        for _ in range(100):
            if cli("node", "list", check=False).returncode == 0:
                break
            time.sleep(0.2)
        seed_campaign(cli, root, args.terminals)

        told_path = root / "told.txt"
        client = ls.Process("crash-client", [str(Path(args.client).resolve()), "--broker", url, "--terminals", str(args.terminals),
                                             "--told", str(told_path), "--retry-ms", "1500",
                                             "--deadline-s", "150"],
                            logs / "crash-client.log", root)
        procs.append(client)
        for k in range(args.kills):
            time.sleep(rng.uniform(0.1, 1.2))
            if not client.alive():
                break
            sched.signal(signal.SIGKILL)
            sched.popen.wait(timeout=10)
            print(f"kill {k + 1}: SIGKILL scheduler pid {sched.pid}", flush=True)
            sched = start_scheduler()
        client.popen.wait(timeout=200)
        if client.returncode != 0:
            print(client.describe_failure("failed"))
            return 1
        print(client.tail(3).strip(), flush=True)

        failures: list[str] = []
        told: dict[str, set[tuple[str, int, int]]] = {}
        for line in told_path.read_text().splitlines():
            tid, node, slot, start = line.split()
            told.setdefault(tid, set()).add((node, int(slot), int(start)))
        for tid, answers in told.items():
            if len(answers) > 1:
                failures.append(f"{tid} was told different bookings: {sorted(answers)}")

        def check_store(when: str) -> None:
            r = cli("--json", "campaign", "status", "c1")
            report = json.loads(r.stdout)
            stored = {}
            per_node_slot: dict[tuple[str, int], int] = {}
            for p in report.get("terminals", []):
                tid = p.get("terminalId") or p.get("terminal_id")
                if not p.get("assigned"):
                    failures.append(f"{when}: {tid} holds no booking")
                    continue
                key = (p.get("nodeId") or p.get("node_id"), int(p.get("slot", 0)))
                stored[tid] = (key[0], key[1], int(p.get("startAtMs") or p.get("start_at_ms") or 0))
                per_node_slot[key] = per_node_slot.get(key, 0) + 1
            for (node, slot), n in per_node_slot.items():
                if n > NODES[node][1]:
                    failures.append(f"{when}: {node} slot {slot} holds {n} > {NODES[node][1]}")
            for tid, answers in told.items():
                for a in answers:
                    if stored.get(tid) != a:
                        failures.append(f"{when}: {tid} was told {a}, the store holds {stored.get(tid)}")
            missing = args.terminals - len(stored)
            print(f"{when}: {len(stored)} bookings stored, {len(told)} terminals told, "
                  f"{len(per_node_slot)} (node, slot) pairs, {missing} without a booking", flush=True)

        check_store("after the kills")
        ls.stop_processes([sched], timeout=15)
        sched = start_scheduler()
        for _ in range(100):
            if cli("node", "list", check=False).returncode == 0:
                break
            time.sleep(0.2)
        check_store("after a clean restart")
        for f in failures[:30]:
            print("FAIL:", f)
        ok = not failures
        print(f"{1 if ok else 0} passed, {0 if ok else 1} failed (restarts: {starts[0] - 1})")
        return 0 if ok else 1
    finally:
        ls.stop_processes(procs, timeout=10)
        if ok:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"files kept in {root}")


if __name__ == "__main__":
    sys.exit(main())
