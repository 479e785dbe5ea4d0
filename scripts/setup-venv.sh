#!/usr/bin/env bash
# Create (or refresh) the Python virtualenv used by the e2e tests and the
# fixture generator: e2e/.venv, with e2e/requirements.txt and the Python SDK
# (sdk/python, the `pyflare` package) installed.
#
# Idempotent and fast when nothing changed: everything is only (re)installed
# when a digest of e2e/requirements.txt, the SDK's files and the server's
# pricing.json (which the SDK's build copies in) differs from the one recorded
# in e2e/.venv/.requirements.sha256 after the last successful install.
#
# Environment:
#   PYTHON   interpreter used to create the venv (default: python3)
#   FORCE=1  reinstall even if the stamp matches
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/e2e/.venv"
REQ="$ROOT/e2e/requirements.txt"
SDK="$ROOT/sdk/python"
PRICING="$ROOT/Sources/PyFlareModel/Resources/pricing.json"
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

# The SDK is installed as a wheel (not editable), so the tests exercise the package as users get it:
# any change to its sources must reinstall it.
sdk_files() {
    find "$SDK" -type f \( -path '*/__pycache__/*' -o -path '*/build/*' -o -path '*/dist/*' -o -path '*.egg-info/*' \
        -o -path "$SDK/.*/*" \) -prune \
        -o -type f -print | LC_ALL=C sort
}
want="$( { sha256sum "$REQ" "$PRICING"; sdk_files | xargs -d '\n' sha256sum | sed "s|$ROOT/||"; } | sha256sum | cut -d' ' -f1)"
have=""
[[ -f "$STAMP" ]] && have="$(cat "$STAMP")"

if [[ "$want" != "$have" || "${FORCE:-0}" == "1" ]]; then
    echo "setup-venv: installing $REQ and the SDK ($SDK)" >&2
    rm -f "$STAMP"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQ"
    # its build backend (hatchling) is pinned in requirements.txt: no build isolation, no download
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation \
        --force-reinstall "$SDK"
    echo "$want" > "$STAMP"
else
    echo "setup-venv: $VENV up to date" >&2
fi
