# Every target bootstraps CPython 3.14 first (cached in ~/.cache/interp).
.PHONY: demo test measure bench-sharing bench-pool bench-python bootstrap capi header python test-python bench-python-tiny
demo:
	@scripts/example.sh demo
test:
	@scripts/test.sh
measure:
	@scripts/example.sh measure
bench-sharing:
	@scripts/example.sh sharing
bench-pool:
	@scripts/example.sh -p interp-pool bench
# Day-6 and tiny-task benchmark from Python, every executor side by side, in
# the 3.14 venv that `make python` installs interp into (INTERP_PYTHON picks
# another interpreter). BENCH_ARGS=--quick for the short run.
bench-python:
	@PY=$${INTERP_PYTHON:-target/pyenv/3.14/bin/python}; \
	if [ -z "$${INTERP_PYTHON:-}" ] && ! "$$PY" -c 'import interp' 2>/dev/null; then scripts/python.sh; fi; \
	"$$PY" interp-python/bench/day6.py $(BENCH_ARGS)
bootstrap:
	@scripts/bootstrap.sh
capi:
	@PYO3_PYTHON=$$(scripts/bootstrap.sh | tail -n1) cargo build --release -q -p interp-capi
header:
	@PYO3_PYTHON=$$(scripts/bootstrap.sh | tail -n1) INTERP_BLESS=1 cargo test -q -p interp-capi --test header
python:
	@scripts/python.sh
test-python:
	@scripts/python.sh test
bench-python-tiny:
	@scripts/python.sh bench
