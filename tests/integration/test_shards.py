#!/usr/bin/env python3
"""Sharded brokers: 3 mosquitto shards (each with the plugin) behind HAProxy, one
scheduler connected to every shard, 12 real agents that see only HAProxy's
address; the shard holding the most unfinished terminals is killed (SIGKILL, by
its pid) mid-campaign. Its terminals reconnect through HAProxy to the shards
left and carry on: the campaign reaches DONE with every terminal SUCCEEDED, and
the nginx access logs show no node over per_slot in any slot.

    python3 tests/integration/test_shards.py --build-dir build [--keep]

The last line is `N passed, M failed`; the exit code is 0 only if all passed.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402

CAMPAIGN = "it-shards"
TERMINALS = 12
PER_SLOT = 1  # 4 nodes x 1 = 4 starts per slot: at least 3 slots for 12 terminals
OPTS = argparse.Namespace(build_dir=str(REPO / "build"), keep=False, slot_seconds=2.0, shards=3,
                          wait=75)
CONNECTED = re.compile(r"New client connected from \S+ as (\S+) ")


def clients_on(shard: ls.Shard) -> list[str]:
    """Terminal ids that connected to the shard, in order (its mosquitto log)."""
    return [m.group(1) for m in CONNECTED.finditer(shard.process.log_path.read_text(errors="replace"))
            if m.group(1).startswith("S")]


class ShardedBrokers(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        stack = cls.stack
        t0 = time.monotonic()
        stack.start()
        ls.build_demo_topology(stack, per_slot=PER_SLOT)
        cls.url_path = stack.versions[ls.NEW_VERSION][1]
        sites = list(stack.clusters.values())
        cls.tids = [f"S{i + 1:03d}" for i in range(TERMINALS)]
        # A short first-reconnect spread (default 60 s) so the killed shard's
        # terminals come back within the campaign.
        for i, tid in enumerate(cls.tids):
            lat, lon, _ = sites[i % len(sites)]
            stack.start_agent(tid, lat + 0.01 * i, lon, exit_when_idle=True,
                              extra_config={"reconnect_spread_s": "2"})
        stack.wait_terminals_known(cls.tids, timeout=30)
        cls.before = {sh.name: set(clients_on(sh)) for sh in stack.shards}
        stack.log("terminals per shard: " + ", ".join(f"{k} {sorted(v)}" for k, v in cls.before.items()))

        stack.cli("campaign", "create", CAMPAIGN, "--version", ls.NEW_VERSION,
                  "--terminals", ",".join(cls.tids))
        stack.cli("campaign", "schedule", CAMPAIGN, "--window", "earliest")
        t_scheduled = time.monotonic()
        # Mid-campaign: once the first download started, kill the shard with
        # the most terminals still on the old version.
        ls.wait_until(lambda: stack.downloads(cls.url_path), timeout=30, interval=0.1)
        unfinished = {a.id for a in stack.agents.values() if a.installed_version() != ls.NEW_VERSION}
        victim = max(range(len(stack.shards)),
                     key=lambda i: len(cls.before[stack.shards[i].name] & unfinished))
        cls.victim = stack.shards[victim]
        cls.moved = sorted(cls.before[cls.victim.name] & unfinished)
        cls.killed_after = time.monotonic() - t_scheduled
        stack.kill_shard(victim)
        stack.log(f"killed {cls.victim.name} {cls.killed_after:.1f}s after S5; its unfinished "
                  f"terminals: {cls.moved}")

        cls.wait_rc = stack.cli_stream("campaign", "status", CAMPAIGN, "--wait", str(OPTS.wait),
                                       timeout=OPTS.wait + 15)
        cls.t_done = time.monotonic()
        stack.check_alive(include_agents=False)
        cls.report = stack.cli_json("campaign", "status", CAMPAIGN)
        cls.slot_ms = int(cls.report.get("slot_ms") or stack.slot_ms)
        cls.agent_exits = stack.wait_agents_exit(20)
        cls.after = {sh.name: clients_on(sh) for sh in stack.shards if sh is not cls.victim}
        cls.downloads = stack.downloads(cls.url_path)
        ntable, _ = ls.node_slot_table(stack, cls.url_path, cls.slot_ms)
        print(f"\ncampaign ran in {cls.t_done - t_scheduled:.1f}s after S5 "
              f"({cls.t_done - t0:.1f}s with set-up)\n{ntable}\n", flush=True)

    def test_the_killed_shard_held_unfinished_terminals(self):
        # The premise: the kill took terminals away mid-campaign.
        self.assertGreater(len(self.moved), 0, f"terminals per shard before the kill: {self.before}")
        self.assertFalse(self.victim.process.alive())

    def test_its_terminals_reconnected_through_haproxy_to_other_shards(self):
        for tid in self.moved:
            with self.subTest(terminal=tid):
                elsewhere = [name for name, ids in self.after.items() if tid in ids and tid not in self.before[name]]
                self.assertTrue(elsewhere, f"{tid} connected to no other shard: {self.after}")

    def test_campaign_done_every_terminal_succeeded(self):
        self.assertEqual(self.wait_rc, 0, "`campaign status --wait` did not see the campaign DONE")
        self.assertEqual(self.report["campaign"]["state"], "DONE")
        states = {t["terminal_id"]: t.get("state") for t in self.report.get("terminals", [])}
        self.assertEqual(states, {tid: "SUCCEEDED" for tid in self.tids})

    def test_every_agent_on_the_new_version_and_exited(self):
        for tid, agent in self.stack.agents.items():
            with self.subTest(terminal=tid):
                self.assertEqual(agent.installed_version(), ls.NEW_VERSION)
                self.assertEqual(self.agent_exits.get(tid), 0)

    def test_no_node_over_per_slot(self):
        got = {d.terminal for d in self.downloads}
        self.assertEqual(got, set(self.tids), "a terminal's download is missing from the access logs")
        counts = ls.evidence.node_slot_counts(self.downloads, self.slot_ms)
        over = {k: n for k, n in counts.items() if n > self.stack.nodes[k[0]].per_slot}
        self.assertEqual(over, {}, "(node, slot) -> downloads started, over per_slot")


if __name__ == "__main__":
    sys.exit(st.run_test_file([ShardedBrokers], OPTS, __doc__))
