#!/usr/bin/env python3
"""A complete Slotwise stack on 127.0.0.1, for the demo and the integration tests.

One real mosquitto with the Slotwise plugin, the scheduler (RocksDB in the
stack's temp dir), N nginx download nodes and M slotwise-agent processes, each
on a free port picked at run time, everything under one fresh temp dir: the
generated configs, the scheduler's database, the agents' state, the shared
artifacts dir and every log. The operator side (S1-S5) goes through the real
`slotwise` CLI, never around it.

Used two ways:

  python3 docker/localstack.py demo [--terminals 24] [--slot-seconds 2] [--build-dir build]
      The patent's steps S1-S11 end to end, with tables at the end.
  python3 docker/localstack.py up [--terminals 0] [--build-dir build]
      Starts the stack (2 clusters x 2 nodes, version 2.0.0 registered) and
      waits for Ctrl-C, printing how to point the `slotwise` CLI at it.

  import localstack
  with localstack.LocalStack(build_dir) as stack:
      stack.start()
      ...

Python 3 standard library only. Every process is started in its own session
(so Ctrl-C reaches only this script, which then shuts the stack down in
order) with a parent-death signal (so nothing outlives a killed test), and is
stopped by its pid: SIGTERM, wait, SIGKILL after a timeout.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import ctypes
import dataclasses
import hashlib
import json
import math
import os
import random
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent

SERVICE_USERNAME = "slotwise-scheduler"
OPERATOR_USERNAME = "slotwise-operator"
# Broker credentials of this process's stacks (broker-plugin/README.md): the
# service and operator passwords go into the plugin's password file (written
# by the real mosquitto_passwd), each terminal gets its own (terminal_password).
SERVICE_PASSWORD = "svc-" + secrets.token_hex(8)
OPERATOR_PASSWORD = "op-" + secrets.token_hex(8)
OLD_VERSION = "1.0.0"
NEW_VERSION = "2.0.0"

# The demo's topology: two sites, two nodes each.
DEMO_CLUSTERS = (
    # id, lat, lon, region
    ("eu-west", 48.8566, 2.3522, "eu"),      # Paris
    ("eu-central", 48.1351, 11.5820, "eu"),  # Munich
)

# Log lines from nginx: one JSON object per request. $msec is the time the
# request finished (ms resolution), $request_time how long it took, so the
# download started at msec - request_time.
NGINX_LOG_FORMAT = (
    "'{"
    '"msec":"$msec",'
    '"request_time":"$request_time",'
    '"status":"$status",'
    '"body_bytes_sent":"$body_bytes_sent",'
    '"request_method":"$request_method",'
    '"request_uri":"$request_uri",'
    '"terminal":"$http_x_slotwise_terminal",'
    '"range":"$http_range",'
    '"connection":"$connection",'
    '"remote":"$remote_addr:$remote_port"'
    "}'"
)


class StackError(RuntimeError):
    """Something in the stack failed; the message says what and shows the log tail."""


# ---------------------------------------------------------------------------
# small helpers


def _now() -> float:
    return time.monotonic()


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
        data = path.read_bytes()[-64 * 1024:]
    except OSError as e:
        return f"(no log: {e})"
    text = data.decode("utf-8", "replace").splitlines()
    return "\n".join(text[-lines:])


def _set_pdeathsig() -> None:
    """preexec_fn: SIGTERM the child if this (Python) process dies first."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except OSError:
        pass


def _children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


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


# ---------------------------------------------------------------------------
# processes


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
            start_new_session=True, preexec_fn=_set_pdeathsig)
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
        for child in _children_of(self.pid):
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


def stop_processes(procs: Iterable[Process], timeout: float = 10.0) -> None:
    """SIGTERM all, wait up to `timeout` for all, SIGKILL the rest; all by pid."""
    procs = [p for p in procs if p is not None]
    for p in procs:
        if p.alive():
            p.stopped_by_us = True
            p.signal(signal.SIGTERM)
    deadline = _now() + timeout
    for p in procs:
        try:
            p.popen.wait(timeout=max(0.0, deadline - _now()))
        except subprocess.TimeoutExpired:
            p.kill_hard()
            try:
                p.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        p.close()


# ---------------------------------------------------------------------------
# the stack


@dataclasses.dataclass
class Node:
    id: str
    cluster: str
    port: int
    per_slot: int
    dir: Path
    access_log: Path
    process: Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclasses.dataclass
class Agent:
    id: str
    lat: float
    lon: float
    dir: Path
    config: Path
    version_file: Path
    install_log: Path
    process: Process

    def installed_version(self) -> str:
        try:
            return self.version_file.read_text().strip()
        except OSError:
            return ""


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


@dataclasses.dataclass
class TlsListener:
    """PEM files for a TLS broker listener (tests/integration/test_tls.py). The broker
    presents server_cert; the scheduler and the CLI verify it against cafile and, when
    client_cert is set, present their own certificates (the listener then requires
    one; a CN naming a service or operator leaves the decision to the password)."""
    cafile: Path
    server_cert: Path
    server_key: Path
    client_cert: Optional[Path] = None      # the CLI's
    client_key: Optional[Path] = None
    scheduler_cert: Optional[Path] = None   # default: client_cert
    scheduler_key: Optional[Path] = None

    def client_args(self, scheduler: bool = False) -> list[str]:
        """--cafile/--cert/--key for slotwise (or, with scheduler, slotwise-scheduler)."""
        args = ["--cafile", str(self.cafile)]
        cert, key = self.client_cert, self.client_key
        if scheduler and self.scheduler_cert:
            cert, key = self.scheduler_cert, self.scheduler_key
        if cert:
            args += ["--cert", str(cert), "--key", str(key or cert)]
        return args


