"""The broker credentials of a stack (broker-plugin/README.md): the service and
operator passwords, hashed into the plugin's password file by the real
mosquitto_passwd, and one password per terminal, appended as terminals are
registered, with a SIGHUP so a running broker reloads the file.
"""

from __future__ import annotations

import secrets
import signal
import time
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from . import configs
from .configs import OPERATOR_USERNAME, SERVICE_USERNAME
from .processes import Process, StackError, now

# The service's and the operator's passwords, one pair per Python process.
SERVICE_PASSWORD = "svc-" + secrets.token_hex(8)
OPERATOR_PASSWORD = "op-" + secrets.token_hex(8)


class Credentials:
    """Passwords of one stack. `brokers()` returns the running brokers (every
    shard's, None for one not started), each reloaded when terminals are
    registered."""

    def __init__(self, password_file: Path, brokers: Callable[[], Sequence[Optional[Process]]]):
        self.password_file = password_file
        self._brokers = brokers
        self.terminal_passwords: dict[str, str] = {}

    def password_of(self, username: str) -> str:
        """The MQTT password of a service, operator or (registered) terminal username."""
        if username == SERVICE_USERNAME:
            return SERVICE_PASSWORD
        if username == OPERATOR_USERNAME:
            return OPERATOR_PASSWORD
        return self.register([username])[username]

    def write_file(self) -> None:
        """The plugin's password file: service and operator hashed by the real
        mosquitto_passwd, then every terminal registered so far."""
        configs.write_password_file(self.password_file, {SERVICE_USERNAME: SERVICE_PASSWORD,
                                                         OPERATOR_USERNAME: OPERATOR_PASSWORD})
        with open(self.password_file, "a") as f:
            f.write(configs.password_lines(self.terminal_passwords))

    def register(self, terminal_ids: Iterable[str]) -> dict[str, str]:
        """Terminal id -> password for many terminals at once: new ones are appended
        to the password file in one write, and a running broker reloads it once (one
        SIGHUP, not one per terminal) and is waited for."""
        ids = list(terminal_ids)
        new = [tid for tid in dict.fromkeys(ids) if tid not in self.terminal_passwords]
        for tid in new:
            self.terminal_passwords[tid] = "t-" + secrets.token_hex(8)
        if new and self.password_file.exists():
            with open(self.password_file, "a") as f:
                f.write(configs.password_lines({tid: self.terminal_passwords[tid] for tid in new}))
            running = [b for b in self._brokers() if b is not None and b.alive()]
            for broker in running:  # every shard reloads at once
                broker.signal(signal.SIGHUP)
            for broker in running:
                self._wait_reloaded(broker)
        return {tid: self.terminal_passwords[tid] for tid in ids}

    def _wait_reloaded(self, broker: Process, timeout: float = 15) -> None:
        expected = f"slotwise: reloaded {2 + len(self.terminal_passwords)} passwords"
        deadline = now() + timeout
        while now() < deadline:
            if expected in broker.tail(200):
                return
            if not broker.alive():
                break
            time.sleep(0.02)
        raise StackError(broker.describe_failure(f"no '{expected}' after SIGHUP"))
