#!/usr/bin/env python3
"""Edge validation of terminal payloads: MQTT v5 error replies with reason codes,
forged stamps, retained requests.

A scenario of the plugin's end-to-end test (harness and usage: harness.py).
"""

import sys

from harness import (SERVICES, STAMP, Subscriber, check, decode_fields, pb, rejection, request,
                     run_scenario)

UNAUTHENTICATED = 9  # slotwise.v1.ErrorCode


def component(name, version):
    """One Report.components element (field 7: ComponentVersion{1 component, 2 version})."""
    body = b"\x0a" + bytes([len(name)]) + name.encode() + b"\x12" + bytes([len(version)]) + version.encode()
    return b"\x3a" + bytes([len(body)]) + body


def error_code(reply):
    """TerminalReply.error.code (field 4, code field 1), or None."""
    if reply is None:
        return None
    error = decode_fields(reply).get(4)
    return decode_fields(error[0]).get(1, [0])[0] if error else None


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
        ("33 components", "report",
         b"\x0a\x09edge-many" + b"".join(component(f"c{i}", "1") for i in range(33)),
         "0x99 payload_format_invalid"),
        ("invalid component name", "report", b"\x0a\x08edge-bad" + component("POS App", "1"),
         "0x99 payload_format_invalid"),
    ]
    for what, leaf, payload, expected in cases:
        reply = request(c, "M", leaf, payload, workdir)
        got = rejection(reply)
        check(got.startswith(expected), f"edge: {what} on {leaf} is answered '{expected}'",
              f"(got {got!r})")
    # The same requests in a good shape pass and are stamped.
    reply = request(c, "M", "report", pb("edge-good"), workdir)
    check(reply is None, "edge: a valid report gets no broker error reply")
    with_components = b"\x0a\x0fedge-components" + b"".join(
        component(f"c{i}", "4.2.0") for i in range(32))
    reply = request(c, "M", "report", with_components, workdir)
    check(reply is None, "edge: a report with 32 components gets no broker error reply")
    # A forged stamp naming another terminal is dropped with 0x87.
    connected, ok = c.publish("M", "M", "slotwise/v1/t/M/report", pb("edge-forged"),
                              extra=["-D", "publish", "user-property", STAMP, "B"])
    check(connected and not ok, "edge: report with a forged slotwise-terminal=B gets 0x87")
    # Asked with its own reply topic, the refusal names the reason: UNAUTHENTICATED.
    reply = request(c, "M", "report", pb("edge-forged-rr"), workdir,
                    extra=["-D", "publish", "user-property", STAMP, "B"])
    check(rejection(reply).startswith("0x87 not_authorized") and
          error_code(reply) == UNAUTHENTICATED,
          "edge: a forged stamp is answered UNAUTHENTICATED, '0x87 not_authorized'",
          f"(got {rejection(reply)!r}, code {error_code(reply)})")
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
    check(svc.got("edge-components"), "edge: the report with 32 components reaches the service")
    check(not svc.got("edge-forged"), "edge: forged stamp never reaches the service")
    check(not svc.got("edge-forged-rr"), "edge: forged stamp (request) never reaches the service")
    check(svc.props_of("edge-own-stamp") == [f"{STAMP}:M"],
          "edge: an own-id stamp is not duplicated", str(svc.props_of("edge-own-stamp")))
    check(svc.got("edge-retained"), "edge: retained status reaches the service")
    svc.stop()
    check(c.retained("slotwise/v1/t/M/status") is None, "edge: the status was not retained")


if __name__ == "__main__":
    sys.exit(run_scenario(lambda ctx: test_edge_validation(ctx.clients, ctx.broker, ctx.workdir), __doc__,
                          standard_broker=True, tls=False))
