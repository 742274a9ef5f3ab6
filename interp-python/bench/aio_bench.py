#!/usr/bin/env python3
"""interp.aio benchmark: tiny coroutines (``async def ident(x): return x``).

1. Overhead per coroutine round trip, batched: ``await pool.map(ident,
   range(N), chunksize=C)`` on a started interp.aio.Pool, against
   ``asyncio.gather`` of the same N coroutines inside one loop (this one).
   Per item, median over the repetitions; the ratio is interp.aio / gather.
   Both ``chunksize=1`` (one pool task per coroutine, as aiomultiprocess)
   and ``--chunksize`` (default 256: one task per chunk, its coroutines
   gathered in the worker's loop) are measured.
2. Throughput against aiomultiprocess (a benchmark peer only: ``pip install
   aiomultiprocess``; skipped when missing): the same ``map`` over N items
   on each started pool, same number of workers/processes and
   childconcurrency; items per second, median; the ratio is interp.aio /
   aiomultiprocess.

Repetitions are interleaved across variants so that load on a busy machine
spreads over all of them. Prints a markdown table.

  python aio_bench.py [--n N] [--reps R] [--workers W] [--childconcurrency C] [--chunksize K]
"""

import argparse
import asyncio
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import aio_work  # noqa: E402
from interp import aio  # noqa: E402

try:
    import aiomultiprocess
except ImportError:  # a benchmark peer, not a dependency
    aiomultiprocess = None


async def gather_once(n):
    t0 = time.perf_counter()
    got = await asyncio.gather(*(aio_work.ident(i) for i in range(n)))
    dt = time.perf_counter() - t0
    assert got[-1] == n - 1
    return dt


async def map_once(pool, n, **kw):
    t0 = time.perf_counter()
    got = await pool.map(aio_work.ident, range(n), **kw)
    dt = time.perf_counter() - t0
    assert len(got) == n and got[-1] == n - 1, got[-3:]
    return dt


async def main(args):
    n, reps = args.n, args.reps
    chunked = f"interp.aio chunksize={args.chunksize}"
    times = {"gather": [], "interp.aio chunksize=1": [], chunked: [], "aiomultiprocess": []}
    ipool = aio.Pool(args.workers, childconcurrency=args.childconcurrency).start()
    apool = None
    if aiomultiprocess is not None:
        apool = aiomultiprocess.Pool(args.workers, childconcurrency=args.childconcurrency)
    try:
        # Warm up: workers started, functions looked up.
        await map_once(ipool, 1000)
        if apool is not None:
            await map_once(apool, 1000)
        for r in range(reps):
            times["gather"].append(await gather_once(n))
            times["interp.aio chunksize=1"].append(await map_once(ipool, n))
            times[chunked].append(await map_once(ipool, n, chunksize=args.chunksize))
            if apool is not None:
                times["aiomultiprocess"].append(await map_once(apool, n))
            print(f"rep {r + 1}/{reps} done", file=sys.stderr)
    finally:
        ipool.close()
        await ipool.join()
        if apool is not None:
            apool.close()
            await apool.join()
    med = {k: statistics.median(v) for k, v in times.items() if v}
    print(f"\n{n} tiny coroutines per map, {reps} repetitions, {args.workers} workers, "
          f"childconcurrency {args.childconcurrency}, CPython {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs\n")
    print("| variant | median per item | items/s | ratio |")
    print("| --- | ---: | ---: | --- |")
    g = med["gather"]
    for k, v in med.items():
        if k == "gather":
            ratio = "1 (baseline: one loop)"
        elif k.startswith("interp.aio"):
            ratio = f"{v / g:.2f}x gather's time"
            if "aiomultiprocess" in med:
                ratio += f"; {med['aiomultiprocess'] / v:.1f}x aiomultiprocess' throughput"
        else:
            ratio = "peer"
        print(f"| {k} | {v / n * 1e6:.2f} µs | {n / v:,.0f} | {ratio} |")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--childconcurrency", type=int, default=256)
    p.add_argument("--chunksize", type=int, default=256)
    asyncio.run(main(p.parse_args()))
