#!/usr/bin/env bash
# The demo (`make demo`): bootstraps CPython 3.14, then runs several isolated
# interpreters on CPU-bound Python in parallel and prints the speed-up.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(scripts/bootstrap.sh | tail -n1)
PYO3_PYTHON="$PY" cargo run --release -q -p interp-core --example demo -- "$@"
