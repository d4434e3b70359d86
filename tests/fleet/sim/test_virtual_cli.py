#!/usr/bin/env python3
"""slotwise-fleet virtual end to end, small: the summary table and target
lines, --json, --csv files and --plots SVGs, and exit code 2 on a bad
command line. Usage: test_virtual_cli.py --binary path/to/slotwise-fleet"""
import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SMALL = ["--terminals", "2000", "--nodes", "6", "--clusters", "3", "--per-slot", "10",
         "--slot-seconds", "60", "--download-seconds", "60", "--arrival-minutes", "10",
         "--no-show-lead-minutes", "5", "--no-show-return-minutes", "4", "--seed", "5"]
POLICIES = ["slotwise", "push-all", "fixed-rate", "period-cap", "pct-groups"]


def run(binary, *args, expect=0):
    p = subprocess.run([binary, "virtual", *args], capture_output=True, text=True, timeout=100)
    if p.returncode != expect:
        sys.exit(f"exit {p.returncode} (wanted {expect}) for {args}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def check(cond, what):
    if not cond:
        sys.exit("FAILED: " + what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    binary = ap.parse_args().binary
    out = Path(tempfile.mkdtemp(prefix="slotwise-fleet-virtual-"))
    try:
        # The table and the target lines.
        table = run(binary, *SMALL).stdout
        for policy in POLICIES:
            check(f"\n{policy} " in table, f"table has a row for {policy}")
        for target in ["slotwise_peak_load_ratio:", "push_all_peak_load_ratio:", "slotwise_makespan_ratio:",
                       "slotwise_beats_baselines_within_capacity:", "wall_time_s:"]:
            check(target in table, f"table prints {target}")

        # JSON, CSV and plots from one run.
        p = run(binary, *SMALL, "--json", "--csv", str(out / "csv"), "--plots", str(out / "plots"))
        doc = json.loads(p.stdout)
        check([r["policy"] for r in doc["policies"]] == POLICIES, "JSON lists the policies in order")
        by = {r["policy"]: r for r in doc["policies"]}
        check(by["slotwise"]["peak_load_ratio"] <= 1.0, "slotwise stays within capacity")
        check(by["push-all"]["peak_load_ratio"] > 5, "push-all is far over capacity")
        for r in doc["policies"]:
            check(r["never_upgraded"] == 0 and r["upgraded"] == 2000, f"{r['policy']} upgrades everyone")
            check(r["makespan_ratio"] >= 1.0, f"{r['policy']} makespan is not below the lower bound")
            check(0 <= r["nearest_share"] <= 1, "nearest share is a share")
        # 2000 downloads of a minute, 60 at a time: at least 2000 / 60 minutes.
        check(doc["scenario"]["lower_bound_ms"] >= 2000 * 60000 // 60, "lower bound at least the bandwidth bound")
        check({t["name"] for t in doc["targets"]} >= {"slotwise_peak_load_ratio", "wall_time_s"}, "targets in JSON")
        check(next(t for t in doc["targets"] if t["name"] == "slotwise_peak_load_ratio")["met"], "slotwise target met")

        with open(out / "csv" / "summary.csv") as f:
            rows = list(csv.DictReader(f))
        check([r["policy"] for r in rows] == POLICIES, "summary.csv has one row per policy")
        check(float(rows[0]["peak_load_ratio"]) == by["slotwise"]["peak_load_ratio"], "summary.csv matches JSON")
        with open(out / "csv" / "load.csv") as f:
            load = list(csv.DictReader(f))
        check({r["policy"] for r in load} == set(POLICIES), "load.csv covers every policy")
        check(len({r["node"] for r in load}) == 6, "load.csv covers every node")
        peak = max(float(r["max_load_ratio"]) for r in load if r["policy"] == "slotwise")
        check(abs(peak - by["slotwise"]["peak_load_ratio"]) < 1e-9, "load.csv peak matches the table")
        with open(out / "csv" / "calendar.csv") as f:
            cal = list(csv.DictReader(f))
        check(cal and all(int(r["booked"]) <= int(r["per_slot"]) for r in cal), "calendar within capacity")

        if shutil.which("gnuplot"):
            for svg in ["load.svg", "calendar.svg"]:
                text = (out / "plots" / svg).read_text()
                check("<svg" in text and "</svg>" in text, f"{svg} is an SVG")
            check("slotwise" in (out / "plots" / "load.svg").read_text(), "load.svg names the policies")
        else:
            print("gnuplot not installed: plots not checked")

        check(by["slotwise"]["without_outcome"] == 0, "slotwise leaves no terminal without an outcome")
        if shutil.which("gnuplot"):
            text = (out / "plots" / "rate.svg").read_text()
            check("<svg" in text and "slotwise" in text, "rate.svg (bytes/s per node) is an SVG naming the policies")

        # The mixed fleet, small: links from GPRS to Ethernet, two campaigns,
        # deltas; Slotwise within both peaks, every policy upgrades everyone.
        p = run(binary, "--mixed", "--terminals", "1500", "--nodes", "4", "--arrival-minutes", "10",
                "--large-artifact-mb", "50", "--json")
        doc = json.loads(p.stdout)
        by = {r["policy"]: r for r in doc["policies"]}
        check(doc["scenario"]["mixed"] and doc["scenario"]["lower_bound_ms"] >= doc["scenario"]["bytes_bound_ms"],
              "mixed: the bound is at least the bytes bound")
        check(by["slotwise"]["peak_bytes_ratio"] <= 1.0 and by["slotwise"]["peak_connections_ratio"] <= 1.0,
              f"mixed: slotwise within bandwidth and connections: {by['slotwise']}")
        check(by["push-all"]["peak_connections_ratio"] > 1.0, "mixed: push-all over the connection limit")
        for r in doc["policies"]:
            check(r["upgraded"] == 1500 and r["makespan_ratio"] >= 1.0, f"mixed: {r['policy']} upgrades all, not below the bound")
        names = {t["name"] for t in doc["targets"]}
        check({"slotwise_peak_bytes_ratio", "slotwise_peak_connections_ratio", "slotwise_makespan_ratio"} <= names,
              "mixed: its target lines")

        # The default fleet of the issue: 20,000 terminals, every one upgraded
        # under Slotwise (5 never were before rolling windows) and exit 0.
        p = run(binary, "--terminals", "20000", "--policies", "slotwise", "--json")
        r = json.loads(p.stdout)["policies"][0]
        check(r["never_upgraded"] == 0 and r["upgraded"] == 20000 and r["without_outcome"] == 0,
              f"slotwise upgrades all 20000 terminals: {r}")
        # A horizon that stops the clock mid-campaign: terminals without an
        # outcome make the run fail (exit 1) and say so.
        p = run(binary, "--terminals", "20000", "--policies", "slotwise", "--horizon-hours", "2.1", expect=1)
        check("without a final outcome" in p.stderr, "an unfinished campaign is named on stderr")

        # Bad command lines: exit 2 with a message.
        for bad in (["--terminals", "0"], ["--policies", "slotwise,nope"], ["--nodes", "2", "--clusters", "3"],
                    ["--no-such-flag"], ["--slot-seconds", "60", "--download-seconds", "61"]):
            p = run(binary, *bad, expect=2)
            check(p.stderr.strip() != "", f"{bad} explains itself")
        print("ok")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
