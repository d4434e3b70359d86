#!/usr/bin/env python3
"""Plugin option validation: every bad plugin_opt_* stops the broker with a clear
message.

A scenario of the plugin's end-to-end test (harness and usage: harness.py).
"""

import os
import subprocess
import sys

from harness import Broker, SERVICES, TIMEOUT, check, run_scenario


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


if __name__ == "__main__":
    sys.exit(run_scenario(lambda ctx: test_bad_options(ctx.args, ctx.workdir, ctx.passwd), __doc__,
                          standard_broker=False, tls=False))
