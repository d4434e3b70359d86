#!/bin/sh
# Installs the console's npm packages and builds console/dist.
# Node.js: uses the `node` on PATH; on a fresh Debian machine without it,
# installs Debian's nodejs + npm (never when a node is present: Debian's npm
# conflicts with a Node.js installed from elsewhere).
set -eu
cd "$(dirname "$0")"
if ! command -v node >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends nodejs npm
fi
if [ ! -d node_modules/echarts ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
node build.mjs
