#!/usr/bin/env python3
"""A campaign's fan-out never holds up the operator (issue 14), on the real stack.

A campaign of N terminal ids (the suite: 50,000; the benchmark
`scheduler/bench/fanout.sh`: 200,000) is scheduled; the scheduler then owes
the broker N retained notices. A service-side watcher (mosquitto_sub on
slotwise/v1/t/+/notice) counts them while an operator keeps asking
(`slotwise node list`, one CLI process after another).

Asserted (no timing thresholds):
  * every one of the N notices reaches the watcher, each terminal's exactly
    once, and later subscribers find every notice retained;
  * every operator request sent during the fan-out is answered;
  * operator requests are answered while the fan-out is still under way:
    at least one answer arrives while fewer than N notices have been seen.
    Before the fix, replies queued behind every notice of the campaign, so
    no answer came before the last notice (and at 200,000 notices the
    scheduler stopped answering for minutes).
Printed (the figures of the benchmark): fan-out duration and rate, operator
request latencies (median, p99, max, as the CLI's wall time, which includes
its own connect), the scheduler's CPU time.

    python3 tests/integration/test_fanout.py --build-dir build [--terminals N] [--keep]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402

OPTS = argparse.Namespace(build_dir=str(REPO / "build"), keep=False, terminals=50_000, no_restart=False)
CAMPAIGN = "fanout"
PARIS = (48.8566, 2.3522)


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


class Fanout(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        s = cls.stack
        s.start()
        s.add_cluster("c1", *PARIS, "eu")
        # Capacity for the whole campaign in a few slots: the window query
        # stays quick, and the test is about the notices.
        s.add_node("n1", "c1", per_slot=max(1000, OPTS.terminals // 4))
        s.add_version(ls.NEW_VERSION, 64 * 1024)
        cls.ids = [f"F{i:07d}" for i in range(OPTS.terminals)]
        ids_file = s.root / "terminals.txt"
        ids_file.write_text("\n".join(cls.ids) + "\n")
        s.cli("campaign", "create", CAMPAIGN, "--version", ls.NEW_VERSION,
              "--terminals-file", str(ids_file), timeout=60)

    def mqtt_base(self, client_id: str) -> list[str]:
        return ["-V", "5", "-h", "127.0.0.1", "-p", str(self.stack.broker_port),
                *self.stack.mqtt_auth_args(ls.SERVICE_USERNAME), "-i", client_id]

    def count_lines(self, path: Path) -> int:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))

    def watch_notices(self, name: str) -> tuple[subprocess.Popen, Path]:
        """mosquitto_sub (service user, QoS 1, stale retained skipped) writing the
        topic of every notice to logs/<name>.out, one per line."""
        out = self.stack.logs / f"{name}.out"
        with open(out, "wb") as f:
            watcher = subprocess.Popen(
                ["mosquitto_sub", *self.mqtt_base(name), "-q", "1", "-R",
                 "-t", "slotwise/v1/t/+/notice", "-F", "%t"],
                stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.addCleanup(ls.stop_popen, watcher)
        time.sleep(1.0)  # the SUBACK (mosquitto_sub prints nothing before messages with -F)
        self.assertIsNone(watcher.poll(), out.read_text(errors="replace"))
        return watcher, out

    def test_fanout_does_not_hold_up_the_operator(self):
        s, n = self.stack, OPTS.terminals
        watcher, out = self.watch_notices("fanout-watch")

        # The CLI's own cost (process start, connect, login) on an idle
        # scheduler, to read the latencies during the fan-out against.
        idle = []
        for _ in range(10):
            t0 = time.monotonic()
            s.cli("node", "list", timeout=30)
            idle.append(time.monotonic() - t0)
        s.log(f"fanout: idle operator requests (before the schedule): median {percentile(idle, 50) * 1000:.0f} ms, "
              f"max {max(idle) * 1000:.0f} ms")

        scheduler_pid = s.scheduler.pid if s.scheduler else None
        cpu_before = cpu_seconds(scheduler_pid) if scheduler_pid else None
        broker_pid = s.broker.pid if s.broker else None
        broker_rss_before = rss_kib(broker_pid) if broker_pid else 0

        answers: list[tuple[float, float, int, int]] = []  # (sent, latency, seen at answer, exit)
        stop = threading.Event()

        def operator() -> None:
            while not stop.is_set():
                t0 = time.monotonic()
                res = s.cli("node", "list", check=False, timeout=30)
                t1 = time.monotonic()
                answers.append((t0, t1 - t0, self.count_lines(out), res.returncode))

        t_schedule = time.monotonic()
        s.cli("campaign", "schedule", CAMPAIGN, "--window", "earliest", timeout=60)
        t_acked = time.monotonic()
        probe = threading.Thread(target=operator, daemon=True)
        probe.start()

        last_count, t_last = 0, time.monotonic()
        deadline = time.monotonic() + max(120, n / 500)
        while time.monotonic() < deadline:
            c = self.count_lines(out)
            if c != last_count:
                last_count, t_last = c, time.monotonic()
            if c >= n:
                break
            time.sleep(0.05)
        # One more answer after the fan-out, then stop asking.
        time.sleep(0.5)
        stop.set()
        probe.join(timeout=60)
        cpu = cpu_seconds(scheduler_pid) - cpu_before if scheduler_pid else float("nan")
        broker_rss = rss_kib(broker_pid) - broker_rss_before if broker_pid else 0

        topics = out.read_text(errors="replace").split()
        during = [a for a in answers if a[0] < t_last]
        latencies = [a[1] for a in answers]
        s.log(f"fanout: {len(topics)}/{n} notices in {t_last - t_acked:.2f} s after the schedule's ack "
              f"({len(topics) / max(1e-9, t_last - t_acked):.0f}/s; schedule acked in {t_acked - t_schedule:.2f} s); "
              f"scheduler CPU {cpu:.1f} s; broker RSS +{broker_rss / 1024:.1f} MiB "
              f"({broker_rss * 1024 / max(1, len(topics)):.0f} bytes per retained notice)")
        if latencies:
            s.log(f"fanout: operator requests: {len(answers)} answered ({len(during)} sent during the fan-out); "
                  f"latency median {percentile(latencies, 50) * 1000:.0f} ms, p99 {percentile(latencies, 99) * 1000:.0f} ms, "
                  f"max {max(latencies) * 1000:.0f} ms; answered while notices were still arriving: "
                  f"{sum(1 for a in answers if a[2] < n)}")

        if latencies and during:
            lat_during = [a[1] for a in during]
            s.log(f"fanout: operator requests sent during the fan-out: {len(during)}; latency median "
                  f"{percentile(lat_during, 50) * 1000:.0f} ms, p99 {percentile(lat_during, 99) * 1000:.0f} ms, "
                  f"max {max(lat_during) * 1000:.0f} ms")
        if scheduler_pid:
            s.log(f"fanout: scheduler RSS {rss_kib(scheduler_pid) / 1024:.0f} MiB, broker RSS "
                  f"{rss_kib(broker_pid) / 1024 if broker_pid else 0:.0f} MiB after the fan-out")
        self.assertEqual(len(topics), n, f"{len(topics)} of {n} notices arrived")
        self.assertEqual(len(set(topics)), n, "a terminal's notice arrived twice")
        self.assertEqual(set(topics), {f"slotwise/v1/t/{tid}/notice" for tid in self.ids})
        self.assertTrue(during, "no operator request was sent during the fan-out")
        refused = [a for a in answers if a[3] != 0]
        self.assertFalse(refused, f"operator requests failed during the fan-out: {refused[:5]}")
        self.assertTrue(any(a[2] < n for a in answers),
                        "no operator request was answered before the last notice went out: "
                        "replies are queued behind the fan-out")

        # Retained: a subscriber arriving now gets every notice at once (at
        # QoS 0: mosquitto queues at most max_queued_messages QoS 1 messages
        # for one client and drops the rest of a burst of retained ones).
        res = subprocess.run(["mosquitto_sub", *self.mqtt_base("fanout-late"), "-q", "0",
                              "-t", "slotwise/v1/t/+/notice", "-F", "%t", "-C", str(n), "-W", str(max(60, n // 1000))],
                             capture_output=True, text=True, timeout=max(60, n // 1000) + 30)
        self.assertEqual(len(set(res.stdout.split())), n, res.stderr[-500:])
        s.check_alive()


class FanoutAcrossBrokerRestart(Fanout):
    """The broker dies in the middle of the fan-out (persistence off: its
    retained notices and the scheduler's session are gone). Once the
    scheduler is back, every terminal's notice is retained at the broker
    again, exactly one per terminal."""

    test_fanout_does_not_hold_up_the_operator = None  # only the test below runs here

    def test_notices_survive_a_broker_restart(self):
        s, n = self.stack, OPTS.terminals
        watcher, out = self.watch_notices("fanout-watch-before-restart")
        s.cli("campaign", "schedule", CAMPAIGN, "--window", "earliest", timeout=60)
        # Restart once a part, not all, of the notices is out.
        started = st.wait_until(lambda: self.count_lines(out) >= min(2000, n // 10), timeout=60, interval=0.02)
        self.assertTrue(started, "the fan-out did not start")
        seen_before = self.count_lines(out)
        s.restart_broker()
        ls.stop_popen(watcher)
        s.log(f"fanout: broker restarted after {seen_before} of {n} notices")
        # A late subscriber (QoS 0, see above) must find every notice retained.
        def retained() -> set[str]:
            res = subprocess.run(["mosquitto_sub", *self.mqtt_base("fanout-late-2"), "-q", "0",
                                  "-t", "slotwise/v1/t/+/notice", "-F", "%t", "-C", str(n),
                                  "-W", str(max(30, n // 1000))],
                                 capture_output=True, text=True, timeout=max(30, n // 1000) + 30)
            return set(res.stdout.split())
        ok = st.wait_until(lambda: len(retained()) >= n, timeout=max(120, n / 500), interval=2)
        got = retained()
        self.assertTrue(ok, f"{len(got)} of {n} notices retained after the broker restart")
        self.assertEqual(got, {f"slotwise/v1/t/{tid}/notice" for tid in self.ids})
        s.check_alive()


def main() -> int:
    def add_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--terminals", type=int, default=OPTS.terminals,
                       help="campaign size (default %(default)s; the benchmark uses 200000)")
        p.add_argument("--no-restart", action="store_true",
                       help="run only the fan-out, not the broker-restart case (a benchmark at a million)")
    cases = [Fanout] if "--no-restart" in sys.argv else [Fanout, FanoutAcrossBrokerRestart]
    return st.run_test_file(cases, OPTS, __doc__, add_args)


if __name__ == "__main__":
    sys.exit(main())
