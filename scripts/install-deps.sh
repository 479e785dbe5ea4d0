#!/usr/bin/env bash
# Installs the system packages PyFlare needs to build and test, when missing (Debian/Ubuntu).
set -euo pipefail

missing=()
dpkg -s zlib1g-dev >/dev/null 2>&1 || missing+=(zlib1g-dev)          # gzip/deflate request bodies
dpkg -s libzstd-dev >/dev/null 2>&1 || missing+=(libzstd-dev)        # segment compression
dpkg -s libsqlite3-dev >/dev/null 2>&1 || missing+=(libsqlite3-dev)  # the index (GRDB)
dpkg -s librdkafka-dev >/dev/null 2>&1 || missing+=(librdkafka-dev)  # the Kafka exporter and receiver
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v curl >/dev/null 2>&1 || missing+=(curl)
[ -x /usr/bin/time ] || missing+=(time)                            # peak memory of benchmark steps
command -v chromium >/dev/null 2>&1 || missing+=(chromium)          # the web UI's browser tests (e2e/test_ui.py)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)  # Selenium drives chromium through it

if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
command -v swift >/dev/null 2>&1 || { echo "install-deps: Swift 6 is required (https://www.swift.org/install/linux/)" >&2; exit 1; }
