#!/usr/bin/env bash
# The test command: dependencies, a warnings-as-errors build, every test.
#   tests/run.sh            (from any directory)
# Build dir: $SLOTWISE_BUILD_DIR or build/ in the repository.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
build="${SLOTWISE_BUILD_DIR:-build}"

docker/install-deps.sh
# The build type is explicit because build/ is shared with docker/demo.sh
# (Release): the cache must not decide what the tests are built as.
cmake -S . -B "$build" -DSLOTWISE_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" -j"$(nproc)"
# Unit tests run in parallel; the integration tests pick their own free ports,
# and the timing-sensitive campaign test is RUN_SERIAL (tests/integration).
ctest --test-dir "$build" --output-on-failure -j2
