#!/usr/bin/env bash
# End-to-end suite: the official Python SDKs (`openai`, `anthropic`, boto3's `bedrock-runtime`)
# against a real `switchyard` in front of `sy-mock-upstream`, the built-in simulator and
# `sy-fake-clouds` (fake Anthropic, Bedrock, Gemini).
#
#   bash tests/sdk/run.sh [pytest args...]      (from the repository root, or anywhere)
#
# Environment:
#   SWITCHYARD_BIN        gateway binary        (default target/debug/switchyard)
#   SY_MOCK_UPSTREAM_BIN  mock upstream binary  (default target/debug/sy-mock-upstream)
#   SY_FAKE_CLOUDS_BIN    fake clouds binary    (default target/debug/sy-fake-clouds)
#   SDK_VENV              virtualenv to use     (default target/sdk-venv; created when missing)
#   PYTHON                interpreter that creates the venv (default python3)
# Relative paths are taken from the repository root. Build the binaries first with
#   cargo build -p switchyard -p sy-testkit --bins
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

abs() {
    case "$1" in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$root/$1" ;;
    esac
}

SWITCHYARD_BIN="$(abs "${SWITCHYARD_BIN:-target/debug/switchyard}")"
SY_MOCK_UPSTREAM_BIN="$(abs "${SY_MOCK_UPSTREAM_BIN:-target/debug/sy-mock-upstream}")"
SY_FAKE_CLOUDS_BIN="$(abs "${SY_FAKE_CLOUDS_BIN:-target/debug/sy-fake-clouds}")"
export SWITCHYARD_BIN SY_MOCK_UPSTREAM_BIN SY_FAKE_CLOUDS_BIN

missing=0
for pair in "SWITCHYARD_BIN=$SWITCHYARD_BIN" "SY_MOCK_UPSTREAM_BIN=$SY_MOCK_UPSTREAM_BIN" \
    "SY_FAKE_CLOUDS_BIN=$SY_FAKE_CLOUDS_BIN"; do
    name="${pair%%=*}"
    path="${pair#*=}"
    if [ ! -f "$path" ] || [ ! -x "$path" ]; then
        echo "tests/sdk/run.sh: $name: no executable at $path" >&2
        missing=1
    fi
done
if [ "$missing" -ne 0 ]; then
    echo "tests/sdk/run.sh: build the binaries first: cargo build -p switchyard -p sy-testkit --bins" >&2
    echo "tests/sdk/run.sh: or point SWITCHYARD_BIN / SY_MOCK_UPSTREAM_BIN / SY_FAKE_CLOUDS_BIN at existing ones" >&2
    exit 2
fi

venv="$(abs "${SDK_VENV:-target/sdk-venv}")"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    echo "tests/sdk/run.sh: creating virtualenv $venv" >&2
    "$python" -m venv "$venv"
fi
# Install only when the pinned requirements changed since the last successful install.
stamp="$venv/.switchyard-sdk-requirements.txt"
if ! cmp -s "$here/requirements.txt" "$stamp"; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$stamp"
fi

# No .pytest_cache or __pycache__ left in the source tree.
export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$here" "$@"
