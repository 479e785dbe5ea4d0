#!/usr/bin/env bash
# Create (or refresh) the Python virtualenv used by the e2e tests and the
# fixture generator: e2e/.venv, with e2e/requirements.txt installed.
#
# Idempotent and fast when nothing changed: the requirements are only
# (re)installed when the sha256 of e2e/requirements.txt differs from the one
# recorded in e2e/.venv/.requirements.sha256 after the last successful install.
#
# Environment:
#   PYTHON   interpreter used to create the venv (default: python3)
#   FORCE=1  reinstall even if the stamp matches
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/e2e/.venv"
REQ="$ROOT/e2e/requirements.txt"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"

if [[ ! -f "$REQ" ]]; then
    echo "setup-venv: missing $REQ" >&2
    exit 1
fi

# A venv whose interpreter is gone or broken (e.g. python upgraded) is rebuilt.
if [[ -d "$VENV" ]] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "setup-venv: $VENV is broken, recreating" >&2
    rm -rf "$VENV"
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "setup-venv: creating $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi

want="$(sha256sum "$REQ" | cut -d' ' -f1)"
have=""
[[ -f "$STAMP" ]] && have="$(cat "$STAMP")"

if [[ "$want" != "$have" || "${FORCE:-0}" == "1" ]]; then
    echo "setup-venv: installing $REQ" >&2
    rm -f "$STAMP"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQ"
    echo "$want" > "$STAMP"
else
    echo "setup-venv: $VENV up to date" >&2
fi
