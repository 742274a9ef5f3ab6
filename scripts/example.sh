#!/usr/bin/env bash
# Runs an interp-core example in release mode after bootstrapping CPython:
#   scripts/example.sh demo|measure|sharing [args...]
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: scripts/example.sh NAME [args...]}"; shift
PY=$(scripts/bootstrap.sh | tail -n1)
PYO3_PYTHON="$PY" cargo run --release -q -p interp-core --example "$name" -- "$@"
