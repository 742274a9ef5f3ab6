#!/usr/bin/env bash
# The project's test command (`make test`): bootstraps CPython 3.14, then runs
# formatting, lint, docs and every test of the workspace against it, then the
# interp-sys/interp-core/interp-pool suites against CPython 3.12 and 3.13 where a
# shared-library build of them exists on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=$(scripts/bootstrap.sh | tail -n1)
export PYO3_PYTHON="$PY"
echo "== CPython: $PY"

if cargo fmt --version >/dev/null 2>&1; then
  echo "== cargo fmt --check"
  cargo fmt --all -- --check
fi
if cargo clippy --version >/dev/null 2>&1; then
  echo "== cargo clippy -D warnings"
  cargo clippy --workspace --all-targets -q -- -D warnings
fi
echo "== cargo doc (warnings are errors: every public item is documented)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps -q

echo "== cargo test (CPython 3.14)"
cargo test --workspace

for v in 3.12 3.13; do
  cand=""
  for p in ${INTERP_EXTRA_PYTHONS:-} "$HOME"/.pyenv/versions/"$v".*/bin/python"$v" "$(command -v python"$v" || true)"; do
    [ -n "$p" ] && [ -x "$p" ] || continue
    case "$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" in
      "$v") cand="$p"; break ;;
    esac
  done
  if [ -z "$cand" ]; then
    echo "== skipped CPython $v: no python$v found (pyenv versions or PATH)"
    continue
  fi
  if ! why=$(scripts/bootstrap.sh --python "$cand" 2>&1 >/dev/null); then
    echo "== skipped CPython $v: $why"
    continue
  fi
  echo "== cargo test -p interp-sys -p interp-core -p interp-pool (CPython $v: $cand)"
  PYO3_PYTHON="$cand" CARGO_TARGET_DIR="target/py$v" cargo test -p interp-sys -p interp-core -p interp-pool
done
