#!/usr/bin/env bash
# Live run across broker shards (issue 14 target: 50,000 real agents across 4
# mosquitto shards behind HAProxy on a 2-core machine, all upgraded, none
# lost, no node over per_slot in the nginx logs), with one shard SIGKILLed
# mid-campaign. A benchmark, not a suite test: it prints the figures of
# `fleet/fleet.py live` (broker_shards, haproxy_processes, shard_killed,
# upgraded, lost, node_slots_over_per_slot, ...) and exits 0 only when the
# targets are met.
#
#   fleet/live/shards_live.sh [BUILD_DIR] [TERMINALS] [more fleet.py live flags]
#
# Defaults: build, 50000 terminals, 4 shards (SHARDS=), the first shard
# killed 60 s after the campaign is scheduled (KILL_AFTER=seconds, or none). Sizing: each fleet process carries 2,500
# terminals, each HAProxy process 9,000 connections (20,000 open files per
# process), each shard a quarter of the fleet. The number of nodes grows with
# the fleet so that the campaign keeps about 40 slots of 4 s.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${1:-build}"
terminals="${2:-50000}"
shift $(( $# > 2 ? 2 : $# ))
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nodes=$(( (terminals + 999) / 1000 ))
(( nodes < 4 )) && nodes=4
kill_args=(--kill-shard-after "${KILL_AFTER:-60}")
[[ "${KILL_AFTER:-60}" == none ]] && kill_args=()
exec python3 "$repo/fleet/fleet.py" live --build-dir "$build" --terminals "$terminals" \
  --shards "${SHARDS:-4}" "${kill_args[@]}" \
  --nodes "$nodes" --per-slot 25 --slot-seconds 4 --timeout "${TIMEOUT:-1800}" "$@"
