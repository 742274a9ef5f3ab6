#!/usr/bin/env bash
# The project's test command (`make test`): bootstraps CPython 3.14, then runs
# formatting, lint, docs and every test of the workspace against it, the unsafe
# code of interp_core::Shared under Miri (where nightly miri is installed), then
# the interp-sys/interp-core/interp-pool suites against CPython 3.12 and 3.13
# where a shared-library build of them exists on this machine, then the Python
# package's suite (scripts/python.sh test) on 3.14, 3.12 and 3.13.
#
# Every suite runs even when an earlier one fails; a table at the end says how
# each went, and the exit status is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! PY=$(scripts/bootstrap.sh | tail -n1) || [ -z "$PY" ]; then
  echo "== bootstrapping CPython 3.14 failed (see above): nothing can be tested" >&2
  exit 1
fi
export PYO3_PYTHON="$PY"
echo "== CPython: $PY"

# One "name<TAB>result<TAB>seconds" line per suite.
results=()

# run NAME COMMAND...: runs one suite and records how it went.
run() {
  local name="$1" start=$SECONDS status
  shift
  echo "== $name"
  if "$@"; then
    status="pass"
  else
    status="FAIL (exit $?)"
  fi
  results+=("$name"$'\t'"$status"$'\t'"$((SECONDS - start))s")
}

# skip NAME WHY: records a suite that could not run here.
skip() {
  echo "== skipped $1: $2"
  results+=("$1"$'\t'"skipped: $2"$'\t'"-")
}

if cargo fmt --version >/dev/null 2>&1; then
  run "cargo fmt --check" cargo fmt --all -- --check
else
  skip "cargo fmt --check" "rustfmt is not installed"
fi
if cargo clippy --version >/dev/null 2>&1; then
  run "cargo clippy -D warnings" cargo clippy --workspace --all-targets -q -- -D warnings
else
  skip "cargo clippy -D warnings" "clippy is not installed"
fi
# Warnings are errors: every public item is documented.
run "cargo doc" env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps -q

run "cargo test (CPython 3.14)" cargo test --workspace

# Miri checks the unsafe code of interp_core::Shared (interp-core/src/shared.rs)
# for undefined behaviour: only its pure-Rust unit tests, which call no Python
# (Miri cannot run CPython), so this takes seconds. Needs a nightly toolchain
# with the miri component, which a machine with only stable lacks.
miri="cargo miri test shared::tests:: (interp-core, nightly)"
if cargo +nightly miri --version >/dev/null 2>&1; then
  run "$miri" cargo +nightly miri test -q -p interp-core --lib shared::tests::
else
  skip "$miri" "no nightly miri"
fi

for v in 3.12 3.13; do
  name="cargo test -p interp-sys -p interp-core -p interp-pool (CPython $v)"
  if ! why=$(scripts/find-python.sh "$v" 2>&1 >/dev/null); then
    skip "$name" "$why"
    continue
  fi
  cand=$(scripts/find-python.sh "$v")
  if ! why=$(scripts/bootstrap.sh --python "$cand" 2>&1 >/dev/null); then
    skip "$name" "$why"
    continue
  fi
  echo "   ($cand)"
  run "$name" env PYO3_PYTHON="$cand" CARGO_TARGET_DIR="target/py$v" \
    cargo test -p interp-sys -p interp-core -p interp-pool
done

# The Python package: built with maturin into a venv per version
# (target/pyenv/<version>; maturin and pytest from PyPI when missing), then
# its pytest suite and CPython's executor conformance tests; their pytest
# summary lines (the conformance count among them) follow the table.
export INTERP_PYTEST_SUMMARY="$PWD/target/pytest-summary.txt"
mkdir -p target && : >"$INTERP_PYTEST_SUMMARY"
for v in 3.14 3.12 3.13; do
  name="pytest interp-python + conformance (CPython $v)"
  if [ "$v" != 3.14 ] && ! why=$(scripts/find-python.sh "$v" 2>&1 >/dev/null); then
    skip "$name" "$why"
    continue
  fi
  run "$name" scripts/python.sh test "$v"
done

# The benchmark's regression guard (interp-python/bench/bench.py --guard, in
# the 3.14 venv the step above built): ratios of interp to IPE measured in one
# run must stay within generous bounds; no absolute times. About 40 s.
guard="bench guard: interp/IPE ratios (CPython 3.14)"
if [ -x target/pyenv/3.14/bin/python ]; then
  run "$guard" env INTERP_PYTHON="$PWD/target/pyenv/3.14/bin/python" scripts/python.sh bench --guard
else
  skip "$guard" "no target/pyenv/3.14 (the Python package step failed to build it)"
fi

echo
echo "== summary"
failed=0
for r in "${results[@]}"; do
  IFS=$'\t' read -r name status took <<<"$r"
  printf '  %-70s %-8s %s\n' "$name" "$took" "$status"
  case "$status" in FAIL*) failed=$((failed + 1)) ;; esac
done
if [ -s "$INTERP_PYTEST_SUMMARY" ]; then
  echo "== interp-python pytest counts"
  cat "$INTERP_PYTEST_SUMMARY"
fi
if [ "$failed" -gt 0 ]; then
  echo "== $failed of ${#results[@]} suites FAILED"
  exit 1
fi
echo "== all suites passed (or were skipped, as listed)"
