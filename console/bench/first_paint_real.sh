#!/bin/sh
# Console first paint against the real daemon with a 1,000,000-terminal campaign
# (issue 13): see first_paint_real.py.
#   console/bench/first_paint_real.sh [build-dir] [--terminals N] [--runs R]
here=$(dirname "$0")
build=${1:-build}
[ $# -gt 0 ] && shift
exec python3 "$here/first_paint_real.py" --build-dir "$build" "$@"
