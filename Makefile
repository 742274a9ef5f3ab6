# Every target bootstraps CPython 3.14 first (cached in ~/.cache/interp).
.PHONY: demo test measure bench-sharing bench-pool bootstrap capi header install
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
bootstrap:
	@scripts/bootstrap.sh
capi:
	@PYO3_PYTHON=$$(scripts/bootstrap.sh | tail -n1) cargo build --release -q -p interp-capi
header:
	@PYO3_PYTHON=$$(scripts/bootstrap.sh | tail -n1) INTERP_BLESS=1 cargo test -q -p interp-capi --test header
# libinterp.so (with SONAME), libinterp.a, headers, pkg-config and CMake files
# under PREFIX (absolute; DESTDIR stages for packaging). See scripts/install.sh.
PREFIX ?= /usr/local
install:
	@DESTDIR="$(DESTDIR)" scripts/install.sh "$(PREFIX)"
