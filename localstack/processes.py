"""Processes of a local stack: start one with its log, stop it by its pid, free
ports, waiting for a port.

Every process is started in its own session (so Ctrl-C reaches only the
driving script, which then stops the stack in order) with a parent-death
signal (so nothing outlives a killed test), and is stopped by its pid:
SIGTERM, wait, SIGKILL after a timeout. Nothing is ever killed by name.
"""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterable, Optional


class StackError(RuntimeError):
    """Something in the stack failed; the message says what and shows the log tail."""


def now() -> float:
    return time.monotonic()


def find_tool(name: str) -> Optional[str]:
    """An installed program by name: $PATH, then /usr/sbin and /sbin (mosquitto, nginx)."""
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name) if p.exists()), None)


def raise_nofile_limit(wanted: int = 65536) -> int:
    """Raise the soft open-files limit (inherited by every child) towards the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


_reserved_ports: set[int] = set()


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (and not handed out before by us)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _reserved_ports:
            _reserved_ports.add(port)
            return port
    raise StackError("no free port found")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 40) -> str:
    try:
        data = Path(path).read_bytes()[-64 * 1024:]
    except OSError as e:
        return f"(no log: {e})"
    text = data.decode("utf-8", "replace").splitlines()
    return "\n".join(text[-lines:])


def set_pdeathsig() -> None:
    """preexec_fn: SIGTERM the child if this (Python) process dies first."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except OSError:
        pass


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


class Process:
    """One child process, its log file, and how to stop it by its pid."""

    def __init__(self, name: str, argv: list[str], log_path: Path, cwd: Path,
                 env: Optional[dict] = None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "ab", buffering=0)
        self._log.write(f"# {' '.join(argv)}\n".encode())
        self.popen = subprocess.Popen(
            argv, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=set_pdeathsig)
        self.pid = self.popen.pid
        self.stopped_by_us = False
        self.may_exit_zero = False  # e.g. an agent run with --exit-when-idle

    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> Optional[int]:
        return self.popen.poll()

    def tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def describe_failure(self, what: str) -> str:
        rc = self.returncode
        state = "running" if rc is None else f"exited with {rc}"
        return (f"{self.name}: {what} ({state}); last lines of {self.log_path}:\n"
                + "\n".join("    " + line for line in self.tail().splitlines()))

    def signal(self, sig: int) -> None:
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill_hard(self) -> None:
        # nginx: the workers are the master's children; reap them by pid too.
        for child in children_of(self.pid):
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.signal(signal.SIGKILL)

    def close(self) -> None:
        try:
            self._log.close()
        except OSError:
            pass


def stop_processes(procs: Iterable[Optional[Process]], timeout: float = 10.0) -> None:
    """SIGTERM all, wait up to `timeout` for all, SIGKILL the rest; all by pid."""
    procs = [p for p in procs if p is not None]
    for p in procs:
        if p.alive():
            p.stopped_by_us = True
            p.signal(signal.SIGTERM)
    deadline = now() + timeout
    for p in procs:
        try:
            p.popen.wait(timeout=max(0.0, deadline - now()))
        except subprocess.TimeoutExpired:
            p.kill_hard()
            try:
                p.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        p.close()


def stop_popen(proc: subprocess.Popen, timeout: float = 5, sig: int = signal.SIGTERM) -> None:
    """Stop a plain child by its pid: `sig` (SIGTERM), then SIGKILL after `timeout`."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_port(proc: Process, port: int, timeout: float) -> bool:
    """True once `port` accepts connections; False if `proc` died or time ran out."""
    deadline = now() + timeout
    while now() < deadline:
        if not proc.alive():
            return False
        if port_open(port):
            return True
        time.sleep(0.05)
    return False


def wait_until(predicate, timeout: float, interval: float = 0.05):
    """Poll `predicate` until it returns something true or `timeout` passes; its last value."""
    deadline = now() + timeout
    while True:
        value = predicate()
        if value or now() >= deadline:
            return value
        time.sleep(interval)


def install_signal_handlers() -> None:
    """Ctrl-C, SIGTERM and SIGHUP unwind the stack (KeyboardInterrupt / SystemExit), so
    `finally` and `with` blocks stop every process. SIGINT is restored even when the
    shell started us with it ignored (background jobs); an ignored SIGHUP (nohup) stays."""
    def handler(signum, _frame):
        raise SystemExit(128 + signum)
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, handler)
        if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:
            signal.signal(signal.SIGHUP, handler)
    except (ValueError, OSError):  # not the main thread
        pass
