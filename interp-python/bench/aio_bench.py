#!/usr/bin/env python3
"""interp.aio benchmark: tiny coroutines and sleeping coroutines.

1. Tiny coroutines (``async def ident(x): return x``), overhead per
   coroutine round trip, batched: ``await pool.map(ident, range(N),
   chunksize=C)`` on a started interp.aio.Pool, against ``asyncio.gather``
   of the same N coroutines inside one loop (this one). Per item, median
   over the repetitions; the ratio is interp.aio / gather. Both
   ``chunksize=1`` (one pool task per coroutine, as aiomultiprocess) and
   ``--chunksize`` (default 256: one task per chunk, its coroutines
   gathered in the worker's loop) are measured.
2. Throughput against aiomultiprocess (a benchmark peer only: ``pip install
   aiomultiprocess``; skipped when missing): the same ``map`` over N items
   on each started pool, same number of workers/processes and
   childconcurrency; items per second, median; the ratio is interp.aio /
   aiomultiprocess.
3. Sleeping coroutines (``await asyncio.sleep(D)``, ``--sleep-n`` of them,
   default 2,000 x 0.05 s): wall time of one ``map`` against the ideal, D
   (every coroutine sleeping at once). The pools here get a
   childconcurrency of ceil(N / workers), so that they may all sleep at
   once, as they do in one loop's ``gather``.

Repetitions are interleaved across variants so that load on a busy machine
spreads over all of them. Prints markdown tables. ``bench.py`` (``make
bench``, section ``async``) calls ``measure_tiny`` and ``measure_sleep``.

  python aio_bench.py [--n N] [--reps R] [--workers W] [--childconcurrency C] [--chunksize K]
                      [--sleep-n N] [--sleep S]
"""

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import aio_work  # noqa: E402

try:
    from interp import aio
except ImportError as exc:  # bench.py reports it as a skipped row
    aio = None
    AIO_MISSING = f"interp.aio is not importable ({exc})"
else:
    AIO_MISSING = None if sys.version_info >= (3, 13) else "interp.aio needs CPython 3.13 or newer"

try:
    import aiomultiprocess
except ImportError as exc:  # a benchmark peer, not a dependency
    aiomultiprocess = None
    AIOMP_MISSING = f"aiomultiprocess is not installed ({exc}; `pip install aiomultiprocess`, as `make bench` does)"
else:
    AIOMP_MISSING = None

GATHER = "asyncio.gather (one loop)"
CHUNK1 = "interp.aio chunksize=1"
AIOMP = "aiomultiprocess"


def chunked(chunksize):
    """The label of interp.aio's chunked ``map``."""
    return f"interp.aio chunksize={chunksize}"


def _nolog(msg):
    pass


async def gather_once(func, items):
    """Seconds for ``asyncio.gather`` of ``func(x)`` for each item, in this loop."""
    t0 = time.perf_counter()
    got = await asyncio.gather(*(func(x) for x in items))
    dt = time.perf_counter() - t0
    assert len(got) == len(items) and got[-1] == items[-1], got[-3:]
    return dt


async def map_once(pool, func, items, **kw):
    """Seconds for ``await pool.map(func, items, **kw)``."""
    t0 = time.perf_counter()
    got = await pool.map(func, items, **kw)
    dt = time.perf_counter() - t0
    assert len(got) == len(items) and got[-1] == items[-1], got[-3:]
    return dt


@contextlib.asynccontextmanager
async def _pools(workers, childconcurrency):
    """(interp.aio pool, aiomultiprocess pool or None), started; both closed
    and joined on exit."""
    ipool = aio.Pool(workers, childconcurrency=childconcurrency).start()
    apool = None
    try:
        if aiomultiprocess is not None:
            apool = aiomultiprocess.Pool(workers, childconcurrency=childconcurrency)
        # Warm up: workers started, functions looked up.
        await map_once(ipool, aio_work.ident, list(range(1000)))
        if apool is not None:
            await map_once(apool, aio_work.ident, list(range(1000)))
        yield ipool, apool
    finally:
        ipool.close()
        await ipool.join()
        if apool is not None:
            apool.close()
            await apool.join()


