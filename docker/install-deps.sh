#!/usr/bin/env bash
# Installs the Debian 12 packages Slotwise builds and runs with.
# Idempotent: runs `apt-get update` at most once and installs only what is
# missing. Used by the local demo, the test runner and the Dockerfile alike,
# so there is exactly one list of dependencies.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  mosquitto mosquitto-clients mosquitto-dev libmosquitto-dev
  libpaho-mqttpp-dev libpaho-mqtt-dev
  libprotobuf-dev protobuf-compiler
  librocksdb-dev
  postgresql-15 libpqxx-dev
  doctest-dev libcli11-dev
  libcurl4-openssl-dev libssl-dev openssl
  nginx
  python3
  clang libclang-rt-14-dev
  gnuplot-nox
  systemd ccache
  faketime
  haproxy
  libzstd-dev
  libcpp-httplib-dev
  chromium
  prometheus-cpp-dev prometheus
)
# The web console (console/build.sh: npm ci) needs Node.js and npm. A machine
# with a Node.js from elsewhere keeps it: Debian's npm conflicts with it, so
# Debian's nodejs + npm are wanted only when there is no `node` at all.
if ! command -v node >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or install them yourself) and try again" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
# Debian starts the packaged services on install; Slotwise runs its own
# instances on free ports, so the system-wide ones are not needed.
for svc in mosquitto nginx; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$svc" >/dev/null 2>&1 || true; fi
done
