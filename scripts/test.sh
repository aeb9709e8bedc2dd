#!/usr/bin/env bash
# Set up, then run the whole test suite (real sshd, HTTP servers and python-chi on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check --quiet .
exec .venv/bin/python -m pytest -q "$@"
