#!/usr/bin/env python3
"""Writes schemas/openapi.json, the HTTP API's OpenAPI 3.0 document (issue 13): the
routes from the table below, every message schema from operator.proto's own
descriptors (read through protoc) in the proto3 JSON mapping: lowerCamelCase
names, 64-bit integers as strings, enums as names, bytes as base64, maps as
objects. Run after changing a route or a message: python3 schemas/openapi_gen.py
(or give an output path as its argument; the suite's schemas.openapi_current
check regenerates it and compares)."""
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BOOL = {"type": "boolean"}
S, I64, NUMBER = {"type": "string"}, {"type": "string", "pattern": "^-?[0-9]+$"}, {"type": "number"}
def ref(n): return {"$ref": f"#/components/schemas/{n}"}
def arr(x): return {"type": "array", "items": x}
def enum(*v): return {"type": "string", "enum": list(v)}


# ---- the message schemas, from the protos' own descriptors -----------------------
# protoc writes the descriptors of operator.proto and its imports; protoc again
# prints them in text format (descriptor.proto ships with libprotobuf-dev), which
# the few lines below read. No second copy of any message is kept here.

def descriptor_text() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "operator.pb"
        subprocess.run(["protoc", f"-I{HERE}", "--include_imports", f"--descriptor_set_out={out}",
                        str(HERE / "slotwise/v1/operator.proto")], check=True)
        include = next((d for d in ("/usr/include", "/usr/local/include")
                        if Path(d, "google/protobuf/descriptor.proto").exists()), None)
        if include is None:
            sys.exit("openapi_gen: google/protobuf/descriptor.proto not found (libprotobuf-dev)")
        return subprocess.run(["protoc", f"-I{include}", "--decode=google.protobuf.FileDescriptorSet",
                               "google/protobuf/descriptor.proto"], stdin=out.open("rb"), check=True,
                              capture_output=True, text=True).stdout


