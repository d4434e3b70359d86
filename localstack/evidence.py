"""Evidence from the download nodes: nginx's JSON access logs (format in
localstack.configs.NGINX_LOG_FORMAT) read back as downloads, counted per
node and slot, and the tables the demo and the tests print.

nginx is the independent observer: what a node served, and when, says
whether the scheduler's bookings held, whatever the scheduler reports.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Iterable, Mapping

from .configs import NEW_VERSION


@dataclasses.dataclass
class Download:
    """One terminal's download on one node in one slot (its requests merged)."""
    terminal: str
    node: str
    start_ms: int      # earliest request start (msec - request_time)
    end_ms: int        # latest request end
    requests: int
    bytes: int
    statuses: list[str]


def parse_ms(value: str) -> int:
    """'1764012345.123' (nginx $msec / $request_time, 3 decimals) -> integer milliseconds."""
    whole, _, frac = value.strip().partition(".")
    frac = (frac + "000")[:3]
    return int(whole or "0") * 1000 + int(frac)


def fmt_ms(ms: int) -> str:
    t = time.localtime(ms / 1000)
    return time.strftime("%H:%M:%S", t) + f".{ms % 1000:03d}"


def render_table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = []
    for n, r in enumerate(cells):
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def access_entries(access_log: Path, node_id: str) -> list[dict]:
    """The node's access log as dicts, with start_ms, end_ms, path and node added."""
    entries = []
    try:
        lines = Path(access_log).read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        end = parse_ms(e["msec"])
        e["end_ms"] = end
        e["start_ms"] = end - parse_ms(e["request_time"])
        e["path"] = e.get("request_uri", "").split("?", 1)[0]
        e["node"] = node_id
        entries.append(e)
    return entries


def downloads(access_logs: Mapping[str, Path], url_path: str) -> list[Download]:
    """Downloads of `url_path` in the nodes' access logs (node id -> log). A request
    without a Range header (or from byte 0) starts a download; a Range request from
    byte n > 0 resumes the same terminal's previous download on that node, so it
    does not count again."""
    out: list[Download] = []
    for node_id, log in access_logs.items():
        entries = sorted((e for e in access_entries(log, node_id) if e["path"] == url_path),
                         key=lambda e: e["start_ms"])
        current: dict[str, Download] = {}
        for e in entries:
            tid = e.get("terminal") or "?"
            rng = (e.get("range") or "").replace(" ", "")
            resumes = rng.startswith("bytes=") and not rng.startswith("bytes=0-")
            d = current.get(tid)
            nbytes = int(e.get("body_bytes_sent") or 0)
            if d is None or not resumes:
                d = Download(tid, node_id, e["start_ms"], e["end_ms"], 1, nbytes, [e["status"]])
                current[tid] = d
                out.append(d)
            else:
                d.end_ms = max(d.end_ms, e["end_ms"])
                d.requests += 1
                d.bytes += nbytes
                d.statuses.append(e["status"])
    return sorted(out, key=lambda d: (d.start_ms, d.node))


def node_slot_counts(found: Iterable[Download], slot_ms: int) -> dict[tuple[str, int], int]:
    """(node, slot of the download's start) -> downloads started."""
    counts: dict[tuple[str, int], int] = {}
    for d in found:
        key = (d.node, d.start_ms // slot_ms)
        counts[key] = counts.get(key, 0) + 1
    return counts


# ---------------------------------------------------------------------------
# the tables (the demo prints them; tests print them on the way)


def campaign_table(stack, report: dict, url_path: str,
                   target_default: str = NEW_VERSION) -> tuple[str, list[str]]:
    """Terminal -> cluster, node, slot, start, download start, result; plus problems
    found. `stack`: a localstack.Stack (its nodes, agents and access logs)."""
    by_terminal: dict[str, list[Download]] = {}
    for d in stack.downloads(url_path):
        by_terminal.setdefault(d.terminal, []).append(d)
    progress = sorted(report.get("terminals", []),
                      key=lambda t: (int(t.get("slot") or 0), int(t.get("start_at_ms") or 0),
                                     t.get("terminal_id", "")))
    slots = [int(t.get("slot") or 0) for t in progress if t.get("assigned")]
    first = min(slots) if slots else 0
    rows, problems = [], []
    target = report.get("campaign", {}).get("target_version", target_default)
    for t in progress:
        tid = t.get("terminal_id", "")
        node_id = t.get("node_id", "")
        node = stack.nodes.get(node_id)
        slot = int(t.get("slot") or 0)
        start_at = int(t.get("start_at_ms") or 0)
        dls = by_terminal.get(tid, [])
        dl = dls[0] if dls else None
        agent = stack.agents.get(tid)
        installed = agent.installed_version() if agent else "?"
        state = t.get("state", "")
        rows.append([
            tid, node.cluster if node else "-", node_id or "-",
            f"{slot} (+{slot - first})" if t.get("assigned") else "-",
            fmt_ms(start_at) if start_at else "-",
            fmt_ms(dl.start_ms) if dl else "-",
            (f"{dl.node}" + ("" if dl.node == node_id else " (!)")) if dl else "-",
            state, installed,
        ])
        if installed != target or state != "SUCCEEDED":
            problems.append(f"{tid}: state {state or '-'}, installed version {installed or '-'}")
    reported = {t.get("terminal_id") for t in progress}
    for tid, agent in stack.agents.items():
        if tid not in reported:
            rows.append([tid, "-", "-", "-", "-", "-", "-", "not in report", agent.installed_version()])
            problems.append(f"{tid}: missing from the campaign report")
    table = render_table(["terminal", "cluster", "node", "slot", "start_at", "download start",
                          "served by", "result", "version"], rows)
    return table, problems


def node_slot_table(stack, url_path: str, slot_ms: int) -> tuple[str, list[str]]:
    """Downloads started per node x slot ('!' = over per_slot), and the problems."""
    counts = stack.node_slot_counts(url_path, slot_ms)
    if not counts:
        return "(no downloads in the access logs)", ["no downloads found in the nginx access logs"]
    slots = sorted({s for _, s in counts})
    first = slots[0]
    span = list(range(first, slots[-1] + 1))
    rows, problems = [], []
    for node_id, node in stack.nodes.items():
        row = [node_id, node.cluster, node.per_slot]
        for s in span:
            c = counts.get((node_id, s), 0)
            row.append(f"{c}!" if c > node.per_slot else (str(c) if c else "."))
            if c > node.per_slot:
                problems.append(f"node {node_id} slot {s}: {c} downloads started, per_slot {node.per_slot}")
        row.append(sum(counts.get((node_id, s), 0) for s in span))
        rows.append(row)
    headers = ["node", "cluster", "per_slot"] + [f"+{s - first}" for s in span] + ["total"]
    return render_table(headers, rows), problems
