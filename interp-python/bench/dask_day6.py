#!/usr/bin/env python3
"""Day 6 on a 1-worker ``distributed.LocalCluster``: Dask's default thread
executor versus interp's executor (``interp.dask.InterpPlugin``), one run
each, for the README's "Past one machine" figure.

The problem is ``day6.py``'s (``generate(seed)``: a 130x130 grid, about 5,000
candidate cells); the graph has one task per ``--chunk`` candidates, each
counting its loops with ``day6_work.solve``, and a final sum; the grid is one
dask value every task depends on. Both variants run on the same cluster: one
worker process with ``--threads`` threads; the interp variant annotates the
tasks with ``executor="interp"`` and gets ``--threads`` interpreters. The
cluster is started and warmed (every interpreter has run a task) before the
timing; each figure is one ``client.compute(graph).result()``, with the
CPU time the worker process used meanwhile. The profiler is
off for both (interp.dask.PROFILER_OFF: it would abort the interp worker).

  python dask_day6.py [--seed N] [--chunk N] [--threads N]

Prints the times, the serial time in this process, the load average before
and after, and exits 1 if a variant's loop count differs from serial's.
"""

import argparse
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import day6  # noqa: E402
import day6_work  # noqa: E402


def solve_many(start, nodes, grid):
    """How many of ``nodes`` make the guard loop (one task's share)."""
    return sum(1 for node in nodes if day6_work.solve(start, node, grid))


def where(_):
    import interp

    return interp.interpreter_id()


def worker_cpu(client):
    """CPU seconds the (one) worker process has used, all its threads and
    interpreters included."""
    (cpu,) = client.run(time.process_time).values()
    return cpu


def graph(dask, start, grid, nodes, chunk):
    g = dask.delayed(grid, pure=True)
    parts = [dask.delayed(solve_many)(start, nodes[i : i + chunk], g) for i in range(0, len(nodes), chunk)]
    return dask.delayed(sum)(parts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--chunk", type=int, default=100, help="candidates per task (default 100)")
    ap.add_argument("--threads", type=int, default=2, help="worker threads = interpreters (default 2)")
    args = ap.parse_args(argv)

    import dask
    from distributed import Client, LocalCluster

    from interp.dask import PROFILER_OFF, InterpPlugin

    dask.config.set(PROFILER_OFF)
    load_before = os.getloadavg()
    start, grid, path = day6.generate(args.seed)
    nodes = path[1:]
    t = time.perf_counter()
    serial = solve_many(start, nodes, grid)
    serial_s = time.perf_counter() - t

    results = {}
    with LocalCluster(
        n_workers=1, threads_per_worker=args.threads, processes=True, dashboard_address=":0"
    ) as cluster, Client(cluster) as client:
        client.register_plugin(InterpPlugin(max_workers=args.threads))
        with dask.annotate(executor="interp"):
            warm = [dask.delayed(where)(i) for i in range(8 * args.threads)]
        ids = set(client.compute(warm, sync=True))
        if 0 in ids:
            print(f"an interp task ran in the main interpreter: {ids}", file=sys.stderr)
            return 1
        for name, annotation in (("threads", None), ("interp", "interp")):
            if annotation is None:
                g = graph(dask, start, grid, nodes, args.chunk)
            else:
                with dask.annotate(executor=annotation):
                    g = graph(dask, start, grid, nodes, args.chunk)
            cpu0 = worker_cpu(client)
            t = time.perf_counter()
            count = client.compute(g, sync=True)
            wall = time.perf_counter() - t
            results[name] = (wall, count, worker_cpu(client) - cpu0)
    load_after = os.getloadavg()

    tasks = -(-len(nodes) // args.chunk)
    print(
        f"day 6 (seed {args.seed}, {len(nodes)} candidates, {tasks} tasks of {args.chunk}), "
        f"1-worker LocalCluster, {args.threads} threads; CPython {platform.python_version()}, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"  serial (this process)            {serial_s:7.2f} s  {serial} loops")
    for name, label in (("threads", "Dask's thread executor"), ("interp", f"interp ({args.threads} interpreters)")):
        secs, count, cpu = results[name]
        print(f"  {label:32} {secs:7.2f} s  {count} loops  (worker CPU {cpu:.2f} s)")
    print(f"  load average before {load_before[0]:.2f} {load_before[1]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f}")
    bad = [name for name, (_, count, _) in results.items() if count != serial]
    if bad:
        print(f"loop counts differ from serial ({serial}): {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
