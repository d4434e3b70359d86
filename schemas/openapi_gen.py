#!/usr/bin/env python3
"""Writes schemas/openapi.json, the HTTP API's OpenAPI 3.0 document (issue 13),
from the tables below (the proto3 JSON mapping of operator.proto: lowerCamelCase
names, 64-bit integers as strings, enums as names, bytes as base64).
Run after changing a route or a message: python3 schemas/openapi_gen.py"""
import json
from pathlib import Path

S, I, U, B, D = {"type": "string"}, {"type": "integer"}, {"type": "integer", "minimum": 0}, {"type": "boolean"}, {"type": "number"}
I64 = {"type": "string", "pattern": "^-?[0-9]+$"}
U64 = {"type": "string", "pattern": "^[0-9]+$"}
BYTES = {"type": "string", "format": "byte"}
def ref(n): return {"$ref": f"#/components/schemas/{n}"}
def arr(x): return {"type": "array", "items": x}
def enum(*v): return {"type": "string", "enum": list(v)}
OUTCOME = enum("OUTCOME_PENDING", "SUCCEEDED", "FAILED", "ALREADY_CURRENT", "EXPIRED", "SUPERSEDED", "CANCELLED",
               "REMOVED", "TIMED_OUT")
STATUS_STATE = {"type": "string"}  # slotwise.v1.Status.State names (terminal.proto)
CSTATE = enum("CAMPAIGN_STATE_UNSPECIFIED", "DRAFT", "SCHEDULED", "DONE", "PAUSED", "CANCELLED")
NSTATE = enum("NODE_STATE_UNSPECIFIED", "ACTIVE", "DRAINING", "DOWN")
NHEALTH = enum("NODE_HEALTH_UNSPECIFIED", "UNPOLLED", "HEALTHY", "UNREACHABLE")
CODES = enum("ERROR_CODE_UNSPECIFIED", "MALFORMED", "INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS",
             "FAILED_PRECONDITION", "NO_CAPACITY", "NOT_IN_CAMPAIGN", "INTERNAL", "UNAUTHENTICATED", "PERMISSION_DENIED")
COUNTS = {"type": "object", "additionalProperties": U}

def obj(**props): return {"type": "object", "properties": props, "additionalProperties": False}

