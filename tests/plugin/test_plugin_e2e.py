#!/usr/bin/env python3
"""End-to-end test of mosquitto_slotwise.so against a real mosquitto 2.0.11.

Starts mosquitto on a free loopback port with a generated config that loads
the built plugin, and drives it with independent real clients (mosquitto_pub
and mosquitto_sub, MQTT v5). Checks: plugin option validation, connect-time
identity rules, the access matrix of schemas/README.md, and retained presence
(connect, disconnect, session takeover, refused connects, SIGHUP).

Python 3 standard library only. Every process started here is stopped by its
pid. Run by ctest (tests/plugin/CMakeLists.txt); by hand:

  test_plugin_e2e.py --plugin build/broker-plugin/mosquitto_slotwise.so \\
      --mosquitto /usr/sbin/mosquitto --mosquitto-pub /usr/bin/mosquitto_pub \\
      --mosquitto-sub /usr/bin/mosquitto_sub [--keep]
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

SERVICES = ["sched", "sched2"]
OPERATOR = "alice"
TIMEOUT = 5.0  # longest wait for anything that should happen


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
    def __init__(self, exe, workdir, plugin, options, name="broker"):
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

    def base(self, exe, client_id, username):
        args = [exe, "-V", "5", "-h", "127.0.0.1", "-p", str(self.broker.port), "-i", client_id]
        if username is not None:
            args += ["-u", username]
        return args

    def publish(self, client_id, username, topic, payload, qos=1, retain=False):
        """One connect-publish-disconnect. Returns (connected, authorised)."""
        args = self.base(self.pub_exe, client_id, username) + [
            "-t", topic, "-m", payload, "-q", str(qos)]
        if retain:
            args.append("-r")
        r = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT)
        connected = r.returncode == 0
        # A v5 PUBACK with reason 0x87 does not change mosquitto_pub's exit code.
        authorised = connected and "not authorized" not in r.stderr.lower()
        return connected, authorised

    def subscribe_result(self, client_id, username, topic):
        """Subscribes and exits at SUBACK: 'granted', 'denied' or 'refused'."""
        args = self.base(self.sub_exe, client_id, username) + ["-t", topic, "-E"]
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
        args += ["-F", "%t|%r|%x", *extra]
        before = clients.broker.log().count(f"Sending SUBACK to {client_id}\n")
        self.messages = []  # (topic, retained, payload bytes)
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        # Subscribed once the broker has answered the SUBSCRIBE.
        self.ready = clients.broker.wait_log(f"Sending SUBACK to {client_id}\n", before + 1)

    def _read(self):
        for line in self.proc.stdout:
            topic, retained, payload = line.rstrip("\n").split("|", 2)
            with self.lock:
                self.messages.append((topic, retained == "1", bytes.fromhex(payload)))

    def payloads(self):
        with self.lock:
            return [m[2] for m in self.messages]

    def got(self, token):
        return any(token.encode() in p for p in self.payloads())

    def wait_for(self, token):
        return wait_until(lambda: self.got(token))

    def stop(self):
        stop_pid(self.proc)
        self.reader.join(timeout=TIMEOUT)


# ---------------------------------------------------------------- scenarios

def test_bad_options(args, workdir):
    cases = [
        ([("operators", "alice,,bob")], "plugin_opt_operators: empty username"),
        ([("operatorz", "alice")], "unknown option plugin_opt_operatorz"),
        ([("services", SERVICES[0]), ("operators", SERVICES[0])], "is in both"),
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
        connected, ok = c.publish(cid, user, topic, token)
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
    stop_pid(p2.proc)

    # Session takeover: the OLD connection's DISCONNECT comes after the NEW
    # connection's auth. mosquitto_pub in --repeat mode does not reconnect
    # when kicked, so it is the old connection.
    old = subprocess.Popen(
        c.base(c.pub_exe, "T2", "T2") + ["-t", "slotwise/v1/t/T2/status", "-m", "alive",
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
    connected, ok = c.publish("C", "C", "slotwise/v1/t/C/report", "after-hup")
    check(connected and ok, "ACL still enforced normally after SIGHUP (allowed write)")
    connected, ok = c.publish("C", "C", "slotwise/v1/t/A/report", "after-hup-denied")
    check(connected and not ok, "ACL still enforced normally after SIGHUP (denied write)")
    for s in (t3, t5, watch):
        s.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--mosquitto", default=shutil.which("mosquitto") or "/usr/sbin/mosquitto")
    ap.add_argument("--mosquitto-pub", default=shutil.which("mosquitto_pub"))
    ap.add_argument("--mosquitto-sub", default=shutil.which("mosquitto_sub"))
    ap.add_argument("--keep", action="store_true", help="keep the work dir (configs, logs)")
    args = ap.parse_args()
    args.plugin = os.path.abspath(args.plugin)

    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="slotwise-plugin-e2e-")
    if os.geteuid() == 0:
        os.chmod(workdir, 0o755)
    broker = None
    try:
        test_bad_options(args, workdir)

        options = [("services", ",".join(SERVICES)), ("operators", OPERATOR)]
        broker = Broker(args.mosquitto, workdir, args.plugin, options).start()
        if not check(broker.wait_ready(), "broker with the plugin is listening", broker.log()):
            return 1
        check("slotwise: plugin ready" in broker.log(), "plugin logged its configuration")
        c = Clients(args.mosquitto_pub, args.mosquitto_sub, broker)

        test_connect_rules(c, broker)
        test_subscribe_rules(c)
        test_message_matrix(c)
        test_presence(c, broker)
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
    return 1 if CHECKS.failed else 0


if __name__ == "__main__":
    sys.exit(main())
