#!/usr/bin/env python3
"""Terminals identified by TLS client certificate (a throwaway CA made with the
openssl CLI) on a TLS listener.

A scenario of the plugin's end-to-end test (harness and usage: harness.py).
"""

import subprocess
import sys

from harness import SERVICES, STAMP, Subscriber, TIMEOUT, check, pb, run_scenario


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


if __name__ == "__main__":
    sys.exit(run_scenario(lambda ctx: test_tls(ctx.clients, ctx.broker, ctx.tls), __doc__,
                          standard_broker=True, tls=True))
