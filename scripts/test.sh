#!/usr/bin/env bash
# Sets up and runs the whole test suite: lint, then pytest in parallel.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python3 -m ruff check src tests benchmarks
python3 -m pytest -n "${TEST_WORKERS:-4}" -q -p no:randomly "$@"
