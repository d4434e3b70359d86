"""A leader/standby scheduler pair for a Stack, on one PostgreSQL database.

The Stack (localstack.stack) runs one scheduler on RocksDB; a pair runs two
slotwise-scheduler processes with the same --db postgresql://..., client id,
username and slot length (scheduler/README.md, "PostgreSQL store and a
hot-standby pair"): the first to take the lease leads, the other waits as a
standby and takes over when the leader dies. Used by
tests/integration/test_standby_agents.py and scheduler/bench/failover.py.

    pg = Postgres(stack.root / "pg"); url = pg.start()
    pair = SchedulerPair(stack, url, lease_ms=3000)
    a = pair.start("a"); pair.wait_serving(a)      # leads
    b = pair.start("b"); pair.wait_standby(b)      # waits
    a.signal(signal.SIGKILL); pair.wait_leading(b)
"""

from __future__ import annotations

import os
import time
from typing import Optional

from . import configs
from .credentials import SERVICE_PASSWORD
from .processes import Process, StackError, now, stop_processes


class SchedulerPair:
    """Scheduler processes of `stack` on the database at `url`; each logs to
    logs/scheduler-NAME.log. The stack's own `scheduler` slot names the newest
    process started, so the Stack stops it; stop() stops every one of them."""

    def __init__(self, stack, url: str, lease_ms: int = 3000, extra_args: Optional[list[str]] = None):
        self.stack = stack
        self.url = url
        self.lease_ms = lease_ms
        self.extra_args = list(extra_args or [])
        self.processes: dict[str, Process] = {}

    def start(self, name: str) -> Process:
        s = self.stack
        argv = ([str(s.scheduler_bin)] + configs.scheduler_args(s.broker_url, self.url, s.slot_seconds)
                + ["--lease-ms", str(self.lease_ms)] + self.extra_args)
        env = dict(os.environ, SLOTWISE_URL_SECRET=s.url_secret, SLOTWISE_SCHEDULER_PASSWORD=SERVICE_PASSWORD)
        p = s.spawn(f"scheduler-{name}", argv, env=env)
        self.processes[name] = p
        s.scheduler = p
        s.log(f"slotwise-scheduler {name} (pid {p.pid}) on {self.url}, lease {self.lease_ms} ms")
        return p

    @staticmethod
    def log_text(p: Process) -> str:
        try:
            return p.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_log(self, p: Process, text: str, timeout: float) -> Optional[float]:
        """The monotonic time at which `text` was first seen in p's log (polled
        every 10 ms), or None at the timeout or if p died first."""
        deadline = now() + timeout
        while now() < deadline:
            if text in self.log_text(p):
                return now()
            if not p.alive():
                return None
            time.sleep(0.01)
        return None

    def wait_standby(self, p: Process, timeout: float = 20) -> None:
        if self.wait_log(p, "standby:", timeout) is None:
            raise StackError(p.describe_failure(f"did not wait as a standby within {timeout}s"))

    def wait_leading(self, p: Process, timeout: float = 30) -> float:
        """Until p, the leader, has connected to the broker (it Loads before it
        connects); the monotonic time it did."""
        t = self.wait_log(p, "connected to", timeout)
        if t is None:
            raise StackError(p.describe_failure(f"did not lead and connect within {timeout}s"))
        return t

    def wait_serving(self, p: Process, timeout: float = 30) -> None:
        """Until the operator's `slotwise node list` is answered (by whichever leads)."""
        deadline = now() + timeout
        while now() < deadline:
            if not p.alive():
                raise StackError(p.describe_failure("exited during start-up"))
            if self.stack.cli("node", "list", check=False, timeout=2).returncode == 0:
                return
            time.sleep(0.2)
        raise StackError(p.describe_failure(f"`slotwise node list` not answered within {timeout}s"))

    def stop(self) -> None:
        stop_processes(list(self.processes.values()), timeout=15)
