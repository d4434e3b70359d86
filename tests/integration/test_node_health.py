#!/usr/bin/env python3
"""Node health is visible (issue 13): `node list` says when a node's
status_url stops answering, and why; the scheduler logs each change once.

Against the real stack (mosquitto + plugin, the scheduler polling every
second, two real nginx nodes with stub_status):

  * both nodes become HEALTHY with their active connections, and the
    capacity now (effective_per_slot) is their per_slot;
  * n1's nginx stopped by its pid: n1 becomes UNREACHABLE, its detail names
    its status_url and the failure, its capacity now is 0; after several
    more polls the scheduler's log has exactly one UNREACHABLE line for n1;
  * n1's nginx started again on the same port: HEALTHY again, one line.

    python3 tests/integration/test_node_health.py --build-dir build [--keep]
"""

from __future__ import annotations

import argparse
import sys
import time
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402

OPTS = argparse.Namespace(build_dir=str(REPO / "build"), keep=False)


class NodeHealth(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        s = cls.stack
        s.start()
        s.add_cluster("c1", 48.85, 2.35, "eu")
        s.add_node("n1", "c1", per_slot=3)
        s.add_node("n2", "c1", per_slot=8)

    def nodes(self) -> dict[str, dict]:
        return {n["id"]: n for n in self.stack.cli_json("node", "list").get("nodes", [])}

    def wait_health(self, node: str, health: str, timeout: float = 30) -> dict:
        seen: dict = {}

        def ok() -> bool:
            nonlocal seen
            seen = self.nodes().get(node, {})
            return seen.get("health") == health
        self.assertTrue(st.wait_until(ok, timeout), f"{node} never {health}: {seen}")
        return seen

    def log_lines(self, text: str) -> list[str]:
        return [line for line in self.stack.scheduler.log_path.read_text(errors="replace").splitlines()
                if text in line]

    def test_unreachable_then_healthy(self) -> None:
        s = self.stack
        for node, per_slot in (("n1", 3), ("n2", 8)):
            n = self.wait_health(node, "HEALTHY")
            self.assertIn("nginx_status answered at", n.get("health_detail", ""))
            self.assertEqual(n.get("effective_per_slot"), per_slot, n)
            self.assertGreaterEqual(n.get("active_connections", 0), 1, n)  # the poll itself
        n1 = s.nodes["n1"]
        st.stop_processes([n1.process])
        n = self.wait_health("n1", "UNREACHABLE")
        self.assertIn(f"status_url {n1.url}/nginx_status did not answer at", n["health_detail"])
        self.assertIn("onnect", n["health_detail"])  # curl: "Couldn't connect to server"
        self.assertEqual(n.get("effective_per_slot", 0), 0, n)  # out of capacity
        self.assertEqual(n.get("state"), "ACTIVE")
        self.assertEqual(self.nodes()["n2"].get("health"), "HEALTHY")
        time.sleep(4)  # several more failed polls
        lines = self.log_lines("node n1 is UNREACHABLE")
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("did not answer", lines[0])
        self.assertEqual(self.log_lines("node n2 is"), [])
        # The same nginx again, on the same port.
        n1.process = s.start_nginx("nginx-n1-again", n1.dir, n1.dir / "nginx.conf")
        n = self.wait_health("n1", "HEALTHY")
        self.assertEqual(n.get("effective_per_slot"), 3, n)
        time.sleep(3)
        self.assertEqual(len(self.log_lines("node n1 is HEALTHY again")), 1)
        self.assertEqual(len(self.log_lines("node n1 is UNREACHABLE")), 1)


if __name__ == "__main__":
    sys.exit(st.run_test_file([NodeHealth], OPTS, __doc__))
