#!/bin/sh
# HTTP API figures at 1,000,000 terminals (issue 13): see api_bench.py.
#   scheduler/bench/api_bench.sh [build-dir] [--terminals N] [--repeat R]
here=$(dirname "$0")
build=${1:-build}
[ $# -gt 0 ] && shift
exec python3 "$here/api_bench.py" --build-dir "$build" "$@"
