#!/usr/bin/env python3
"""Wills of terminals and operators are never published (issue 12, finding 2).

mosquitto 2.0.11 shows a plugin nothing of a will at CONNECT, and its
MOSQ_EVT_MESSAGE never sees one: the only check a will meets is the write
ACL when the broker is about to send it. The plugin refuses it there, for
every terminal and operator connection that has ended (disconnect, kill,
session takeover, a delayed will after the session's end). A will would
skip every edge check (size, Protobuf, stamp, retain), and presence is the
plugin's job, so a terminal has no use for one.

Each will below is left by a client killed with SIGKILL (an unexpected
disconnect: the broker sends the will). None may reach a service subscriber
nor stay retained; a service's own will still works (the fence), and the
client's CONNECT is accepted (CONNACK 0x00: the refusal comes when the will
would be sent).

A scenario of the plugin's end-to-end test (harness and usage: harness.py).
"""

import signal
import subprocess
import sys

import os

from harness import (OPERATOR, SERVICES, STAMP, Subscriber, TIMEOUT, check, pb, run_scenario,
                     standard_options, stop_pid, wait_until)


def connect_with_will(c, client_id, username, topic, payload, retain=False, extra=()):
    """A long-lived mosquitto_sub of `username` holding a will; returns the
    process once the broker answered its SUBSCRIBE (so CONNACK was 0x00)."""
    broker = c.broker
    own = (f"slotwise/v1/t/{username}/notice" if username not in SERVICES + [OPERATOR]
           else f"slotwise/v1/op/reply/{client_id}" if username == OPERATOR
           else "slotwise/v1/t/nobody/notice")
    args = c.base(c.sub_exe, client_id, username) + [
        "-t", own, "--will-topic", topic, "--will-qos", "1", *extra]
    if payload:
        args += ["--will-payload", payload]
    if retain:
        args.append("--will-retain")
    before = broker.log().count(f"Sending SUBACK to {client_id}\n")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    accepted = broker.wait_log(f"Sending SUBACK to {client_id}\n", before + 1)
    return proc, accepted


def kill(proc):
    stop_pid(proc, sig=signal.SIGKILL)


def test_wills(c, broker):
    svc = Subscriber(c, "sched-will", SERVICES[0], ["slotwise/v1/t/+/report",
                                                    "slotwise/v1/t/+/status",
                                                    "slotwise/v1/t/+/check",
                                                    "slotwise/v1/op/request"])
    check(svc.ready, "will: service subscriber ready")
    big = b"\x0a\x8c\x08" + b"w" * 1036 + b"will-big"  # over the broker's 1024-byte limit
    cases = [
        ("oversized will", "A", "report", big, False, ()),
        ("garbage will", "B", "report", b"will-garbage \xff\xff\x01", False, ()),
        ("forged-stamp will", "C", "report", pb("will-forged"), False,
         ("-D", "will", "user-property", STAMP, "B")),
        ("self-stamped will", "D", "status", pb("will-selfstamp"), False,
         ("-D", "will", "user-property", STAMP, "D")),
        ("retained will", "R", "status", pb("will-retained"), True, ()),
        ("plain valid will", "F", "check", pb("will-valid"), False, ()),
    ]
    for what, tid, leaf, payload, retain, extra in cases:
        proc, accepted = connect_with_will(c, tid, tid, f"slotwise/v1/t/{tid}/{leaf}", payload,
                                           retain, extra)
        check(accepted, f"will: {what}: CONNECT accepted (CONNACK 0x00)")
        kill(proc)
        check(broker.wait_log(f"slotwise: refused the will of terminal '{tid}'"),
              f"will: {what}: the plugin logs the refused will")

    # Session takeover: the old connection's will is sent when the new one
    # (clean start) takes its client id over.
    old, accepted = connect_with_will(c, "T2", "T2", "slotwise/v1/t/T2/report", pb("will-takeover"))
    check(accepted, "will: takeover: first connection accepted")
    connected, _ = c.publish("T2", "T2", "slotwise/v1/t/T2/report", pb("will-second"))
    check(connected, "will: takeover: second connection accepted")
    check(broker.wait_log("slotwise: refused the will of terminal 'T2'"),
          "will: takeover: the old connection's will is refused")
    kill(old)

    # A delayed will, sent when the session expires after the connection is gone.
    proc, accepted = connect_with_will(c, "T3", "T3", "slotwise/v1/t/T3/report",
                                       pb("will-delayed"), extra=(
                                           "-x", "1", "-D", "will", "will-delay-interval", "1"))
    check(accepted, "will: delayed will: CONNECT accepted")
    kill(proc)
    check(broker.wait_log("slotwise: refused the will of terminal 'T3'", timeout=TIMEOUT + 3),
          "will: delayed will is refused when it is due")

    # An operator's will on the request topic (it would skip the reply-topic
    # check and the operator stamp).
    proc, accepted = connect_with_will(c, "op-will", OPERATOR, "slotwise/v1/op/request",
                                       b"\x0a\x09will-oper", extra=(
                                           "-D", "will", "response-topic",
                                           "slotwise/v1/op/reply/other"))
    check(accepted, "will: operator: CONNECT accepted")
    kill(proc)
    check(broker.wait_log(f"slotwise: refused the will of operator 'op-will'"),
          "will: operator: the plugin logs the refused will")

    # Fence: a service's will still goes out, after every refused one.
    proc, accepted = connect_with_will(c, "sched-fence", SERVICES[1], "slotwise/v1/t/A/report",
                                       b"will-fence")
    check(accepted, "will: service: CONNECT accepted")
    kill(proc)
    check(svc.wait_for("will-fence"), "will: a service's will still reaches subscribers")

    tokens = [b"will-big", b"will-garbage", b"will-forged", b"will-selfstamp", b"will-retained",
              b"will-valid", b"will-takeover", b"will-delayed", b"will-oper"]
    for token in tokens:
        check(not any(token in p for p in svc.payloads()),
              f"will: {token.decode()} never reaches the service")
    svc.stop()
    for tid, leaf in [("R", "status"), ("A", "report"), ("D", "status")]:
        check(c.retained(f"slotwise/v1/t/{tid}/{leaf}") is None,
              f"will: nothing is retained on slotwise/v1/t/{tid}/{leaf}")
    # A later subscriber is not replayed anything either.
    late = Subscriber(c, "sched-late", SERVICES[0], ["slotwise/v1/t/+/status"])
    check(late.ready, "will: late subscriber ready")
    c.publish("sched-2", SERVICES[0], "slotwise/v1/t/A/status", b"fence-late")
    check(late.wait_for("fence-late"), "will: late fence arrived")
    check(not late.got("will-retained"), "will: the retained will is not replayed")
    late.stop()


