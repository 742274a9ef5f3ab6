# Every target but install/uninstall bootstraps CPython 3.14 first (cached in
# ~/.cache/interp).
.PHONY: demo bench test measure bench-sharing bench-pool bench-python bootstrap capi header dist install uninstall python test-python
# The day-6 workload, quick, on every executor (interp-python/bench/bench.py
# --demo; builds and installs the Python package into target/pyenv/3.14 first).
demo:
	@scripts/python.sh demo
# Every workload and peer side by side: tables, target/bench/bench.json and
# PNG charts beside it (BENCH_ARGS=--quick for a short run).
bench:
	@scripts/python.sh bench $(BENCH_ARGS)
test:
	@scripts/test.sh
measure:
	@scripts/example.sh measure
bench-sharing:
	@scripts/example.sh sharing
bench-pool:
	@scripts/example.sh -p interp-pool bench
bootstrap:
	@scripts/bootstrap.sh
capi:
	@PYO3_PYTHON=$$(scripts/bootstrap.sh | tail -n1) cargo build --release -q -p interp-capi
header:
	@PYO3_PYTHON=$$(scripts/bootstrap.sh | tail -n1) INTERP_BLESS=1 cargo test -q -p interp-capi --test header
# libinterp.so (with SONAME), libinterp.a, headers, pkg-config and CMake files.
# `make dist` builds them as you (never with sudo) into target/dist/stage;
# `make install PREFIX=/abs/path` only copies them there (sudo is fine;
# DESTDIR stages for packaging); `make uninstall` removes what it installed.
# See scripts/dist.sh and scripts/install.sh.
PREFIX ?= /usr/local
dist:
	@scripts/dist.sh
install:
	@DESTDIR="$(DESTDIR)" scripts/install.sh "$(PREFIX)"
uninstall:
	@DESTDIR="$(DESTDIR)" scripts/install.sh --uninstall "$(PREFIX)"
python:
	@scripts/python.sh
test-python:
	@scripts/python.sh test
# The same as `make bench` (its former name).
bench-python: bench
