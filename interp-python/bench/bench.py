"""Tiny-task figures of interp's InterpreterPoolExecutor against the
standard library's InterpreterPoolExecutor (3.14+) and ThreadPoolExecutor,
measured in the same run: medians of several runs; ratios from the medians.

    python interp-python/bench/bench.py [--runs 5] [--workers 2]
"""

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tasks  # noqa: E402

import interp  # noqa: E402

try:
    from concurrent.futures import InterpreterPoolExecutor as StdIPE
except ImportError:  # before 3.14
    StdIPE = None


def round_trip(ex, n):
    f = tasks.ident
    t = time.perf_counter()
    for i in range(n):
        ex.submit(f, i).result()
    return (time.perf_counter() - t) / n


def throughput(ex, n):
    f = tasks.ident
    t = time.perf_counter()
    fs = [ex.submit(f, i) for i in range(n)]
    for x in fs:
        x.result()
    return n / (time.perf_counter() - t)


def map_rate(ex, n, chunksize):
    t = time.perf_counter()
    count = 0
    for _ in ex.map(tasks.ident, range(n), chunksize=chunksize):
        count += 1
    assert count == n
    return n / (time.perf_counter() - t)


def median_of(runs, fn):
    return statistics.median(fn() for _ in range(runs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="smaller counts (a smoke test)")
    a = ap.parse_args()
    k = 10 if a.quick else 1
    execs = [("interp", lambda: interp.InterpreterPoolExecutor(a.workers))]
    if StdIPE is not None:
        execs.append(("InterpreterPoolExecutor", lambda: StdIPE(a.workers)))
    execs.append(("ThreadPoolExecutor", lambda: ThreadPoolExecutor(a.workers)))
    rows = {}
    for name, make in execs:
        ex = make()
        slow = name != "interp"
        # Warm up: every worker started, functions cached.
        for x in [ex.submit(tasks.ident, i) for i in range(100)]:
            x.result()
        rt = median_of(a.runs, lambda: round_trip(ex, (2_000 if slow else 20_000) // k))
        tp = median_of(a.runs, lambda: throughput(ex, (20_000 if slow else 100_000) // k))
        mp = None
        if name != "ThreadPoolExecutor":
            n = (20_000 if slow else 1_000_000) // k
            mp = median_of(a.runs, lambda: map_rate(ex, n, 1024))
        ex.shutdown()
        rows[name] = (rt, tp, mp)
    v = sys.version.split()[0]
    print(f"CPython {v}, {a.workers} workers, f(x) = x, medians of {a.runs} runs")
    print(f"{'':28}{'round trip':>14}{'submit+result':>18}{'map(chunksize=1024)':>24}")
    for name, (rt, tp, mp) in rows.items():
        mps = f"{mp / 1e6:.2f}M/s" if mp else "-"
        print(f"{name:28}{rt * 1e6:>11.2f} us{tp / 1e3:>14.1f}k/s{mps:>24}")
    me = rows["interp"]
    for name, (rt, tp, mp) in rows.items():
        if name == "interp":
            continue
        line = f"interp vs {name}: round trip {rt / me[0]:.1f}x shorter, submit+result {me[1] / tp:.1f}x"
        if mp:
            line += f", map {me[2] / mp:.0f}x"
        print(line)


if __name__ == "__main__":
    main()
