"""The Stack: a complete Slotwise deployment on 127.0.0.1 under one temp dir.

One real mosquitto with the Slotwise plugin (or, with shards=N, N of them
behind HAProxy), the scheduler (RocksDB in the
stack's dir), N nginx download nodes and M slotwise-agent processes, each on
a free port picked at run time. The stack dir holds the generated configs
(localstack.configs), the scheduler's database, the agents' state, the shared
artifacts dir and every log. The operator side (S1-S5) goes through the real
`slotwise` CLI (localstack.operator); what the nodes served is read back from
their access logs (localstack.evidence).

    with Stack("build", slot_seconds=2) as stack:
        stack.start()                      # broker + scheduler, both ready
        build_demo_topology(stack)         # S1: 2 clusters x 2 nodes, version 2.0.0
        stack.spawn_fleet(24)              # agents T001..T024

Why this module is a little over 500 lines: the Stack is the lifecycle of
one deployment (start in order, restart one part, stop all by pid, keep or
remove the dir), and each process kind's start is a few lines beside the
others; configs, credentials, the operator and the evidence are their own
modules already.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, Optional

from . import configs, evidence
from .configs import NEW_VERSION, OLD_VERSION, OPERATOR_USERNAME
from .credentials import SERVICE_PASSWORD, Credentials
from .operator import Operator
from .processes import (Process, StackError, find_tool, free_port, now, raise_nofile_limit,
                        stop_processes, wait_port)

REPO_ROOT = Path(__file__).resolve().parent.parent

# The built files a stack runs, by their path inside the build dir.
BINARIES = {
    "plugin": "broker-plugin/mosquitto_slotwise.so",
    "scheduler": "scheduler/slotwise-scheduler",
    "cli": "scheduler/slotwise",
    "agent": "agent/slotwise-agent",
}

def resolve_build_dir(build_dir: Path | str) -> Path:
    """A build dir as given, or relative to the repository when it is not found here."""
    p = Path(build_dir)
    if not p.is_absolute() and not p.exists() and (REPO_ROOT / p).exists():
        p = REPO_ROOT / p
    return p.resolve()


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
class Shard:
    """One mosquitto broker shard behind HAProxy."""
    name: str
    port: int
    conf: Path
    process: Process

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"


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


class Stack:
    """Broker + scheduler + nginx nodes + agents under one temp dir on loopback."""

    def __init__(self, build_dir: Path | str = "build", slot_seconds: float = 2,
                 workdir: Optional[Path | str] = None, keep: bool = False,
                 log: Callable[[str], None] | None = None, quiet: bool = False,
                 tls: Optional[configs.TlsListener] = None, shards: int = 1,
                 haproxy_processes: int = 1):
        self.build_dir = resolve_build_dir(build_dir)
        # shards > 1: that many mosquitto shards (each with the plugin) behind
        # HAProxy (docker/README.md "Sharded brokers"); terminals and the CLI
        # see HAProxy's one address (broker_url), the scheduler every shard.
        # `haproxy_processes` HAProxy processes share the port (SO_REUSEPORT),
        # each carrying up to ~9,000 connections (20,000 open files each).
        if shards < 1 or haproxy_processes < 1:
            raise StackError("shards and haproxy_processes must be >= 1")
        if shards > 1 and tls:
            raise StackError("sharded brokers are plaintext here: HAProxy hashes the client id of "
                             "the MQTT CONNECT, which it cannot read inside TLS")
        self.shard_count = shards
        self.haproxy_processes = haproxy_processes
        self.shards: list[Shard] = []
        self.haproxy: list[Process] = []
        # With tls the broker's one listener speaks TLS (ssl:// URLs) and the
        # scheduler and the CLI get --cafile (and --cert/--key).
        self.tls = tls
        self.slot_seconds = slot_seconds
        self.keep = keep
        self._quiet = quiet
        self._log_fn = log or (lambda s: print(s, flush=True))
        self._t0 = now()
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
        # More slotwise-scheduler flags (e.g. the HTTP API's, issue 13).
        self.scheduler_extra_args: list[str] = []
        self.password_file = self.root / "mosquitto.passwd"
        self.credentials = Credentials(self.password_file, self.broker_processes)
        self.operator = Operator(self.cli_bin, lambda: self.broker_url, OPERATOR_USERNAME,
                                 self.password_of, self.root, self.logs / "cli.log",
                                 extra_args=lambda: self.tls.client_args() if self.tls else [])
        _live_stacks.append(self)

    # -- binaries ------------------------------------------------------------

    def binary(self, name: str) -> Path:
        """A built file by its name in BINARIES."""
        return self.build_dir / BINARIES[name]

    @property
    def plugin(self) -> Path:
        return self.binary("plugin")

    @property
    def scheduler_bin(self) -> Path:
        return self.binary("scheduler")

    @property
    def cli_bin(self) -> Path:
        return self.binary("cli")

    @property
    def agent_bin(self) -> Path:
        return self.binary("agent")

    def check_prerequisites(self) -> None:
        missing = [str(self.binary(b)) for b in BINARIES if not self.binary(b).exists()]
        for tool in ("mosquitto", "nginx"):
            if not find_tool(tool):
                missing.append(tool + " (Debian package " + tool + ")")
        if missing:
            raise StackError("missing: " + ", ".join(missing)
                             + " (build with cmake --build, install with docker/install-deps.sh)")

    # -- logging and state ---------------------------------------------------

    def log(self, msg: str) -> None:
        if not self._quiet:
            self._log_fn(f"[{now() - self._t0:6.2f}s] {msg}")

    @property
    def broker_url(self) -> str:
        """Where terminals and the CLI connect: the broker, or HAProxy in front of the shards."""
        return f"{'ssl' if self.tls else 'tcp'}://127.0.0.1:{self.broker_port}"

    @property
    def scheduler_broker_urls(self) -> list[str]:
        """Where the scheduler connects: the broker, or every shard directly."""
        return [s.url for s in self.shards] if self.shards else [self.broker_url]

    def broker_processes(self) -> list[Optional[Process]]:
        """The running broker, or every shard's."""
        return [s.process for s in self.shards] if self.shards else [self.broker]

    @property
    def slot_ms(self) -> int:
        return int(round(self.slot_seconds * 1000))

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        """Broker and scheduler, both ready. Nodes and agents come after."""
        self.check_prerequisites()
        limit = raise_nofile_limit()
        self.log(f"stack dir {self.root} (open files limit {limit})")
        if self.shard_count > 1:
            self.start_shards()
        else:
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
        stop_processes(self.haproxy, timeout=10)
        stop_processes([sh.process for sh in self.shards] + [self.broker], timeout=10)
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
        for p in [self.scheduler, *self.broker_processes(), *self.haproxy]:
            if p is not None and str(p.log_path) not in text:
                out.append(f"--- last lines of {p.log_path}:")
                out += ["    " + line for line in p.tail(lines).splitlines()]
        print("\n".join(out), file=sys.stderr, flush=True)
        self.keep = True

    def check_alive(self, include_agents: bool = True) -> None:
        """Raise StackError with the log tail of the first component that died."""
        procs = self.broker_processes() + self.haproxy + [self.scheduler] + [n.process for n in self.nodes.values()]
        if include_agents:
            procs += [a.process for a in self.agents.values()]
        for p in procs:
            if p is None or p.alive() or p.stopped_by_us:
                continue
            if p.may_exit_zero and p.returncode == 0:
                continue
            raise StackError(p.describe_failure("died"))

    def spawn(self, name: str, argv: list[str], cwd: Optional[Path] = None,
              env: Optional[dict] = None) -> Process:
        """Start a process of this stack, its output in logs/NAME.log."""
        return Process(name, argv, self.logs / f"{name}.log", cwd or self.root, env)

    # -- broker credentials (localstack.credentials) ---------------------------

    def password_of(self, username: str) -> str:
        """The MQTT password of a service, operator or (registered) terminal username."""
        return self.credentials.password_of(username)

    def mqtt_auth_args(self, username: str) -> list[str]:
        """`-u USER -P PASSWORD` for mosquitto_pub / mosquitto_sub / mosquitto_rr."""
        return ["-u", username, "-P", self.password_of(username)]

    def terminal_password(self, terminal_id: str) -> str:
        """The terminal's password; registers the terminal on first use (register_terminals)."""
        return self.credentials.register([terminal_id])[terminal_id]

    def register_terminals(self, terminal_ids: Iterable[str]) -> dict[str, str]:
        """Terminal id -> password for many terminals at once (one broker reload)."""
        return self.credentials.register(terminal_ids)

    # -- mosquitto -----------------------------------------------------------

    def mosquitto_conf(self, port: int) -> str:
        return configs.mosquitto_conf(port, self.plugin, configs.plugin_options(self.password_file),
                                      extra_lines=self.tls.listener_lines() if self.tls else ())

    def start_broker(self, timeout: float = 15) -> None:
        self.credentials.write_file()
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
        self.broker = self.spawn("mosquitto", [find_tool("mosquitto"), "-c", str(conf)])
        self.broker_port = port
        return wait_port(self.broker, port, timeout)

    # -- broker shards behind HAProxy ------------------------------------------

    def start_shards(self, timeout: float = 15) -> None:
        """`shard_count` mosquitto shards, each with the plugin and its own port,
        then HAProxy on another port in front of them (configs.haproxy_conf)."""
        self.credentials.write_file()
        for i in range(self.shard_count):
            self.shards.append(self._start_shard(f"shard{i + 1}", timeout))
        for attempt in range(3):
            port = free_port()
            conf = self.root / "haproxy.cfg"
            conf.write_text(configs.haproxy_conf(port, [(sh.name, sh.port) for sh in self.shards]))
            haproxy = find_tool("haproxy")
            if not haproxy:
                raise StackError("missing: haproxy (Debian package haproxy)")
            self.log(f"haproxy on 127.0.0.1:{port} x{self.haproxy_processes} in front of "
                     f"{', '.join(f'{sh.name} :{sh.port}' for sh in self.shards)}")
            self.haproxy = [self.spawn(f"haproxy-{k + 1}", [haproxy, "-db", "-f", str(conf)])
                            for k in range(self.haproxy_processes)]
            if all(wait_port(h, port, timeout) for h in self.haproxy):
                self.broker_port = port
                return
            failed = next(h for h in self.haproxy if not h.alive()) if any(
                not h.alive() for h in self.haproxy) else self.haproxy[0]
            stop_processes(self.haproxy)
            if "in use" not in failed.tail() or attempt == 2:
                raise StackError(failed.describe_failure(f"did not listen on port {port} within {timeout}s"))
        raise StackError("haproxy: no port")

    def _start_shard(self, name: str, timeout: float, port: Optional[int] = None) -> Shard:
        for attempt in range(3):
            p = port or free_port()
            conf = self.root / f"mosquitto-{name}.conf"
            conf.write_text(self.mosquitto_conf(p))
            proc = self.spawn(f"mosquitto-{name}", [find_tool("mosquitto"), "-c", str(conf)])
            if wait_port(proc, p, timeout):
                self.log(f"mosquitto {name} on 127.0.0.1:{p} (plugin {self.plugin.name})")
                return Shard(name, p, conf, proc)
            stop_processes([proc])
            if port or "in use" not in proc.tail() or attempt == 2:
                raise StackError(proc.describe_failure(f"did not listen on port {p} within {timeout}s"))
        raise StackError(f"mosquitto {name}: no port")

    def kill_shard(self, index: int) -> Shard:
        """SIGKILL one shard by its pid: its clients lose their connections, its
        sessions and retained messages are gone (persistence false); HAProxy's
        health check takes it out of the hash."""
        shard = self.shards[index]
        shard.process.stopped_by_us = True
        shard.process.kill_hard()
        shard.process.popen.wait(timeout=10)
        self.log(f"killed mosquitto {shard.name} (pid {shard.process.pid})")
        return shard

    def restart_shard(self, index: int, timeout: float = 15) -> Shard:
        """Start a killed shard again on its port (empty: no persistence)."""
        old = self.shards[index]
        stop_processes([old.process])
        self.shards[index] = self._start_shard(old.name, timeout, port=old.port)
        return self.shards[index]

    # -- scheduler -----------------------------------------------------------

    def enable_http_api(self) -> tuple[str, str, Path]:
        """Before start(): the scheduler serves its HTTP API (issue 13) over TLS on a
        free port, with a users file holding one admin. Returns (url, 'user:password',
        the certificate to trust)."""
        import base64
        import hashlib
        import secrets
        from .processes import free_port
        cert, key = self.root / "http-cert.pem", self.root / "http-key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
        password = "adm-" + secrets.token_hex(8)
        salt = os.urandom(12)
        digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101, 64)
        users = self.root / "http-users"
        users.write_text(f"admin:admin:$7$101${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}\n")
        self.http_port = free_port()
        self.scheduler_extra_args += ["--http-listen", f"127.0.0.1:{self.http_port}", "--http-tls-cert", str(cert),
                                      "--http-tls-key", str(key), "--http-users", str(users)]
        self.http_api = (f"https://127.0.0.1:{self.http_port}", f"admin:{password}", cert)
        return self.http_api

    def start_scheduler(self, timeout: float = 30) -> None:
        db = self.root / "scheduler-db"
        db.mkdir(exist_ok=True)
        argv = [str(self.scheduler_bin)] + configs.scheduler_args(self.scheduler_broker_urls, db,
                                                                   self.slot_seconds)
        if self.tls:
            argv += self.tls.client_args(scheduler=True)
        argv += self.scheduler_extra_args
        self.log(f"slotwise-scheduler (slot {configs.slot_arg(self.slot_seconds)}s, db {db}, "
                 f"signed download URLs)")
        env = dict(os.environ, SLOTWISE_URL_SECRET=self.url_secret,
                   SLOTWISE_SCHEDULER_PASSWORD=SERVICE_PASSWORD)
        self.scheduler = self.spawn("scheduler", argv, env=env)
        deadline = now() + timeout
        last = None
        while now() < deadline:
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

    # -- the operator CLI (localstack.operator) --------------------------------

    def cli(self, *args: str, check: bool = True, timeout: Optional[float] = None,
            username: Optional[str] = None) -> subprocess.CompletedProcess:
        """Run `slotwise ARGS`; with check, a non-zero exit raises StackError."""
        return self.operator.run(*args, check=check, timeout=timeout, username=username)

    def cli_json(self, *args: str, timeout: Optional[float] = None):
        return self.operator.json(*args, timeout=timeout)

    def cli_stream(self, *args: str, timeout: float,
                   echo: Callable[[str], None] | None = None) -> int:
        return self.operator.stream(*args, timeout=timeout, echo=echo)

    def terminal_list(self) -> list[dict]:
        return self.operator.terminal_list()

    # -- S1: registry, download nodes, versions --------------------------------

    def add_cluster(self, cluster_id: str, lat: float, lon: float, region: str = "") -> None:
        self.operator.add_cluster(cluster_id, lat, lon, region)
        self.clusters[cluster_id] = (lat, lon, region)
        self.log(f"S1 cluster {cluster_id} at {lat:.4f},{lon:.4f}")

    def nginx_conf(self, node_id: str, port: int, node_dir: Path, access_log: Path,
                   limit_rate: Optional[str] = None, max_connections: Optional[int] = None,
                   sndbuf: Optional[str] = None) -> str:
        """The node's nginx.conf (configs.nginx_conf), signed URLs only."""
        return configs.nginx_conf(node_id, f"127.0.0.1:{port}", self.artifacts, access_log,
                                  pid=node_dir / "nginx.pid", temp_dir=node_dir / "temp",
                                  url_secret=self.url_secret, limit_rate=limit_rate,
                                  max_connections=max_connections, sndbuf=sndbuf)

    def start_nginx(self, name: str, node_dir: Path, conf: Path) -> Process:
        """nginx in the foreground on `conf`, its prefix (temp files) in `node_dir`."""
        return self.spawn(name, [find_tool("nginx"), "-e", "stderr", "-p", str(node_dir),
                                 "-c", str(conf)], cwd=node_dir)

    def start_node(self, node_id: str, cluster: str, per_slot: int, timeout: float = 15,
                   limit_rate: Optional[str] = None, max_connections: Optional[int] = None,
                   sndbuf: Optional[str] = None) -> Node:
        node_dir = self.root / "nodes" / node_id
        (node_dir / "temp").mkdir(parents=True, exist_ok=True)
        access_log = node_dir / "access.log"
        for attempt in range(3):
            port = free_port()
            conf = node_dir / "nginx.conf"
            conf.write_text(self.nginx_conf(node_id, port, node_dir, access_log, limit_rate, max_connections,
                                            sndbuf))
            proc = self.start_nginx(f"nginx-{node_id}", node_dir, conf)
            if wait_port(proc, port, timeout):
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
                 bandwidth_bps: Optional[int] = None, limit_rate: Optional[str] = None,
                 max_connections: Optional[int] = None, sndbuf: Optional[str] = None) -> Node:
        """Start an nginx for the node (`limit_rate`, `max_connections`: see
        configs.nginx_conf), then register it (S1) with its bandwidth and
        connection limit."""
        node = self.start_node(node_id, cluster, per_slot, limit_rate=limit_rate,
                               max_connections=max_connections, sndbuf=sndbuf)
        self.operator.add_node(node_id, cluster, node.url, per_slot, bandwidth_bps, max_connections)
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
            openssl = find_tool("openssl") or "openssl"
            subprocess.run([openssl, "genpkey", "-algorithm", "ed25519", "-out", str(private)],
                           check=True, capture_output=True)
            subprocess.run([openssl, "pkey", "-in", str(private), "-pubout", "-out", str(public)],
                           check=True, capture_output=True)
        return private, public

    def add_version(self, version: str = NEW_VERSION, size: int = 256 * 1024) -> tuple[Path, str]:
        path, url_path = self.make_artifact(version, size)
        self.operator.add_version(version, path, url_path, self.signing_keys()[0])
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
            install_command = configs.default_install_command(adir / "installed", install_log)
        config = adir / "agent.conf"
        config.write_text(configs.agent_conf(
            broker=self.broker_url, terminal_id=terminal_id,
            password=self.terminal_password(terminal_id), state_dir=adir / "state",
            version_file=version_file, location=configs.location_text(lat, lon),
            system_id=system_id or "pos-linux-" + terminal_id.lower(),
            install_command=install_command, download_dir=adir / "downloads",
            public_key_file=self.signing_keys()[1], extra=extra_config))
        argv = (argv_prefix or []) + [str(self.agent_bin), "--config", str(config)]
        if exit_when_idle:
            argv.append("--exit-when-idle")
        proc = self.spawn(f"agent-{terminal_id}", argv, cwd=adir)
        proc.may_exit_zero = exit_when_idle
        agent = Agent(terminal_id, lat, lon, adir, config, version_file, install_log, proc)
        self.agents[terminal_id] = agent
        return agent

    def restart_agent(self, agent: Agent) -> Process:
        """Start the agent's process again, same argv, config and state dir."""
        agent.process = self.spawn(f"agent-{agent.id}", agent.process.argv, cwd=agent.dir)
        agent.process.may_exit_zero = "--exit-when-idle" in agent.process.argv
        return agent.process

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

    def wait_terminals_known(self, terminal_ids: Iterable[str], timeout: float = 20,
                             location_timeout: float = 5) -> list[str]:
        """Wait until the scheduler lists every terminal (presence), then up to
        `location_timeout` more for their locations (inventory reports, S7), which the
        window query (S3) uses for the demand per cluster. Returns the terminals whose
        location is still unknown."""
        wanted = set(terminal_ids)
        deadline = now() + timeout
        loc_deadline = None
        missing_loc = sorted(wanted)
        while now() < deadline:
            self.check_alive()
            terminals = self.terminal_list()
            listed = {t.get("id") for t in terminals}
            missing_loc = sorted(wanted - {t.get("id") for t in terminals if t.get("location")})
            if not missing_loc:
                return []
            if wanted <= listed:
                loc_deadline = loc_deadline or min(deadline, now() + location_timeout)
                if now() >= loc_deadline:
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
        deadline = now() + timeout
        while now() < deadline and any(a.process.alive() for a in self.agents.values()):
            time.sleep(0.1)
        return {tid: a.process.returncode for tid, a in self.agents.items()}

    # -- evidence: the nodes' access logs (localstack.evidence) ----------------

    def access_entries(self, node_id: str) -> list[dict]:
        return evidence.access_entries(self.nodes[node_id].access_log, node_id)

    def downloads(self, url_path: str) -> list[evidence.Download]:
        return evidence.downloads({n.id: n.access_log for n in self.nodes.values()}, url_path)

    def node_slot_counts(self, url_path: str, slot_ms: Optional[int] = None) -> dict[tuple[str, int], int]:
        """(node, slot of the download's start) -> downloads started."""
        return evidence.node_slot_counts(self.downloads(url_path), slot_ms or self.slot_ms)


# Stacks still running, stopped at exit whatever happens.
_live_stacks: list[Stack] = []


@atexit.register
def _stop_live_stacks() -> None:
    for s in list(_live_stacks):
        try:
            s.stop()
        except Exception as e:  # noqa: BLE001 - best effort at exit
            print(f"localstack: stopping the stack failed: {e}", file=sys.stderr)