def parse_text_format(text: str) -> dict:
    """Protobuf text format as nested dicts; every field a list of its values."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|[{}]|[A-Za-z_][A-Za-z0-9_]*:?|-?[0-9.]+', text)
    def block(i):
        node: dict = {}
        while i < len(tokens) and tokens[i] != "}":
            key = tokens[i].rstrip(":")
            if tokens[i + 1] == "{":
                value, i = block(i + 2)
                i += 1
            else:
                value = tokens[i + 1]
                value = value[1:-1].encode().decode("unicode_escape") if value.startswith('"') else value
                i += 2
            node.setdefault(key, []).append(value)
        return node, i
    return block(0)[0]


def proto_types() -> tuple[dict, dict]:
    """Every message and enum by full name (".slotwise.v1.Campaign")."""
    messages, enums = {}, {}
    def walk(scope: str, m: dict) -> None:
        full = f"{scope}.{m['name'][0]}"
        messages[full] = m
        for e in m.get("enum_type", []):
            enums[f"{full}.{e['name'][0]}"] = e
        for n in m.get("nested_type", []):
            walk(full, n)
    for f in parse_text_format(descriptor_text()).get("file", []):
        scope = "." + f["package"][0]
        for e in f.get("enum_type", []):
            enums[f"{scope}.{e['name'][0]}"] = e
        for m in f.get("message_type", []):
            walk(scope, m)
    return messages, enums


MESSAGES, ENUMS = proto_types()
SCALARS = {"TYPE_STRING": S, "TYPE_BOOL": BOOL, "TYPE_BYTES": {"type": "string", "format": "byte"},
           "TYPE_DOUBLE": {"type": "number"}, "TYPE_FLOAT": {"type": "number"},
           "TYPE_INT32": {"type": "integer"}, "TYPE_SINT32": {"type": "integer"}, "TYPE_SFIXED32": {"type": "integer"},
           "TYPE_UINT32": {"type": "integer", "minimum": 0}, "TYPE_FIXED32": {"type": "integer", "minimum": 0},
           # proto3 JSON: 64-bit integers are strings
           "TYPE_INT64": I64, "TYPE_SINT64": I64, "TYPE_SFIXED64": I64,
           "TYPE_UINT64": {"type": "string", "pattern": "^[0-9]+$"}, "TYPE_FIXED64": {"type": "string", "pattern": "^[0-9]+$"}}
# String fields whose values are a fixed set (their comments in operator.proto say so).
STRING_SETS = {("AuditEntry", "channel"): enum("mqtt", "http"),
               ("AuditEntry", "role"): enum("viewer", "operator", "admin", "none")}


def schema_name(full: str) -> str:
    return full.rsplit(".", 1)[1]


def field_schema(owner: str, f: dict, wanted: list) -> dict:
    kind = f["type"][0]
    if kind == "TYPE_MESSAGE":
        target = f["type_name"][0]
        m = MESSAGES[target]
        if any(o.get("map_entry") == ["true"] for o in m.get("options", [])):
            value = next(x for x in m["field"] if x["name"][0] == "value")
            return {"type": "object", "additionalProperties": field_schema(owner, {**value, "label": ["LABEL_OPTIONAL"]}, wanted)}
        wanted.append(target)
        one = ref(schema_name(target))
    elif kind == "TYPE_ENUM":
        one = enum(*[v["name"][0] for v in ENUMS[f["type_name"][0]]["value"]])
    else:
        one = STRING_SETS.get((owner, f["name"][0]), SCALARS[kind])
    return arr(one) if f["label"][0] == "LABEL_REPEATED" else one


def message_schemas(roots: list) -> dict:
    """The JSON schema of each message in `roots` and of every message they hold."""
    out: dict = {}
    wanted = [r if r.startswith(".") else f".slotwise.v1.{r}" for r in roots]
    while wanted:
        full = wanted.pop()
        name = schema_name(full)
        if name in out:
            continue
        m = MESSAGES[full]
        props = {f["json_name"][0]: field_schema(name, f, wanted) for f in m.get("field", [])}
        out[name] = {"type": "object", "properties": props, "additionalProperties": False}
    return dict(sorted(out.items()))


def enum_of(full: str) -> dict:
    return enum(*[v["name"][0] for v in ENUMS[full]["value"]])
CSTATE, OUTCOME = enum_of(".slotwise.v1.CampaignState"), enum_of(".slotwise.v1.TerminalProgress.Outcome")
STATUS_STATE, ONLINE = enum_of(".slotwise.v1.Status.State"), enum_of(".slotwise.v1.ListTerminals.Online")


# ---- the routes ------------------------------------------------------------------

def q(name, schema, desc, many=False):
    p = {"name": name, "in": "query", "required": False, "description": desc, "schema": schema}
    if many:
        p["schema"] = arr(schema); p["style"] = "form"; p["explode"] = True
    return p
PAGE = [q("page_size", {"type": "integer", "minimum": 0, "maximum": 1000}, "0 = default (100; all for the lists that were unpaged before)"),
        q("page_token", S, "nextPageToken of the previous page")]
ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}}

def err(desc): return {"description": desc, "content": {"application/json": {"schema": ref("Error")}}}
COMMON = {"400": err("bad JSON, unknown field or parameter, bad value (MALFORMED, INVALID_ARGUMENT); nothing changed"),
          "401": err("no or wrong credentials (UNAUTHENTICATED)"),
          "403": err("the user's role does not allow this (PERMISSION_DENIED); audited, nothing changed"),
          "404": err("unknown resource or object (NOT_FOUND, NOT_IN_CAMPAIGN)"),
          "405": err("method not allowed on this path (see Allow)"),
          "409": err("ALREADY_EXISTS, FAILED_PRECONDITION, NO_CAPACITY; nothing changed"),
          "500": err("INTERNAL (the store refused the change; nothing changed)"),
          "503": err("the scheduler did not answer in time")}

def op(summary, command, reply, role, params=(), body=None):
    o = {"summary": summary, "description": f"OperatorRequest.{command}; role {role} or higher.",
         "x-slotwise-command": command, "x-slotwise-role": role, "parameters": list(params),
         "responses": {"200": {"description": "done", "content": {"application/json": {"schema": ref(reply)}}}, **COMMON}}
    if body:
        o["requestBody"] = {"required": body[1], "content": {"application/json": {"schema": ref(body[0])}}}
    return o

paths = {
    "/v1": {"get": {"summary": "every route of this server, and the caller's user name and role", "parameters": [],
                     "responses": {"200": {"description": "routes", "content": {"application/json": {"schema": ref("RouteList")}}},
                                   "401": COMMON["401"], "405": COMMON["405"]}}},
    "/v1/clusters": {"get": op("list clusters", "list_clusters", "ClusterList", "viewer"),
                     "post": op("add a cluster", "add_cluster", "Ack", "admin", body=("Cluster", True))},
    "/v1/nodes": {"get": op("list nodes", "list_nodes", "NodeList", "viewer"),
                  "post": op("add a node", "add_node", "Ack", "admin", body=("Node", True))},
    "/v1/nodes/{id}/state": {"put": op("set a node's state", "set_node_state", "Ack", "admin", [ID], ("SetNodeState", True))},
    "/v1/versions": {"get": op("list versions (artifacts)", "list_artifacts", "ArtifactList", "viewer"),
                     "post": op("add a version", "add_artifact", "Ack", "admin", body=("Artifact", True))},
    "/v1/campaigns": {"get": op("list campaigns (no terminal ids)", "list_campaigns", "CampaignList", "viewer",
                                PAGE + [q("state", CSTATE, "only campaigns in this state")]),
                      "post": op("create a campaign (S2)", "create_campaign", "Ack", "operator", body=("CreateCampaign", True))},
    "/v1/campaigns/{id}": {"get": op("a campaign's report", "get_campaign", "CampaignReport", "viewer",
                                     [ID, q("omit_terminals", BOOL, "leave the per-terminal list out")])},
    "/v1/campaigns/{id}/summary": {"get": op("counts per outcome, cluster and node", "get_campaign_summary",
                                             "CampaignSummary", "viewer", [ID])},
    "/v1/campaigns/{id}/windows": {"get": op("candidate windows (S3-S4)", "query_windows", "WindowList", "viewer",
                                             [ID, q("not_before_ms", I64, "0 = now"), q("deadline_ms", I64, "0 = none")])},
    "/v1/campaigns/{id}/schedule": {"post": op("choose a window (S5)", "schedule_campaign", "Ack", "operator", [ID],
                                               ("ScheduleCampaign", True))},
    "/v1/campaigns/{id}/pause": {"post": op("pause", "pause_campaign", "Ack", "operator", [ID], ("PauseCampaign", False))},
    "/v1/campaigns/{id}/resume": {"post": op("resume", "resume_campaign", "Ack", "operator", [ID], ("ResumeCampaign", False))},
    "/v1/campaigns/{id}/cancel": {"post": op("cancel (final)", "cancel_campaign", "Ack", "operator", [ID], ("CancelCampaign", False))},
    "/v1/campaigns/{id}/terminals": {
        "get": op("a page of the campaign's terminals, by terminal id", "list_campaign_terminals",
                  "CampaignTerminalPage", "viewer",
                  [ID] + PAGE + [q("outcomes", OUTCOME, "only these outcomes", many=True),
                                 q("node_id", S, "only terminals booked on this node"),
                                 q("cluster_id", S, "only terminals booked in this cluster"),
                                 q("state", STATUS_STATE, "only terminals whose last status is this")]),
        "post": op("add terminals", "add_terminals", "Ack", "operator", [ID], ("AddTerminals", True))},
    "/v1/campaigns/{id}/terminals/remove": {"post": op("remove terminals (REMOVED)", "remove_terminals", "Ack",
                                                       "operator", [ID], ("RemoveTerminals", True))},
    "/v1/terminals": {"get": op("terminals the scheduler knows", "list_terminals", "TerminalList", "viewer",
                                PAGE + [q("current_version", S, "only terminals on this version"),
                                        q("online", ONLINE, "online filter")])},
    "/v1/capacity": {"get": op("the capacity calendar: node x slot booked by every campaign, and capacity "
                               "(at most 2016 slots, 500,000 cells)", "get_capacity", "CapacityCalendar", "viewer",
                               [q("from_slot", I64, "inclusive; 0 = the current slot"),
                                q("to_slot", I64, "exclusive; 0 = from_slot + 96"),
                                q("cluster", S, "only this cluster's nodes")])},
    "/v1/campaigns/{id}/window-load": {"get": op("what scheduling a DRAFT campaign in a window would book, node x slot "
                                                 "(a dry run of placement)", "query_window_load", "CapacityCalendar",
                                                 "viewer",
                                                 [ID, q("start_slot", I64, "the window's start (Window.startSlot)"),
                                                  q("end_slot", I64, "the window's end (Window.endSlot)"),
                                                  q("max_utilisation", NUMBER, "Window.maxUtilisation; 0 = none"),
                                                  q("core_end_slot", I64, "Window.coreEndSlot; 0 = none"),
                                                  q("from_slot", I64, "calendar range; 0 = start_slot"),
                                                  q("to_slot", I64, "calendar range; 0 = end_slot (at most 2016 slots)"),
                                                  q("cluster", S, "only this cluster's nodes")])},
    "/v1/campaigns/{id}/downloads": {"get": op("downloads started and failed, node x slot", "get_campaign_downloads",
                                               "CampaignDownloads", "viewer",
                                               [ID, q("from_slot", I64, "0 = the first slot with a download"),
                                                q("to_slot", I64, "0 = after the last slot with a download (at most 2016 slots)")])},
    "/v1/audit": {"get": op("the audit trail, newest first", "list_audit", "AuditPage", "viewer",
                            PAGE + [q("who", S, "only this user's entries")])},
    "/v1/events": {"get": {"summary": "live events (Server-Sent Events): `event: commit` with data {\"auditSeq\": N} after each durable change, "
                                      "and the typed events campaign_progress, campaign_state and node, each with an `id:` "
                                      "and a LiveEvent as data (schemas/README.md, 'Live events')",
                           "parameters": [q("campaign", S, "only this campaign's live events"),
                                          q("campaign_id", S, "the same as campaign"),
                                          q("topics", enum("nodes"), "nodes: only node live events"),
                                          q("last_event_id", S, "resume after this SSE id (as the Last-Event-ID header)")],
                           "responses": {"200": {"description": "an event stream", "content": {"text/event-stream": {"schema": S}}},
                                         "401": COMMON["401"], "405": COMMON["405"]}}},
    "/metrics": {"get": {"summary": "Prometheus metrics (text exposition format 0.0.4; scheduler/README.md, 'Metrics'); "
                                    "any role (viewer is enough), or no login with --metrics-open",
                         "parameters": [],
                         "responses": {"200": {"description": "every metric",
                                               "content": {"text/plain": {"schema": S}}},
                                       "401": COMMON["401"], "405": COMMON["405"]}}},
}

def referenced(node) -> set:
    """The schema names a part of the document refers to."""
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[1]} if "$ref" in node else set()
        return found.union(*(referenced(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(referenced(v) for v in node))
    return set()


HTTP_ONLY = {  # answers of this server that are no operator.proto message
    "RouteList": {"type": "object", "additionalProperties": False, "properties": {"routes": arr(
        {"type": "object", "properties": {"method": S, "path": S}, "additionalProperties": False}),
        "user": S, "role": enum("viewer", "operator", "admin")}},
}
# Messages no route answers with as JSON but that the document describes:
# LiveEvent is the data of /v1/events (and of the MQTT events and webhooks).
STREAMED = ["LiveEvent"]
schemas = {**message_schemas(sorted(referenced(paths) - set(HTTP_ONLY)) + STREAMED), **HTTP_ONLY}

doc = {"openapi": "3.0.3",
       "info": {"title": "Slotwise scheduler HTTP API", "version": "1",
                "description": "Served by slotwise-scheduler --http-listen (scheduler/README.md). JSON bodies are the "
                               "proto3 JSON mapping of schemas/slotwise/v1/operator.proto; see schemas/README.md, 'HTTP API'."},
       "servers": [{"url": "https://127.0.0.1:8443"}],
       "security": [{"basic": []}],
       "paths": paths,
       "components": {"securitySchemes": {"basic": {"type": "http", "scheme": "basic"}}, "schemas": schemas}}
out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "openapi.json"
out.write_text(json.dumps(doc, indent=1) + "\n")
