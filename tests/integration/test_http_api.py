#!/usr/bin/env python3
"""The scheduler's HTTP API (issue 13) against the real daemon.

A real stack (mosquitto with the plugin, slotwise-scheduler with
--http-listen over TLS and a users file of an admin, an operator and a
viewer): every resource; a campaign of 100,000 terminals created through the
API and read back page by page; roles (no credentials 401, a viewer cannot
schedule 403, each with a slotwise.v1.Error JSON body, nothing changes); bad
JSON and bad values (400, nothing changes); 404 and 405; the audit trail;
the live event stream; and the OpenAPI document (schemas/openapi.json)
checked against the server both ways.

    python3 tests/integration/test_http_api.py --build-dir build [--keep]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
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

OPTS = argparse.Namespace(build_dir=str(REPO / "build"), keep=False)
USERS = {"ada": ("admin", "ada-pw"), "otto": ("operator", "otto-pw"), "vera": ("viewer", "vera-pw")}


def mosquitto_hash(password: str, iterations: int = 101) -> str:
    """The $7$ hash mosquitto_passwd writes (PBKDF2-HMAC-SHA512, 12-byte salt)."""
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


class Api:
    def __init__(self, base: str, cafile: Path):
        self.base = base
        self.ctx = ssl.create_default_context(cafile=str(cafile))

    def call(self, method: str, path: str, body=None, user: str | None = "ada",
             raw: bytes | None = None, timeout: float = 60) -> tuple[int, object]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if user:
            pw = USERS[user][1] if user in USERS else "wrong"
            req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode())
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read()
            return e.code, json.loads(text) if text else None


class HttpApi(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        s = cls.stack
        cert, key = s.root / "http-cert.pem", s.root / "http-key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
        users = s.root / "users"
        users.write_text("".join(f"{u}:{role}:{mosquitto_hash(pw)}\n" for u, (role, pw) in USERS.items()))
        cls.port = st.free_port() if hasattr(st, "free_port") else _free_port()
        s.scheduler_extra_args = ["--http-listen", f"127.0.0.1:{cls.port}", "--http-tls-cert", str(cert),
                                  "--http-tls-key", str(key), "--http-users", str(users)]
        s.start()
        cls.api = Api(f"https://127.0.0.1:{cls.port}", cert)
        cls.cert = cert

    def call(self, *a, **k):
        return self.api.call(*a, **k)

    def assert_error(self, status: int, body, want_status: int, want_code: str) -> None:
        self.assertEqual(status, want_status, body)
        self.assertIsInstance(body, dict)
        self.assertEqual(body.get("code"), want_code, body)
        self.assertTrue(body.get("message"), body)

    def campaign_state(self, cid: str) -> str:
        status, body = self.call("GET", f"/v1/campaigns/{cid}?omit_terminals=true")
        self.assertEqual(status, 200, body)
        return body["campaign"].get("state", "CAMPAIGN_STATE_UNSPECIFIED")

    # -- the registry (admin) ----------------------------------------------------

    def ensure_registry(self) -> None:
        if getattr(type(self), "_registry", False):
            return
        st_, b = self.call("POST", "/v1/clusters", {"id": "c1", "location": {"lat": 45.1, "lon": 5.3}, "region": "eu"})
        self.assertEqual(st_, 200, b)
        st_, b = self.call("POST", "/v1/nodes", {"id": "n1", "clusterId": "c1", "baseUrl": "http://127.0.0.1:9",
                                                 "perSlot": 50})
        self.assertEqual(st_, 200, b)
        st_, b = self.call("POST", "/v1/versions", {"version": "2.0.0", "path": "/fw/2.0.0.bin",
                                                    "sha256": "ab" * 32, "size": 1000})
        self.assertEqual(st_, 200, b)
        type(self)._registry = True

    def test_registry_resources(self) -> None:
        self.ensure_registry()
        st_, b = self.call("GET", "/v1/clusters", user="vera")
        self.assertEqual(st_, 200, b)
        self.assertIn("c1", [c["id"] for c in b["clusters"]])
        st_, b = self.call("GET", "/v1/nodes", user="vera")
        self.assertEqual([n["id"] for n in b["nodes"]], ["n1"])
        st_, b = self.call("GET", "/v1/versions", user="vera")
        self.assertIn("2.0.0", [a["version"] for a in b["artifacts"]])
        # An operator may not touch servers; nothing changes.
        st_, b = self.call("PUT", "/v1/nodes/n1/state", {"state": "DRAINING"}, user="otto")
        self.assert_error(st_, b, 403, "PERMISSION_DENIED")
        self.assertEqual(self.call("GET", "/v1/nodes")[1]["nodes"][0]["state"], "ACTIVE")
        st_, b = self.call("PUT", "/v1/nodes/n1/state", {"state": "DRAINING"})
        self.assertEqual(st_, 200, b)
        self.assertEqual(self.call("GET", "/v1/nodes")[1]["nodes"][0]["state"], "DRAINING")
        self.assertEqual(self.call("PUT", "/v1/nodes/n1/state", {"state": "ACTIVE"})[0], 200)
        st_, b = self.call("POST", "/v1/clusters", {"id": "c1", "location": {"lat": 1, "lon": 1}})
        self.assert_error(st_, b, 409, "ALREADY_EXISTS")

    # -- authentication and roles --------------------------------------------------

    def test_no_credentials_401(self) -> None:
        for user in (None, "mallory"):
            st_, b = self.call("GET", "/v1/campaigns", user=user)
            self.assert_error(st_, b, 401, "UNAUTHENTICATED")
        st_, b = self.call("POST", "/v1/clusters", {"id": "nope", "location": {"lat": 1, "lon": 1}}, user=None)
        self.assert_error(st_, b, 401, "UNAUTHENTICATED")
        ids = [c["id"] for c in self.call("GET", "/v1/clusters")[1].get("clusters", [])]
        self.assertNotIn("nope", ids)

    def test_plain_http_refused_on_tls_port(self) -> None:
        with self.assertRaises(Exception):
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/campaigns", timeout=5).read()

    def test_viewer_cannot_schedule(self) -> None:
        self.ensure_registry()
        st_, b = self.call("POST", "/v1/campaigns", {"id": "roles", "targetVersion": "2.0.0",
                                                     "terminalIds": ["t-1", "t-2"]}, user="otto")
        self.assertEqual(st_, 200, b)
        st_, b = self.call("POST", "/v1/campaigns", {"id": "viewer-made", "targetVersion": "2.0.0",
                                                     "terminalIds": ["t-1"]}, user="vera")
        self.assert_error(st_, b, 403, "PERMISSION_DENIED")
        self.assertEqual(self.call("GET", "/v1/campaigns/viewer-made")[0], 404)
        st_, w = self.call("GET", "/v1/campaigns/roles/windows", user="vera")
        self.assertEqual(st_, 200, w)
        win = w["windows"][0]
        body = {"startSlot": win["startSlot"], "endSlot": win["endSlot"]}
        st_, b = self.call("POST", "/v1/campaigns/roles/schedule", body, user="vera")
        self.assert_error(st_, b, 403, "PERMISSION_DENIED")
        self.assertEqual(self.campaign_state("roles"), "DRAFT")
        st_, b = self.call("POST", "/v1/campaigns/roles/schedule", body, user="otto")
        self.assertEqual(st_, 200, b)
        self.assertEqual(self.campaign_state("roles"), "SCHEDULED")
        for verb, state in (("pause", "PAUSED"), ("resume", "SCHEDULED")):
            self.assert_error(*self.call("POST", f"/v1/campaigns/roles/{verb}", user="vera"), 403, "PERMISSION_DENIED")
            self.assertEqual(self.call("POST", f"/v1/campaigns/roles/{verb}", user="otto")[0], 200)
            self.assertEqual(self.campaign_state("roles"), state)
        # The audit trail: the viewer's refusals and the operator's changes, newest first.
        st_, a = self.call("GET", "/v1/audit?page_size=50", user="vera")
        self.assertEqual(st_, 200, a)
        entries = a["entries"]
        seqs = [int(e["seq"]) for e in entries]
        self.assertEqual(seqs, sorted(seqs, reverse=True))
        refused = [e for e in entries if e["who"] == "vera" and e["command"] == "schedule_campaign"]
        self.assertTrue(refused and refused[0]["code"] == "PERMISSION_DENIED" and refused[0]["channel"] == "http",
                        entries)
        done = [e for e in entries if e["who"] == "otto" and e["command"] == "schedule_campaign" and "code" not in e]
        self.assertTrue(done, entries)
        self.assertIn("roles", done[0]["request"])
        # The MQTT channel is audited the same way (the CLI's operator).
        self.stack.cli("campaign", "pause", "roles")
        st_, a = self.call("GET", "/v1/audit?page_size=1")
        e = a["entries"][0]
        self.assertEqual((e["command"], e["channel"], e["role"]), ("pause_campaign", "mqtt", "admin"), e)
        self.assertIn("nextPageToken", a)
        st_, a2 = self.call("GET", f"/v1/audit?page_size=1&page_token={a['nextPageToken']}")
        self.assertLess(int(a2["entries"][0]["seq"]), int(e["seq"]))
        # `slotwise audit` reads the same trail.
        out = self.stack.cli("audit", "--page-size", "3").stdout
        self.assertIn("pause_campaign", out)
        self.assertIn("mqtt", out)
        out = self.stack.cli("audit", "--who", "vera").stdout
        self.assertIn("PERMISSION_DENIED", out)

    # -- bad input -------------------------------------------------------------------

    def test_bad_json_and_values_400(self) -> None:
        self.ensure_registry()
        before = self.call("GET", "/v1/campaigns")[1]
        for raw in (b"{", b"[]", b'{"id": 5, "targetVersion": "2.0.0"}', b'{"nosuchfield": 1}'):
            st_, b = self.call("POST", "/v1/campaigns", raw=raw, user="otto")
            self.assert_error(st_, b, 400, "MALFORMED")
        st_, b = self.call("POST", "/v1/campaigns", {"id": "bad id!", "targetVersion": "2.0.0",
                                                     "terminalIds": ["t"]}, user="otto")
        self.assert_error(st_, b, 400, "INVALID_ARGUMENT")
        st_, b = self.call("POST", "/v1/campaigns", {"id": "dup", "targetVersion": "2.0.0",
                                                     "terminalIds": ["t", "t"]}, user="otto")
        self.assert_error(st_, b, 400, "INVALID_ARGUMENT")
        for q in ("page_size=abc", "page_size=-1", "page_size=5000", "state=NOPE", "colour=red"):
            st_, b = self.call("GET", f"/v1/campaigns?{q}")
            self.assertEqual(st_, 400, (q, b))
        self.assertEqual(self.call("GET", "/v1/campaigns")[1], before)

    def test_404_and_405(self) -> None:
        self.assert_error(*self.call("GET", "/v1/nothing-here"), 404, "NOT_FOUND")
        self.assert_error(*self.call("GET", "/v1/campaigns/no-such"), 404, "NOT_FOUND")
        st_, b = self.call("DELETE", "/v1/campaigns")
        self.assertEqual(st_, 405, b)
        st_, b = self.call("GET", "/v1/campaigns/x/pause")
        self.assertEqual(st_, 405, b)

    # -- 100,000 terminals ---------------------------------------------------------------

    def test_pagination_100k(self) -> None:
        self.ensure_registry()
        ids = [f"pt-{i:06d}" for i in range(100_000)]
        t0 = time.monotonic()
        st_, b = self.call("POST", "/v1/campaigns", {"id": "big", "targetVersion": "2.0.0", "terminalIds": ids},
                           user="otto", timeout=120)
        self.assertEqual(st_, 200, b)
        created = time.monotonic() - t0
        st_, s = self.call("GET", "/v1/campaigns/big/summary", user="vera")
        self.assertEqual(st_, 200, s)
        self.assertEqual(s["terminals"], 100_000)
        self.assertEqual(s["outcomes"], {"OUTCOME_PENDING": 100_000})
        self.assertNotIn("terminalIds", s["campaign"])
        seen: list[str] = []
        token = ""
        t0 = time.monotonic()
        pages = 0
        while True:
            st_, p = self.call("GET", f"/v1/campaigns/big/terminals?page_size=1000&page_token={token}", user="vera")
            self.assertEqual(st_, 200, p)
            pages += 1
            seen += [t["terminalId"] for t in p["terminals"]]
            token = p.get("nextPageToken", "")
            if not token:
                break
        paged = time.monotonic() - t0
        self.assertEqual(seen, ids)
        self.assertEqual(pages, 100)
        st_, p = self.call("GET", "/v1/campaigns/big/terminals?page_size=10&outcomes=SUCCEEDED")
        self.assertEqual((st_, p.get("terminals", [])), (200, []))
        st_, r = self.call("GET", "/v1/campaigns/big?omit_terminals=true")
        self.assertTrue(r["terminalsOmitted"])
        self.assertNotIn("terminals", r)
        print(f"100,000 terminals: created in {created:.2f} s, read in 100 pages of 1,000 in {paged:.2f} s "
              f"({paged * 10:.1f} ms a page over HTTPS)", flush=True)

    def test_openapi_matches_server(self) -> None:
        """schemas/openapi.json: every server route documented and every documented
        route served; each answers a documented status with a body of its schema."""
        doc = json.loads((REPO / "schemas" / "openapi.json").read_text())
        documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
        st_, routes = self.call("GET", "/v1", user="vera")
        self.assertEqual(st_, 200, routes)
        self.assertEqual(validate(doc, {"$ref": "#/components/schemas/RouteList"}, routes), [])
        served = {(r["method"], r["path"]) for r in routes["routes"]}
        self.assertEqual(served, documented, "server routes and openapi.json differ")
        self.ensure_registry()
        self.call("POST", "/v1/campaigns", {"id": "oa", "targetVersion": "2.0.0", "terminalIds": ["o-1"]}, user="otto")
        checked = 0
        for path, ops in doc["paths"].items():
            for method, spec in ops.items():
                if path == "/v1/events":
                    continue  # a stream: test_live_events
                if path == "/metrics":
                    continue  # text, not JSON: test_metrics_documented (and tests/integration/test_metrics.py)
                # Reads on real objects (200), changes on an unknown campaign or an empty body (4xx).
                concrete = path.replace("{id}", "n1" if path.startswith("/v1/nodes") else
                                        ("oa" if method == "get" else "oa-none"))
                body = None if method == "get" else {}
                for user in ("ada", "vera", None):
                    status, answer = self.call(method.upper(), concrete, body, user=user)
                    self.assertIn(str(status), spec["responses"], f"{method} {concrete} as {user}: {status} {answer}")
                    content = spec["responses"][str(status)].get("content", {}).get("application/json")
                    self.assertIsNotNone(content, f"{method} {path} {status}")
                    errs = validate(doc, content["schema"], answer)
                    self.assertEqual(errs, [], f"{method} {concrete} as {user} ({status}): {answer}")
                    checked += 1
        # Wrong methods answer 405 with an Error body.
        status, answer = self.call("PATCH", "/v1/clusters", {})
        self.assertEqual(status, 405)
        self.assertEqual(validate(doc, {"$ref": "#/components/schemas/Error"}, answer), [])
        self.assertGreater(checked, 50)

    def test_metrics_documented(self) -> None:
        """/metrics (issue 13) as openapi.json says: text for a viewer, 401 with an Error body without a login."""
        doc = json.loads((REPO / "schemas" / "openapi.json").read_text())
        spec = doc["paths"]["/metrics"]["get"]
        req = urllib.request.Request(self.api.base + "/metrics")
        req.add_header("Authorization", "Basic " + base64.b64encode(b"vera:vera-pw").decode())
        with urllib.request.urlopen(req, context=self.api.ctx, timeout=30) as r:
            self.assertEqual(r.status, 200)
            self.assertIn(r.headers.get_content_type(), spec["responses"]["200"]["content"])
            self.assertIn("# TYPE slotwise_operator_requests_total counter", r.read().decode())
        status, answer = self.call("GET", "/metrics", user=None)
        self.assertEqual(status, 401)
        self.assertEqual(validate(doc, spec["responses"]["401"]["content"]["application/json"]["schema"], answer), [])

    def test_live_events(self) -> None:
        """/v1/events: a change made after the stream opened arrives as an event."""
        self.ensure_registry()
        import http.client
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.api.ctx, timeout=30)
        auth = base64.b64encode(b"vera:vera-pw").decode()
        conn.request("GET", "/v1/events", headers={"Authorization": "Basic " + auth})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertIn("text/event-stream", resp.getheader("Content-Type"))
        self.assertEqual(self.call("POST", "/v1/campaigns", {"id": "ev", "targetVersion": "2.0.0",
                                                             "terminalIds": ["e-1"]}, user="otto")[0], 200)
        line = b""
        deadline = time.monotonic() + 20
        while b"event: commit" not in line and time.monotonic() < deadline:
            line = resp.fp.readline()
        self.assertIn(b"event: commit", line)
        data = resp.fp.readline()
        self.assertTrue(data.startswith(b"data: {"), data)
        self.assertGreater(json.loads(data[6:])["auditSeq"], 0)
        conn.close()

    def test_membership_and_terminals(self) -> None:
        self.ensure_registry()
        self.assertEqual(self.call("POST", "/v1/campaigns", {"id": "mem", "targetVersion": "2.0.0",
                                                             "terminalIds": ["m-1"]}, user="otto")[0], 200)
        st_, b = self.call("POST", "/v1/campaigns/mem/terminals", {"terminalIds": ["m-2", "m-3"]}, user="otto")
        self.assertEqual(st_, 200, b)
        st_, b = self.call("POST", "/v1/campaigns/mem/terminals/remove", {"terminalIds": ["m-3"]}, user="otto")
        self.assertEqual(st_, 200, b)
        st_, p = self.call("GET", "/v1/campaigns/mem/terminals?outcomes=REMOVED")
        self.assertEqual([t["terminalId"] for t in p["terminals"]], ["m-3"])
        st_, b = self.call("POST", "/v1/campaigns/mem/terminals", {"campaignId": "other", "terminalIds": ["x"]},
                           user="otto")
        self.assertEqual(st_, 400, b)
        st_, b = self.call("POST", "/v1/campaigns/mem/cancel", user="otto")
        self.assertEqual(st_, 200, b)
        self.assertEqual(self.campaign_state("mem"), "CANCELLED")
        st_, t = self.call("GET", "/v1/terminals?page_size=5", user="vera")
        self.assertEqual(st_, 200, t)
        self.assertLessEqual(len(t.get("terminals", [])), 5)  # none reported yet: {} (proto3 JSON)


def validate(doc: dict, schema: dict, value, where: str = "$") -> list[str]:
    """The errors of `value` against an OpenAPI schema (the subset openapi.json uses)."""
    import re
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    t = schema.get("type")
    errs: list[str] = []
    kinds = {"string": str, "boolean": bool, "number": (int, float), "array": list, "object": dict}
    if t == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{where}: {value!r} is not an integer"]
        if "minimum" in schema and value < schema["minimum"]:
            errs.append(f"{where}: {value} < {schema['minimum']}")
    elif t in kinds:
        if not isinstance(value, kinds[t]) or (t == "number" and isinstance(value, bool)):
            return [f"{where}: {value!r} is not a {t}"]
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{where}: {value!r} not in {schema['enum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errs.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if t == "array":
        for i, v in enumerate(value):
            errs += validate(doc, schema["items"], v, f"{where}[{i}]")
    if t == "object":
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for k, v in value.items():
            if k in props:
                errs += validate(doc, props[k], v, f"{where}.{k}")
            elif extra is False:
                errs.append(f"{where}: undocumented field {k!r}")
            elif isinstance(extra, dict):
                errs += validate(doc, extra, v, f"{where}.{k}")
    return errs


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    return st.run_test_file([HttpApi], OPTS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
