#!/usr/bin/env python3
"""End-to-end test of mosquitto_slotwise.so against a real mosquitto 2.0.11.

Starts mosquitto on a free loopback port with a generated config that loads
the built plugin and a password file made by the real `mosquitto_passwd`,
and drives it with independent real clients (mosquitto_pub, mosquitto_sub,
mosquitto_rr, MQTT v5). Checks: plugin option validation, connect-time
identity rules (passwords, TLS client certificates from a throwaway CA made
here with the openssl CLI), the access matrix of schemas/README.md, retained
presence (connect, disconnect, session takeover, refused connects, SIGHUP),
edge validation of terminal payloads with their reason codes, the
`slotwise-terminal` stamp, rate limits with the disconnect of a flooder, and
the periodic stats.

Python 3 standard library only. Every process started here is stopped by its
pid. Run by ctest (tests/plugin/CMakeLists.txt); by hand:

  test_plugin_e2e.py --plugin build/broker-plugin/mosquitto_slotwise.so \\
      --mosquitto /usr/sbin/mosquitto --mosquitto-pub /usr/bin/mosquitto_pub \\
      --mosquitto-sub /usr/bin/mosquitto_sub [--keep]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

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
    first = True
    for user, password in PASSWORDS.items():
        args = [mosquitto_passwd] + (["-c"] if first else []) + ["-b", path, user, password]
        subprocess.run(args, check=True, capture_output=True, timeout=TIMEOUT)
        first = False


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
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# ---------------------------------------------------------------- protobuf

def read_varint(data, pos):
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


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

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_pid(proc, sig=signal.SIGTERM):
    """Stops one process we started, by its pid only."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


class Broker:
    def __init__(self, exe, workdir, plugin, options, name="broker", extra=()):
        self.exe = exe
        self.workdir = workdir
        self.port = free_port()
        self.conf = os.path.join(workdir, f"{name}.conf")
        self.log_path = os.path.join(workdir, f"{name}.log")
        lines = [
            f"listener {self.port} 127.0.0.1",
            "log_dest stderr",
            "log_type all",
            "persistence false",
            *extra,
            f"plugin {plugin}",
        ]
        lines += [f"plugin_opt_{key} {value}" for key, value in options]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to user mosquitto
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
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


# ---------------------------------------------------------------- scenarios

def test_bad_options(args, workdir, passwd):
    plaintext = os.path.join(workdir, "plaintext.passwd")
    with open(plaintext, "w") as f:
        f.write("alice:secret\n")
    pw = ("password_file", passwd)
    cases = [
        ([pw, ("operators", "alice,,bob")], "plugin_opt_operators: empty username"),
        ([pw, ("operatorz", "alice")], "unknown option plugin_opt_operatorz"),
        ([pw, ("services", SERVICES[0]), ("operators", SERVICES[0])], "is in both"),
        ([("services", SERVICES[0])], "plugin_opt_password_file is required"),
        ([("password_file", plaintext)], "line 1: unknown hash format"),
        ([("password_file", workdir + "/missing")], "cannot read password file"),
        ([pw, ("terminal_auth", "pin")], "plugin_opt_terminal_auth: 'pin'"),
        ([pw, ("rate_limit_burst", "0")], "plugin_opt_rate_limit_burst"),
    ]
    for i, (options, message) in enumerate(cases):
        broker = Broker(args.mosquitto, workdir, args.plugin, options, name=f"bad{i}").start()
        try:
            broker.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        exited = broker.proc.poll() not in (None, 0)
        broker.stop()
        log = broker.log()
        check(exited and "slotwise: plugin init failed: " in log and message in log,
              f"bad option {options} stops the broker with '{message}'", log[-400:])


