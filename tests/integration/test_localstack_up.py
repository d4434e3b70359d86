#!/usr/bin/env python3
"""`python3 -m localstack up` prints commands that work exactly as printed.

Starts `up` as a user would (from the repository root, a plain environment
with no SLOTWISE_* variables and no build dir on PATH), reads what it prints
until it says the stack is up, then runs the printed commands literally, one
after the other, in one bash (`set -e`), and checks that they succeed and
show the stack `up` registered (nodes n1-n4, version 2.0.0). Then stops
`up` with Ctrl-C (SIGINT to its pid) and checks it shuts down and removes
its stack dir.

    python3 tests/integration/test_localstack_up.py --build-dir build

The last line is `N passed, M failed`; the exit code is 0 only if all passed.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import signal
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

OPTS = argparse.Namespace(build_dir=str(REPO / "build"), keep=False)
READY = "Ctrl-C stops everything"


def plain_env() -> dict:
    """The environment of a new shell: no SLOTWISE_*, PATH without any build dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLOTWISE_")}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return env


class LocalstackUp(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        build = ls.resolve_build_dir(OPTS.build_dir)
        argv = [sys.executable, "-m", "localstack", "up", "--build-dir", str(build)]
        cls.up = subprocess.Popen(argv, cwd=str(REPO), env=plain_env(), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True)
        cls.lines: "queue.Queue[str]" = queue.Queue()
        cls.output: list[str] = []
        threading.Thread(target=cls._read, daemon=True).start()
        cls.printed = cls._until_ready(timeout=90)
        cls.commands = cls._printed_commands(cls.printed)
        cls.shell = None
        if cls.commands:
            script = "set -e\n" + "\n".join(cls.commands) + "\n"
            cls.shell = subprocess.run(["bash", "-c", script], cwd=str(REPO), env=plain_env(),
                                       capture_output=True, text=True, timeout=60)
        cls.stack_dir = next((m.group(1) for line in cls.printed
                              if (m := re.match(r"stack is up in (\S+?);", line))), None)
        cls.up_rc = cls._stop_up()

    @classmethod
    def tearDownClass(cls) -> None:
        if cls.up.poll() is None:
            st.stop_popen(cls.up, timeout=20)

    @classmethod
    def _read(cls) -> None:
        assert cls.up.stdout is not None
        for line in cls.up.stdout:
            cls.output.append(line.rstrip("\n"))
            cls.lines.put(line.rstrip("\n"))

    @classmethod
    def _until_ready(cls, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            try:
                line = cls.lines.get(timeout=0.5)
            except queue.Empty:
                if cls.up.poll() is not None:
                    break
                continue
            seen.append(line)
            if READY in line:
                break
        return seen

    @staticmethod
    def _printed_commands(printed: list[str]) -> list[str]:
        """The indented lines between 'stack is up in ...' and 'logs in ...'."""
        start = next((i for i, line in enumerate(printed) if line.startswith("stack is up in")), None)
        if start is None:
            return []
        out = []
        for line in printed[start + 1:]:
            if not line.startswith("  "):
                break
            out.append(line.strip())
        return out

    @classmethod
    def _stop_up(cls) -> int | None:
        """Ctrl-C, as a user would: SIGINT to `up`'s pid; its exit code."""
        if cls.up.poll() is None:
            os.kill(cls.up.pid, signal.SIGINT)
        try:
            return cls.up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            return None

    def test_up_said_it_is_up(self):
        self.assertTrue(any(READY in line for line in self.printed), "\n".join(self.output))

    def test_printed_commands_source_the_env_file_first(self):
        self.assertTrue(self.commands, "\n".join(self.output))
        self.assertTrue(self.commands[0].startswith("source "), self.commands)
        self.assertIn("slotwise node list", self.commands)

    def test_printed_commands_work_as_printed(self):
        self.assertIsNotNone(self.shell, "\n".join(self.output))
        detail = f"commands:\n{self.commands}\nstdout:\n{self.shell.stdout}\nstderr:\n{self.shell.stderr}"
        self.assertEqual(self.shell.returncode, 0, detail)
        for node in ("n1", "n2", "n3", "n4"):
            self.assertRegex(self.shell.stdout, rf"\b{node}\b", detail)
        self.assertIn(ls.NEW_VERSION, self.shell.stdout, detail)
        # The HTTP API's curl line (issue 13): -f, so a refused login fails the shell.
        self.assertTrue(any(c.startswith("curl ") and "/v1/campaigns" in c for c in self.commands), detail)

    def test_ctrl_c_stops_the_stack(self):
        self.assertEqual(self.up_rc, 130, "\n".join(self.output[-20:]))
        self.assertIsNotNone(self.stack_dir)
        self.assertFalse(Path(self.stack_dir).exists(), f"{self.stack_dir} left behind")


if __name__ == "__main__":
    sys.exit(st.run_test_file([LocalstackUp], OPTS, __doc__))
