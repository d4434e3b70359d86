"""The command line of the local stack: `python3 -m localstack COMMAND`.

  demo [--terminals 24] [--slot-seconds 2] [--per-slot 2] [--build-dir build] [--keep]
      The patent's steps S1-S11 end to end, with tables at the end.
  up [--terminals 0] [--shards 1] [--build-dir build] [--keep]
      Starts the stack (with --shards N: N mosquitto shards behind HAProxy) (2 clusters x 2 nodes, version 2.0.0 registered), writes
      <stack dir>/slotwise.env and waits for Ctrl-C, printing the commands that
      drive it with the `slotwise` CLI.
  render-deploy [--out docker/config] [--check]
      Writes the deployment's configs (localstack/deploy.py) or, with --check,
      exits 1 if the committed ones differ from a fresh render.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from . import deploy
from .demo import run_demo, run_up
from .stack import REPO_ROOT
from .processes import StackError, install_signal_handlers


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m localstack",
        description="A complete Slotwise stack on 127.0.0.1, for the demo and the tests.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (("demo", "run S1-S11 end to end and print the evidence"),
                           ("up", "start the stack and wait for Ctrl-C")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--build-dir", default="build", help="CMake build dir (default: build)")
        p.add_argument("--terminals", type=int, default=24 if name == "demo" else 0)
        p.add_argument("--slot-seconds", type=int, default=2)
        p.add_argument("--per-slot", type=int, default=2, help="per_slot of every node (default 2)")
        p.add_argument("--seed", type=int, default=7, help="seed for terminal locations")
        p.add_argument("--keep", action="store_true", help="keep the stack's temp dir")
        if name == "up":
            p.add_argument("--shards", type=int, default=1,
                           help="mosquitto shards behind HAProxy (default 1: one broker, no HAProxy)")
        if name == "demo":
            p.add_argument("--wait", type=int, default=90, help="seconds to wait for the campaign")
    p = sub.add_parser("render-deploy", help="write docker/config/ from localstack.configs")
    p.add_argument("--out", default=str(REPO_ROOT / "docker" / "config"),
                   help="output dir (default: docker/config in the repository)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if the files in --out differ from a fresh render")
    args = parser.parse_args(argv)
    if args.command == "render-deploy":
        return render_deploy(args)
    if args.terminals < 0 or args.per_slot < 1 or args.slot_seconds <= 0 or getattr(args, "shards", 1) < 1:
        parser.error("--terminals >= 0, --per-slot >= 1, --slot-seconds > 0, --shards >= 1")
    install_signal_handlers()
    try:
        return run_demo(args) if args.command == "demo" else run_up(args)
    except StackError as e:
        print(f"\nlocalstack: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nlocalstack: interrupted, stopping the stack", file=sys.stderr)
        return 130


def render_deploy(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.check:
        bad = deploy.differences(out)
        for name in bad:
            print(f"{out / name}: differs from `python3 -m localstack render-deploy`", file=sys.stderr)
        return 1 if bad else 0
    for path in deploy.write(out):
        print(path)
    return 0