def test_connect_rules(c, broker):
    connected, _ = c.publish("C", "C", "slotwise/v1/t/C/report", "ok")
    check(connected, "terminal with client id == username == valid id connects")
    connected, _ = c.publish("C-other", "C", "slotwise/v1/t/C/report", "x")
    check(not connected, "terminal with client id != username is refused")
    check(broker.wait_log("client id differs from its username"), "refusal reason is logged")
    for bad in ["bad id", "bad+id", "bad#", "a/b", "x" * 65]:
        connected, _ = c.publish(bad, bad, "slotwise/v1/t/x/report", "x")
        check(not connected, f"invalid terminal id {bad[:20]!r} is refused")
    connected, _ = c.publish("C", None, "slotwise/v1/t/C/report", "x")
    check(not connected, "connection without username is refused")
    check(broker.wait_log("(username '<none>'"), "refusal without username is logged")
    connected, _ = c.publish("any-cli-id", OPERATOR, "slotwise/v1/op/request", "x")
    check(connected, "operator connects with any client id")
    # Passwords (file written by mosquitto_passwd).
    for cid, user, password, what in [
        ("C", "C", "wrong", "terminal with a wrong password"),
        ("C", "C", "", "terminal without a password"),
        ("C", "C", PASSWORDS["A"], "terminal with another terminal's password"),
        ("s-x", SERVICES[0], "wrong", "service with a wrong password"),
        ("s-x", SERVICES[0], "", "service without a password"),
        ("o-x", OPERATOR, PASSWORDS[SERVICES[0]], "operator with the service's password"),
        ("Z9", "Z9", "pw-Z9", "terminal that is not in the password file"),
    ]:
        connected, _ = c.publish(cid, user, "slotwise/v1/op/request", "x", password=password)
        check(not connected, f"{what} is refused")
    check(broker.wait_log("bad username or password"), "bad password refusal is logged")
    connected, _ = c.publish("sched-xyz", SERVICES[1], "slotwise/v1/t/C/notice", "x")
    check(connected, "second configured service connects")


def test_subscribe_rules(c):
    cases = [
        # terminal C
        ("C", "C", "slotwise/v1/t/C/notice", "granted"),
        ("C", "C", "slotwise/v1/t/C/reply", "granted"),
        ("C", "C", "slotwise/v1/t/C/#", "granted"),
        ("C", "C", "slotwise/v1/t/+/notice", "denied"),
        ("C", "C", "slotwise/v1/t/D/notice", "denied"),
        ("C", "C", "slotwise/v1/t/#", "denied"),
        ("C", "C", "#", "denied"),
        ("C", "C", "slotwise/v1/presence/+", "denied"),
        ("C", "C", "slotwise/v1/op/reply/C", "denied"),
        # operator
        ("op-1", OPERATOR, "slotwise/v1/op/reply/op-1", "granted"),
        ("op-1", OPERATOR, "slotwise/v1/op/reply/op-2", "denied"),
        ("op-1", OPERATOR, "slotwise/v1/op/reply/+", "denied"),
        ("op-1", OPERATOR, "slotwise/v1/op/request", "denied"),
        ("op-1", OPERATOR, "slotwise/v1/t/C/notice", "denied"),
        ("op-1", OPERATOR, "slotwise/v1/t/+/report", "denied"),
        # service
        ("sched-s", SERVICES[0], "slotwise/v1/t/+/report", "granted"),
        ("sched-s", SERVICES[0], "slotwise/v1/presence/+", "granted"),
        ("sched-s", SERVICES[0], "slotwise/#", "granted"),
        ("sched-s", SERVICES[0], "#", "denied"),
        ("sched-s", SERVICES[0], "$SYS/#", "denied"),
    ]
    for cid, user, topic, expected in cases:
        got = c.subscribe_result(cid, user, topic)
        check(got == expected, f"subscribe {user}/{cid} to {topic}: {expected}", f"(got {got})")


