#!/usr/bin/env python3
"""Rate limits per terminal, the disconnect of a flooder, and the periodic stats.

A scenario of the plugin's end-to-end test (harness and usage: harness.py).
"""

import json
import subprocess
import sys

from harness import Broker, Clients, SERVICES, Subscriber, TIMEOUT, check, pb, wait_until, run_scenario


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


if __name__ == "__main__":
    sys.exit(run_scenario(lambda ctx: test_rate_limit(ctx.args, ctx.workdir, ctx.passwd), __doc__,
                          standard_broker=False, tls=False))
