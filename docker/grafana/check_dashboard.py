#!/usr/bin/env python3
"""Checks a Grafana dashboard JSON against the scheduler's metrics.

The dashboard must be valid JSON, every panel target and template variable
must have a PromQL `expr`/`query` naming at least one slotwise_* metric, and
every slotwise_* name in them must be exported: a family of the live scrape
given with --scrape (what `curl .../metrics` printed; a histogram's
_bucket/_sum/_count series count as its family), else one documented in
scheduler/README.md's "Metrics" table.

    python3 docker/grafana/check_dashboard.py docker/grafana/slotwise-dashboard.json [--scrape FILE]

Prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
METRIC = re.compile(r"\bslotwise_[a-z0-9_]+\b")
SUFFIXES = ("_bucket", "_sum", "_count")


def exported_from_scrape(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names.add(name)
            if kind.strip() in ("histogram", "summary"):
                names.update(name + s for s in SUFFIXES)
    return names


def exported_from_readme(text: str) -> set[str]:
    """Names in the first column of the Metrics table (`name` | type | ...)."""
    section = text.split("## Metrics", 1)[-1]
    names = set()
    for line in section.splitlines():
        m = re.match(r"\|\s*`(slotwise_[a-z0-9_]+)`\s*\|\s*(\w+)", line)
        if m:
            names.add(m.group(1))
            if m.group(2) == "histogram":
                names.update(m.group(1) + s for s in SUFFIXES)
    return names


def expressions(node, where: str = "$"):
    """(where, PromQL) for every target expr and every variable query."""
    if isinstance(node, dict):
        if node.get("type") == "datasource" and "query" in node and "targets" not in node:
            return  # a datasource variable: its query is the plugin's name
        for key, value in node.items():
            if key in ("expr", "query") and isinstance(value, str):
                yield f"{where}.{key}", value
            elif key == "query" and isinstance(value, dict) and isinstance(value.get("query"), str):
                yield f"{where}.query.query", value["query"]
            else:
                yield from expressions(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from expressions(value, f"{where}[{i}]")


def check(dashboard: dict, exported: set[str]) -> list[str]:
    problems = []
    found = list(expressions(dashboard))
    if not found:
        problems.append("no PromQL expression in the dashboard")
    for where, expr in found:
        names = set(METRIC.findall(expr))
        if not names:
            problems.append(f"{where}: names no slotwise_* metric: {expr}")
        for name in sorted(names - exported):
            problems.append(f"{where}: {name} is not exported: {expr}")
    for panel in dashboard.get("panels", []):
        if panel.get("type") != "row" and not panel.get("targets"):
            problems.append(f"panel {panel.get('title')!r} has no targets")
    return problems


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dashboard", type=Path)
    p.add_argument("--scrape", type=Path, help="a /metrics scrape (default: scheduler/README.md's table)")
    args = p.parse_args()
    try:
        dashboard = json.loads(args.dashboard.read_text())
    except json.JSONDecodeError as e:
        print(f"{args.dashboard}: not valid JSON: {e}")
        return 1
    if args.scrape:
        exported = exported_from_scrape(args.scrape.read_text())
    else:
        exported = exported_from_readme((REPO / "scheduler" / "README.md").read_text())
    if not exported:
        print("no exported metric found to check against")
        return 1
    problems = check(dashboard, exported)
    for line in problems:
        print(line)
    n = len(list(expressions(dashboard)))
    print(f"{args.dashboard.name}: {n} expressions, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