def test_message_matrix(c):
    svc = Subscriber(c, "sched-1", SERVICES[0], ["slotwise/#"])
    sub_a = Subscriber(c, "A", "A", ["slotwise/v1/t/A/#"])
    sub_b = Subscriber(c, "B", "B", ["slotwise/v1/t/B/#"])
    sub_op = Subscriber(c, "op-1", OPERATOR, ["slotwise/v1/op/reply/op-1"])
    subs = {"svc": svc, "A": sub_a, "B": sub_b, "op": sub_op}
    check(all(s.ready for s in subs.values()), "matrix subscribers are subscribed")

    # (publisher client id, username, topic, token, authorised, receivers)
    # Terminal C publishes as an outsider so the subscribers' sessions stay.
    s0, s1 = SERVICES
    publishes = [
        ("C", "C", "slotwise/v1/t/C/report", "c-own-report", True, {"svc"}),
        ("C", "C", "slotwise/v1/t/C/check", "c-own-check", True, {"svc"}),
        ("C", "C", "slotwise/v1/t/C/status", "c-own-status", True, {"svc"}),
        ("C", "C", "slotwise/v1/t/C/notice", "c-forged-own-notice", False, set()),
        ("C", "C", "slotwise/v1/t/A/report", "c-on-a-report", False, set()),
        ("C", "C", "slotwise/v1/t/A/notice", "c-on-a-notice", False, set()),
        ("C", "C", "slotwise/v1/t/B/reply", "c-on-b-reply", False, set()),
        ("C", "C", "slotwise/v1/op/request", "c-op-request", False, set()),
        ("C", "C", "slotwise/v1/op/reply/op-1", "c-on-op-reply", False, set()),
        ("C", "C", "slotwise/v1/presence/A", "c-fake-presence", False, set()),
        ("sched-2", s0, "slotwise/v1/t/A/notice", "notice-for-a", True, {"svc", "A"}),
        ("sched-2", s0, "slotwise/v1/t/A/reply", "reply-for-a", True, {"svc", "A"}),
        ("sched-2", s0, "slotwise/v1/t/B/reply", "reply-for-b", True, {"svc", "B"}),
        ("sched-3", s1, "slotwise/v1/t/B/notice", "notice-for-b", True, {"svc", "B"}),
        ("sched-2", s0, "slotwise/v1/op/reply/op-1", "reply-for-op1", True, {"svc", "op"}),
        ("sched-2", s0, "slotwise/v1/op/reply/op-2", "reply-for-op2", True, {"svc"}),
        ("sched-2", s0, "other/topic", "svc-outside-tree", False, set()),
        ("op-1-pub", OPERATOR, "slotwise/v1/op/request", "op-request", True, {"svc"}),
        ("op-1-pub", OPERATOR, "slotwise/v1/t/A/notice", "op-forged-notice", False, set()),
        ("op-1-pub", OPERATOR, "slotwise/v1/t/A/report", "op-forged-report", False, set()),
        ("op-1-pub", OPERATOR, "slotwise/v1/op/reply/op-1", "op-own-reply-write", False, set()),
    ]
    for cid, user, topic, token, authorised, _ in publishes:
        connected, ok = c.publish(cid, user, topic, pb(token))
        check(connected and ok == authorised,
              f"publish by {user}/{cid} to {topic} {'accepted' if authorised else 'denied'}")

    # Fence: one more message to each subscriber, sent after every publish
    # above was acknowledged; a subscriber that has it has seen all before it.
    fences = {"svc": "slotwise/v1/fence", "A": "slotwise/v1/t/A/reply",
              "B": "slotwise/v1/t/B/reply", "op": "slotwise/v1/op/reply/op-1"}
    for name, topic in fences.items():
        c.publish("sched-2", s0, topic, f"fence-{name}")
    for name, sub in subs.items():
        check(sub.wait_for(f"fence-{name}"), f"fence reached subscriber {name}")
    for sub in subs.values():
        sub.stop()

    for cid, user, topic, token, _, receivers in publishes:
        for name, sub in subs.items():
            expected = name in receivers
            check(sub.got(token) == expected,
                  f"{token!r} {'reaches' if expected else 'never reaches'} {name}")
    # What a terminal published arrives stamped with its authenticated id;
    # what the service and operators publish is not stamped.
    for token in ("c-own-report", "c-own-check", "c-own-status"):
        check(svc.props_of(token) == [f"{STAMP}:C"], f"{token!r} arrives stamped {STAMP}:C",
              str(svc.props_of(token)))
    check(svc.props_of("op-request") == [""], "operator request is not stamped",
          str(svc.props_of("op-request")))


