# Every target bootstraps CPython 3.14 first (cached in ~/.cache/interp).
.PHONY: demo test measure bench-sharing bench-pool bootstrap
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
