#!/usr/bin/env python3
"""Retained presence: connect, disconnect, a killed client, refused impostors,
session takeover and SIGHUP.

A scenario of the plugin's end-to-end test (harness and usage: harness.py).
"""

import signal
import subprocess
import time
import sys

from harness import SERVICES, Subscriber, TIMEOUT, check, decode_presence, pb, stop_pid, run_scenario


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


if __name__ == "__main__":
    sys.exit(run_scenario(lambda ctx: test_presence(ctx.clients, ctx.broker), __doc__,
                          standard_broker=True, tls=False))
