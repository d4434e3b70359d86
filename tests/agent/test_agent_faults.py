#!/usr/bin/env python3
"""The agent against real processes: mosquitto (with the Slotwise plugin), the
scheduler, nginx and slotwise-agent, with faults injected. One campaign, twelve
terminals, each with its own fault; the broker is restarted while they all
wait for their slot.

Download faults (a small TCP proxy in front of a real nginx picks the fault
from the X-Slotwise-Terminal header the agent sends):
  F-CUT      every response is cut after 2 MB (6 MB artifact): resumes with
             Range, the node serves about the artifact's size once
  F-CORRUPT  one byte flipped in the first response: SHA-256 mismatch,
             deleted, fetched again, installed
  F-403      nginx itself answers 403 (expired URL) to the first request:
             the agent asks the scheduler again, then succeeds
  F-DOWN     the first two connections die without a response (node down):
             retried with backoff and full jitter, then succeeds
  F-BADSIG   its public_key_file is another key: refused before any byte is
             fetched, FAILED, the install command never runs
  F-DISK     file size limit of ~1 MB (ulimit -f, SIGXFSZ ignored): the
             write fails, FAILED ("cannot write")

SIGKILL in each state (table-driven): K-<PHASE> is killed -9 right after it
logs entering PHASE (DOWNLOADING: once 1 MB is on disk; INSTALLING: during a
slow install command), restarted with the same config and state dir, and
must finish with the new version installed exactly once.

    python3 tests/agent/test_agent_faults.py --build-dir build [--keep]

The last line is `N passed, M failed`; the exit code is 0 only if all passed.
"""

from __future__ import annotations

import argparse
import re
import selectors
import socket
import socketserver
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

CAMPAIGN = "agent-faults"
SIZE = 6 * 1024 * 1024
CUT_BYTES = 2 * 1024 * 1024
CORRUPT_AT = 1024 * 1024
LAT, LON = 48.8566, 2.3522
OPTS = argparse.Namespace(build_dir=str(REPO / "build"), keep=False, wait=120)

FAULTS = ["F-CUT", "F-CORRUPT", "F-403", "F-DOWN", "F-BADSIG", "F-DISK"]
KILL_PHASES = ["NOTIFIED", "WAITING", "CHECKING", "DOWNLOADING", "INSTALLING", "REPORTING"]
KILLS = {f"K-{p}": p for p in KILL_PHASES}
EXPECT_FAILED = {"F-BADSIG": "signature", "F-DISK": "cannot write"}


