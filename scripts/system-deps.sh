#!/usr/bin/env bash
# Install the system packages the tests and demo need (PostgreSQL 15 + PostGIS 3, Mosquitto, Chromium),
# only when they are missing, so `make test` works on a fresh Debian 12 machine and costs nothing after.
set -euo pipefail

# WeasyPrint (incident reports) renders with Pango and subsets fonts with HarfBuzz.
# Mosquitto for the MQTT gateway; Chromium (Debian's, never a downloaded build) for the console's browser tests;
# faketime (libfaketime) for `make test-any-day`.
packages=(postgresql-15 postgresql-15-postgis-3 libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
          mosquitto chromium fonts-dejavu-core faketime)
missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists may be absent on a fresh machine: refresh once, then install quietly.
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
