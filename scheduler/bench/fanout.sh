#!/usr/bin/env bash
# The fan-out benchmark of issue 14: a campaign of N terminal ids (default
# 200,000) scheduled on the real stack (mosquitto + plugin, the scheduler on
# RocksDB) while an operator keeps asking; prints the notices' rate and the
# operator's latencies (lines starting "fanout:"). The same program, at
# 50,000, is the suite's integration.fanout.
#   scheduler/bench/fanout.sh [BUILD_DIR] [N] [--no-restart]
# (--no-restart: only the fan-out, without the broker-restart case; for 1,000,000.)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$repo/build}"
n="${2:-200000}"
shift $(( $# > 2 ? 2 : $# ))
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec python3 "$repo/tests/integration/test_fanout.py" --build-dir "$build" --terminals "$n" "$@"