def test_wills_at_shutdown(ctx):
    """The wills mosquitto sends when it stops (SIGTERM) for every connection
    still open: refused too, and nothing retained survives into the next run
    (persistence on)."""
    broker = ctx.new_broker(standard_options(ctx.passwd), name="shutdown")
    with open(broker.conf) as f:
        conf = f.read()
    store = os.path.join(ctx.workdir, "store") + "/"
    os.makedirs(store, exist_ok=True)
    with open(broker.conf, "w") as f:
        f.write(conf.replace("persistence false",
                             f"persistence true\npersistence_location {store}"))
    broker.start()
    check(broker.wait_ready(), "will at shutdown: broker with persistence is listening",
          broker.log())
    c = ctx.clients_of(broker)
    svc = Subscriber(c, "sched-shutdown", SERVICES[0], ["slotwise/v1/t/+/report",
                                                        "slotwise/v1/t/+/status",
                                                        "slotwise/v1/op/request"])
    check(svc.ready, "will at shutdown: service subscriber ready")
    big = b"\x0a\x8c\x08" + b"s" * 1036 + b"will-shutdown-big"
    clients = [
        connect_with_will(c, "A", "A", "slotwise/v1/t/A/report", big, retain=True,
                          extra=("-D", "will", "user-property", STAMP, "A")),
        connect_with_will(c, "R", "R", "slotwise/v1/t/R/status", pb("will-shutdown-retained"),
                          retain=True),
        connect_with_will(c, "op-shut", OPERATOR, "slotwise/v1/op/request", b"will-shutdown-op"),
    ]
    check(all(ok for _, ok in clients), "will at shutdown: clients with wills connected")
    broker.stop()  # SIGTERM, by its pid
    check(broker.proc.poll() is not None, "will at shutdown: broker stopped")
    log = broker.log()
    check(log.count("slotwise: refused the will of") >= 3,
          "will at shutdown: the plugin refused the three wills", log[-3000:])
    for token in (b"will-shutdown-big", b"will-shutdown-retained", b"will-shutdown-op"):
        check(not any(token in p for p in svc.payloads()),
              f"will at shutdown: {token.decode()} never reaches the service")
    svc.stop()
    for proc, _ in clients:
        kill(proc)
    # The next run, from the same store: nothing retained on their topics.
    broker.start()
    check(broker.wait_ready(), "will at shutdown: broker restarted from its store")
    for tid, leaf in [("A", "report"), ("R", "status")]:
        check(c.retained(f"slotwise/v1/t/{tid}/{leaf}") is None,
              f"will at shutdown: nothing retained on slotwise/v1/t/{tid}/{leaf} after the restart")
    broker.stop()


def scenario(ctx):
    test_wills(ctx.clients, ctx.broker)
    test_wills_at_shutdown(ctx)


if __name__ == "__main__":
    sys.exit(run_scenario(scenario, __doc__, standard_broker=True, tls=False))
