"""A throw-away PostgreSQL 15 server for tests: initdb in a temp directory,
one loopback port picked at run time, stopped by its pid.

PostgreSQL refuses to run as root: as root, the data directory is given to
the `postgres` user and the server runs as that user through runuser.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional

from .processes import StackError, free_port

BIN = Path("/usr/lib/postgresql/15/bin")


def available() -> Optional[str]:
    """None when PostgreSQL 15 can run here, else why not."""
    for tool in ("initdb", "postgres", "pg_isready"):
        if not (BIN / tool).exists():
            return f"PostgreSQL 15 is not installed ({BIN / tool} missing: apt-get install postgresql-15)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run the server as"
    return None


class Postgres:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.data = self.root / "pgdata"
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None
        self.log = self.root / "postgres.log"

    def _as_owner(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] + argv if os.geteuid() == 0 else argv

    def start(self, timeout: float = 30.0, replica_of: Optional["Postgres"] = None) -> str:
        """initdb and start; with `replica_of`, a streaming replica of that
        (running) server instead: pg_basebackup -R, then start (read-only until
        promote())."""
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        if replica_of is None:
            subprocess.run(self._as_owner([str(BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                                           "--no-sync"]), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        else:
            subprocess.run(self._as_owner([str(BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(replica_of.port),
                                           "-U", "postgres", "-D", str(self.data), "-R", "-X", "stream",
                                           "--no-sync"]), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.port = free_port()
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            self._as_owner([str(BIN / "postgres"), "-D", str(self.data), "-p", str(self.port), "-c",
                            "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
                            "-c", "fsync=on", "-c", "synchronous_commit=on"]),
            stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            r = subprocess.run([str(BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r.returncode == 0:
                return self.url
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise StackError(f"postgres did not start: see {self.log}:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def sql(self, query: str) -> str:
        """Run one SQL command with psql; its unaligned output."""
        r = subprocess.run([str(BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-At",
                            "-c", query], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise StackError(f"psql {query!r}: {r.stderr.strip()}")
        return r.stdout.strip()

    def promote(self) -> None:
        """A replica becomes a primary (pg_ctl promote, waits until it accepts writes)."""
        subprocess.run(self._as_owner([str(BIN / "pg_ctl"), "promote", "-w", "-D", str(self.data)]), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def kill(self) -> None:
        """The server dies at once (SIGKILL of the postmaster by its pid; its backends
        exit when they see it gone): a crash, not a shutdown."""
        pid_file = self.data / "postmaster.pid"
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else self.proc.pid
        os.kill(pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        """Fast shutdown (SIGINT) of the server by its pid (runuser passes it on), then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        pid_file = self.data / "postmaster.pid"
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else self.proc.pid
        os.kill(pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
