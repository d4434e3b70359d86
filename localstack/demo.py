"""The demo (`python3 -m localstack demo`): the patent's steps S1-S11 end to
end on a Stack, with the evidence tables at the end; and `up`, which starts
the same stack (S1 done), writes an env file for the `slotwise` CLI and waits
for Ctrl-C.
"""

from __future__ import annotations

import argparse
import math
import shlex
import time
from pathlib import Path

from .configs import NEW_VERSION, OPERATOR_USERNAME
from .evidence import campaign_table, node_slot_table
from .processes import StackError, now
from .stack import BINARIES, Stack

# The demo's topology: two sites, two nodes each.
DEMO_CLUSTERS = (
    # id, lat, lon, region
    ("eu-west", 48.8566, 2.3522, "eu"),      # Paris
    ("eu-central", 48.1351, 11.5820, "eu"),  # Munich
)


def build_demo_topology(stack: Stack, per_slot: int = 2, nodes_per_cluster: int = 2,
                        version: str = NEW_VERSION, artifact_size: int = 256 * 1024) -> None:
    """S1: two clusters x `nodes_per_cluster` nginx nodes, and the new version."""
    n = 0
    for cid, lat, lon, region in DEMO_CLUSTERS:
        stack.add_cluster(cid, lat, lon, region)
    for cid, *_ in DEMO_CLUSTERS:
        for _ in range(nodes_per_cluster):
            n += 1
            stack.add_node(f"n{n}", cid, per_slot)
    stack.add_version(version, artifact_size)


# ---------------------------------------------------------------------------
# demo


def run_demo(args: argparse.Namespace) -> int:
    with Stack(args.build_dir, slot_seconds=args.slot_seconds, keep=args.keep) as stack:
        try:
            return _demo(stack, args)
        except StackError as e:
            stack.report_failure(e)
            return 1


def _demo(stack: Stack, args: argparse.Namespace) -> int:
    t_start = now()
    stack.start()
    build_demo_topology(stack, per_slot=args.per_slot)
    _, url_path = stack.versions[NEW_VERSION]
    agents = stack.spawn_fleet(args.terminals, seed=args.seed)
    tids = [a.id for a in agents]
    missing = stack.wait_terminals_known(tids, timeout=20)
    if missing:
        stack.log(f"all {len(tids)} terminals online; {len(missing)} have not reported a "
                  f"location yet (the window query cannot count them per cluster)")
    else:
        stack.log(f"S7 all {len(tids)} terminals online and located")

    print("\n== S1 registry")
    print(stack.cli("cluster", "list").stdout.rstrip())
    print(stack.cli("node", "list").stdout.rstrip())
    print(stack.cli("version", "list").stdout.rstrip())

    campaign = "demo-1"
    print(f"\n== S2 campaign {campaign}: {len(tids)} terminals -> {NEW_VERSION}")
    tfile = stack.root / "terminals.txt"
    tfile.write_text("\n".join(tids) + "\n")
    print(stack.cli("campaign", "create", campaign, "--version", NEW_VERSION,
                    "--terminals-file", str(tfile)).stdout.rstrip())

    print("\n== S3-S4 candidate windows")
    print(stack.cli("campaign", "windows", campaign).stdout.rstrip())

    print("\n== S5 schedule the earliest window")
    print(stack.cli("campaign", "schedule", campaign, "--window", "earliest").stdout.rstrip())

    print("\n== S6-S11 terminals get notices, slots, download and install")
    rc = stack.cli_stream("campaign", "status", campaign, "--wait", str(args.wait),
                          timeout=args.wait + 15)
    stack.check_alive(include_agents=False)
    report = stack.cli_json("campaign", "status", campaign)
    slot_ms = int(report.get("slot_ms") or stack.slot_ms)
    # Version files are rewritten right after the install; give the last ones a moment.
    deadline = now() + 5
    while now() < deadline and any(a.installed_version() != NEW_VERSION for a in agents):
        time.sleep(0.1)

    table, problems = campaign_table(stack, report, url_path)
    print(f"\n== result per terminal (slot = floor(t / {slot_ms} ms); +k = k-th slot of the campaign)")
    print(table)
    ntable, nproblems = node_slot_table(stack, url_path, slot_ms)
    print("\n== downloads started per node x slot, from the nginx access logs (! = over per_slot)")
    print(ntable)
    problems += nproblems
    if rc != 0:
        problems.append(f"`campaign status --wait` exited {rc}")
    succeeded = sum(1 for a in agents if a.installed_version() == NEW_VERSION)
    print(f"\n{succeeded}/{len(agents)} terminals on {NEW_VERSION}; "
          f"{len(stack.nodes)} nodes x per_slot {args.per_slot}; "
          f"lower bound {math.ceil(len(agents) / (len(stack.nodes) * args.per_slot))} slots; "
          f"demo took {now() - t_start:.1f}s")
    if problems:
        print("\nFAILED:")
        for p in problems:
            print("  " + p)
        failed_agents = [a for a in agents if a.installed_version() != NEW_VERSION][:3]
        for a in failed_agents:
            print(f"--- last lines of {a.process.log_path}:")
            print("\n".join("    " + line for line in a.process.tail(12).splitlines()))
        stack.keep = True
        return 1
    print("OK: every terminal upgraded, no node exceeded per_slot in any slot")
    return 0


