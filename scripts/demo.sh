#!/usr/bin/env bash
# Set up, then grade a simulated class of students on loopback: `labgrader demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/labgrader demo "$@"