async def _interleaved(func, items, reps, workers, childconcurrency, chunksize, log, what):
    chunk = chunked(chunksize)
    times = {GATHER: [], CHUNK1: [], chunk: []}
    if aiomultiprocess is not None:
        times[AIOMP] = []
    async with _pools(workers, childconcurrency) as (ipool, apool):
        for r in range(reps):
            times[GATHER].append(await gather_once(func, items))
            times[CHUNK1].append(await map_once(ipool, func, items))
            times[chunk].append(await map_once(ipool, func, items, chunksize=chunksize))
            if apool is not None:
                times[AIOMP].append(await map_once(apool, func, items))
            log(f"[async] {what} rep {r + 1}/{reps}: " + ", ".join(f"{k} {v[-1] * 1e3:.1f} ms" for k, v in times.items()))
    return times


async def measure_tiny(n, reps, workers, childconcurrency=256, chunksize=256, log=_nolog):
    """Tiny coroutines: {variant: [seconds for one map of n items]} for
    gather in one loop, interp.aio (chunksize 1 and ``chunksize``) and
    aiomultiprocess (when installed), repetitions interleaved."""
    return await _interleaved(aio_work.ident, list(range(n)), reps, workers, childconcurrency, chunksize, log, "tiny")


def sleep_concurrency(n, workers):
    """The childconcurrency that lets ``n`` coroutines sleep at once on
    ``workers`` workers."""
    return -(-n // workers)


async def measure_sleep(n, delay, reps, workers, chunksize=256, log=_nolog):
    """Sleeping coroutines: {variant: [seconds for one map of n sleeps of
    ``delay`` s]}, on pools whose childconcurrency lets all sleep at once
    (the ideal is ``delay``)."""
    return await _interleaved(
        aio_work.nap, [delay] * n, reps, workers, sleep_concurrency(n, workers), chunksize, log, "sleeping"
    )


async def main(args):
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    n, reps = args.n, args.reps
    times = await measure_tiny(n, reps, args.workers, args.childconcurrency, args.chunksize, log)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    print(f"\n{n} tiny coroutines per map, {reps} repetitions, {args.workers} workers, "
          f"childconcurrency {args.childconcurrency}, CPython {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs\n")
    print("| variant | median per item | items/s | ratio |")
    print("| --- | ---: | ---: | --- |")
    g = med[GATHER]
    for k, v in med.items():
        if k == GATHER:
            ratio = "1 (baseline: one loop)"
        elif k.startswith("interp.aio"):
            ratio = f"{v / g:.2f}x gather's time"
            if AIOMP in med:
                ratio += f"; {med[AIOMP] / v:.1f}x aiomultiprocess' throughput"
        else:
            ratio = "peer"
        print(f"| {k} | {v / n * 1e6:.2f} µs | {n / v:,.0f} | {ratio} |")
    if AIOMP_MISSING:
        print(f"\n({AIOMP}: skipped, {AIOMP_MISSING})")
    times = await measure_sleep(args.sleep_n, args.sleep, reps, args.workers, args.chunksize, log)
    print(f"\n{args.sleep_n} coroutines sleeping {args.sleep} s per map (ideal: {args.sleep} s), childconcurrency "
          f"{sleep_concurrency(args.sleep_n, args.workers)}\n")
    print("| variant | median wall s | vs ideal |")
    print("| --- | ---: | ---: |")
    for k, v in times.items():
        m = statistics.median(v)
        print(f"| {k} | {m:.3f} | {m / args.sleep:.2f}x |")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--childconcurrency", type=int, default=256)
    p.add_argument("--chunksize", type=int, default=256)
    p.add_argument("--sleep-n", type=int, default=2000)
    p.add_argument("--sleep", type=float, default=0.05)
    a = p.parse_args()
    if AIO_MISSING:
        sys.exit(AIO_MISSING)
    asyncio.run(main(a))