# ---------------------------------------------------------------------------
# up


def write_env_file(stack: Stack, path: Path | None = None) -> Path:
    """<stack dir>/slotwise.env: everything a shell needs to drive the stack with the
    `slotwise` CLI (broker URL, operator password, the built binaries on PATH)."""
    path = path or stack.root / "slotwise.env"
    bin_dirs = sorted({str((stack.build_dir / rel).parent) for rel in BINARIES.values()
                       if not rel.endswith(".so")})
    q = shlex.quote
    lines = [
        f"# Slotwise stack in {stack.root}: `source` this file, then run `slotwise ...`.",
        f"# Written by python3 -m localstack up; valid while that process runs.",
        f"export SLOTWISE_STACK_DIR={q(str(stack.root))}",
        f"export SLOTWISE_BROKER={q(stack.broker_url)}",
        f"# the operator ({OPERATOR_USERNAME}, the CLI's default --username)",
        f"export SLOTWISE_PASSWORD={q(stack.password_of(OPERATOR_USERNAME))}",
        f"export PATH={q(':'.join(bin_dirs))}\"${{PATH:+:$PATH}}\"",
    ]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)  # it holds the operator's password
    return path


def up_commands(stack: Stack, env_file: Path) -> list[str]:
    """The shell commands `up` prints; each works as printed (tests/localstack checks)."""
    return [f"source {shlex.quote(str(env_file))}",
            "slotwise node list",
            "slotwise version list",
            "slotwise terminal list"] + (
        [f"curl -fsS --cacert {shlex.quote(str(stack.http_api[2]))} -u {shlex.quote(stack.http_api[1])} "
         f"{stack.http_api[0]}/v1/campaigns"] if getattr(stack, "http_api", None) else [])


def run_up(args: argparse.Namespace) -> int:
    with Stack(args.build_dir, slot_seconds=args.slot_seconds, keep=args.keep,
               shards=getattr(args, "shards", 1)) as stack:
        try:
            return _up(stack, args)
        except StackError as e:
            stack.report_failure(e)
            return 1


def _up(stack: Stack, args: argparse.Namespace) -> int:
    stack.enable_http_api()  # the HTTP API (issue 13); up_commands prints a curl line for it
    stack.start()
    build_demo_topology(stack, per_slot=args.per_slot)
    if args.terminals:
        stack.spawn_fleet(args.terminals, seed=args.seed)
    env_file = write_env_file(stack)
    commands = "\n".join("  " + c for c in up_commands(stack, env_file))
    print(f"\nstack is up in {stack.root}; to drive it from a shell:\n{commands}\n"
          f"logs in {stack.logs}; Ctrl-C stops everything", flush=True)
    while True:
        stack.check_alive(include_agents=False)
        time.sleep(1)
