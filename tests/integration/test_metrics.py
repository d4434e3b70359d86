#!/usr/bin/env python3
"""The scheduler's Prometheus exposition, GET /metrics (issue 13), on a real stack.

Mosquitto with the Slotwise plugin (its stats every 5 s), slotwise-scheduler
with the HTTP API over TLS (an admin and a viewer `prom` for the scraper),
four nginx nodes (per_slot 2) and six real agents. A campaign of the six
agents plus one terminal that never shows up (removed over HTTP) runs to
DONE through the CLI (MQTT) while /metrics is scraped; a second campaign of
three unknown terminals stays DRAFT (created over HTTP). Then the scrape
must say exactly that: outcome counts per campaign, campaign states,
terminals online, operator requests per command and channel (MQTT and HTTP
alike) with their latency histograms, terminal requests per kind, store
commits, queues, the nodes' capacity and bookings (some booked while the
campaign ran), and the broker plugin's counters per shard. The live scrape
passes `promtool check metrics` without a single complaint, and every
metric the Grafana dashboard (docker/grafana/slotwise-dashboard.json) uses
is in it (docker/grafana/check_dashboard.py).

    python3 tests/integration/test_metrics.py --build-dir build [--keep]
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import ssl
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402

OPTS = argparse.Namespace(build_dir=str(REPO / "build"), keep=False, slot_seconds=2.0)
CAMPAIGN, DRAFT = "metrics-run", "metrics-draft"
AGENTS = 6
PROM_PASSWORD = "prom-scrape-pw"

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> tuple[dict[str, str], list[tuple[str, dict[str, str], float]]]:
    """The families' types and every sample (name, labels, value) of a text exposition."""
    types: dict[str, str] = {}
    samples = []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line and not line.startswith("#"):
            m = SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            labels = dict(LABEL.findall(m.group(2) or ""))
            samples.append((m.group(1), labels, float(m.group(3))))
    return types, samples


class Scrape:
    def __init__(self, text: str):
        self.text = text
        self.types, self.samples = parse(text)

    def values(self, name: str, **want: str) -> list[float]:
        return [v for n, labels, v in self.samples
                if n == name and all(labels.get(k) == w for k, w in want.items())]

    def one(self, name: str, **want: str) -> float:
        found = self.values(name, **want)
        if len(found) != 1:
            raise AssertionError(f"{name}{want}: {len(found)} series, want 1:\n" +
                                 "\n".join(l for l in self.text.splitlines() if l.startswith(name)))
        return found[0]

    def total(self, name: str, **want: str) -> float:
        return sum(self.values(name, **want))


