"""The harness of the plugin's end-to-end scenarios (tests/plugin/e2e/NN_*.py),
on the shared test support (tests/support/slotwise_testing) and the one
source of configs (localstack.configs).

Each scenario is a script: it starts mosquitto 2.0.11 on a free loopback
port with a generated config that loads the built plugin and a password file
made by the real `mosquitto_passwd`, drives it with independent real clients
(mosquitto_pub, mosquitto_sub, mosquitto_rr, MQTT v5), prints `ok   - ...` /
`FAIL - ...` per check and last `N checks passed, M failed, T s`; exit 0 only
when every check passed and there was at least one. By hand:

  tests/plugin/e2e/02_identity.py --plugin build/broker-plugin/mosquitto_slotwise.so [--keep]
      [--mosquitto /usr/sbin/mosquitto --mosquitto-pub ... --mosquitto-sub ...]

Every process started here is stopped by its pid.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from localstack import configs  # noqa: E402

free_port = st.free_port
read_varint = st.protobuf.read_varint
decode_fields = st.protobuf.decode_fields

SERVICES = ["sched", "sched2"]
OPERATOR = "alice"
TIMEOUT = 5.0  # longest wait for anything that should happen
# Every username the tests connect with, and its password (terminals too).
TERMINALS = ["A", "B", "C", "D", "M", "P1", "P2", "T2", "T3", "T4", "T5", "R", "F", "K1", "K2"]
PASSWORDS = {name: f"pw-{name}" for name in SERVICES + [OPERATOR] + TERMINALS}
STAMP = "slotwise-terminal"


def pb(token):
    """A protobuf message holding `token` as field 1 (string): a valid Report,
    Check or Status (campaign_id), so it passes the plugin's validation."""
    data = token.encode() if isinstance(token, str) else token
    assert len(data) < 128
    return b"\x0a" + bytes([len(data)]) + data


def make_password_file(path, mosquitto_passwd):
    """The password file, written by the real mosquitto_passwd tool."""
    configs.write_password_file(path, PASSWORDS, mosquitto_passwd)


def make_tls(workdir, openssl="openssl"):
    """A throwaway CA, a server certificate, client certificates for K1 and K2
    signed by it, and one client certificate for K1 from a foreign CA."""
    d = os.path.join(workdir, "tls")
    os.makedirs(d, exist_ok=True)

    def run(*args):
        subprocess.run([openssl, *args], check=True, capture_output=True, timeout=30)

    def ca(name):
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN=slotwise-test-{name}", "-keyout", f"{d}/{name}.key",
            "-out", f"{d}/{name}.crt")

    def leaf(name, cn, ca_name):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
            "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr")
        run("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/{ca_name}.crt",
            "-CAkey", f"{d}/{ca_name}.key", "-CAcreateserial", "-days", "2",
            "-out", f"{d}/{name}.crt")

    ca("ca")
    ca("rogue-ca")
    leaf("server", "127.0.0.1", "ca")
    leaf("k1", "K1", "ca")
    leaf("k2", "K2", "ca")
    leaf("rogue-k1", "K1", "rogue-ca")
    return d


# ---------------------------------------------------------------- reporting

class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def check(self, condition, what, detail=""):
        if condition:
            self.passed += 1
            print(f"ok   - {what}", flush=True)
        else:
            self.failed.append(what)
            print(f"FAIL - {what} {detail}", flush=True)
        return condition


CHECKS = Checks()
check = CHECKS.check


def wait_until(predicate, timeout=TIMEOUT, interval=0.05):
    return st.wait_until(predicate, timeout, interval)


# ---------------------------------------------------------------- protobuf

def decode_presence(data):
    """slotwise.v1.Presence{1: terminal_id, 2: online, 3: at_ms} -> dict."""
    out = {"terminal_id": "", "online": False, "at_ms": 0}
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(data, pos)
            if field == 2:
                out["online"] = bool(value)
            elif field == 3:
                out["at_ms"] = value
        elif wire == 2:
            length, pos = read_varint(data, pos)
            if field == 1:
                out["terminal_id"] = data[pos:pos + length].decode()
            pos += length
        else:
            raise ValueError(f"unexpected wire type {wire}")
    return out


# ---------------------------------------------------------------- processes

def stop_pid(proc, sig=signal.SIGTERM):
    """Stops one process we started, by its pid only."""
    st.stop_popen(proc, timeout=TIMEOUT, sig=sig)


