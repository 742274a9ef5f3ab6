"""The executors ``bench.py`` compares, made by name, and its start-up/RSS
child: ``python startup.py SYSTEM WORKERS`` prints one JSON line with
start-up to first result, one interpreter's creation, RSS per idle worker
(after a first one-worker executor has paid what a process pays once) and
that first executor's own RSS, measured in that fresh process.

Kept light on imports on purpose: interp's workers load the main script
(as ``__mp_main__``), so a start-up measured from ``bench.py`` itself would
include importing the whole harness in every worker.
"""

import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import day6_work as work  # noqa: E402

# The label of ThreadPoolExecutor on the free-threaded build.
FT = "ThreadPoolExecutor (3.14t free-threaded)"

# Workers of the pool whose RSS is measured.
IDLE_WORKERS = 8


class Unavailable(Exception):
    """A system that cannot run here; the message says why."""


def process_pool(workers, **kwargs):
    """A ProcessPoolExecutor on forkserver (else spawn): 3.14's default, and
    the safe choice in a process that runs threads."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    return ProcessPoolExecutor(workers, mp_context=ctx, **kwargs)


def executor(name, workers):
    """A new executor of system ``name`` with ``workers`` workers."""
    if name == "IPE":
        try:
            from concurrent.futures import InterpreterPoolExecutor
        except ImportError:
            raise Unavailable("no InterpreterPoolExecutor before 3.14") from None
        return InterpreterPoolExecutor(workers)
    if name in ("ThreadPoolExecutor", FT):
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(workers)
    if name == "ProcessPoolExecutor":
        return process_pool(workers)
    if name == "interp":
        try:
            import interp
        except ImportError as exc:
            raise Unavailable(f"interp is not importable ({exc})") from None
        return interp.InterpreterPoolExecutor(workers)
    raise ValueError(f"unknown system {name!r}")


def _status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _private_kib(pid):
    """Memory only process ``pid`` holds (its private pages, clean and dirty:
    the USS), what one more process costs; its RSS where smaps_rollup is
    missing. Its share of pages it maps with others (the interpreter, the
    libraries and imports a forkserver's children share) is a cost paid once,
    as for the in-process systems' first executor."""
    total = None
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total = (total or 0) + int(line.split()[1])
    except OSError:
        pass
    return _status_kib(pid, "VmRSS") if total is None else total


def _children_kib(ex):
    """The private memory of a ProcessPoolExecutor's worker processes."""
    return sum(_private_kib(pid) for pid in list(getattr(ex, "_processes", None) or {}))


def _workers(name, ex):
    """How many workers executor ``ex`` of system ``name`` has started (the
    standard library's start theirs on demand), or None where it cannot be
    told (interp starts every worker with the executor)."""
    if name == "ProcessPoolExecutor":
        return len(getattr(ex, "_processes", None) or {})
    threads = getattr(ex, "_threads", None)
    return None if threads is None else len(threads)


def one_interpreter_ms():
    """Median time to create one interpreter with concurrent.interpreters
    (after one warm-up creation), or None before 3.14."""
    try:
        from concurrent import interpreters
    except ImportError:
        return None
    interpreters.create().close()
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        i = interpreters.create()
        times.append((time.perf_counter() - t0) * 1e3)
        i.close()
    return statistics.median(times)


def measure(name, workers):
    """One repetition, in a fresh process: RSS per idle worker first (IDLE_WORKERS
    workers that each ran tasks), then one interpreter's creation, then a new
    executor's start-up to its first result.

    What a process pays once (importing the system, its first executor's
    machinery) is not a worker's cost: a first executor with one worker runs
    the same tasks before the idle workers are measured and stays alive while
    they are, and its growth is reported apart (``rss_first_executor_mib``).
    Every system is measured this way."""
    out = {}
    base = _status_kib("self", "VmRSS")
    first = executor(name, 1)
    for f in [first.submit(work.burn, 20_000) for _ in range(8)]:
        f.result()
    before = _status_kib("self", "VmRSS")
    first_kib = before - base
    if name == "ProcessPoolExecutor":
        first_kib += _children_kib(first)
    out["rss_first_executor_mib"] = first_kib / 1024
    ex = executor(name, IDLE_WORKERS)
    for f in [ex.submit(work.burn, 20_000) for _ in range(8 * IDLE_WORKERS)]:
        f.result()
    after = _status_kib("self", "VmRSS")
    if name == "ProcessPoolExecutor":
        after += _children_kib(ex)
        out["rss_note"] = "its worker processes' private memory (USS)"
    # The divisor is the workers that exist: the standard library's
    # executors start theirs on demand.
    n = _workers(name, ex) or IDLE_WORKERS
    out["idle_workers"] = n
    out["rss_per_idle_worker_mib"] = (after - before) / 1024 / n
    ex.shutdown(wait=True)
    first.shutdown(wait=True)
    out["create_one_interpreter_ms"] = one_interpreter_ms()
    t0 = time.perf_counter()
    ex = executor(name, workers)
    ex.submit(work.identity, 1).result()
    out["startup_to_first_result_ms"] = (time.perf_counter() - t0) * 1e3
    ex.shutdown(wait=True)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: startup.py SYSTEM WORKERS")
    try:
        print(json.dumps(measure(sys.argv[1], int(sys.argv[2]))))
    except Unavailable as exc:
        sys.exit(f"Unavailable: {exc}")