def test_presence(c, broker):
    watch = Subscriber(c, "sched-presence", SERVICES[0], ["slotwise/v1/presence/+"])
    check(watch.ready, "presence watcher subscribed")

    def events(tid):
        with watch.lock:
            return [decode_presence(m[2]) for m in watch.messages
                    if m[0] == f"slotwise/v1/presence/{tid}"]

    # Connect, then a clean disconnect.
    p1 = Subscriber(c, "P1", "P1", ["slotwise/v1/t/P1/#"])
    check(c.wait_presence("P1", True), "presence P1 retained online after connect")
    p = c.presence("P1")
    check(p is not None and p["terminal_id"] == "P1" and p["at_ms"] > 1.6e12,
          "presence carries terminal id and a wall-clock at_ms", str(p))
    stop_pid(p1.proc, signal.SIGTERM)
    check(c.wait_presence("P1", False), "presence P1 retained offline after disconnect")

    # Abrupt loss of the TCP connection.
    p1 = Subscriber(c, "P1", "P1", ["slotwise/v1/t/P1/#"])
    check(c.wait_presence("P1", True), "presence P1 online again after reconnect")
    stop_pid(p1.proc, signal.SIGKILL)
    check(c.wait_presence("P1", False), "presence P1 offline after the client is killed")

    # A refused CONNECT that claims a live terminal's client id must neither
    # kick it nor make it offline (its DISCONNECT has a NULL client id).
    p2 = Subscriber(c, "P2", "P2", ["slotwise/v1/t/P2/#"])
    check(c.wait_presence("P2", True), "presence P2 online")
    connected, _ = c.publish("P2", "not a valid id", "slotwise/v1/t/P2/report", "x")
    check(not connected, "impostor for P2 refused")
    time.sleep(0.3)
    p = c.presence("P2")
    check(p is not None and p["online"] and p2.proc.poll() is None,
          "refused impostor leaves P2 connected and online")
    connected, _ = c.publish("P2", "P2", "slotwise/v1/t/P2/report", pb("x"), password="wrong")
    check(not connected, "impostor for P2 with a wrong password refused")
    time.sleep(0.3)
    p = c.presence("P2")
    check(p is not None and p["online"] and p2.proc.poll() is None,
          "wrong-password impostor leaves P2 connected and online")
    stop_pid(p2.proc)

    # Session takeover: the OLD connection's DISCONNECT comes after the NEW
    # connection's auth. mosquitto_pub in --repeat mode does not reconnect
    # when kicked, so it is the old connection.
    old = subprocess.Popen(
        c.base(c.pub_exe, "T2", "T2") + ["-t", "slotwise/v1/t/T2/status", "-m", "\x0a\x01a",
                                         "-q", "1", "--repeat", "1000", "--repeat-delay", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    check(c.wait_presence("T2", True), "presence T2 online (first connection)")
    new = Subscriber(c, "T2", "T2", ["slotwise/v1/t/T2/#"])
    try:
        old.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pass
    check(old.poll() is not None, "first T2 connection is kicked by the second")
    check(broker.wait_log("Client T2 already connected, closing old connection."),
          "broker logged the takeover")
    time.sleep(0.3)  # let any (wrong) offline publish be routed
    p = c.presence("T2")
    check(p is not None and p["online"], "presence T2 stays online after takeover", str(p))
    check(not any(not e["online"] for e in events("T2")), "no offline event for T2 at takeover",
          str(events("T2")))
    stop_pid(old)
    stop_pid(new.proc)
    check(c.wait_presence("T2", False), "presence T2 offline when the current connection goes")

    # SIGHUP re-runs BASIC_AUTH for every held client, including sessions
    # whose connection is gone; presence must not move.
    t3 = Subscriber(c, "T3", "T3", ["slotwise/v1/t/T3/#"])
    check(c.wait_presence("T3", True), "presence T3 online")
    r = subprocess.run(c.base(c.sub_exe, "T4", "T4") + [
        "-c", "-x", "300", "-t", "slotwise/v1/t/T4/#", "-E"], capture_output=True, timeout=TIMEOUT)
    check(r.returncode == 0, "T4 leaves a persistent session behind")
    check(c.wait_presence("T4", False), "presence T4 offline (session kept, no connection)")
    t3_before = c.presence("T3")
    events_before = len(watch.payloads())
    broker.sighup()
    check(broker.wait_log("Reloading config."), "broker reloaded on SIGHUP")
    time.sleep(0.5)
    p = c.presence("T4")
    check(p is not None and not p["online"], "presence T4 stays offline after SIGHUP", str(p))
    check(c.presence("T3") == t3_before, "presence T3 unchanged (online, same at_ms) after SIGHUP")
    check(len(watch.payloads()) == events_before, "no presence published by the SIGHUP pass")
    check(t3.proc.poll() is None, "T3 still connected after SIGHUP")
    t5 = Subscriber(c, "T5", "T5", ["slotwise/v1/t/T5/#"])
    check(c.wait_presence("T5", True), "a terminal connecting after SIGHUP goes online")
    connected, ok = c.publish("C", "C", "slotwise/v1/t/C/report", pb("after-hup"))
    check(connected and ok, "ACL still enforced normally after SIGHUP (allowed write)")
    connected, ok = c.publish("C", "C", "slotwise/v1/t/A/report", "after-hup-denied")
    check(connected and not ok, "ACL still enforced normally after SIGHUP (denied write)")
    for s in (t3, t5, watch):
        s.stop()


def decode_fields(data):
    """A protobuf message -> {field number: [raw values]} (varints as ints,
    length-delimited as bytes); enough to read TerminalReply.error."""
    out, pos = {}, 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(data, pos)
        elif wire == 2:
            length, pos = read_varint(data, pos)
            value = data[pos:pos + length]
            pos += length
        else:
            raise ValueError(f"unexpected wire type {wire}")
        out.setdefault(field, []).append(value)
    return out


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


def test_edge_validation(c, broker, workdir):
    svc = Subscriber(c, "sched-edge", SERVICES[0], ["slotwise/v1/t/+/report",
                                                    "slotwise/v1/t/+/status"])
    check(svc.ready, "edge: service subscriber ready")
    cases = [
        ("malformed protobuf", "report", b"edge-bad \xff\xff", "0x99 payload_format_invalid"),
        ("truncated protobuf", "report", b"\x0a\x20edge-trunc", "0x99 payload_format_invalid"),
        ("invalid UTF-8 string", "report", b"\x0a\x04\xc3\x28ed", "0x99 payload_format_invalid"),
        ("progress over 100", "status", b"\x0a\x09edge-prog\x20\x65",
         "0x99 payload_format_invalid"),
        ("oversized payload", "report", b"\x2a\xcc\x08" + b"e" * 1100, "0x95 packet_too_large"),
    ]
    for what, leaf, payload, expected in cases:
        reply = request(c, "M", leaf, payload, workdir)
        got = rejection(reply)
        check(got.startswith(expected), f"edge: {what} on {leaf} is answered '{expected}'",
              f"(got {got!r})")
    # The same requests in a good shape pass and are stamped.
    reply = request(c, "M", "report", pb("edge-good"), workdir)
    check(reply is None, "edge: a valid report gets no broker error reply")
    # A forged stamp naming another terminal is dropped with 0x87.
    connected, ok = c.publish("M", "M", "slotwise/v1/t/M/report", pb("edge-forged"),
                              extra=["-D", "publish", "user-property", STAMP, "B"])
    check(connected and not ok, "edge: report with a forged slotwise-terminal=B gets 0x87")
    connected, ok = c.publish("M", "M", "slotwise/v1/t/M/report", pb("edge-own-stamp"),
                              extra=["-D", "publish", "user-property", STAMP, "M"])
    check(connected and ok, "edge: report carrying its own id as stamp passes")
    # A retained request is passed on but never kept.
    connected, ok = c.publish("M", "M", "slotwise/v1/t/M/status", pb("edge-retained"), retain=True)
    check(connected and ok, "edge: retained status is accepted")
    c.publish("sched-2", SERVICES[0], "slotwise/v1/t/M/report", b"fence-edge")
    check(svc.wait_for("fence-edge"), "edge: fence reached the service")
    for what, _, payload, _ in cases:
        check(not any(payload in p for p in svc.payloads()), f"edge: {what} never reaches the service")
    check(svc.got("edge-good") and svc.props_of("edge-good") == [f"{STAMP}:M"],
          "edge: valid report reaches the service stamped", str(svc.props_of("edge-good")))
    check(not svc.got("edge-forged"), "edge: forged stamp never reaches the service")
    check(svc.props_of("edge-own-stamp") == [f"{STAMP}:M"],
          "edge: an own-id stamp is not duplicated", str(svc.props_of("edge-own-stamp")))
    check(svc.got("edge-retained"), "edge: retained status reaches the service")
    svc.stop()
    check(c.retained("slotwise/v1/t/M/status") is None, "edge: the status was not retained")


def test_tls(c, broker, tls):
    """Terminals identified by TLS client certificate on the TLS listener."""
    port = broker.tls_port

    def tls_args(cert):
        args = ["--cafile", f"{tls}/ca.crt", "--insecure"]
        if cert:
            args += ["--cert", f"{tls}/{cert}.crt", "--key", f"{tls}/{cert}.key"]
        return args

    def pub(cert, client_id, topic, payload, username=None):
        args = c.base(c.pub_exe, client_id, username, port=port) + tls_args(cert) + [
            "-t", topic, "-s", "-q", "1"]
        r = subprocess.run(args, input=payload, capture_output=True, timeout=TIMEOUT)
        return r.returncode == 0, r.returncode == 0 and b"not authorized" not in r.stderr.lower()

    svc = Subscriber(c, "sched-tls", SERVICES[0], ["slotwise/v1/t/+/report"])
    check(svc.ready, "tls: service subscriber ready (plain listener)")
    connected, ok = pub("k1", "K1", "slotwise/v1/t/K1/report", pb("tls-k1-own"))
    check(connected and ok, "tls: certificate CN=K1, client id K1, no username: accepted")
    connected, ok = pub("k1", "K1", "slotwise/v1/t/K1/report", pb("tls-k1-user"), username="K1")
    check(connected and ok, "tls: certificate CN=K1 with username K1: accepted")
    connected, ok = pub("k1", "K1", "slotwise/v1/t/K2/report", pb("tls-k1-as-k2"))
    check(connected and not ok, "tls: K1 publishing on K2's report is denied")
    connected, _ = pub("k1", "K2", "slotwise/v1/t/K2/report", pb("tls-k1-cid-k2"))
    check(not connected, "tls: certificate CN=K1 with client id K2 is refused")
    connected, _ = pub("k1", "K1", "slotwise/v1/t/K1/report", pb("tls-k1-user-k2"), username="K2")
    check(not connected, "tls: certificate CN=K1 with username K2 is refused")
    connected, _ = pub(None, "K1", "slotwise/v1/t/K1/report", pb("tls-nocert"))
    check(not connected, "tls: no client certificate is refused")
    connected, _ = pub("rogue-k1", "K1", "slotwise/v1/t/K1/report", pb("tls-rogue"))
    check(not connected, "tls: CN=K1 signed by a foreign CA is refused")
    args = c.base(c.sub_exe, "K1", None, port=port) + tls_args("k1") + [
        "-t", "slotwise/v1/t/K2/notice", "-E"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT)
    check(r.returncode == 0 and "denied" in r.stderr, "tls: K1 may not subscribe to K2's notice")
    c.publish("sched-2", SERVICES[0], "slotwise/v1/t/K1/report", b"fence-tls")
    check(svc.wait_for("fence-tls"), "tls: fence reached the service")
    check(svc.props_of("tls-k1-own") == [f"{STAMP}:K1"], "tls: K1's report arrives stamped K1",
          str(svc.props_of("tls-k1-own")))
    check(svc.got("tls-k1-user"), "tls: K1's report with username reaches the service")
    for token in ("tls-k1-as-k2", "tls-k1-cid-k2", "tls-k1-user-k2", "tls-nocert", "tls-rogue"):
        check(not svc.got(token), f"tls: {token} never reaches the service")
    p = c.presence("K1")
    check(p is not None and p["terminal_id"] == "K1", "tls: K1 got a presence record", str(p))
    svc.stop()


def test_rate_limit(args, workdir, passwd):
    """A broker with a tiny bucket (burst 3, refill 1 per 1000 s, so nothing
    refills during the test: no timing in the assertions) and flood disconnect after 5 limited messages."""
    options = [("services", ",".join(SERVICES)), ("password_file", passwd),
               ("rate_limit_per_second", "0.001"), ("rate_limit_burst", "3"),
               ("flood_disconnect_after", "5"), ("flood_window_seconds", "600"),
               ("stats_interval_seconds", "0.2")]
    broker = Broker(args.mosquitto, workdir, args.plugin, options, name="ratelimit").start()
    try:
        if not check(broker.wait_ready(), "rate: broker listening", broker.log()):
            return
        c = Clients(args.mosquitto_pub, args.mosquitto_sub, broker)
        svc = Subscriber(c, "sched-rate", SERVICES[0], ["slotwise/v1/t/+/report"])
        check(svc.ready, "rate: service subscriber ready")
        results = [c.publish("R", "R", "slotwise/v1/t/R/report", pb(f"rate-{i}"))
                   for i in range(5)]
        check(all(conn for conn, _ in results), "rate: R stays connected while limited")
        check([ok for _, ok in results] == [True, True, True, False, False],
              "rate: the first 3 (burst) pass, then 0x96-limited messages are dropped",
              str(results))
        # Reconnecting does not refill the bucket: it is keyed by terminal id.
        _, ok = c.publish("R", "R", "slotwise/v1/t/R/report", pb("rate-after-reconnect"))
        check(not ok, "rate: a reconnect does not refill R's bucket")
        # Another terminal has its own bucket.
        _, ok = c.publish("A", "A", "slotwise/v1/t/A/report", pb("rate-a"))
        check(ok, "rate: A has its own bucket")

        # Flooder: one connection sending 12 messages (mosquitto_pub -l, one
        # per line) gets 3 through, then after 5 limited ones it is kicked.
        # Field 2 (tag 0x12), not field 1: tag 0x0a is the line separator.
        lines = b"".join(b"\x12" + pb(f"flood-{i:02d}")[1:] + b"\n" for i in range(12))
        r = subprocess.run(c.base(c.pub_exe, "F", "F") + [
            "-t", "slotwise/v1/t/F/report", "-l", "-q", "1"],
            input=lines, capture_output=True, timeout=TIMEOUT)
        check(broker.wait_log("slotwise: disconnecting terminal 'F': it keeps flooding"),
              "rate: the flooder F is disconnected", r.stderr.decode(errors="replace")[-300:])
        c.publish("sched-2", SERVICES[0], "slotwise/v1/t/A/report", b"fence-rate")
        check(svc.wait_for("fence-rate"), "rate: fence reached the service")
        passed = sorted(p.decode(errors="replace")[2:] for p in svc.payloads()
                        if b"flood-" in p)
        check(passed == ["flood-00", "flood-01", "flood-02"], "rate: only F's burst passed",
              str(passed))
        check([t for t in ("rate-0", "rate-1", "rate-2", "rate-3", "rate-4") if svc.got(t)]
              == ["rate-0", "rate-1", "rate-2"], "rate: only R's burst reached the service")
        svc.stop()

        # Stats: retained JSON on slotwise/v1/stats/broker, every 0.2 s here.
        def stats():
            data = c.retained("slotwise/v1/stats/broker")
            try:
                return json.loads(data) if data else None
            except ValueError:
                return None

        def settled():
            st = stats()
            return st if st and st["flood_disconnects"] >= 1 and st["accepted"] >= 7 else None
        st = wait_until(settled)
        check(st is not None, "stats: published retained with the counters", str(stats()))
        if st:
            limited = st["rejected"]["message_rate_too_high"]
            check(st["rate_limited"] == limited and limited >= 3 + 5,
                  "stats: rate-limited messages counted", str(st))
            # mosquitto_pub -l reconnects when kicked and keeps sending: at
            # least one disconnect (each further burst of 5 limited costs one more).
            check(st["flood_disconnects"] >= 1, "stats: flood disconnects counted", str(st))
            check(st["accepted"] == 3 + 1 + 3, "stats: accepted = R's 3 + A's 1 + F's 3", str(st))
            check(st["at_ms"] > 1.6e12 and "terminals_connected" in st,
                  "stats: carries at_ms and terminals_connected", str(st))
        # Operators and terminals cannot read the stats.
        check(c.subscribe_result("A", "A", "slotwise/v1/stats/broker") == "denied",
              "stats: a terminal may not subscribe to the stats")
        check(broker.proc.poll() is None, "rate: broker still running")
    finally:
        broker.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--mosquitto", default=shutil.which("mosquitto") or "/usr/sbin/mosquitto")
    ap.add_argument("--mosquitto-pub", default=shutil.which("mosquitto_pub"))
    ap.add_argument("--mosquitto-sub", default=shutil.which("mosquitto_sub"))
    ap.add_argument("--mosquitto-passwd", default=shutil.which("mosquitto_passwd"))
    ap.add_argument("--openssl", default=shutil.which("openssl") or "openssl")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (configs, logs)")
    args = ap.parse_args()
    args.plugin = os.path.abspath(args.plugin)

    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="slotwise-plugin-e2e-")
    if os.geteuid() == 0:
        os.chmod(workdir, 0o755)
    broker = None
    try:
        passwd = os.path.join(workdir, "slotwise.passwd")
        make_password_file(passwd, args.mosquitto_passwd)
        tls = make_tls(workdir, args.openssl)
        test_bad_options(args, workdir, passwd)

        options = [("services", ",".join(SERVICES)), ("operators", OPERATOR),
                   ("password_file", passwd), ("max_payload_bytes", "1024"),
                   ("rate_limit_per_second", "1000"), ("rate_limit_burst", "1000")]
        tls_port = free_port()
        tls_listener = [f"listener {tls_port} 127.0.0.1", f"cafile {tls}/ca.crt",
                        f"certfile {tls}/server.crt", f"keyfile {tls}/server.key",
                        "require_certificate true"]
        broker = Broker(args.mosquitto, workdir, args.plugin, options, extra=tls_listener).start()
        broker.tls_port = tls_port
        if not check(broker.wait_ready(), "broker with the plugin is listening", broker.log()):
            return 1
        check("slotwise: plugin ready" in broker.log(), "plugin logged its configuration")
        c = Clients(args.mosquitto_pub, args.mosquitto_sub, broker)

        test_connect_rules(c, broker)
        test_subscribe_rules(c)
        test_message_matrix(c)
        test_presence(c, broker)
        test_edge_validation(c, broker, workdir)
        test_tls(c, broker, tls)
        check(broker.proc.poll() is None, "broker still running at the end")
        broker.stop()
        broker = None
        test_rate_limit(args, workdir, passwd)
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
    return 1 if CHECKS.failed else 0


if __name__ == "__main__":
    sys.exit(main())
