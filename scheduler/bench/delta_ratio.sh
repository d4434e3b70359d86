#!/usr/bin/env bash
# Delta benchmark (issue 15): bytes served / full-image bytes for a real pair
# of versions, two Release builds of the project's own slotwise-agent from
# different commits, and whether the rebuilt image is byte-identical.
#
#   scheduler/bench/delta_ratio.sh BUILD_DIR [OLD_COMMIT] [NEW_COMMIT]
#
# BUILD_DIR holds delta_tool (scheduler/bench). Defaults: OLD = HEAD~20,
# NEW = HEAD. Each commit is built in a temporary git worktree (Release,
# target slotwise-agent only; ccache if present), removed afterwards.
# Prints `name: value` lines; target delta_ratio <= 0.25 and identical: yes.
set -euo pipefail
build_dir=$(cd "${1:?usage: delta_ratio.sh BUILD_DIR [OLD_COMMIT] [NEW_COMMIT]}" && pwd)
old_commit=${2:-HEAD~20}
new_commit=${3:-HEAD}
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
tool="$build_dir/scheduler/bench/delta_tool"
[ -x "$tool" ] || { echo "delta_ratio: build delta_tool first (cmake --build $build_dir --target delta_tool)" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/slotwise-delta-bench-XXXXXX")
cleanup() {
  for wt in "$work"/src-*; do [ -d "$wt" ] && git -C "$repo" worktree remove --force "$wt" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
build_agent() {  # commit name -> $work/<name>.bin
  local commit=$1 name=$2 src="$work/src-$2"
  git -C "$repo" worktree add --detach "$src" "$commit" >/dev/null 2>&1
  cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >"$work/$name.cmake.log" 2>&1
  cmake --build "$src/build" -j"${JOBS:-2}" --target slotwise-agent >"$work/$name.build.log" 2>&1
  cp "$src/build/agent/slotwise-agent" "$work/$name.bin"
  echo "${name}_commit: $(git -C "$repo" rev-parse --short "$commit")"
}
build_agent "$old_commit" old
build_agent "$new_commit" new

"$tool" build "$work/old.bin" "$work/new.bin" "$work/new.from-old.zst"
full=$(stat -c %s "$work/new.bin")
delta=$(stat -c %s "$work/new.from-old.zst")
"$tool" apply "$work/old.bin" "$work/new.from-old.zst" "$work/rebuilt.bin" "$full"
plain=$(zstd -19 -q -c "$work/new.bin" | wc -c)
echo "old_bytes: $(stat -c %s "$work/old.bin")"
echo "full_bytes: $full"
echo "delta_bytes: $delta"
echo "zstd19_full_bytes: $plain"
awk -v d="$delta" -v f="$full" 'BEGIN { printf "delta_ratio: %.4f\n", d / f }'
if cmp -s "$work/new.bin" "$work/rebuilt.bin"; then echo "identical: yes"; else echo "identical: NO"; exit 1; fi
