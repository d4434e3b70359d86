#!/usr/bin/env bash
# The Slotwise demo on this machine: installs the Debian packages, builds,
# then runs S1-S11 on a local stack (the localstack package, see docker/README.md).
#   docker/demo.sh [--terminals 24] [--slot-seconds 2] [--per-slot 2] [--keep]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

docker/install-deps.sh
# ccache (install-deps.sh installs it) makes a rebuild of the same sources cheap.
launcher=()
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$repo}" CCACHE_NOHASHDIR=1
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
# build/ is shared with tests/run.sh, which caches SLOTWISE_WERROR=ON: a demo
# should not fail on a compiler warning, so say what this build wants.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSLOTWISE_WERROR=OFF "${launcher[@]}"
cmake --build build -j"$(nproc)"
# The web console's static files (npm ci + console/dist), for the daemon's --console-dir.
console/build.sh
exec python3 -m localstack demo --build-dir build "$@"