class Broker:
    def __init__(self, exe, workdir, plugin, options, name="broker", extra=()):
        self.exe = exe
        self.workdir = workdir
        self.port = free_port()
        self.conf = os.path.join(workdir, f"{name}.conf")
        self.log_path = os.path.join(workdir, f"{name}.log")
        text = configs.mosquitto_conf(
            self.port, plugin, options, allow_anonymous=None, log_types=("all",),
            log_timestamps=False, connection_messages=None, max_keepalive=None,
            extra_lines=extra, header=f"plugin e2e: {name}")
        with open(self.conf, "w") as f:
            f.write(text)
        self.proc = None

    def start(self):
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen([self.exe, "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=self.log_file)
        return self

    def wait_ready(self):
        def listening():
            if self.proc.poll() is not None:
                return True
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                return False
        wait_until(listening)
        return self.proc.poll() is None

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, text, count=1, timeout=TIMEOUT):
        return wait_until(lambda: self.log().count(text) >= count, timeout)

    def sighup(self):
        os.kill(self.proc.pid, signal.SIGHUP)

    def stop(self):
        if self.proc:
            stop_pid(self.proc)
            self.log_file.close()


class Clients:
    """mosquitto_pub / mosquitto_sub against one broker, MQTT v5."""

    def __init__(self, pub, sub, broker):
        self.pub_exe, self.sub_exe, self.broker = pub, sub, broker

    def base(self, exe, client_id, username, password=None, port=None):
        """Connect arguments; the password defaults to the username's from
        PASSWORDS (pass "" for none)."""
        args = [exe, "-V", "5", "-h", "127.0.0.1", "-p", str(port or self.broker.port),
                "-i", client_id]
        if username is not None:
            args += ["-u", username]
            if password is None:
                password = PASSWORDS.get(username, "")
            if password:
                args += ["-P", password]
        return args

    def publish(self, client_id, username, topic, payload, qos=1, retain=False, password=None,
                extra=()):
        """One connect-publish-disconnect. Returns (connected, authorised)."""
        if isinstance(payload, str):
            payload = payload.encode()
        args = self.base(self.pub_exe, client_id, username, password) + [
            "-t", topic, "-s", "-q", str(qos), *extra]
        if retain:
            args.append("-r")
        r = subprocess.run(args, input=payload, capture_output=True, timeout=TIMEOUT)
        connected = r.returncode == 0
        # A v5 PUBACK with reason 0x87 does not change mosquitto_pub's exit code.
        authorised = connected and b"not authorized" not in r.stderr.lower()
        return connected, authorised

    def subscribe_result(self, client_id, username, topic, password=None):
        """Subscribes and exits at SUBACK: 'granted', 'denied' or 'refused'."""
        args = self.base(self.sub_exe, client_id, username, password) + ["-t", topic, "-E"]
        r = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT)
        if r.returncode != 0:
            return "refused"
        return "denied" if "subscription requests were denied" in r.stderr else "granted"

    def retained(self, topic):
        """The retained message on topic (bytes) as a service sees it, or None."""
        args = self.base(self.sub_exe, "probe-retained", SERVICES[0]) + [
            "-t", topic, "-C", "1", "-W", "1", "-F", "%x", "--retained-only"]
        r = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT)
        out = r.stdout.strip()
        return bytes.fromhex(out) if r.returncode == 0 and out else None

    def presence(self, tid):
        data = self.retained(f"slotwise/v1/presence/{tid}")
        return decode_presence(data) if data is not None else None

    def wait_presence(self, tid, online):
        return wait_until(lambda: (p := self.presence(tid)) is not None and p["online"] == online)


class Subscriber:
    """A long-lived mosquitto_sub whose messages are collected as they arrive."""

    def __init__(self, clients, client_id, username, topics, extra=()):
        args = clients.base(clients.sub_exe, client_id, username)
        for t in topics:
            args += ["-t", t]
        args += ["-F", "%t|%r|%x|%P", *extra]
        before = clients.broker.log().count(f"Sending SUBACK to {client_id}\n")
        self.messages = []  # (topic, retained, payload bytes, user properties text)
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        # Subscribed once the broker has answered the SUBSCRIBE.
        self.ready = clients.broker.wait_log(f"Sending SUBACK to {client_id}\n", before + 1)

    def _read(self):
        for line in self.proc.stdout:
            topic, retained, payload, props = line.rstrip("\n").split("|", 3)
            with self.lock:
                self.messages.append((topic, retained == "1", bytes.fromhex(payload), props))

    def payloads(self):
        with self.lock:
            return [m[2] for m in self.messages]

    def got(self, token):
        return any(token.encode() in p for p in self.payloads())

    def props_of(self, token):
        """User properties of the messages holding token, e.g. ['slotwise-terminal:C']."""
        with self.lock:
            return [m[3] for m in self.messages if token.encode() in m[2]]

    def wait_for(self, token):
        return wait_until(lambda: self.got(token))

    def stop(self):
        stop_pid(self.proc)
        self.reader.join(timeout=TIMEOUT)


# ---------------------------------------------------------------- MQTT v5 request/response

