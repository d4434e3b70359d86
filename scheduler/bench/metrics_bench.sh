#!/bin/sh
# GET /metrics figures at 1,000,000 terminals (issue 13): see metrics_bench.py.
#   scheduler/bench/metrics_bench.sh [build-dir] [--terminals N] [--repeat R]
here=$(dirname "$0")
build=${1:-build}
[ $# -gt 0 ] && shift
exec python3 "$here/metrics_bench.py" --build-dir "$build" "$@"
