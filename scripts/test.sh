#!/usr/bin/env bash
# Set up, then run the whole test suite (real sshd, HTTP servers and python-chi on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check --quiet .
# Types: the engine, then each lab on its own (every lab's file is called checks.py).
.venv/bin/python -m mypy graders
for lab in labs/*/checks.py; do .venv/bin/python -m mypy --no-error-summary "$lab"; done
exec .venv/bin/python -m pytest -q "$@"
