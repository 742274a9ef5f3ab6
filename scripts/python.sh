#!/usr/bin/env bash
# Builds the `interp` Python package (interp-python, maturin) and installs it
# into a venv per CPython under target/pyenv/<version>, then optionally tests
# or benchmarks it there:
#
#   scripts/python.sh [install] [X.Y...]   build + install
#   scripts/python.sh test [X.Y...]        ... then, in each venv, pytest on
#                                          interp-python/tests and then on the
#                                          conformance suite (test_conformance.py,
#                                          CPython's executor tests) on its own,
#                                          so that its count has its own line
#   scripts/python.sh bench [ARGS...]      3.14 only: ... plus matplotlib (for
#                                          the charts) and aiomultiprocess (the
#                                          async section's peer), then
#                                          interp-python/bench/bench.py ARGS
#                                          (`make bench`); with
#                                          INTERP_PYTHON=/path/python, that
#                                          Python runs it as it is (no install)
#   scripts/python.sh demo                 3.14 only: ... then bench.py --demo
#                                          (`make demo`; no matplotlib)
#
# Versions (3.12, 3.13, 3.14; scripts/find-python.sh finds them): those named,
# else 3.14 plus 3.12/3.13 where present (a missing one is named and skipped).
# A named version that cannot be found is an error.
#
# The pytest summary lines are printed at the end (and appended to the file
# $INTERP_PYTEST_SUMMARY names, if set). maturin, pytest and numpy (tests
# only) come from PyPI (pip), only when the venv lacks them; so do dask and
# distributed for `test` (interp.dask's tests; if pip fails they skip). Each
# version builds in its own target dir (target/python/<version>), so the
# workspace's own builds are not invalidated by maturin's extension-module
# setting.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=install
case "${1:-}" in
  install | test | bench) mode="$1"; shift ;;
  demo) mode=bench; shift; set -- --demo "$@" ;;
esac

versions=()
named=1
if [ "$mode" = bench ]; then
  if [ -n "${INTERP_PYTHON:-}" ]; then
    exec "$INTERP_PYTHON" interp-python/bench/bench.py "$@"
  fi
  versions=(3.14)
elif [ $# -gt 0 ]; then
  versions=("$@")
else
  versions=(3.14 3.12 3.13)
  named=0
fi

pythons=()
for v in "${versions[@]}"; do
  case "$v" in
    3.12 | 3.13 | 3.14) ;;
    *) echo "scripts/python.sh: unknown version '$v' (3.12, 3.13 or 3.14)" >&2; exit 2 ;;
  esac
  if py=$(scripts/find-python.sh "$v"); then
    pythons+=("$v:$py")
  elif [ $named = 1 ]; then
    exit 1 # asked for: find-python.sh said why
  else
    echo "== skipped CPython $v (see above)"
  fi
done

# Runs pytest with ARGS in the current venv; records its last line.
summaries=()
pytest_run() {
  local what="$1" out rc
  shift
  out=$(mktemp)
  set +e
  "$venv/bin/python" -m pytest -q -rs -p no:cacheprovider "$@" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  set -e
  # The summary line ("44 passed in 21.07s") and the skips' reasons.
  summaries+=("CPython $full, $what: $(tail -n1 "$out" | sed 's/^=* *//; s/ *=*$//')")
  while IFS= read -r line; do summaries+=("    $line"); done < <(grep '^SKIPPED ' "$out" || true)
  # 5: nothing collected, which is a pass only for a module that skipped
  # itself with a reason (the conformance suite on a CPython without
  # test.test_concurrent_futures).
  if [ "$rc" != 0 ] && ! { [ "$rc" = 5 ] && grep -q '^SKIPPED ' "$out"; }; then
    status=1
  fi
  rm -f "$out"
}

status=0
for entry in "${pythons[@]}"; do
  v="${entry%%:*}"
  py="${entry#*:}"
  venv="target/pyenv/$v"
  if [ ! -x "$venv/bin/python" ]; then
    echo "== creating $venv ($py)"
    "$py" -m venv "$venv" || { "$py" -m ensurepip >/dev/null && "$py" -m venv "$venv"; }
  fi
  full=$("$venv/bin/python" -c 'import platform; print(platform.python_version())')
  # Reaches PyPI only when they are missing. numpy is for the tests only: a
  # numpy array must reach a worker as a zero-copy memoryview, and a task that
  # imports numpy must get the error that explains it (test_sharing.py).
  if ! "$venv/bin/python" -c 'import maturin, pytest, numpy' 2>/dev/null; then
    echo "== pip install maturin pytest numpy (CPython $full)"
    "$venv/bin/python" -m pip install -q "maturin>=1.9,<2" pytest numpy
  fi
  # For interp.dask's tests (test_dask.py), also only when missing; a failed
  # install is not an error: those tests then skip and say why.
  if [ "$mode" = test ] && ! "$venv/bin/python" -c 'import dask, distributed' 2>/dev/null; then
    echo "== pip install dask distributed (CPython $full; for test_dask.py)"
    "$venv/bin/python" -m pip install -q --retries 2 "dask>=2025.1,<2027" "distributed>=2025.1,<2027" ||
      echo "== pip install dask distributed failed (CPython $full): test_dask.py skips"
  fi
  # The benchmark's charts (not the tests'): only for `bench` without --demo.
  if [ "$mode" = bench ] && [ "${1:-}" != --demo ] && ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
    echo "== pip install matplotlib (CPython $full; the benchmark's charts)"
    "$venv/bin/python" -m pip install -q matplotlib
  fi
  # The async section's peer (a benchmark peer, not a dependency): if pip
  # fails, its rows say it was skipped.
  if [ "$mode" = bench ] && [ "${1:-}" != --demo ] && ! "$venv/bin/python" -c 'import aiomultiprocess' 2>/dev/null; then
    echo "== pip install aiomultiprocess (CPython $full; the async section's peer)"
    "$venv/bin/python" -m pip install -q --retries 2 aiomultiprocess ||
      echo "== pip install aiomultiprocess failed (CPython $full): its async rows are skipped"
  fi
  echo "== pip install ./interp-python (CPython $full)"
  PATH="$PWD/$venv/bin:$PATH" PYO3_PYTHON="$PWD/$venv/bin/python" CARGO_TARGET_DIR="$PWD/target/python/$v" \
    "$venv/bin/python" -m pip install -q --no-build-isolation --force-reinstall --no-deps ./interp-python
  case "$mode" in
    test)
      echo "== pytest interp-python/tests (CPython $full, $py)"
      pytest_run "interp-python/tests without the conformance suite" \
        interp-python/tests --ignore=interp-python/tests/test_conformance.py
      echo "== conformance: pytest interp-python/tests/test_conformance.py (CPython $full)"
      pytest_run "conformance (interp-python/tests/test_conformance.py)" \
        interp-python/tests/test_conformance.py
      ;;
    bench)
      "$venv/bin/python" interp-python/bench/bench.py "$@"
      ;;
  esac
done
if [ ${#summaries[@]} -gt 0 ]; then
  echo "== interp-python pytest summary"
  printf '  %s\n' "${summaries[@]}"
  # scripts/test.sh prints these after its table.
  [ -z "${INTERP_PYTEST_SUMMARY:-}" ] || printf '  %s\n' "${summaries[@]}" >>"$INTERP_PYTEST_SUMMARY"
fi
exit $status
