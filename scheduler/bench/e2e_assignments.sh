#!/usr/bin/env bash
# The end-to-end benchmark of issue 14: reports answered with assignments per
# second through mosquitto + plugin + scheduler, beside the same broker and
# plugin with an echo responder (the ceiling), and their ratio (target >= 0.5).
#   scheduler/bench/e2e_assignments.sh [BUILD_DIR] [TERMINALS] [SECONDS]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$repo/build}"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec python3 "$repo/scheduler/bench/e2e_assignments.py" --build-dir "$build" --terminals "${2:-1000}" --seconds "${3:-10}"
