#!/usr/bin/env python3
"""The subscribe side of the access matrix of schemas/README.md: terminals,
operators, services.

A scenario of the plugin's end-to-end test (harness and usage: harness.py).
"""

import sys

from harness import OPERATOR, SERVICES, check, run_scenario


def test_subscribe_rules(c):
    cases = [
        # terminal C
        ("C", "C", "slotwise/v1/t/C/notice", "granted"),
        ("C", "C", "slotwise/v1/t/C/reply", "granted"),
        ("C", "C", "slotwise/v1/t/C/#", "granted"),
        ("C", "C", "slotwise/v1/t/C/notice/+", "granted"),
        ("C", "C", "slotwise/v1/t/D/notice/+", "denied"),
        ("C", "C", "slotwise/v1/t/+/notice/+", "denied"),
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


if __name__ == "__main__":
    sys.exit(run_scenario(lambda ctx: test_subscribe_rules(ctx.clients), __doc__,
                          standard_broker=True, tls=False))