class Metrics(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        s = cls.stack
        base, admin, cert = s.enable_http_api()
        users = Path(s.root / "http-users")
        users.write_text(users.read_text() + f"prom:viewer:{ls.configs.passwd_hash(PROM_PASSWORD)}\n")
        cls.base = base
        cls.admin = admin
        cls.ctx = ssl.create_default_context(cafile=str(cert))
        s.start()
        ls.build_demo_topology(s, per_slot=2)
        agents = s.spawn_fleet(AGENTS, exit_when_idle=False)
        cls.tids = [a.id for a in agents]
        s.wait_terminals_known(cls.tids, timeout=30)
        s.cli("campaign", "create", CAMPAIGN, "--version", ls.NEW_VERSION,
              "--terminals", ",".join(cls.tids + ["ghost-1"]))
        # Over HTTP: the removal, a DRAFT campaign, and a viewer refused.
        cls.http("POST", f"/v1/campaigns/{CAMPAIGN}/terminals/remove", {"terminalIds": ["ghost-1"]})
        cls.http("POST", "/v1/campaigns", {"id": DRAFT, "targetVersion": ls.NEW_VERSION,
                                            "terminalIds": ["d-1", "d-2", "d-3"]})
        cls.refused = cls.http("POST", "/v1/campaigns", {"id": "nope", "targetVersion": ls.NEW_VERSION,
                                                         "terminalIds": ["x"]}, user=("prom", PROM_PASSWORD))
        cls.http("GET", "/v1/campaigns", user=("prom", PROM_PASSWORD))
        s.cli("campaign", "schedule", CAMPAIGN, "--window", "earliest")
        # While it runs: scrape, and remember the most starts booked at once.
        cls.max_booked = 0.0
        cls.scrape_ms: list[float] = []
        deadline = time.monotonic() + 120
        state = ""
        while time.monotonic() < deadline:
            m = cls.scrape()
            cls.max_booked = max(cls.max_booked, m.total("slotwise_node_booked_starts"))
            state = s.cli_json("campaign", "status", CAMPAIGN).get("campaign", {}).get("state", "")
            if state == "DONE":
                break
            time.sleep(0.3)
        if state != "DONE":
            raise ls.StackError(f"campaign {CAMPAIGN} is {state}, not DONE, after 120 s")
        # The gauges follow within a tick; the broker's stats every 5 s.
        cls.final = cls.wait_for(lambda m: m.values("slotwise_campaign_terminals", campaign=CAMPAIGN,
                                                    outcome="SUCCEEDED") == [AGENTS]
                                 and m.values("slotwise_broker_terminals_connected", shard="0") == [AGENTS]
                                 and m.total("slotwise_broker_accepted_total") > 0, 20)

    @classmethod
    def http(cls, method: str, path: str, body=None, user=None) -> int:
        name, password = user or cls.admin.split(":", 1)
        req = urllib.request.Request(cls.base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode())
        try:
            with urllib.request.urlopen(req, context=cls.ctx, timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    @classmethod
    def scrape_raw(cls, auth: tuple[str, str] | None = ("prom", PROM_PASSWORD)):
        req = urllib.request.Request(cls.base + "/metrics")
        if auth:
            req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
        return urllib.request.urlopen(req, context=cls.ctx, timeout=30)

    @classmethod
    def scrape(cls) -> Scrape:
        t0 = time.monotonic()
        with cls.scrape_raw() as r:
            text = r.read().decode()
        if hasattr(cls, "scrape_ms"):
            cls.scrape_ms.append((time.monotonic() - t0) * 1000)
        return Scrape(text)

    @classmethod
    def wait_for(cls, ok, timeout: float) -> Scrape:
        deadline = time.monotonic() + timeout
        m = cls.scrape()
        while not ok(m) and time.monotonic() < deadline:
            time.sleep(0.5)
            m = cls.scrape()
        return m

    # -- the endpoint ----------------------------------------------------------------

    def test_login_needed_and_text_format(self) -> None:
        with self.assertRaises(urllib.error.HTTPError) as e:
            self.scrape_raw(auth=None)
        self.assertEqual(e.exception.code, 401)
        body = json.loads(e.exception.read())
        self.assertEqual(body["code"], "UNAUTHENTICATED")
        with self.assertRaises(urllib.error.HTTPError) as e:
            self.scrape_raw(auth=("prom", "wrong"))
        self.assertEqual(e.exception.code, 401)
        with self.scrape_raw() as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers.get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        print(f"scrape latency over HTTPS on this stack: median "
              f"{sorted(self.scrape_ms)[len(self.scrape_ms) // 2]:.1f} ms of {len(self.scrape_ms)}", flush=True)

    def test_promtool_check_metrics(self) -> None:
        promtool = shutil.which("promtool")
        if promtool is None:
            self.fail("promtool not found (Debian package prometheus, docker/install-deps.sh)")
        r = subprocess.run([promtool, "check", "metrics"], input=self.final.text, capture_output=True,
                           text=True, timeout=60)
        print(f"promtool check metrics: rc={r.returncode} {len(self.final.samples)} samples, "
              f"{len(self.final.types)} families, complaints: {(r.stdout + r.stderr).strip() or 'none'}", flush=True)
        self.assertEqual((r.returncode, (r.stdout + r.stderr).strip()), (0, ""), "promtool complained")

    def test_dashboard_uses_only_exported_metrics(self) -> None:
        scrape = self.stack.root / "scrape.txt"
        scrape.write_text(self.final.text)
        r = subprocess.run([sys.executable, str(REPO / "docker" / "grafana" / "check_dashboard.py"),
                            str(REPO / "docker" / "grafana" / "slotwise-dashboard.json"), "--scrape", str(scrape)],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    # -- campaigns --------------------------------------------------------------------

    def test_campaign_outcome_counts(self) -> None:
        m = self.final
        want = {"SUCCEEDED": AGENTS, "REMOVED": 1}
        for outcome in ("OUTCOME_PENDING", "SUCCEEDED", "FAILED", "ALREADY_CURRENT", "EXPIRED", "SUPERSEDED",
                        "CANCELLED", "REMOVED", "TIMED_OUT"):
            with self.subTest(outcome=outcome):
                self.assertEqual(m.one("slotwise_campaign_terminals", campaign=CAMPAIGN, outcome=outcome),
                                 want.get(outcome, 0))
        # The same counts as the campaign's own summary (the API's, recounted there).
        summary = self.stack.cli_json("campaign", "status", CAMPAIGN)
        self.assertEqual(int(summary.get("succeeded", 0)), AGENTS)
        self.assertEqual(m.one("slotwise_campaign_terminals", campaign=DRAFT, outcome="OUTCOME_PENDING"), 3)
        self.assertEqual(m.total("slotwise_campaign_terminals", campaign=DRAFT), 3)

    def test_campaign_states(self) -> None:
        m = self.final
        self.assertEqual(m.one("slotwise_campaign_state", campaign=CAMPAIGN, state="DONE"), 1)
        self.assertEqual(m.total("slotwise_campaign_state", campaign=CAMPAIGN), 1)
        self.assertEqual(m.one("slotwise_campaign_state", campaign=DRAFT, state="DRAFT"), 1)
        self.assertEqual(m.one("slotwise_campaigns", state="DONE"), 1)
        self.assertEqual(m.one("slotwise_campaigns", state="DRAFT"), 1)
        self.assertEqual(m.one("slotwise_campaigns", state="SCHEDULED"), 0)
        self.assertEqual(m.values("slotwise_campaign_terminals", campaign="nope"), [])  # refused: never made

    # -- terminals and requests ---------------------------------------------------------

    def test_terminals_online(self) -> None:
        m = self.final
        self.assertEqual(m.one("slotwise_terminals_known"), AGENTS)
        self.assertEqual(m.one("slotwise_terminals_online"), AGENTS)
        self.assertGreaterEqual(m.one("slotwise_presence_events_total", online="true"), AGENTS)

    def test_operator_requests_both_channels(self) -> None:
        m = self.final
        c = "slotwise_operator_requests_total"
        self.assertEqual(m.one(c, command="create_campaign", channel="mqtt", code="OK"), 1)
        self.assertEqual(m.one(c, command="create_campaign", channel="http", code="OK"), 1)
        self.assertEqual(self.refused, 403)
        self.assertEqual(m.one(c, command="create_campaign", channel="http", code="PERMISSION_DENIED"), 1)
        self.assertEqual(m.one(c, command="remove_terminals", channel="http", code="OK"), 1)
        self.assertEqual(m.one(c, command="schedule_campaign", channel="mqtt", code="OK"), 1)
        self.assertEqual(m.one(c, command="add_node", channel="mqtt", code="OK"), 4)
        self.assertGreaterEqual(m.one(c, command="list_campaigns", channel="http", code="OK"), 1)
        # Every answered command is in its latency histogram, once.
        h = "slotwise_operator_request_duration_seconds"
        self.assertEqual(self.final.types.get(h), "histogram")
        for command, channel, n in (("create_campaign", "http", 2), ("add_node", "mqtt", 4)):
            with self.subTest(command=command, channel=channel):
                self.assertEqual(m.one(h + "_count", command=command, channel=channel), n)
                self.assertEqual(m.one(h + "_bucket", command=command, channel=channel, le="+Inf"), n)
                self.assertGreater(m.one(h + "_sum", command=command, channel=channel), 0)

    def test_terminal_requests_per_kind(self) -> None:
        m = self.final
        c = "slotwise_terminal_requests_total"
        for kind in ("report", "check", "status"):
            with self.subTest(kind=kind):
                self.assertGreaterEqual(m.one(c, kind=kind, code="OK"), AGENTS)
                self.assertEqual(m.one("slotwise_terminal_request_duration_seconds_count", kind=kind),
                                 m.total(c, kind=kind))

    def test_store_commits_and_queues(self) -> None:
        m = self.final
        self.assertGreater(m.one("slotwise_store_commit_duration_seconds_count"), 0)
        self.assertEqual(m.one("slotwise_store_commit_failures_total"), 0)
        self.assertEqual(m.one("slotwise_store_commit_batch_items_count"),
                         m.one("slotwise_store_commit_duration_seconds_count"))
        self.assertEqual(m.one("slotwise_broker_connected", shard="0"), 1)
        self.assertEqual(m.one("slotwise_notices_pending", shard="0"), 0)
        self.assertGreaterEqual(m.one("slotwise_inbox_items"), 0)
        self.assertGreater(m.one("slotwise_mqtt_published_total", shard="0"), 0)
        self.assertEqual(m.one("slotwise_broker_shard_info", shard="0", uri=self.stack.scheduler_broker_urls[0]), 1)
        age = time.time() - m.one("slotwise_snapshot_timestamp_seconds")
        self.assertLess(abs(age), 10)

    # -- nodes ----------------------------------------------------------------------------

    def test_node_capacity_and_bookings(self) -> None:
        m = self.final
        nodes = sorted(self.stack.nodes)
        self.assertEqual(len(nodes), 4)
        for node in nodes:
            with self.subTest(node=node):
                self.assertEqual(m.one("slotwise_node_per_slot_starts", node=node), 2)
                self.assertEqual(m.one("slotwise_node_state", node=node, state="ACTIVE"), 1)
                for slot in ("current", "next"):
                    cap = m.one("slotwise_node_capacity_starts", node=node, slot=slot)
                    self.assertTrue(0 <= cap <= 2, cap)
                    m.one("slotwise_node_utilisation_ratio", node=node, slot=slot)
        self.assertGreater(self.max_booked, 0, "no scrape while the campaign ran saw a booked start")

    # -- the broker plugin ------------------------------------------------------------------

    def test_broker_counters_folded_in(self) -> None:
        m = self.final
        self.assertEqual(m.one("slotwise_broker_terminals_connected", shard="0"), AGENTS)
        self.assertEqual(self.final.types.get("slotwise_broker_accepted_total"), "counter")
        # Every report, check and status of the agents passed the plugin (stamped).
        self.assertGreater(m.one("slotwise_broker_accepted_total", shard="0"), 0)
        for reason in ("payload_format_invalid", "packet_too_large", "not_authorized", "message_rate_too_high"):
            with self.subTest(reason=reason):
                m.one("slotwise_broker_rejected_total", shard="0", reason=reason)
        self.assertGreater(m.one("slotwise_broker_stats_timestamp_seconds", shard="0"), time.time() - 60)
        self.assertEqual(m.one("slotwise_broker_stats_errors_total"), 0)


def main() -> int:
    return st.run_test_file([Metrics], OPTS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
