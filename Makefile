# Every target bootstraps CPython 3.14 first (cached in ~/.cache/interp).
.PHONY: demo test measure bootstrap
demo:
	@scripts/demo.sh
test:
	@scripts/test.sh
measure:
	@scripts/measure.sh
bootstrap:
	@scripts/bootstrap.sh
