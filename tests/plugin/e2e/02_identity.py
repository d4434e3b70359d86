#!/usr/bin/env python3
"""Connect-time identity rules: client id == username == a valid terminal id,
passwords from the mosquitto_passwd file, operators and services.

A scenario of the plugin's end-to-end test (harness and usage: harness.py).
"""

import sys

from harness import OPERATOR, PASSWORDS, SERVICES, check, run_scenario


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


if __name__ == "__main__":
    sys.exit(run_scenario(lambda ctx: test_connect_rules(ctx.clients, ctx.broker), __doc__,
                          standard_broker=True, tls=False))
