#!/usr/bin/env bash
# Prints the path of a CPython X.Y on this machine, for the suites that run on
# several versions (scripts/test.sh, scripts/python.sh):
#
#   scripts/find-python.sh 3.13
#
# 3.14: what scripts/bootstrap.sh gives (PYO3_PYTHON when that is a 3.14,
# else the cached or freshly built CPython 3.14.7). Other versions: the first
# of $INTERP_EXTRA_PYTHONS (space-separated paths), pyenv's
# ~/.pyenv/versions/X.Y.*, pythonX.Y on PATH whose version is X.Y.
# Exits 1 with the reason on stderr when there is none.
set -uo pipefail
cd "$(dirname "$0")/.."
v="${1:?usage: scripts/find-python.sh X.Y}"

version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }

if [ "$v" = 3.14 ]; then
  if [ -n "${PYO3_PYTHON:-}" ] && [ "$(version_of "$PYO3_PYTHON")" != 3.14 ]; then
    export PYO3_PYTHON=   # another version: bootstrap's own 3.14 instead
  fi
  py=$(scripts/bootstrap.sh | tail -n1) && [ -n "$py" ] && { echo "$py"; exit 0; }
  echo "scripts/bootstrap.sh found or built no CPython 3.14 (see above)" >&2
  exit 1
fi

for p in ${INTERP_EXTRA_PYTHONS:-} "$HOME"/.pyenv/versions/"$v".*/bin/python"$v" "$(command -v python"$v" || true)"; do
  [ -n "$p" ] && [ -x "$p" ] || continue
  if [ "$(version_of "$p")" = "$v" ]; then
    echo "$p"
    exit 0
  fi
done
echo "no python$v found (INTERP_EXTRA_PYTHONS, pyenv versions or PATH)" >&2
exit 1
