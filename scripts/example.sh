#!/usr/bin/env bash
# Runs an example in release mode after bootstrapping CPython:
#   scripts/example.sh [-p PACKAGE] NAME [args...]   (PACKAGE defaults to interp-core)
set -euo pipefail
cd "$(dirname "$0")/.."
pkg=interp-core
if [ "${1:-}" = "-p" ]; then pkg="${2:?-p needs a package}"; shift 2; fi
name="${1:?usage: scripts/example.sh [-p PACKAGE] NAME [args...]}"; shift
PY=$(scripts/bootstrap.sh | tail -n1)
PYO3_PYTHON="$PY" cargo run --release -q -p "$pkg" --example "$name" -- "$@"
