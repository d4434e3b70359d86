#!/usr/bin/env bash
# The test command: dependencies, a warnings-as-errors build, every test, a
# guard against entries that ran zero test cases, then the unit tests again
# under AddressSanitizer + UndefinedBehaviorSanitizer.
#   tests/run.sh            (from any directory)
# Build dir: $SLOTWISE_BUILD_DIR or build/ in the repository; the sanitizer
# build goes to <build dir>/asan (CMakePresets.json: asan-ubsan).
# $SLOTWISE_CTEST_EXCLUDE: a ctest -E regex of entries to leave out (both runs).
# About 15 minutes on 2 cores with a warm ccache (the build dominates a cold run).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
build="${SLOTWISE_BUILD_DIR:-build}"
asan="$build/asan"
jobs="$(nproc)"

docker/install-deps.sh

# ccache, when installed (install-deps.sh does), makes the second build of
# the same sources (the sanitizer dir, a fresh clone in CI) cheap.
launcher=()
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$repo}" CCACHE_NOHASHDIR=1
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

# The build type is explicit because build/ is shared with docker/demo.sh
# (Release): the cache must not decide what the tests are built as.
cmake -S . -B "$build" -DSLOTWISE_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}"
cmake --build "$build" -j"$jobs"

status=0
exclude=()
if [ -n "${SLOTWISE_CTEST_EXCLUDE:-}" ]; then exclude=(-E "$SLOTWISE_CTEST_EXCLUDE"); fi
# Unit tests run in parallel; the integration tests pick their own free ports,
# and the timing-sensitive campaign test is RUN_SERIAL (tests/integration).
ctest --test-dir "$build" --output-on-failure -j2 --no-tests=error "${exclude[@]}" || status=1
# An entry that ran zero test cases fails the run (tests/zero_case_guard.sh).
tests/zero_case_guard.sh "$build/Testing/Temporary/LastTest.log" || status=1

# The unit tests again, under ASan+UBSan: only the unit-test executables are
# built there (target slotwise_unit_tests). Any finding fails its test:
# halt_on_error stops at the first report, UBSan is built non-recoverable
# (cmake/sanitizers.cmake), LeakSanitizer reports leaks at exit.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
cmake --preset asan-ubsan -B "$asan" "${launcher[@]}"
cmake --build "$asan" -j"$jobs" --target slotwise_unit_tests
ctest --test-dir "$asan" --output-on-failure -j2 -L unit --no-tests=error "${exclude[@]}" || status=1
tests/zero_case_guard.sh "$asan/Testing/Temporary/LastTest.log" || status=1

if [ "$status" -ne 0 ]; then
  echo "tests/run.sh: FAILED (see the ctest and guard output above)" >&2
fi
exit "$status"
