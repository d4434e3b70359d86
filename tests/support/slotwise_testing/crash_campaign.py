"""The campaign the crash test (tests/scheduler/test_crash.py) and the failover
benchmark (scheduler/bench/failover.py) both run: two clusters of two nodes,
per_slot 10 each, nodes that serve nothing (the crash client never downloads),
and a campaign c1 of terminals T0..T{n-1} scheduled in the earliest window."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

# node -> (cluster, per_slot)
NODES = {"p1": ("paris", 10), "p2": ("paris", 10), "m1": ("munich", 10), "m2": ("munich", 10)}


def seed_campaign(cli: Callable[..., object], root: Path, terminals: int) -> None:
    """Registers the clusters, nodes and version through `cli` (the slotwise
    CLI's arguments), then creates and schedules c1 for `terminals` ids."""
    cli("cluster", "add", "paris", "--lat", "48.85", "--lon", "2.35")
    cli("cluster", "add", "munich", "--lat", "48.14", "--lon", "11.58")
    for node, (cluster, per_slot) in NODES.items():
        cli("node", "add", node, "--cluster", cluster, "--url", f"http://127.0.0.1:9/{node}",
            "--per-slot", str(per_slot))
    fw = root / "fw.bin"
    fw.write_bytes(b"firmware")
    cli("version", "add", "2.0.0", "--file", str(fw), "--path", "/fw.bin")
    ids = root / "ids.txt"
    ids.write_text("".join(f"T{i}\n" for i in range(terminals)))
    cli("campaign", "create", "c1", "--version", "2.0.0", "--terminals-file", str(ids))
    cli("campaign", "schedule", "c1", "--window", "earliest")
