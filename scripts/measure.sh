#!/usr/bin/env bash
# Core figures (`make measure`): interpreter creation, call round trips, idle RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(scripts/bootstrap.sh | tail -n1)
PYO3_PYTHON="$PY" cargo run --release -q -p interp-core --example measure -- "$@"