def request(c, tid, leaf, payload, workdir, extra=()):
    """Terminal `tid` publishes `payload` on its `leaf` topic with MQTT v5
    request/response (mosquitto_rr): response topic = its own reply topic and
    correlation data. Returns the reply payload (bytes) or None.
    mosquitto_rr 2.0.11 takes the payload only as -m (argv: no NUL bytes)."""
    assert b"\0" not in payload
    args = c.base(args_rr(c), tid, tid) + [
        "-t", f"slotwise/v1/t/{tid}/{leaf}", "-e", f"slotwise/v1/t/{tid}/reply", "-q", "1",
        "-m", payload, "-F", "%x", "-W", "3", "-D", "publish", "correlation-data", "corr-1",
        *extra]
    r = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT + 5)
    out = r.stdout.strip()
    return bytes.fromhex(out) if r.returncode == 0 and out else None


def args_rr(c):
    return c.pub_exe.replace("mosquitto_pub", "mosquitto_rr")


def rejection(reply):
    """The message of TerminalReply.error (field 4, message field 2), or ''."""
    if reply is None:
        return ""
    error = decode_fields(reply).get(4)
    if not error:
        return ""
    return decode_fields(error[0]).get(2, [b""])[0].decode(errors="replace")


# ---------------------------------------------------------------- running a scenario

class Context:
    """What a scenario gets: the options, its work dir and password file, and
    (unless it starts its own brokers) the standard broker and its clients."""

    def __init__(self, args, workdir, passwd, tls=None):
        self.args, self.workdir, self.passwd, self.tls = args, workdir, passwd, tls
        self.broker = None
        self.clients = None

    def new_broker(self, options, name="broker", extra=()):
        return Broker(self.args.mosquitto, self.workdir, self.args.plugin, options, name=name,
                      extra=extra)

    def clients_of(self, broker):
        return Clients(self.args.mosquitto_pub, self.args.mosquitto_sub, broker)


def standard_options(passwd):
    """The plugin options of the standard broker every scenario but two runs against."""
    return [("services", ",".join(SERVICES)), ("operators", OPERATOR),
            ("password_file", passwd), ("max_payload_bytes", "1024"),
            ("rate_limit_per_second", "1000"), ("rate_limit_burst", "1000")]


def parse_args(doc):
    ap = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--mosquitto", default=shutil.which("mosquitto") or "/usr/sbin/mosquitto")
    ap.add_argument("--mosquitto-pub", default=shutil.which("mosquitto_pub"))
    ap.add_argument("--mosquitto-sub", default=shutil.which("mosquitto_sub"))
    ap.add_argument("--mosquitto-passwd", default=shutil.which("mosquitto_passwd"))
    ap.add_argument("--openssl", default=shutil.which("openssl") or "openssl")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (configs, logs)")
    args = ap.parse_args()
    args.plugin = os.path.abspath(args.plugin)
    return args


def run_scenario(scenario, doc, standard_broker=True, tls=False):
    """Run `scenario(ctx)` and report. With `standard_broker`, ctx.broker is a broker
    with the standard options (and, with `tls`, a TLS listener requiring client
    certificates from a throwaway CA, ctx.tls its dir), checked to be listening
    before and running after the scenario. Returns the exit status."""
    args = parse_args(doc)
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="slotwise-plugin-e2e-")
    if os.geteuid() == 0:
        os.chmod(workdir, 0o755)
    broker = None
    try:
        passwd = os.path.join(workdir, "slotwise.passwd")
        make_password_file(passwd, args.mosquitto_passwd)
        ctx = Context(args, workdir, passwd, make_tls(workdir, args.openssl) if tls else None)
        if standard_broker:
            extra = []
            if tls:
                tls_port = free_port()
                extra = configs.tls_listener_lines(tls_port, f"{ctx.tls}/ca.crt",
                                                   f"{ctx.tls}/server.crt", f"{ctx.tls}/server.key")
            broker = ctx.new_broker(standard_options(passwd), extra=extra).start()
            if tls:
                broker.tls_port = tls_port
            if not check(broker.wait_ready(), "broker with the plugin is listening", broker.log()):
                return 1
            check("slotwise: plugin ready" in broker.log(), "plugin logged its configuration")
            ctx.broker, ctx.clients = broker, ctx.clients_of(broker)
        scenario(ctx)
        if broker:
            check(broker.proc.poll() is None, "broker still running at the end")
    finally:
        if broker:
            broker.stop()
        if CHECKS.failed or args.keep:
            print(f"work dir kept: {workdir}")
            if broker and CHECKS.failed:
                print("---- broker log (tail) ----")
                print(broker.log()[-6000:])
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    elapsed = time.monotonic() - started
    print(f"{CHECKS.passed} checks passed, {len(CHECKS.failed)} failed, {elapsed:.1f} s")
    for what in CHECKS.failed:
        print(f"  failed: {what}")
    if CHECKS.passed == 0:
        print("  failed: the scenario ran no checks")
    return 1 if CHECKS.failed or CHECKS.passed == 0 else 0
