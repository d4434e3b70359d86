#!/usr/bin/env python3
"""The publish side of the access matrix: who may publish where, who receives
what, and the slotwise-terminal stamp on what terminals publish.

A scenario of the plugin's end-to-end test (harness and usage: harness.py).
"""

import sys

from harness import OPERATOR, SERVICES, STAMP, Subscriber, check, pb, run_scenario


def rt(topic):
    """mosquitto_pub arguments naming `topic` as the MQTT v5 Response Topic."""
    return ("-D", "publish", "response-topic", topic)


def test_message_matrix(c):
    svc = Subscriber(c, "sched-1", SERVICES[0], ["slotwise/#"])
    sub_a = Subscriber(c, "A", "A", ["slotwise/v1/t/A/#"])
    sub_b = Subscriber(c, "B", "B", ["slotwise/v1/t/B/#"])
    sub_op = Subscriber(c, "op-1", OPERATOR, ["slotwise/v1/op/reply/op-1"])
    # D listens to its per-component notices only (notice/{component}).
    sub_d = Subscriber(c, "D", "D", ["slotwise/v1/t/D/notice/+"])
    subs = {"svc": svc, "A": sub_a, "B": sub_b, "op": sub_op, "D": sub_d}
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
        # Per-component notices reach their own terminal only.
        ("sched-2", s0, "slotwise/v1/t/D/notice/pos-app", "component-notice-for-d", True,
         {"svc", "D"}),
        ("sched-2", s0, "slotwise/v1/t/D/notice/printer.fw", "fw-notice-for-d", True, {"svc", "D"}),
        ("sched-2", s0, "slotwise/v1/t/D/notice", "system-notice-for-d", True, {"svc"}),
        ("sched-2", s0, "slotwise/v1/t/A/notice/pos-app", "component-notice-for-a", True,
         {"svc", "A"}),
        ("sched-2", s0, "slotwise/v1/t/B/notice/pos-app", "component-notice-for-b", True,
         {"svc", "B"}),
        ("C", "C", "slotwise/v1/t/C/notice/pos-app", "c-forged-component-notice", False, set()),
        ("C", "C", "slotwise/v1/t/D/notice/pos-app", "c-on-d-component-notice", False, set()),
        ("sched-2", s0, "slotwise/v1/op/reply/op-2", "reply-for-op2", True, {"svc"}),
        ("sched-2", s0, "other/topic", "svc-outside-tree", False, set()),
        ("op-1-pub", OPERATOR, "slotwise/v1/op/request", "op-request", True, {"svc"}),
        ("op-1-pub", OPERATOR, "slotwise/v1/t/A/notice", "op-forged-notice", False, set()),
        ("op-1-pub", OPERATOR, "slotwise/v1/t/A/report", "op-forged-report", False, set()),
        ("op-1-pub", OPERATOR, "slotwise/v1/op/reply/op-1", "op-own-reply-write", False, set()),
        # Presence and stats are the plugin's own: nobody writes them, not even a service.
        ("sched-2", s0, "slotwise/v1/presence/A", "svc-fake-presence", False, set()),
        ("sched-2", s0, "slotwise/v1/stats/broker", "svc-fake-stats", False, set()),
        # Response Topic: a terminal names only its own reply topic, an operator only
        # op/reply/{its client id}; anything else is refused (0x87), so the
        # scheduler is never asked to answer where the requester may not read.
        ("C", "C", "slotwise/v1/t/C/report", "c-rt-own-reply", True, {"svc"},
         rt("slotwise/v1/t/C/reply")),
        ("C", "C", "slotwise/v1/t/C/report", "c-rt-presence-a", False, set(),
         rt("slotwise/v1/presence/A")),
        ("C", "C", "slotwise/v1/t/C/check", "c-rt-a-reply", False, set(),
         rt("slotwise/v1/t/A/reply")),
        ("C", "C", "slotwise/v1/t/C/status", "c-rt-a-notice", False, set(),
         rt("slotwise/v1/t/A/notice")),
        ("C", "C", "slotwise/v1/t/C/report", "c-rt-op-reply", False, set(),
         rt("slotwise/v1/op/reply/op-1")),
        ("C", "C", "slotwise/v1/t/C/report", "c-rt-stats", False, set(),
         rt("slotwise/v1/stats/broker")),
        ("op-1-pub", OPERATOR, "slotwise/v1/op/request", "op-rt-own-reply", True, {"svc"},
         rt("slotwise/v1/op/reply/op-1-pub")),
        ("op-1-pub", OPERATOR, "slotwise/v1/op/request", "op-rt-other-op", False, set(),
         rt("slotwise/v1/op/reply/op-1")),
        ("op-1-pub", OPERATOR, "slotwise/v1/op/request", "op-rt-a-notice", False, set(),
         rt("slotwise/v1/t/A/notice")),
        ("op-1-pub", OPERATOR, "slotwise/v1/op/request", "op-rt-presence-a", False, set(),
         rt("slotwise/v1/presence/A")),
    ]
    for cid, user, topic, token, authorised, _, *extra in publishes:
        connected, ok = c.publish(cid, user, topic, pb(token), extra=extra[0] if extra else ())
        check(connected and ok == authorised,
              f"publish by {user}/{cid} to {topic} {'accepted' if authorised else 'denied'}")

    # Fence: one more message to each subscriber, sent after every publish
    # above was acknowledged; a subscriber that has it has seen all before it.
    fences = {"svc": "slotwise/v1/fence", "A": "slotwise/v1/t/A/reply",
              "B": "slotwise/v1/t/B/reply", "op": "slotwise/v1/op/reply/op-1",
              "D": "slotwise/v1/t/D/notice/fence"}
    for name, topic in fences.items():
        c.publish("sched-2", s0, topic, f"fence-{name}")
    for name, sub in subs.items():
        check(sub.wait_for(f"fence-{name}"), f"fence reached subscriber {name}")
    for sub in subs.values():
        sub.stop()

    for cid, user, topic, token, _, receivers, *_ in publishes:
        for name, sub in subs.items():
            expected = name in receivers
            check(sub.got(token) == expected,
                  f"{token!r} {'reaches' if expected else 'never reaches'} {name}")
    # What a terminal published arrives stamped with its authenticated id;
    # what an operator publishes arrives stamped with its username and client
    # id; what the service publishes is not stamped.
    for token in ("c-own-report", "c-own-check", "c-own-status"):
        check(svc.props_of(token) == [f"{STAMP}:C"], f"{token!r} arrives stamped {STAMP}:C",
              str(svc.props_of(token)))
    check(svc.props_of("op-request") == ["slotwise-operator:alice slotwise-operator-client:op-1-pub"],
          "operator request arrives stamped with its operator and client id",
          str(svc.props_of("op-request")))


if __name__ == "__main__":
    sys.exit(run_scenario(lambda ctx: test_message_matrix(ctx.clients), __doc__,
                          standard_broker=True, tls=False))
