#!/usr/bin/env bash
# Live check of capacity in bytes (issue 15): see live_bytes.py's docstring.
#
#   scheduler/bench/live_bytes.sh BUILD_DIR [live_bytes.py options]
#
# BUILD_DIR holds slotwise-scheduler, slotwise, slotwise-agent and the broker
# plugin. Figures and gnuplot plots go to BUILD_DIR/test-artifacts/live_bytes.
set -euo pipefail
build_dir=${1:?usage: live_bytes.sh BUILD_DIR [options]}
shift
exec python3 "$(dirname "$0")/live_bytes.py" --build-dir "$build_dir" "$@"
