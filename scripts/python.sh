#!/usr/bin/env bash
# Builds the `interp` Python package (interp-python, maturin) and installs it
# into a venv per CPython under target/pyenv/<version>, then optionally runs
# its pytest suite there:
#   scripts/python.sh            build + install for 3.14 (+ 3.12/3.13 where present)
#   scripts/python.sh test       ... and run `pytest interp-python/tests` in each
#   scripts/python.sh bench      ... 3.14 only, then the Python benchmark
# maturin and pytest come from PyPI (pip). Each version builds in its own
# target dir (target/python/<version>), so the workspace's own builds are not
# invalidated by maturin's extension-module setting.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-install}"

PY314=$(scripts/bootstrap.sh | tail -n1)
pythons=("3.14:$PY314")
if [ "$mode" != bench ]; then
  for v in 3.12 3.13; do
    for p in ${INTERP_EXTRA_PYTHONS:-} "$HOME"/.pyenv/versions/"$v".*/bin/python"$v" "$(command -v python"$v" || true)"; do
      [ -n "$p" ] && [ -x "$p" ] || continue
      if [ "$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$v" ]; then
        pythons+=("$v:$p"); break
      fi
    done
  done
fi

status=0
for entry in "${pythons[@]}"; do
  v="${entry%%:*}"; py="${entry#*:}"
  venv="target/pyenv/$v"
  if [ ! -x "$venv/bin/python" ]; then
    echo "== creating $venv ($py)"
    "$py" -m venv "$venv" || { "$py" -m ensurepip >/dev/null && "$py" -m venv "$venv"; }
  fi
  # Only reaches PyPI when they are missing.
  "$venv/bin/python" -m pip install -q "maturin>=1.9,<2" pytest
  echo "== pip install ./interp-python (CPython $v)"
  PATH="$PWD/$venv/bin:$PATH" PYO3_PYTHON="$PWD/$venv/bin/python" CARGO_TARGET_DIR="$PWD/target/python/$v" \
    "$venv/bin/python" -m pip install -q --no-build-isolation --force-reinstall --no-deps ./interp-python
  case "$mode" in
    test)
      echo "== pytest interp-python/tests (CPython $v)"
      "$venv/bin/python" -m pytest -q interp-python/tests || status=1 ;;
    bench)
      "$venv/bin/python" interp-python/bench/bench.py ;;
  esac
done
exit $status
