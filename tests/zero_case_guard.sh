#!/usr/bin/env bash
# Fails when any ctest entry ran zero test cases, listing those entries.
#   tests/zero_case_guard.sh <build-dir>/Testing/Temporary/LastTest.log
# An entry that matches nothing passes silently in most runners: doctest
# prints `test cases: 0 | ... skipped` (tests/doctest_main.cpp also makes that
# exit non-zero), python's unittest `Ran 0 tests`, and this project's python
# tests `0 passed, 0 failed`. ctest writes each entry's whole output to
# LastTest.log between "N/M Testing: <name>" and "<end of output>".
set -euo pipefail

log="${1:?usage: zero_case_guard.sh LastTest.log}"
if [ ! -s "$log" ]; then
  echo "zero-case guard: $log is missing or empty: no test ran" >&2
  exit 1
fi

zero=$(awk '
  /^[0-9]+\/[0-9]+ Testing: / { sub(/^[0-9]+\/[0-9]+ Testing: /, ""); name = $0; next }
  /^<end of output>$/ { name = ""; next }
  name != "" && (/\[doctest\] test cases: +0 \|/ || /^Ran 0 tests/ ||
                 /^([A-Za-z_.-]+: )?0 (checks )?passed, 0 failed/) {
    if (!(name in seen)) { seen[name] = 1; print name }
  }' "$log")

if [ -n "$zero" ]; then
  echo "zero-case guard: FAILED: these test entries ran 0 test cases:" >&2
  while IFS= read -r entry; do printf '  [%s]\n' "$entry" >&2; done <<<"$zero"
  echo "(a doctest case name with ';' is split by doctest_discover_tests; keep ';' out of names)" >&2
  exit 1
fi
entries=$(grep -cE '^[0-9]+/[0-9]+ Testing: ' "$log" || true)
if [ "$entries" -eq 0 ]; then
  echo "zero-case guard: FAILED: $log records no test entry at all" >&2
  exit 1
fi
echo "zero-case guard: none of the $entries entries in $log ran zero test cases"