class LocalStack:
    """Broker + scheduler + nginx nodes + agents under one temp dir on loopback."""

    def __init__(self, build_dir: Path | str = "build", slot_seconds: float = 2,
                 workdir: Optional[Path | str] = None, keep: bool = False,
                 log: Callable[[str], None] | None = None, quiet: bool = False,
                 tls: Optional[TlsListener] = None):
        self.build_dir = resolve_build_dir(build_dir)
        # With tls the broker's one listener speaks TLS (ssl:// URLs) and the
        # scheduler and the CLI get --cafile (and --cert/--key).
        self.tls = tls
        self.slot_seconds = slot_seconds
        self.keep = keep
        self._quiet = quiet
        self._log_fn = log or (lambda s: print(s, flush=True))
        self._t0 = _now()
        if workdir is None:
            # $SLOTWISE_STACK_TMPDIR, else $TMPDIR, else /tmp.
            base = os.environ.get("SLOTWISE_STACK_TMPDIR") or None
            if base:
                Path(base).mkdir(parents=True, exist_ok=True)
            self.root = Path(tempfile.mkdtemp(prefix="slotwise-stack-", dir=base))
            self._own_root = True
        else:
            self.root = Path(workdir)
            self.root.mkdir(parents=True, exist_ok=True)
            self._own_root = False
        self.logs = self.root / "logs"
        self.artifacts = self.root / "artifacts"
        for d in (self.logs, self.artifacts):
            d.mkdir(parents=True, exist_ok=True)
        self.broker: Optional[Process] = None
        self.broker_port: Optional[int] = None
        self.scheduler: Optional[Process] = None
        # nginx secure_link secret shared by the scheduler (which signs download
        # URLs) and the nodes (which refuse unsigned or expired ones).
        self.url_secret: str = os.urandom(16).hex()
        self.nodes: dict[str, Node] = {}
        self.agents: dict[str, Agent] = {}
        self.clusters: dict[str, tuple[float, float, str]] = {}
        self.versions: dict[str, tuple[Path, str]] = {}  # version -> (file, url path)
        self._stopped = False
        self.password_file = self.root / "mosquitto.passwd"
        self._terminal_passwords: dict[str, str] = {}
        _live_stacks.append(self)

    # -- binaries ------------------------------------------------------------

    def _binary(self, rel: str) -> Path:
        """A built file, by its path inside the build dir."""
        return self.build_dir / rel

    @property
    def plugin(self) -> Path:
        return self._binary("broker-plugin/mosquitto_slotwise.so")

    @property
    def scheduler_bin(self) -> Path:
        return self._binary("scheduler/slotwise-scheduler")

    @property
    def cli_bin(self) -> Path:
        return self._binary("scheduler/slotwise")

    @property
    def agent_bin(self) -> Path:
        return self._binary("agent/slotwise-agent")

    def check_prerequisites(self) -> None:
        missing = [str(p) for p in (self.plugin, self.scheduler_bin, self.cli_bin, self.agent_bin)
                   if not p.exists()]
        for tool in ("mosquitto", "nginx"):
            if not find_tool(tool):
                missing.append(tool + " (Debian package " + tool + ")")
        if missing:
            raise StackError("missing: " + ", ".join(missing)
                             + " (build with cmake --build, install with docker/install-deps.sh)")

    # -- logging -------------------------------------------------------------

    def log(self, msg: str) -> None:
        if not self._quiet:
            self._log_fn(f"[{_now() - self._t0:6.2f}s] {msg}")

    @property
    def broker_url(self) -> str:
        return f"{'ssl' if self.tls else 'tcp'}://127.0.0.1:{self.broker_port}"

    @property
    def slot_ms(self) -> int:
        return int(round(self.slot_seconds * 1000))

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> "LocalStack":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        """Broker and scheduler, both ready. Nodes and agents come after."""
        self.check_prerequisites()
        limit = raise_nofile_limit()
        self.log(f"stack dir {self.root} (open files limit {limit})")
        self.start_broker()
        self.start_scheduler()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        # Terminals first (they would only retry against a missing broker),
        # then the scheduler, the download nodes, and the broker last.
        stop_processes([a.process for a in self.agents.values()], timeout=10)
        if self.scheduler:
            stop_processes([self.scheduler], timeout=15)
        stop_processes([n.process for n in self.nodes.values()], timeout=10)
        if self.broker:
            stop_processes([self.broker], timeout=10)
        if self in _live_stacks:
            _live_stacks.remove(self)
        if self._own_root and not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
        elif not self._quiet:
            self._log_fn(f"stack files kept in {self.root}")

    def report_failure(self, error: BaseException, lines: int = 25) -> None:
        """Print the error and the log tails of the components it does not already show;
        keep the stack dir for a post-mortem."""
        text = str(error)
        out = [f"localstack: {text}"]
        for p in (self.scheduler, self.broker):
            if p is not None and str(p.log_path) not in text:
                out.append(f"--- last lines of {p.log_path}:")
                out += ["    " + line for line in p.tail(lines).splitlines()]
        print("\n".join(out), file=sys.stderr, flush=True)
        self.keep = True

    def all_processes(self) -> list[Process]:
        procs = [self.broker, self.scheduler]
        procs += [n.process for n in self.nodes.values()]
        procs += [a.process for a in self.agents.values()]
        return [p for p in procs if p is not None]

    def check_alive(self, include_agents: bool = True) -> None:
        """Raise StackError with the log tail of the first component that died."""
        procs = [self.broker, self.scheduler] + [n.process for n in self.nodes.values()]
        if include_agents:
            procs += [a.process for a in self.agents.values()]
        for p in procs:
            if p is None or p.alive() or p.stopped_by_us:
                continue
            if p.may_exit_zero and p.returncode == 0:
                continue
            raise StackError(p.describe_failure("died"))

    def _spawn(self, name: str, argv: list[str], cwd: Optional[Path] = None,
               env: Optional[dict] = None) -> Process:
        return Process(name, argv, self.logs / f"{name}.log", cwd or self.root, env)

    # -- broker credentials ----------------------------------------------------

    def password_of(self, username: str) -> str:
        """The MQTT password of a service, operator or (registered) terminal username."""
        if username == SERVICE_USERNAME:
            return SERVICE_PASSWORD
        if username == OPERATOR_USERNAME:
            return OPERATOR_PASSWORD
        return self.terminal_password(username)

    def mqtt_auth_args(self, username: str) -> list[str]:
        """`-u USER -P PASSWORD` for mosquitto_pub / mosquitto_sub / mosquitto_rr."""
        return ["-u", username, "-P", self.password_of(username)]

    def write_password_file(self) -> None:
        """The plugin's password file: service and operator hashed by the real
        mosquitto_passwd, then every terminal registered so far."""
        tool = find_tool("mosquitto_passwd")
        if not tool:
            raise StackError("missing: mosquitto_passwd (Debian package mosquitto)")
        for i, (user, password) in enumerate(((SERVICE_USERNAME, SERVICE_PASSWORD),
                                              (OPERATOR_USERNAME, OPERATOR_PASSWORD))):
            argv = [tool] + (["-c"] if i == 0 else []) + ["-b", str(self.password_file),
                                                          user, password]
            res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            if res.returncode != 0:
                raise StackError(f"mosquitto_passwd failed: {res.stderr.strip()}")
        with open(self.password_file, "a") as f:
            for tid, password in self._terminal_passwords.items():
                f.write(f"{tid}:{_passwd_hash(password)}\n")
        self.password_file.chmod(0o644)  # mosquitto may run as user mosquitto

    def terminal_password(self, terminal_id: str) -> str:
        """The terminal's password; registers the terminal on first use: appends
        it to the password file and, if the broker runs, makes the plugin reload
        the file (SIGHUP) and waits until it has."""
        return self.register_terminals([terminal_id])[terminal_id]

    def register_terminals(self, terminal_ids: Iterable[str]) -> dict[str, str]:
        """Terminal id -> password for many terminals at once: new ones are appended
        to the password file in one write, and a running broker reloads it once (one
        SIGHUP, not one per terminal)."""
        ids = list(terminal_ids)
        new = [tid for tid in dict.fromkeys(ids) if tid not in self._terminal_passwords]
        for tid in new:
            self._terminal_passwords[tid] = "t-" + secrets.token_hex(8)
        if new and self.password_file.exists():
            with open(self.password_file, "a") as f:
                f.writelines(f"{tid}:{_passwd_hash(self._terminal_passwords[tid])}\n" for tid in new)
            if self.broker is not None and self.broker.alive():
                self._reload_passwords()
        return {tid: self._terminal_passwords[tid] for tid in ids}

    def _reload_passwords(self, timeout: float = 15) -> None:
        assert self.broker is not None
        expected = f"slotwise: reloaded {2 + len(self._terminal_passwords)} passwords"
        self.broker.signal(signal.SIGHUP)
        deadline = _now() + timeout
        while _now() < deadline:
            if expected in self.broker.tail(200):
                return
            if not self.broker.alive():
                break
            time.sleep(0.02)
        raise StackError(self.broker.describe_failure(f"no '{expected}' after SIGHUP"))

    # -- mosquitto -----------------------------------------------------------

    def mosquitto_conf(self, port: int) -> str:
        lines = [
            "# generated by docker/localstack.py",
            f"listener {port} 127.0.0.1",
        ]
        if self.tls:
            lines += [f"cafile {self.tls.cafile}", f"certfile {self.tls.server_cert}",
                      f"keyfile {self.tls.server_key}"]
            if self.tls.client_cert:
                lines.append("require_certificate true")
        lines += [
            "allow_anonymous true",  # the plugin's auth hook decides who gets in
            "persistence false",
            "log_dest stderr",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "max_keepalive 300",
        ]
        if os.geteuid() == 0:
            lines.append("user root")
        lines += [
            f"plugin {self.plugin}",
            f"plugin_opt_services {SERVICE_USERNAME}",
            f"plugin_opt_operators {OPERATOR_USERNAME}",
            f"plugin_opt_password_file {self.password_file}",
            # Generous for agents (they send a few requests per campaign), still
            # stopping a runaway loop; stats every 5 s on slotwise/v1/stats/broker.
            "plugin_opt_rate_limit_per_second 20",
            "plugin_opt_rate_limit_burst 100",
            "plugin_opt_stats_interval_seconds 5",
        ]
        return "\n".join(lines) + "\n"

    def start_broker(self, timeout: float = 15) -> None:
        self.write_password_file()
        for attempt in range(3):
            port = free_port()
            if self._start_broker_on(port, timeout):
                return
            assert self.broker is not None
            if "in use" in self.broker.tail() and attempt < 2:
                stop_processes([self.broker])
                continue
            stop_processes([self.broker])
            raise StackError(self.broker.describe_failure(f"did not listen on port {port} within {timeout}s"))

    def restart_broker(self, timeout: float = 15) -> None:
        """Stop the broker by its pid and start it again on the same port (clients
        lose their connections; sessions and retained messages are gone, as
        `persistence false` says)."""
        assert self.broker is not None and self.broker_port is not None
        stop_processes([self.broker])
        if not self._start_broker_on(self.broker_port, timeout):
            raise StackError(self.broker.describe_failure(
                f"did not listen again on port {self.broker_port} within {timeout}s"))

    def _start_broker_on(self, port: int, timeout: float) -> bool:
        """Start mosquitto on `port` as self.broker; True once it listens."""
        conf = self.root / "mosquitto.conf"
        conf.write_text(self.mosquitto_conf(port))
        self.log(f"mosquitto on 127.0.0.1:{port} (plugin {self.plugin.name})")
        self.broker = self._spawn("mosquitto", [find_tool("mosquitto"), "-c", str(conf)])
        self.broker_port = port
        return self._wait_port(self.broker, port, timeout)

    def _wait_port(self, proc: Process, port: int, timeout: float) -> bool:
        deadline = _now() + timeout
        while _now() < deadline:
            if not proc.alive():
                return False
            if port_open(port):
                return True
            time.sleep(0.05)
        return False

    # -- scheduler -----------------------------------------------------------

    def start_scheduler(self, timeout: float = 30) -> None:
        db = self.root / "scheduler-db"
        db.mkdir(exist_ok=True)
        slot = self.slot_seconds
        slot_arg = str(int(slot)) if float(slot).is_integer() else str(slot)
        argv = [str(self.scheduler_bin), "--broker", self.broker_url, "--db", str(db),
                "--slot-seconds", slot_arg, "--username", SERVICE_USERNAME,
                "--client-id", SERVICE_USERNAME] + (self.tls.client_args(scheduler=True) if self.tls else [])
        self.log(f"slotwise-scheduler (slot {slot_arg}s, db {db}, signed download URLs)")
        env = dict(os.environ, SLOTWISE_URL_SECRET=self.url_secret,
                   SLOTWISE_SCHEDULER_PASSWORD=SERVICE_PASSWORD)
        self.scheduler = self._spawn("scheduler", argv, env=env)
        deadline = _now() + timeout
        last = None
        while _now() < deadline:
            if not self.scheduler.alive():
                raise StackError(self.scheduler.describe_failure("exited during start-up"))
            last = self.cli("node", "list", check=False, timeout=2)
            if last.returncode == 0:
                self.log("scheduler answers (slotwise node list ok)")
                return
            time.sleep(0.2)
        detail = (last.stderr.strip() if last else "")
        raise StackError(self.scheduler.describe_failure(
            f"`slotwise node list` did not succeed within {timeout}s (last: {detail})"))

    # -- operator CLI --------------------------------------------------------

    def cli_argv(self, *args: str, timeout: Optional[float] = None,
                 username: Optional[str] = None) -> list[str]:
        argv = [str(self.cli_bin), "--broker", self.broker_url]
        if self.tls:
            argv += self.tls.client_args()
        if username:
            argv += ["--username", username]
        if timeout is not None:
            argv += ["--timeout", str(int(math.ceil(timeout)))]
        return argv + [str(a) for a in args]

    def cli(self, *args: str, check: bool = True, timeout: Optional[float] = None,
            username: Optional[str] = None) -> subprocess.CompletedProcess:
        """Run `slotwise ARGS`; with check, a non-zero exit raises StackError."""
        argv = self.cli_argv(*args, timeout=timeout, username=username)
        env = dict(os.environ, SLOTWISE_BROKER=self.broker_url,
                   SLOTWISE_PASSWORD=self.password_of(username or OPERATOR_USERNAME))
        wall = (timeout or 10) + 20
        try:
            res = subprocess.run(argv, env=env, cwd=str(self.root), capture_output=True,
                                 text=True, timeout=wall)
        except subprocess.TimeoutExpired as e:
            raise StackError(f"`slotwise {' '.join(args)}` hung for {wall}s") from e
        with open(self.logs / "cli.log", "a") as f:
            f.write(f"$ slotwise {' '.join(args)}\n{res.stdout}{res.stderr}[exit {res.returncode}]\n")
        if check and res.returncode != 0:
            raise StackError(f"`slotwise {' '.join(args)}` exited {res.returncode}: "
                             f"{res.stderr.strip() or res.stdout.strip()}")
        return res

    def cli_json(self, *args: str, timeout: Optional[float] = None):
        """`slotwise ARGS --json`, parsed: the reply message (ClusterList, CampaignReport, ...)."""
        res = self.cli(*args, "--json", timeout=timeout)
        try:
            data = json.loads(res.stdout)
        except json.JSONDecodeError as e:
            raise StackError(f"`slotwise {' '.join(args)} --json` printed no JSON: {e}\n"
                             f"{res.stdout[:2000]}") from e
        return data

    def cli_stream(self, *args: str, timeout: float,
                   echo: Callable[[str], None] | None = None) -> int:
        """Run a long CLI command (e.g. `campaign status --wait`), echoing each line."""
        argv = self.cli_argv(*args)
        echo = echo or (lambda s: print(s, flush=True))
        env = dict(os.environ, SLOTWISE_BROKER=self.broker_url,
                   SLOTWISE_PASSWORD=OPERATOR_PASSWORD)
        with open(self.logs / "cli.log", "a") as logf:
            logf.write(f"$ slotwise {' '.join(args)}\n")
            proc = subprocess.Popen(argv, env=env, cwd=str(self.root), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, bufsize=1,
                                    start_new_session=True, preexec_fn=_set_pdeathsig)
            deadline = _now() + timeout
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    logf.write(line)
                    echo(line.rstrip("\n"))
                    if _now() > deadline:
                        break
                try:
                    proc.wait(timeout=max(1.0, deadline - _now()))
                except subprocess.TimeoutExpired:
                    pass
            finally:
                stop_popen(proc)
            logf.write(f"[exit {proc.returncode}]\n")
            return proc.returncode

    # -- S1: registry --------------------------------------------------------

    def add_cluster(self, cluster_id: str, lat: float, lon: float, region: str = "") -> None:
        args = ["cluster", "add", cluster_id, "--lat", f"{lat:.6f}", "--lon", f"{lon:.6f}"]
        if region:
            args += ["--region", region]
        self.cli(*args)
        self.clusters[cluster_id] = (lat, lon, region)
        self.log(f"S1 cluster {cluster_id} at {lat:.4f},{lon:.4f}")

    def nginx_conf(self, node_id: str, port: int, node_dir: Path, access_log: Path,
                   limit_rate: Optional[str] = None) -> str:
        """`limit_rate`: nginx's per-connection speed cap (e.g. "512k"); None = none."""
        temp = node_dir / "temp"
        user = "user root;\n" if os.geteuid() == 0 else ""
        return f"""# generated by docker/localstack.py: download node {node_id}
daemon off;
master_process on;
worker_processes 1;
{user}pid {node_dir / 'nginx.pid'};
error_log stderr notice;

events {{
    worker_connections 1024;
}}

http {{
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 30s;
    server_tokens off;

    client_body_temp_path {temp / 'client_body'};
    proxy_temp_path {temp / 'proxy'};
    fastcgi_temp_path {temp / 'fastcgi'};
    uwsgi_temp_path {temp / 'uwsgi'};
    scgi_temp_path {temp / 'scgi'};

    log_format slotwise escape=json {NGINX_LOG_FORMAT};
    access_log {access_log} slotwise;

    server {{
        listen 127.0.0.1:{port};
        server_name {node_id};
        root {self.artifacts};
        add_header X-Slotwise-Node {node_id} always;

        location / {{{self._secure_link_conf()}{f"{chr(10)}            limit_rate {limit_rate};" if limit_rate else ""}
            try_files $uri =404;
        }}
        # live load, for a scheduler that lowers capacity under load
        location = /nginx_status {{
            stub_status;
            access_log off;
        }}
    }}
}}
"""

    def _secure_link_conf(self) -> str:
        """nginx secure_link: only URLs the scheduler signed (md5 of expires + uri +
        secret, base64url) and not yet expired are served."""
        return f"""
            secure_link $arg_md5,$arg_expires;
            secure_link_md5 "$secure_link_expires${{uri}}{self.url_secret}";
            if ($secure_link = "") {{ return 403; }}
            if ($secure_link = "0") {{ return 410; }}"""

    def start_node(self, node_id: str, cluster: str, per_slot: int, timeout: float = 15,
                   limit_rate: Optional[str] = None) -> Node:
        node_dir = self.root / "nodes" / node_id
        (node_dir / "temp").mkdir(parents=True, exist_ok=True)
        access_log = node_dir / "access.log"
        for attempt in range(3):
            port = free_port()
            conf = node_dir / "nginx.conf"
            conf.write_text(self.nginx_conf(node_id, port, node_dir, access_log, limit_rate))
            proc = self._spawn(f"nginx-{node_id}",
                               [find_tool("nginx"), "-e", "stderr", "-p", str(node_dir),
                                "-c", str(conf)], cwd=node_dir)
            if self._wait_port(proc, port, timeout):
                node = Node(node_id, cluster, port, per_slot, node_dir, access_log, proc)
                self.nodes[node_id] = node
                return node
            if "in use" in proc.tail() and attempt < 2:
                stop_processes([proc])
                continue
            stop_processes([proc])
            raise StackError(proc.describe_failure(f"did not listen on port {port} within {timeout}s"))
        raise StackError(f"nginx {node_id}: no port")

    def add_node(self, node_id: str, cluster: str, per_slot: int,
                 bandwidth_bps: Optional[int] = None, limit_rate: Optional[str] = None) -> Node:
        """Start an nginx for the node (`limit_rate`: see nginx_conf), then register it (S1)."""
        node = self.start_node(node_id, cluster, per_slot, limit_rate=limit_rate)
        args = ["node", "add", node_id, "--cluster", cluster, "--url", node.url,
                "--per-slot", str(per_slot), "--status-url", f"{node.url}/nginx_status"]
        if bandwidth_bps:
            args += ["--bandwidth-bps", str(bandwidth_bps)]
        self.cli(*args)
        self.log(f"S1 node {node_id} in {cluster}: nginx {node.url}, per_slot {per_slot}")
        return node

    def make_artifact(self, version: str, size: int = 256 * 1024, seed: int = 1) -> tuple[Path, str]:
        name = f"fw-{version}.bin"
        path = self.artifacts / name
        path.write_bytes(random.Random(f"{seed}-{version}").randbytes(size))
        return path, "/" + name

    def signing_keys(self) -> tuple[Path, Path]:
        """The operator's Ed25519 key pair (made once per stack): the private key
        signs versions (`slotwise version add --sign-key`), the public key goes
        into every agent's config (`public_key_file`)."""
        private, public = self.root / "signing-key.pem", self.root / "signing-key.pub"
        if not public.exists():
            subprocess.run([find_tool("openssl") or "openssl", "genpkey", "-algorithm", "ed25519",
                            "-out", str(private)], check=True, capture_output=True)
            subprocess.run([find_tool("openssl") or "openssl", "pkey", "-in", str(private), "-pubout",
                            "-out", str(public)], check=True, capture_output=True)
        return private, public

    def add_version(self, version: str = NEW_VERSION, size: int = 256 * 1024) -> tuple[Path, str]:
        path, url_path = self.make_artifact(version, size)
        private_key, _ = self.signing_keys()
        self.cli("version", "add", version, "--file", str(path), "--path", url_path,
                 "--sign-key", str(private_key))
        self.versions[version] = (path, url_path)
        self.log(f"S1 version {version}: {url_path} ({size} bytes, served by every node)")
        return path, url_path

    # -- terminals -----------------------------------------------------------

    def start_agent(self, terminal_id: str, lat: float, lon: float,
                    version: str = OLD_VERSION, system_id: Optional[str] = None,
                    exit_when_idle: bool = False, install_command: Optional[str] = None,
                    extra_config: Optional[dict[str, str]] = None,
                    argv_prefix: Optional[list[str]] = None) -> Agent:
        """`extra_config`: more `key = value` lines (agent/slotwise-agent.conf.sample);
        `argv_prefix`: e.g. a shell that sets limits, then `exec "$@"`."""
        adir = self.root / "agents" / terminal_id
        for sub in ("state", "downloads", "installed"):
            (adir / sub).mkdir(parents=True, exist_ok=True)
        version_file = adir / "version"
        version_file.write_text(version + "\n")
        install_log = adir / "install.log"
        if install_command is None:
            # What an installer would do, in miniature: keep the image, note the version.
            install_command = (
                f'cp "$SLOTWISE_FILE" "{adir / "installed"}/firmware.bin"'
                f' && echo "$SLOTWISE_VERSION $(date +%s%3N)" >> "{install_log}"')
        config = adir / "agent.conf"
        config.write_text("\n".join([
            "# generated by docker/localstack.py",
            f"broker = {self.broker_url}",
            f"terminal_id = {terminal_id}",
            f"password = {self.terminal_password(terminal_id)}",
            f"state_dir = {adir / 'state'}",
            f"version_file = {version_file}",
            f"location = {lat:.6f},{lon:.6f}",
            f"system_id = {system_id or 'pos-linux-' + terminal_id.lower()}",
            f"install_command = {install_command}",
            f"download_dir = {adir / 'downloads'}",
            f"public_key_file = {self.signing_keys()[1]}",
        ] + [f"{k} = {v}" for k, v in (extra_config or {}).items()]) + "\n")
        argv = (argv_prefix or []) + [str(self.agent_bin), "--config", str(config)]
        if exit_when_idle:
            argv.append("--exit-when-idle")
        proc = self._spawn(f"agent-{terminal_id}", argv, cwd=adir)
        proc.may_exit_zero = exit_when_idle
        agent = Agent(terminal_id, lat, lon, adir, config, version_file, install_log, proc)
        self.agents[terminal_id] = agent
        return agent

    def spawn_fleet(self, count: int, seed: int = 7, spread_deg: float = 0.6,
                    exit_when_idle: bool = False, prefix: str = "T") -> list[Agent]:
        """`count` agents T001.., placed round-robin around the registered clusters."""
        if not self.clusters:
            raise StackError("register clusters before spawning terminals")
        rng = random.Random(seed)
        sites = list(self.clusters.items())
        agents = []
        for i in range(count):
            _, (lat, lon, _) = sites[i % len(sites)]
            tid = f"{prefix}{i + 1:03d}"
            agents.append(self.start_agent(
                tid, lat + rng.uniform(-spread_deg, spread_deg),
                lon + rng.uniform(-spread_deg, spread_deg), exit_when_idle=exit_when_idle))
        self.log(f"{count} slotwise-agent processes started (installed version {OLD_VERSION})")
        return agents

    def terminal_list(self) -> list[dict]:
        res = self.cli("terminal", "list", "--json", check=False, timeout=5)
        if res.returncode != 0:
            return []
        try:
            return json.loads(res.stdout).get("terminals", [])
        except (json.JSONDecodeError, AttributeError):
            return []

    def wait_terminals_known(self, terminal_ids: Iterable[str], timeout: float = 20,
                             location_timeout: float = 5) -> list[str]:
        """Wait until the scheduler lists every terminal (presence), then up to
        `location_timeout` more for their locations (inventory reports, S7), which the
        window query (S3) uses for the demand per cluster. Returns the terminals whose
        location is still unknown."""
        wanted = set(terminal_ids)
        deadline = _now() + timeout
        loc_deadline = None
        missing_loc = sorted(wanted)
        while _now() < deadline:
            self.check_alive()
            terminals = self.terminal_list()
            listed = {t.get("id") for t in terminals}
            missing_loc = sorted(wanted - {t.get("id") for t in terminals if t.get("location")})
            if not missing_loc:
                return []
            if wanted <= listed:
                loc_deadline = loc_deadline or min(deadline, _now() + location_timeout)
                if _now() >= loc_deadline:
                    break
            time.sleep(0.25)
        else:
            listed_now = {t.get("id") for t in self.terminal_list()}
            if not wanted <= listed_now:
                detail = (next(iter(self.agents.values())).process.describe_failure("an agent")
                          if self.agents else "")
                raise StackError(f"the scheduler does not list terminals "
                                 f"{sorted(wanted - listed_now)} after {timeout}s; {detail}")
        self.log(f"warning: {len(missing_loc)} of {len(wanted)} terminals reported no location "
                 f"before the campaign; the window query counts them in no cluster's demand")
        return missing_loc

    def wait_agents_exit(self, timeout: float) -> dict[str, Optional[int]]:
        """Wait for every agent process to exit on its own; returns tid -> exit code (None = still running)."""
        deadline = _now() + timeout
        while _now() < deadline and any(a.process.alive() for a in self.agents.values()):
            time.sleep(0.1)
        return {tid: a.process.returncode for tid, a in self.agents.items()}

    # -- evidence: nginx access logs -----------------------------------------

    def access_entries(self, node_id: str) -> list[dict]:
        node = self.nodes[node_id]
        entries = []
        try:
            lines = node.access_log.read_text().splitlines()
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

    def downloads(self, url_path: str) -> list[Download]:
        """Downloads of `url_path` in the nodes' access logs. A request without a Range
        header (or from byte 0) starts a download; a Range request from byte n > 0 resumes
        the same terminal's previous download on that node, so it does not count again."""
        out: list[Download] = []
        for node_id in self.nodes:
            entries = sorted((e for e in self.access_entries(node_id) if e["path"] == url_path),
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

    def node_slot_counts(self, url_path: str, slot_ms: Optional[int] = None) -> dict[tuple[str, int], int]:
        """(node, slot of the download's start) -> downloads started."""
        slot_ms = slot_ms or self.slot_ms
        counts: dict[tuple[str, int], int] = {}
        for d in self.downloads(url_path):
            key = (d.node, d.start_ms // slot_ms)
            counts[key] = counts.get(key, 0) + 1
        return counts


# Stacks still running, stopped at exit whatever happens.
_live_stacks: list[LocalStack] = []


@atexit.register
def _stop_live_stacks() -> None:
    for s in list(_live_stacks):
        try:
            s.stop()
        except Exception as e:  # noqa: BLE001 - best effort at exit
            print(f"localstack: stopping the stack failed: {e}", file=sys.stderr)


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


def _passwd_hash(password: str, iterations: int = 101) -> str:
    """A mosquitto_passwd-format $7$ hash (PBKDF2-HMAC-SHA512, 12-byte salt),
    for terminals registered while the stack runs (faster than a process each)."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"$7${iterations}${b64(salt)}${b64(digest)}"


def find_tool(name: str) -> Optional[str]:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name) if p.exists()), None)


def resolve_build_dir(build_dir: Path | str) -> Path:
    p = Path(build_dir)
    if not p.is_absolute() and not p.exists() and (REPO_ROOT / p).exists():
        p = REPO_ROOT / p
    return p.resolve()


# ---------------------------------------------------------------------------
# the demo topology and its evidence


def build_demo_topology(stack: LocalStack, per_slot: int = 2, nodes_per_cluster: int = 2,
                        version: str = NEW_VERSION, artifact_size: int = 256 * 1024) -> None:
    """S1: two clusters x `nodes_per_cluster` nginx nodes, and the new version."""
    n = 0
    for cid, lat, lon, region in DEMO_CLUSTERS:
        stack.add_cluster(cid, lat, lon, region)
    for cid, *_ in DEMO_CLUSTERS:
        for _ in range(nodes_per_cluster):
            n += 1
            stack.add_node(f"n{n}", cid, per_slot)
    stack.add_version(version, artifact_size)


def campaign_table(stack: LocalStack, report: dict, url_path: str) -> tuple[str, list[str]]:
    """Terminal -> cluster, node, slot, start, download start, result; plus problems found."""
    slot_ms = int(report.get("slot_ms") or stack.slot_ms)
    downloads = stack.downloads(url_path)
    by_terminal: dict[str, list[Download]] = {}
    for d in downloads:
        by_terminal.setdefault(d.terminal, []).append(d)
    progress = sorted(report.get("terminals", []),
                      key=lambda t: (int(t.get("slot") or 0), int(t.get("start_at_ms") or 0),
                                     t.get("terminal_id", "")))
    slots = [int(t.get("slot") or 0) for t in progress if t.get("assigned")]
    first = min(slots) if slots else 0
    rows, problems = [], []
    target = report.get("campaign", {}).get("target_version", NEW_VERSION)
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


def node_slot_table(stack: LocalStack, url_path: str, slot_ms: int) -> tuple[str, list[str]]:
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


# ---------------------------------------------------------------------------
# test runner for tests/integration/*.py


_current_result = None


def tests_failed_so_far() -> bool:
    """Inside run_unittest: whether any test has failed yet (to keep a stack's files)."""
    r = _current_result
    return bool(r is not None and (r.failures or r.errors))


def run_unittest(cases: list, verbosity: int = 2) -> int:
    """Run unittest TestCase classes; the last line printed is exactly `N passed, M failed`.
    A failed setUpClass counts every test of its class as failed."""
    import unittest
    suite = unittest.TestSuite()
    loader = unittest.defaultTestLoader
    for case in cases:
        suite.addTests(loader.loadTestsFromTestCase(case))
    total = suite.countTestCases()

    class Runner(unittest.TextTestRunner):
        def _makeResult(self):
            global _current_result
            _current_result = super()._makeResult()
            return _current_result

    result = Runner(stream=sys.stdout, verbosity=verbosity).run(suite)
    bad_tests = {id(t) for t, _ in result.failures + result.errors}
    class_errors = [t for t, _ in result.errors if not isinstance(t, unittest.TestCase)]
    skipped = len(result.skipped)
    ran_ok = result.testsRun - len([1 for t, _ in result.failures + result.errors
                                    if isinstance(t, unittest.TestCase)]) \
        - skipped - len(result.unexpectedSuccesses)
    passed = max(0, ran_ok)
    failed = total - passed - skipped if class_errors else \
        len(bad_tests) + len(result.unexpectedSuccesses)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


def stop_popen(proc: subprocess.Popen, timeout: float = 5) -> None:
    """Stop a plain child by its pid: SIGTERM, then SIGKILL after `timeout`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_test_file(cases: list, options: argparse.Namespace, doc: str,
                  add_args: Optional[Callable[[argparse.ArgumentParser], None]] = None) -> int:
    """The command line every end-to-end test file shares: --build-dir and --keep
    (plus what `add_args` adds) parsed into `options`, then run_unittest(cases)."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--build-dir", default=options.build_dir)
    p.add_argument("--keep", action="store_true", help="keep the stack's temp dir")
    if add_args:
        add_args(p)
    p.parse_args(namespace=options)
    install_signal_handlers()
    return run_unittest(cases)


class StackTestCase:
    """Mixin for a unittest.TestCase class whose tests share one LocalStack:
    setUpClass builds it from `options` (build_dir, slot_seconds, keep) and
    runs the class's set_up_stack(); tearDownClass stops it, keeping its files
    when a test failed."""
    options: argparse.Namespace
    stack: LocalStack

    @classmethod
    def set_up_stack(cls) -> None:
        raise NotImplementedError

    @classmethod
    def setUpClass(cls) -> None:
        o = cls.options
        cls.stack = LocalStack(o.build_dir, slot_seconds=getattr(o, "slot_seconds", 2.0), keep=o.keep)
        try:
            cls.set_up_stack()
        except BaseException as e:
            cls.stack.report_failure(e)
            cls.stack.stop()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        if tests_failed_so_far():
            cls.stack.keep = True  # logs, configs and access logs for the post-mortem
        cls.stack.stop()


# ---------------------------------------------------------------------------
# command line


def run_demo(args: argparse.Namespace) -> int:
    with LocalStack(args.build_dir, slot_seconds=args.slot_seconds, keep=args.keep) as stack:
        try:
            return _demo(stack, args)
        except StackError as e:
            stack.report_failure(e)
            return 1


def _demo(stack: LocalStack, args: argparse.Namespace) -> int:
    t_start = _now()
    stack.start()
    build_demo_topology(stack, per_slot=args.per_slot)
    _, url_path = stack.versions[NEW_VERSION]
    agents = stack.spawn_fleet(args.terminals, seed=args.seed)
    tids = [a.id for a in agents]
    missing = stack.wait_terminals_known(tids, timeout=20)
    if missing:
        stack.log(f"all {len(tids)} terminals online; {len(missing)} have not reported a "
                  f"location yet (the window query cannot count them per cluster)")
    else:
        stack.log(f"S7 all {len(tids)} terminals online and located")

    print("\n== S1 registry")
    print(stack.cli("cluster", "list").stdout.rstrip())
    print(stack.cli("node", "list").stdout.rstrip())
    print(stack.cli("version", "list").stdout.rstrip())

    campaign = "demo-1"
    print(f"\n== S2 campaign {campaign}: {len(tids)} terminals -> {NEW_VERSION}")
    tfile = stack.root / "terminals.txt"
    tfile.write_text("\n".join(tids) + "\n")
    print(stack.cli("campaign", "create", campaign, "--version", NEW_VERSION,
                    "--terminals-file", str(tfile)).stdout.rstrip())

    print("\n== S3-S4 candidate windows")
    print(stack.cli("campaign", "windows", campaign).stdout.rstrip())

    print("\n== S5 schedule the earliest window")
    print(stack.cli("campaign", "schedule", campaign, "--window", "earliest").stdout.rstrip())

    print("\n== S6-S11 terminals get notices, slots, download and install")
    rc = stack.cli_stream("campaign", "status", campaign, "--wait", str(args.wait),
                          timeout=args.wait + 15)
    stack.check_alive(include_agents=False)
    report = stack.cli_json("campaign", "status", campaign)
    slot_ms = int(report.get("slot_ms") or stack.slot_ms)
    # Version files are rewritten right after the install; give the last ones a moment.
    deadline = _now() + 5
    while _now() < deadline and any(a.installed_version() != NEW_VERSION for a in agents):
        time.sleep(0.1)

    table, problems = campaign_table(stack, report, url_path)
    print(f"\n== result per terminal (slot = floor(t / {slot_ms} ms); +k = k-th slot of the campaign)")
    print(table)
    ntable, nproblems = node_slot_table(stack, url_path, slot_ms)
    print("\n== downloads started per node x slot, from the nginx access logs (! = over per_slot)")
    print(ntable)
    problems += nproblems
    if rc != 0:
        problems.append(f"`campaign status --wait` exited {rc}")
    succeeded = sum(1 for a in agents if a.installed_version() == NEW_VERSION)
    print(f"\n{succeeded}/{len(agents)} terminals on {NEW_VERSION}; "
          f"{len(stack.nodes)} nodes x per_slot {args.per_slot}; "
          f"lower bound {math.ceil(len(agents) / (len(stack.nodes) * args.per_slot))} slots; "
          f"demo took {_now() - t_start:.1f}s")
    if problems:
        print("\nFAILED:")
        for p in problems:
            print("  " + p)
        failed_agents = [a for a in agents if a.installed_version() != NEW_VERSION][:3]
        for a in failed_agents:
            print(f"--- last lines of {a.process.log_path}:")
            print("\n".join("    " + line for line in a.process.tail(12).splitlines()))
        stack.keep = True
        return 1
    print("OK: every terminal upgraded, no node exceeded per_slot in any slot")
    return 0


def run_up(args: argparse.Namespace) -> int:
    with LocalStack(args.build_dir, slot_seconds=args.slot_seconds, keep=args.keep) as stack:
        try:
            return _up(stack, args)
        except StackError as e:
            stack.report_failure(e)
            return 1


def _up(stack: LocalStack, args: argparse.Namespace) -> int:
    stack.start()
    build_demo_topology(stack, per_slot=args.per_slot)
    if args.terminals:
        stack.spawn_fleet(args.terminals, seed=args.seed)
    print(f"\nstack is up in {stack.root}\n"
          f"  export SLOTWISE_BROKER={stack.broker_url}\n"
          f"  {stack.cli_bin} node list\n"
          f"logs in {stack.logs}; Ctrl-C stops everything")
    while True:
        stack.check_alive(include_agents=False)
        time.sleep(1)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (("demo", "run S1-S11 end to end and print the evidence"),
                           ("up", "start the stack and wait for Ctrl-C")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--build-dir", default="build", help="CMake build dir (default: build)")
        p.add_argument("--terminals", type=int, default=24 if name == "demo" else 0)
        p.add_argument("--slot-seconds", type=int, default=2)
        p.add_argument("--per-slot", type=int, default=2, help="per_slot of every node (default 2)")
        p.add_argument("--seed", type=int, default=7, help="seed for terminal locations")
        p.add_argument("--keep", action="store_true", help="keep the stack's temp dir")
        if name == "demo":
            p.add_argument("--wait", type=int, default=90, help="seconds to wait for the campaign")
    args = parser.parse_args(argv)
    if args.terminals < 0 or args.per_slot < 1 or args.slot_seconds <= 0:
        parser.error("--terminals >= 0, --per-slot >= 1, --slot-seconds > 0")
    install_signal_handlers()
    try:
        return run_demo(args) if args.command == "demo" else run_up(args)
    except StackError as e:
        print(f"\nlocalstack: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nlocalstack: interrupted, stopping the stack", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
