#!/bin/sh
# Installs the console's npm packages and builds console/dist.
# Node.js: the `node` and `npm` on PATH; docker/install-deps.sh installs
# Debian's nodejs + npm when there is no `node` (and only then: Debian's npm
# conflicts with a Node.js installed from elsewhere).
set -eu
cd "$(dirname "$0")"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "console/build.sh: node and npm are needed (docker/install-deps.sh installs them)" >&2
  exit 1
fi
if [ ! -d node_modules/echarts ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
node build.mjs