class FaultProxy(socketserver.ThreadingTCPServer):
    """Forwards to nginx; injects the fault of the terminal named in the request."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream_port: int):
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        self.connections: dict[str, int] = {}
        self.response_bytes: dict[str, int] = {}
        self.expired_flag: Path | None = None

    @property
    def port(self) -> int:
        return self.server_address[1]


class _ProxyHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: FaultProxy = self.server  # type: ignore[assignment]
        client: socket.socket = self.request
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                return
            head += chunk
        m = re.search(rb"(?im)^X-Slotwise-Terminal:\s*(\S+)", head)
        tid = m.group(1).decode() if m else ""
        with server.lock:
            n = server.connections[tid] = server.connections.get(tid, 0) + 1
        if tid == "F-DOWN" and n <= 2:
            client.close()  # the node died before answering
            return
        upstream = socket.create_connection(("127.0.0.1", server.upstream_port))
        upstream.sendall(head)
        sent = 0
        cut = CUT_BYTES if tid == "F-CUT" else None
        corrupt = tid == "F-CORRUPT" and n == 1
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ)
        sel.register(upstream, selectors.EVENT_READ)
        try:
            while True:
                for key, _ in sel.select(timeout=30):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    if key.fileobj is client:
                        upstream.sendall(data)
                        continue
                    if tid == "F-403" and server.expired_flag is not None:
                        # nginx has answered 403: the scheduler's next URL is
                        # "fresh". Lifted before the agent sees the 403, so
                        # there is no race with its next request.
                        server.expired_flag.unlink(missing_ok=True)
                    if corrupt and sent <= CORRUPT_AT < sent + len(data):
                        i = CORRUPT_AT - sent
                        data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
                    if cut is not None and sent + len(data) >= cut:
                        data = data[:cut - sent]
                    client.sendall(data)
                    sent += len(data)
                    with server.lock:
                        server.response_bytes[tid] = server.response_bytes.get(tid, 0) + len(data)
                    if cut is not None and sent >= cut:
                        return  # cut the connection mid-body
        except OSError:
            return
        finally:
            for s in (client, upstream):
                try:
                    s.close()
                except OSError:
                    pass


class AgentFaults(unittest.TestCase):
    stack: ls.LocalStack

    @classmethod
    def setUpClass(cls) -> None:
        cls.stack = ls.LocalStack(OPTS.build_dir, slot_seconds=2, keep=OPTS.keep)
        cls.proxy = None
        try:
            cls._run()
        except BaseException as e:
            cls.stack.report_failure(e)
            cls._teardown()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        if st.tests_failed_so_far():
            cls.stack.keep = True
        cls._teardown()

    @classmethod
    def _teardown(cls) -> None:
        if cls.proxy is not None:
            cls.proxy.shutdown()
            cls.proxy.server_close()
        ls.stop_processes(cls.extra_procs if hasattr(cls, "extra_procs") else [], timeout=10)
        cls.stack.stop()

    # -- set-up --------------------------------------------------------------

    @classmethod
    def _start_nginx(cls) -> None:
        """A node of our own: localstack's nginx config plus a 403 switch for F-403."""
        stack = cls.stack
        node_dir = stack.root / "nodes" / "fault-node"
        (node_dir / "temp").mkdir(parents=True, exist_ok=True)
        cls.expired_flag = node_dir / "expired-F-403"
        cls.expired_flag.write_text("expired\n")
        port = ls.free_port()
        conf = stack.nginx_conf("fault-node", port, node_dir, node_dir / "access.log")
        gate = (f"if (-f {node_dir}/expired-$http_x_slotwise_terminal) {{ return 403; }}\n"
                "            try_files $uri =404;")
        assert "try_files $uri =404;" in conf
        conf = conf.replace("try_files $uri =404;", gate, 1)
        # Our own 403 switch replaces localstack's secure_link check, if any
        # (the scheduler may sign URLs; this node does not need to check them).
        conf = "\n".join(line for line in conf.splitlines()
                         if "secure_link" not in line and "return 410" not in line) + "\n"
        (node_dir / "nginx.conf").write_text(conf)
        proc = stack.start_nginx("nginx-fault-node", node_dir, node_dir / "nginx.conf")
        cls.extra_procs = [proc]
        if not ls.wait_port(proc, port, 15):
            raise ls.StackError(proc.describe_failure(f"nginx did not listen on {port}"))
        cls.proxy = FaultProxy(port)
        cls.proxy.expired_flag = cls.expired_flag
        threading.Thread(target=cls.proxy.serve_forever, daemon=True).start()

    @classmethod
    def _start_agents(cls) -> None:
        stack = cls.stack
        other = stack.root / "other-key"
        other.mkdir(exist_ok=True)
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(other / "k.pem")],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", str(other / "k.pem"), "-pubout", "-out",
                        str(other / "k.pub")], check=True, capture_output=True)
        # The broker restart comes in a 4-6 s wait for the slot: the agents'
        # reconnect spread (60 s by default) must fit inside it.
        quick = {"busy_retry_s": "1", "reconnect_spread_s": "2"}
        for tid in FAULTS:
            extra = dict(quick)
            prefix = None
            if tid == "F-BADSIG":
                extra["public_key_file"] = str(other / "k.pub")
            if tid == "F-DISK":
                # ~1 MB file size limit; SIGXFSZ ignored so write() fails with EFBIG.
                prefix = ["/bin/sh", "-c", 'trap "" XFSZ; ulimit -f 2048; exec "$@"', "sh"]
            cls._agent(tid, extra, prefix)
        for tid, phase in KILLS.items():
            extra = dict(quick)
            install = None
            if phase == "DOWNLOADING":
                extra["download_rate_limit_kbps"] = "2048"
            if phase == "INSTALLING":
                adir = stack.root / "agents" / tid
                install = (f'sleep 2 && cp "$SLOTWISE_FILE" "{adir / "installed"}/firmware.bin"'
                           f' && echo "$SLOTWISE_VERSION $(date +%s%3N)" >> "{adir / "install.log"}"')
            cls._agent(tid, extra, None, install)

    @classmethod
    def _agent(cls, tid, extra, prefix, install=None):
        # public_key_file is written by localstack; an override replaces it.
        key = extra.pop("public_key_file", None)
        agent = cls.stack.start_agent(tid, LAT, LON, exit_when_idle=True, install_command=install,
                                      extra_config=extra, argv_prefix=prefix)
        if key:
            agent.process.kill_hard()
            agent.process.popen.wait(10)
            text = agent.config.read_text()
            text = re.sub(r"(?m)^public_key_file = .*$", f"public_key_file = {key}", text)
            agent.config.write_text(text)
            cls.stack.restart_agent(agent)

    @classmethod
    def _run(cls) -> None:
        stack = cls.stack
        stack.start()
        stack.add_cluster("paris", LAT, LON)
        cls._start_nginx()
        stack.cli("node", "add", "fault-node", "--cluster", "paris", "--url",
                  f"http://127.0.0.1:{cls.proxy.port}", "--per-slot", "12")
        cls.artifact, cls.url_path = stack.add_version(ls.NEW_VERSION, size=SIZE)
        cls._start_agents()
        tids = FAULTS + list(KILLS)
        missing = stack.wait_terminals_known(tids, timeout=30)
        if missing:
            raise ls.StackError(f"terminals unknown to the scheduler: {missing}")
        stack.cli("campaign", "create", CAMPAIGN, "--version", ls.NEW_VERSION, "--terminals", ",".join(tids))
        slot_ms = stack.slot_ms
        start = int(time.time() * 1000) // slot_ms + 3  # a wait of 4-6 s: time for a broker restart
        stack.cli("campaign", "schedule", CAMPAIGN, "--start-slot", str(start), "--end-slot", str(start + 25))
        cls.kill_log = cls._drive(tids, deadline=time.monotonic() + OPTS.wait)
        cls.report = stack.cli_json("campaign", "status", CAMPAIGN)
        cls.progress = {t["terminal_id"]: t for t in cls.report.get("terminals", [])}
        cls.exits = stack.wait_agents_exit(20)

    @classmethod
    def _drive(cls, tids, deadline) -> dict[str, str]:
        """Kill each K-agent in its phase, lift F-403's 403, restart the broker
        once every agent waits; until the campaign is done."""
        stack = cls.stack
        killed: dict[str, str] = {}
        broker_restarted = False
        cls.broker_restart_at_waiting = 0
        while time.monotonic() < deadline:
            for tid, phase in KILLS.items():
                if tid in killed:
                    continue
                agent = stack.agents[tid]
                log = agent.process.log_path.read_text(errors="replace")
                if f"-> {phase}" not in log:
                    continue
                if phase == "DOWNLOADING":
                    parts = list((agent.dir / "downloads").glob("*.part"))
                    if not parts or parts[0].stat().st_size < 1024 * 1024:
                        continue
                agent.process.kill_hard()
                agent.process.popen.wait(10)
                killed[tid] = f"killed -9 after entering {phase}"
                stack.log(f"{tid}: SIGKILL in {phase}; restarting")
                stack.restart_agent(agent)
            if not broker_restarted:
                waiting = [t for t in FAULTS if "-> WAITING" in
                           stack.agents[t].process.log_path.read_text(errors="replace")]
                if len(waiting) == len(FAULTS):
                    cls._restart_broker()
                    broker_restarted = True
                    cls.broker_restart_at_waiting = len(waiting)
            if not any(a.process.alive() for a in stack.agents.values()):
                break
            time.sleep(0.05)
        cls.broker_restarted = broker_restarted
        return killed

    @classmethod
    def _restart_broker(cls) -> None:
        stack = cls.stack
        stack.log("restarting mosquitto while the terminals wait for their slot")
        ls.stop_processes([stack.broker], timeout=10)
        conf = stack.root / "mosquitto.conf"  # same port
        proc = stack.spawn("mosquitto-2", [ls.find_tool("mosquitto"), "-c", str(conf)])
        if not ls.wait_port(proc, stack.broker_port, 15):
            raise ls.StackError(proc.describe_failure("restarted broker did not listen"))
        stack.broker = proc

    # -- helpers -------------------------------------------------------------

    def final(self, tid: str) -> dict:
        t = self.progress.get(tid)
        self.assertIsNotNone(t, f"{tid} missing from the campaign report")
        return t

    def log_of(self, tid: str) -> str:
        return self.stack.agents[tid].process.log_path.read_text(errors="replace")

    # -- tests ---------------------------------------------------------------

    def test_broker_restarted_during_the_wait(self):
        self.assertTrue(self.broker_restarted, "never saw every fault agent WAITING")
        for tid in FAULTS:
            with self.subTest(terminal=tid):
                self.assertIn("reconnecting in", self.log_of(tid))

    def test_every_agent_exited_cleanly(self):
        for tid, rc in self.exits.items():
            with self.subTest(terminal=tid):
                self.assertEqual(rc, 0, self.stack.agents[tid].process.describe_failure("exit"))

    def test_outcomes(self):
        for tid in FAULTS + list(KILLS):
            t = self.final(tid)
            agent = self.stack.agents[tid]
            with self.subTest(terminal=tid):
                if tid in EXPECT_FAILED:
                    self.assertEqual(t.get("state"), "FAILED", t)
                    self.assertIn(EXPECT_FAILED[tid], t.get("detail", ""))
                    self.assertEqual(agent.installed_version(), ls.OLD_VERSION)
                    self.assertFalse(agent.install_log.exists(), "the install command ran")
                else:
                    self.assertEqual(t.get("state"), "SUCCEEDED", t)
                    self.assertEqual(agent.installed_version(), ls.NEW_VERSION)
                    installs = agent.install_log.read_text().splitlines()
                    # K-INSTALLING's first install command outlives the agent's
                    # SIGKILL (its own process group) and may finish too.
                    self.assertEqual(len(installs), 1) if tid != "K-INSTALLING" else \
                        self.assertIn(len(installs), (1, 2))
                    self.assertEqual((agent.dir / "installed" / "firmware.bin").read_bytes(),
                                     self.artifact.read_bytes())

    def test_cut_connection_resumes(self):
        served = self.proxy.response_bytes.get("F-CUT", 0)
        self.assertGreaterEqual(self.proxy.connections.get("F-CUT", 0), 3)
        self.assertLessEqual(served / SIZE, 1.02, f"served {served} bytes for {SIZE}")
        self.assertIn("resuming the download at byte", self.log_of("F-CUT"))

    def test_corrupted_bytes_refetched(self):
        self.assertIn("sha256 mismatch", self.log_of("F-CORRUPT"))

    def test_expired_url_asks_again(self):
        log = self.log_of("F-403")
        self.assertIn("HTTP 403", log)
        self.assertIn("asking the scheduler again", log)

    def test_node_down_retried_with_backoff(self):
        self.assertIn("fetching again in", self.log_of("F-DOWN"))

    def test_bad_signature_fetches_nothing(self):
        self.assertEqual(self.proxy.connections.get("F-BADSIG", 0), 0)

    def test_sigkill_in_each_state(self):
        for tid, phase in KILLS.items():
            with self.subTest(phase=phase):
                self.assertIn(tid, self.kill_log, f"{tid} never reached {phase}")
        self.assertIn("resuming the download at byte", self.log_of("K-DOWNLOADING"))


def main() -> int:
    return st.run_test_file([AgentFaults], OPTS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
