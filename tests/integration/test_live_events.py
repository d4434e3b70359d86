#!/usr/bin/env python3
"""Live events, webhooks and the CLI's edges (issue 13) on a real stack.

Real mosquitto + the broker plugin, slotwise-scheduler (HTTP API over TLS,
a webhook to a local receiver that refuses the first attempt, with a
secret), nginx nodes and slotwise-agent processes (the localstack package).
One campaign runs to DONE while
  - a Server-Sent Events stream (/v1/events?campaign=ID) collects its events,
  - mosquitto_sub as the operator reads slotwise/v1/op/events/#, and as a
    terminal is refused the same filter,
  - `slotwise campaign status ID --wait` runs three times: plain lines (not a
    TTY), a progress bar (stderr on a pseudo-terminal), and JSON lines.
Then: the webhook's DONE arrived after a retry, signed; --version on every
binary; a refused login exits 4 with words, an unreachable broker 3; --json
errors and acknowledgements are JSON.

    python3 tests/integration/test_live_events.py --build-dir build [--keep]
"""

from __future__ import annotations

import argparse
import base64
import calendar
import hashlib
import hmac
import http.client
import http.server
import json
import os
import pty
import re
import select
import ssl
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402

CAMPAIGN = "it-live"
SECRET = "hook-secret-1"
OPTS = argparse.Namespace(build_dir=str(REPO / "build"), terminals=6, per_slot=1, slot_seconds=2.0, keep=False)
VERSION_RE = re.compile(r"^(slotwise|slotwise-scheduler|slotwise-agent|slotwise-fleet) \d+\.\d+\.\d+"
                        r"( \(git [0-9a-f]{7,40}(-dirty)?\))?$")


class Receiver(http.server.BaseHTTPRequestHandler):
    """Records every POST; answers 500 to the first attempt of each delivery id."""
    seen: list = []
    refused: set = set()

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        delivery = self.headers.get("X-Slotwise-Delivery", "")
        first = delivery not in Receiver.refused
        Receiver.seen.append({"headers": dict(self.headers), "body": body, "refused": first})
        if first:
            Receiver.refused.add(delivery)
        self.send_response(500 if first else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class SseReader(threading.Thread):
    """GET /v1/events?... on its own connection; every event as (id, name, data)."""

    def __init__(self, port: int, ctx: ssl.SSLContext, auth: str, query: str, last_id: str | None = None):
        super().__init__(daemon=True)
        self.port, self.ctx, self.auth, self.query, self.last_id = port, ctx, auth, query, last_id
        self.events: list[tuple[str, str, object]] = []
        self.opened = threading.Event()
        self.stop = False

    def run(self):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=120)
        headers = {"Authorization": "Basic " + base64.b64encode(self.auth.encode()).decode()}
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        conn.request("GET", "/v1/events" + self.query, headers=headers)
        resp = conn.getresponse()
        self.opened.set()
        ev_id, name, data = "", "message", []
        while not self.stop:
            line = resp.fp.readline()
            if not line:
                break
            line = line.decode().rstrip("\n")
            if line == "":
                if data:
                    text = "\n".join(data)
                    try:
                        parsed = json.loads(text)
                    except json.JSONDecodeError:
                        parsed = text
                    self.events.append((ev_id, name, parsed))
                ev_id, name, data = "", "message", []
            elif line.startswith("id: "):
                ev_id = line[4:]
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        conn.close()

    def live(self, name: str) -> list:
        return [d for (_, n, d) in self.events if n == name]