schemas = {
    "Error": obj(code=CODES, message=S),
    "Ack": obj(),
    "Location": obj(lat=D, lon=D),
    "Cluster": obj(id=S, location=ref("Location"), region=S),
    "Node": obj(id=S, clusterId=S, baseUrl=S, perSlot=U, bandwidthBps=U64, state=NSTATE, statusUrl=S,
                maxConnections=U, health=NHEALTH, healthDetail=S, activeConnections=U, effectivePerSlot=U,
                healthSinceMs=I64),
    "Artifact": obj(version=S, path=S, sha256=S, size=U64, signature=BYTES, component=S,
                    deltas=arr(ref("ArtifactDelta"))),
    "ArtifactDelta": obj(fromVersion=S, path=S, sha256=S, size=U64, baseSha256=S, baseSize=U64),
    "CampaignFilter": obj(systemIdPrefix=S, clusterIds=arr(S), regions=arr(S), belowTarget=B),
    "Campaign": obj(id=S, targetVersion=S, terminalIds=arr(S), state=CSTATE, windowStartSlot=I64, windowEndSlot=I64,
                    createdMs=I64, allowDowngrade=B, maxFailures=U, maxRetries=U, pausedReason=S, maxUtilisation=D,
                    allowedFromMinute=U, allowedToMinute=U, coreEndSlot=I64, deadlineMs=I64, component=S,
                    allowedWeekdays=U, filter=ref("CampaignFilter"), supersede=B),
    "TerminalProgress": obj(terminalId=S, nodeId=S, slot=I64, startAtMs=I64, state=STATUS_STATE, version=S, detail=S,
                            assigned=B, updatedMs=I64, checkedIn=B, attempts=U, outcome=OUTCOME),
    "TerminalInfo": obj(id=S, location=ref("Location"), currentVersion=S, systemId=S, online=B, lastSeenMs=I64,
                        utcOffsetMinutes=I),
    "ClusterPeak": obj(clusterId=S, peakUtilisation=D),
    "ClusterDemand": obj(clusterId=S, terminals=U, capacityPerSlot=U),
    "Window": obj(label=S, startSlot=I64, endSlot=I64, startMs=I64, endMs=I64, expectedCompletionMs=I64, slotsUsed=U,
                  peakUtilisation=D, maxUtilisation=D, clusterPeaks=arr(ref("ClusterPeak")), coreEndSlot=I64),
    "ClusterList": obj(clusters=arr(ref("Cluster"))),
    "NodeList": obj(nodes=arr(ref("Node"))),
    "ArtifactList": obj(artifacts=arr(ref("Artifact"))),
    "CampaignList": obj(campaigns=arr(ref("Campaign")), nextPageToken=S),
    "TerminalList": obj(terminals=arr(ref("TerminalInfo")), nextPageToken=S),
    "WindowList": obj(windows=arr(ref("Window")), terminals=U, capacityPerSlot=U, lowerBoundSlots=U, slotMs=I64,
                      demand=arr(ref("ClusterDemand"))),
    "CampaignReport": obj(campaign=ref("Campaign"), terminals=arr(ref("TerminalProgress")), succeeded=U, failed=U,
                          assigned=U, pending=U, slotMs=I64, alreadyCurrent=U, expired=U, superseded=U, cancelled=U,
                          removed=U, timedOut=U, outcomePending=U, terminalsOmitted=B),
    "CampaignTerminalPage": obj(terminals=arr(ref("TerminalProgress")), nextPageToken=S),
    "OutcomeCounts": obj(id=S, total=U, outcomes=COUNTS),
    "CampaignSummary": obj(campaign=ref("Campaign"), terminals=U, outcomes=COUNTS, assigned=U, pending=U,
                           clusters=arr(ref("OutcomeCounts")), nodes=arr(ref("OutcomeCounts")), slotMs=I64),
    "AuditEntry": obj(seq=U64, timeMs=I64, who=S, channel=enum("mqtt", "http"), role=enum("viewer", "operator", "admin", "none"),
                      command=S, request=S, code=CODES, message=S),
    "AuditPage": obj(entries=arr(ref("AuditEntry")), nextPageToken=S),
    # Issue 13: the live events (SSE data, MQTT slotwise/v1/op/events/..., webhooks).
    "CampaignProgressEvent": obj(campaignId=S, state=CSTATE, terminals=U, finished=U, outcomes=COUNTS, states=COUNTS,
                                 assigned=U, pending=U),
    "CampaignStateEvent": obj(campaignId=S, previousState=CSTATE, state=CSTATE, reason=S,
                              progress=ref("CampaignProgressEvent")),
    "NodeEvent": obj(nodeId=S, clusterId=S, state=NSTATE, health=NHEALTH, healthDetail=S, perSlot=U,
                     effectivePerSlot=U, booked=U, activeConnections=U),
    "LiveEvent": obj(seq=U64, timeMs=I64, campaignProgress=ref("CampaignProgressEvent"),
                     campaignState=ref("CampaignStateEvent"), node=ref("NodeEvent")),
    "CreateCampaign": obj(id=S, targetVersion=S, terminalIds=arr(S), allowDowngrade=B, maxFailures=U, maxRetries=U,
                          allowedFromMinute=U, allowedToMinute=U, deadlineMs=I64, component=S, supersede=B,
                          allowedWeekdays=U, filter=ref("CampaignFilter")),
    "ScheduleCampaign": obj(campaignId=S, startSlot=I64, endSlot=I64, maxUtilisation=D, coreEndSlot=I64),
    "CampaignRef": obj(campaignId=S),
    "AddTerminals": obj(campaignId=S, terminalIds=arr(S), supersede=B),
    "RemoveTerminals": obj(campaignId=S, terminalIds=arr(S)),
    "SetNodeState": obj(nodeId=S, state=NSTATE),
    "RouteList": obj(routes=arr({"type": "object", "properties": {"method": S, "path": S}, "additionalProperties": False})),
}

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
    "/v1": {"get": {"summary": "every route of this server", "parameters": [],
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
                                     [ID, q("omit_terminals", B, "leave the per-terminal list out")])},
    "/v1/campaigns/{id}/summary": {"get": op("counts per outcome, cluster and node", "get_campaign_summary",
                                             "CampaignSummary", "viewer", [ID])},
    "/v1/campaigns/{id}/windows": {"get": op("candidate windows (S3-S4)", "query_windows", "WindowList", "viewer",
                                             [ID, q("not_before_ms", I64, "0 = now"), q("deadline_ms", I64, "0 = none")])},
    "/v1/campaigns/{id}/schedule": {"post": op("choose a window (S5)", "schedule_campaign", "Ack", "operator", [ID],
                                               ("ScheduleCampaign", True))},
    "/v1/campaigns/{id}/pause": {"post": op("pause", "pause_campaign", "Ack", "operator", [ID], ("CampaignRef", False))},
    "/v1/campaigns/{id}/resume": {"post": op("resume", "resume_campaign", "Ack", "operator", [ID], ("CampaignRef", False))},
    "/v1/campaigns/{id}/cancel": {"post": op("cancel (final)", "cancel_campaign", "Ack", "operator", [ID], ("CampaignRef", False))},
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
                                        q("online", enum("ANY", "ONLINE_ONLY", "OFFLINE_ONLY"), "online filter")])},
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
}

doc = {"openapi": "3.0.3",
       "info": {"title": "Slotwise scheduler HTTP API", "version": "1",
                "description": "Served by slotwise-scheduler --http-listen (scheduler/README.md). JSON bodies are the "
                               "proto3 JSON mapping of schemas/slotwise/v1/operator.proto; see schemas/README.md, 'HTTP API'."},
       "servers": [{"url": "https://127.0.0.1:8443"}],
       "security": [{"basic": []}],
       "paths": paths,
       "components": {"securitySchemes": {"basic": {"type": "http", "scheme": "basic"}}, "schemas": schemas}}
Path(__file__).with_name("openapi.json").write_text(json.dumps(doc, indent=1) + "\n")