class LiveEvents(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        s = cls.stack
        cls.hook_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=cls.hook_server.serve_forever, daemon=True).start()
        hook_url = f"http://127.0.0.1:{cls.hook_server.server_address[1]}/hook"
        url, cls.admin_auth, cert = s.enable_http_api()
        s.scheduler_extra_args += ["--webhook", hook_url, "--webhook-secret", SECRET, "--webhook-backoff-ms", "200"]
        s.start()
        cls.ctx = ssl.create_default_context(cafile=str(cert))
        ls.build_demo_topology(s, per_slot=OPTS.per_slot)
        agents = s.spawn_fleet(OPTS.terminals)
        cls.tids = [a.id for a in agents]
        s.wait_terminals_known(cls.tids, timeout=30)

        cls.sse = SseReader(s.http_port, cls.ctx, cls.admin_auth, f"?campaign={CAMPAIGN}")
        cls.sse.start()
        cls.sse.opened.wait(10)
        cls.sse_other = SseReader(s.http_port, cls.ctx, cls.admin_auth, "?campaign=some-other")
        cls.sse_other.start()
        cls.sse_other.opened.wait(10)
        cls.op_out = s.logs / "op-events.out"
        cls.op_sub = cls.mosquitto_sub(ls.OPERATOR_USERNAME, "op-events-watch", cls.op_out)
        cls.spy_out = s.logs / "spy-events.out"
        spy = "T-SPY-1"
        s.terminal_password(spy)
        cls.spy_sub = cls.mosquitto_sub(spy, spy, cls.spy_out)

        # Human times (scheduler/cli/time_args.h): a deadline from now, a start as a UTC date and time.
        s.cli("campaign", "create", CAMPAIGN, "--version", ls.NEW_VERSION, "--terminals", ",".join(cls.tids),
              "--deadline", "48h")
        cls.created_at_ms = time.time() * 1000
        env = s.operator.env()
        argv = s.operator.argv("campaign", "status", CAMPAIGN, "--wait", "90")
        cls.json_proc = subprocess.Popen(argv + ["--json"], env=env, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True, start_new_session=True)
        master, slave = pty.openpty()
        cls.tty_proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=slave,
                                        start_new_session=True)
        os.close(slave)
        cls.plain_proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                          start_new_session=True)
        time.sleep(1.0)  # the three have subscribed
        cls.start_text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 2))
        s.cli("campaign", "schedule", CAMPAIGN, "--start", cls.start_text, "--end", "+45s")
        cls.scheduled_at_ms = time.time() * 1000
        cls.tty_text = b""
        deadline = time.monotonic() + 100
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                cls.tty_text += chunk
            elif cls.tty_proc.poll() is not None:
                break
        os.close(master)
        cls.tty_rc = cls.tty_proc.wait(timeout=30)
        cls.plain_out, cls.plain_err = cls.plain_proc.communicate(timeout=30)
        cls.json_out, cls.json_err = cls.json_proc.communicate(timeout=30)
        cls.plain_rc, cls.json_rc = cls.plain_proc.returncode, cls.json_proc.returncode
        # The webhook (retried after 200 ms) and the streams have a moment to catch up.
        st.wait_until(lambda: any(b"\"DONE\"" in r["body"] and not r["refused"] for r in Receiver.seen), timeout=15)
        st.wait_until(lambda: any(d.get("campaignState", {}).get("state") == "DONE"
                                  for d in cls.sse.live("campaign_state")), timeout=10)
        time.sleep(0.5)
        cls.sse.stop = True
        cls.sse_other.stop = True

    @classmethod
    def mosquitto_sub(cls, username: str, client_id: str, out: Path) -> subprocess.Popen:
        s = cls.stack
        argv = ["stdbuf", "-oL", "mosquitto_sub", "-V", "5", "-h", "127.0.0.1", "-p", str(s.broker_port),
                *s.mqtt_auth_args(username), "-i", client_id, "-q", "1", "-d", "-t", "slotwise/v1/op/events/#",
                "-F", "MSG|%t|%p"]
        f = open(out, "wb")
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        f.close()
        st.wait_until(lambda: "SUBACK" in out.read_text(errors="replace") or proc.poll() is not None, timeout=10)
        return proc

    # -- SSE -------------------------------------------------------------------

    def test_sse_progress_reaches_done(self):
        progress = [d["campaignProgress"] for d in self.sse.live("campaign_progress")]
        self.assertTrue(progress, f"no campaign_progress events: {self.sse.events[:5]}")
        finished = [int(p.get("finished", 0)) for p in progress]
        self.assertEqual(finished, sorted(finished), "progress went backwards")
        self.assertEqual(finished[-1], len(self.tids))
        self.assertEqual(int(progress[-1]["terminals"]), len(self.tids))
        self.assertEqual(progress[-1]["outcomes"].get("SUCCEEDED"), len(self.tids))
        states = [d["campaignState"] for d in self.sse.live("campaign_state")]
        self.assertEqual([x["state"] for x in states][-1], "DONE", states)
        self.assertIn("SCHEDULED", [x["state"] for x in states])
        self.assertEqual(int(states[-1]["progress"]["finished"]), len(self.tids))

    def test_sse_filter_and_ids(self):
        for _, name, data in self.sse.events:
            if name.startswith("campaign_"):
                body = data.get("campaignProgress") or data.get("campaignState")
                self.assertEqual(body["campaignId"], CAMPAIGN)
            self.assertNotEqual(name, "node", "a node event on a campaign-filtered stream")
        self.assertEqual(self.sse_other.live("campaign_progress"), [], "another campaign's stream got its events")
        ids = [int(i) for (i, n, _) in self.sse.events if n.startswith("campaign_")]
        self.assertEqual(ids, sorted(ids))
        self.assertTrue(all(ids), "a live event without an SSE id")

    def test_sse_last_event_id_resumes(self):
        first_id = next(i for (i, n, _) in self.sse.events if n.startswith("campaign_"))
        again = SseReader(self.stack.http_port, self.ctx, self.admin_auth, f"?campaign={CAMPAIGN}", last_id=first_id)
        again.start()
        st.wait_until(lambda: any(d.get("campaignState", {}).get("state") == "DONE"
                                  for d in again.live("campaign_state")), timeout=10)
        again.stop = True
        replayed = [i for (i, n, _) in again.events if n.startswith("campaign_")]
        want = [i for (i, n, _) in self.sse.events if n.startswith("campaign_") and int(i) > int(first_id)]
        self.assertEqual(replayed[:len(want)], want)

    # -- MQTT ------------------------------------------------------------------

    def test_operator_reads_events_on_mqtt(self):
        lines = [ln for ln in self.op_out.read_text(errors="replace").splitlines() if ln.startswith("MSG|")]
        topics = {ln.split("|")[1] for ln in lines}
        self.assertIn(f"slotwise/v1/op/events/campaign/{CAMPAIGN}", topics)
        done = [json.loads(ln.split("|", 2)[2]) for ln in lines if "campaignState" in ln]
        self.assertIn("DONE", [d["campaignState"]["state"] for d in done])
        self.assertTrue(any(t.startswith("slotwise/v1/op/events/node/") for t in topics), topics)

    def test_terminal_cannot_read_events(self):
        text = self.spy_out.read_text(errors="replace")
        self.assertNotIn("MSG|", text, "a terminal received operator events")
        self.assertRegex(text, r"(?i)denied|0x87|128|not authori[sz]ed", text[-2000:])

    # -- webhooks --------------------------------------------------------------

    def test_webhook_retried_and_signed(self):
        done = [r for r in Receiver.seen if b"\"DONE\"" in r["body"]]
        self.assertGreaterEqual(len(done), 2, "the DONE webhook was not retried after the refused attempt")
        self.assertTrue(done[0]["refused"])
        self.assertFalse(done[-1]["refused"])
        self.assertEqual(done[0]["headers"]["X-Slotwise-Delivery"], done[-1]["headers"]["X-Slotwise-Delivery"])
        body = done[-1]["body"]
        sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        self.assertEqual(done[-1]["headers"]["X-Slotwise-Signature"], "sha256=" + sig)
        self.assertEqual(done[-1]["headers"]["X-Slotwise-Event"], "campaign_state")
        event = json.loads(body)["campaignState"]
        self.assertEqual(event["campaignId"], CAMPAIGN)
        self.assertEqual(int(event["progress"]["finished"]), len(self.tids))
        self.assertIn("SCHEDULED", [json.loads(r["body"])["campaignState"]["state"] for r in Receiver.seen])
        log = (self.stack.logs / "scheduler.log").read_text(errors="replace")
        self.assertIn("retrying", log)

    # -- the CLI's --wait --------------------------------------------------------

    def test_wait_plain_lines_reach_100(self):
        self.assertEqual(self.plain_rc, 0, self.plain_err[-2000:])
        lines = [ln for ln in self.plain_err.splitlines() if " progress " in ln]
        self.assertTrue(lines, self.plain_err)
        self.assertIn("100.0%", lines[-1])
        self.assertIn(f"{len(self.tids)}/{len(self.tids)} finished", lines[-1])
        self.assertIn("DONE", lines[-1])
        self.assertNotIn("\r", self.plain_err)
        self.assertIn(f"campaign {CAMPAIGN}", self.plain_out)  # the final report, as before

    def test_wait_bar_on_a_tty(self):
        text = self.tty_text.decode(errors="replace")
        self.assertEqual(self.tty_rc, 0, text[-2000:])
        self.assertIn("\r", text)
        n = len(self.tids)
        self.assertRegex(text, r"\[#+\] 100\.0%%  %d/%d  .*ETA 0:00  DONE" % (n, n))
        self.assertRegex(text, r"\d+(\.\d)?/s")

    def test_wait_json_lines(self):
        self.assertEqual(self.json_rc, 0, self.json_err[-2000:])
        lines = [json.loads(ln) for ln in self.json_out.splitlines() if ln.strip()]
        events = [x for x in lines if "campaignProgress" in x or "campaignState" in x]
        self.assertTrue(events, self.json_out[:2000])
        last = events[-1].get("campaignState") or events[-1]["campaignProgress"]
        self.assertEqual(last["state"], "DONE")
        self.assertEqual(int((last.get("progress") or last)["finished"]), len(self.tids))
        self.assertEqual(lines[-1]["campaign"]["state"], "DONE")  # the final CampaignReport

    # -- --version, refused login, --json errors -----------------------------------

    def test_version_on_every_binary(self):
        build = Path(OPTS.build_dir)
        for rel in ("scheduler/slotwise", "scheduler/slotwise-scheduler", "agent/slotwise-agent",
                    "fleet/slotwise-fleet"):
            with self.subTest(binary=rel):
                res = subprocess.run([str(build / rel), "--version"], capture_output=True, text=True, timeout=10)
                self.assertEqual(res.returncode, 0, res.stderr)
                self.assertRegex(res.stdout.strip(), VERSION_RE)

    def test_refused_login_exits_4_with_words(self):
        s = self.stack
        argv = [str(s.operator.cli_bin), "--broker", s.operator.broker_url, "--username", ls.OPERATOR_USERNAME,
                "--password", "wrong-password", "cluster", "list"]
        env = {k: v for k, v in os.environ.items() if k != "SLOTWISE_PASSWORD"}
        res = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
        self.assertEqual(res.returncode, 4, res.stderr)
        self.assertIn("refused the credentials", res.stderr)
        self.assertNotIn("[135]", res.stderr)
        self.assertNotIn("[134]", res.stderr)
        res = subprocess.run(argv + ["--json"], capture_output=True, text=True, timeout=30, env=env)
        self.assertEqual(res.returncode, 4)
        err = json.loads(res.stderr.strip().splitlines()[-1])
        self.assertEqual(err["error"]["code"], "UNAUTHENTICATED")
        self.assertEqual(err["exitCode"], 4)
        closed = st.free_port()
        res = subprocess.run([str(s.operator.cli_bin), "--broker", f"tcp://127.0.0.1:{closed}", "--timeout", "2",
                              "cluster", "list"], capture_output=True, text=True, timeout=30, env=env)
        self.assertEqual(res.returncode, 3, res.stderr)

    def test_human_times(self):
        report = self.stack.cli_json("campaign", "status", CAMPAIGN)
        c = report["campaign"]
        self.assertAlmostEqual(int(c["deadline_ms"]), self.created_at_ms + 48 * 3600 * 1000, delta=15000)
        start_ms = calendar.timegm(time.strptime(self.start_text, "%Y-%m-%d %H:%M:%S")) * 1000
        slot_ms = int(report["slot_ms"])
        self.assertEqual(int(c["window_start_slot"]), -(-start_ms // slot_ms))
        self.assertAlmostEqual(int(c["window_end_slot"]) * slot_ms, self.scheduled_at_ms + 45000, delta=slot_ms + 5000)
        # Minutes only, and a bad time: a usage error (2), not a refusal.
        res = self.stack.cli("campaign", "windows", CAMPAIGN, "--deadline", "2026-12-02 01:00", check=False)
        self.assertNotEqual(res.returncode, 2, res.stderr)
        res = self.stack.cli("campaign", "windows", CAMPAIGN, "--deadline", "tomorrow-ish", check=False)
        self.assertEqual(res.returncode, 2, res.stderr)

    def test_json_errors_and_acks(self):
        s = self.stack
        res = s.cli("campaign", "pause", "no-such-campaign", "--json", check=False)
        self.assertEqual(res.returncode, 1)
        err = json.loads(res.stderr.strip().splitlines()[-1])
        self.assertEqual(err["error"]["code"], "NOT_FOUND")
        self.assertEqual(err["exitCode"], 1)
        s.cli("campaign", "create", "it-live-ack", "--version", ls.NEW_VERSION, "--terminals", "X-1")
        res = s.cli("campaign", "cancel", "it-live-ack", "--json")
        ack = json.loads(res.stdout)
        self.assertEqual(ack["ack"], {})
        self.assertIn("cancel", ack["message"])


def main() -> int:
    return st.run_test_file([LiveEvents], OPTS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
