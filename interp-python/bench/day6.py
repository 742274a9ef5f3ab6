#!/usr/bin/env python3
"""The day-6 and tiny-task pieces of ``make bench`` (bench.py imports this
module), also runnable on their own: Advent-of-Code-2024-day-6 shaped work
and tiny tasks, on every executor available to this CPython, in one run.

Day 6 (part 2 shape): a seeded 130x130 grid (obstacles near 4%, the guard's
path grown by a search to about 5,000 distinct cells; no AoC input is
shipped). For every cell on the path but the start: does one extra obstacle
there make the guard loop? Variants, all counting the same loops:

  serial                    one interpreter, a plain loop
  <executor> naive          ex.map(solve_candidate, ((start, node, grid) for node in path))
                            -- the blog's code: the tuple-of-tuples grid copied per call
  <executor> initializer    the grid handed over once per worker by an initializer
  <executor> memoryview     a memoryview of a bytearray passed per call
  interp shared=            the grid handed over once per worker via shared=
  interp frozen             an interp Frozen grid passed per call

Each repetition times the whole ``with Executor(...) as ex: sum(ex.map(...))``
block, executor start and shutdown included, as a user's program pays it.
Repetitions are interleaved across variants so that load on a busy machine
spreads over all of them.

Tiny task f(x) = x on a started, warmed executor: round trip (submit +
result, median per call), submit+result throughput (submit N, then wait for
all), and map(chunksize=1024) throughput (chunksize is ignored by
InterpreterPoolExecutor and ThreadPoolExecutor, as CPython documents). interp
gets ten to fifty times more calls per measurement than the slower executors
(TINY_SIZES), so that each of its measurements lasts long enough to time.

Prints a markdown table on stdout, a progress line per step on stderr, and
writes JSON (default: <repo>/target/bench-python.json). Exit status 1 if the
variants disagree on the loop count or a tiny task returns a wrong result.

  python day6.py [--quick] [--workers N] [--reps N] [--seed N] [--json PATH]
"""

import argparse
import datetime
import json
import os
import platform
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import day6_work as work  # noqa: E402  (after the sys.path fix-up)
from startup import process_pool  # noqa: E402

try:
    from concurrent.futures import InterpreterPoolExecutor as IPE
except ImportError:  # CPython < 3.14
    IPE = None

try:
    import interp
except ImportError as exc:
    interp = None
    INTERP_MISSING = f"interp is not importable ({exc})"
else:
    INTERP_MISSING = None


class Unavailable(Exception):
    """A variant that cannot run here; the message says why."""


def progress(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# The grid.

_DIRS = ((-1, 0), (0, 1), (1, 0), (0, -1))


def _walk(start, grid, size):
    """The guard's walk on a mutable grid: (distinct cells in visiting order,
    whether she loops, the cell of her last turn, her direction index)."""
    cells = {start: None}
    r, c = start
    d = 0
    turns = set()
    last_turn = start
    while True:
        dr, dc = _DIRS[d]
        nr, nc = r + dr, c + dc
        if not (0 <= nr < size and 0 <= nc < size):
            return list(cells), False, last_turn, d
        if grid[nr][nc]:
            state = (r, c, d)
            if state in turns:
                return list(cells), True, last_turn, d
            turns.add(state)
            d = (d + 1) & 3
            last_turn = (r, c)
        else:
            r, c = nr, nc
            cells[(r, c)] = None


def generate(seed, size=130, density=0.04, target=5000):
    """A day-6 shaped grid: ``(start, grid, path)``, ``grid`` a tuple of tuples
    of bools (True: obstacle), ``path`` the guard's distinct cells in order.

    Two thirds of the obstacles are scattered at random; then a local search
    places (or removes) one obstacle at a time near the end of the guard's
    walk, keeping a change when the walk stays finite and grows (and now and
    then when it shrinks a little, to leave dead ends), until the path covers
    ``target`` cells; the remaining obstacles go off the path, which leaves the
    walk unchanged. Deterministic for a seed.
    """
    rng = random.Random(seed)
    budget = round(size * size * density)
    lo, hi = size // 4, 3 * size // 4
    start = (rng.randrange(lo, hi), rng.randrange(lo, hi))
    grid = [[False] * size for _ in range(size)]
    count = 0
    while count < budget * 2 // 3:
        r, c = rng.randrange(size), rng.randrange(size)
        if (r, c) != start and not grid[r][c]:
            grid[r][c] = True
            count += 1
    path, loops, last_turn, d = _walk(start, grid, size)
    failures = 0
    while len(path) < target:
        if failures > 2000:
            raise RuntimeError(f"seed {seed}: the search is stuck at a {len(path)}-cell path")
        if rng.random() < 0.25:
            # Remove the obstacle that turned her last, so she goes on.
            pd = _DIRS[(d - 1) & 3]
            cell = (last_turn[0] + pd[0], last_turn[1] + pd[1])
            if not grid[cell[0]][cell[1]]:
                failures += 1
                continue
            grid[cell[0]][cell[1]] = False
            removed = True
        else:
            # Turn her earlier: an obstacle on her final run or recent path.
            if rng.random() < 0.5:
                dr, dc = _DIRS[d]
                r, c = last_turn
                run = []
                while 0 <= r + dr < size and 0 <= c + dc < size:
                    r += dr
                    c += dc
                    run.append((r, c))
                cell = rng.choice(run[1:] or run)
            else:
                cell = rng.choice(path[-400:])
            if cell == start or grid[cell[0]][cell[1]]:
                failures += 1
                continue
            grid[cell[0]][cell[1]] = True
            removed = False
        new_path, loops, new_turn, new_d = _walk(start, grid, size)
        grows = len(new_path) > len(path)
        drifts = len(new_path) > len(path) - 100 and rng.random() < 0.1
        if loops or not (grows or drifts):
            grid[cell[0]][cell[1]] = removed
            failures += 1
            continue
        failures = 0
        count += -1 if removed else 1
        path, last_turn, d = new_path, new_turn, new_d
    on_path = set(path)
    while count < budget:
        r, c = rng.randrange(size), rng.randrange(size)
        if (r, c) not in on_path and not grid[r][c]:
            grid[r][c] = True
            count += 1
    final, loops, _, _ = _walk(start, grid, size)
    assert final == path and not loops, "off-path obstacles changed the walk"
    return start, tuple(tuple(row) for row in grid), path


# --------------------------------------------------------------------------
# Day-6 variants: each takes the problem and returns the loop count.


def process_cpu():
    """CPU seconds this process has used, all its threads (so interp's and
    IPE's workers) included; a ProcessPoolExecutor's workers are not."""
    return time.process_time()


def _sum(results):
    return sum(1 for hit in results if hit)


def serial(p):
    return _sum(work.solve(p.start, node, p.grid) for node in p.nodes)


def _naive(ex, p, grid):
    return _sum(ex.map(work.solve_candidate, ((p.start, node, grid) for node in p.nodes)))


def _memoryview(ex, p):
    n = len(p.nodes)
    return _sum(ex.map(work.solve_buffer, repeat(p.start, n), p.nodes, repeat(p.view, n), repeat(p.size, n)))


def _need_ipe():
    if IPE is None:
        raise Unavailable(f"no concurrent.futures.InterpreterPoolExecutor in CPython {platform.python_version()}")


def _need_interp():
    if interp is None:
        raise Unavailable(INTERP_MISSING)


def ipe_naive(p):
    _need_ipe()
    with IPE(p.workers) as ex:
        return _naive(ex, p, p.grid)


def ipe_initializer(p):
    _need_ipe()
    with IPE(p.workers, initializer=work.init, initargs=(p.start, p.grid)) as ex:
        return _sum(ex.map(work.solve_node, p.nodes))


def ipe_memoryview(p):
    _need_ipe()
    with IPE(p.workers) as ex:
        return _memoryview(ex, p)


def threads_naive(p):
    with ThreadPoolExecutor(p.workers) as ex:
        return _naive(ex, p, p.grid)


def processes_initializer(p):
    with process_pool(p.workers, initializer=work.init, initargs=(p.start, p.grid)) as ex:
        return _sum(ex.map(work.solve_node, p.nodes))


def interp_naive(p):
    _need_interp()
    with interp.InterpreterPoolExecutor(p.workers) as ex:
        return _naive(ex, p, p.grid)


def interp_shared(p):
    _need_interp()
    try:
        ex = interp.InterpreterPoolExecutor(
            p.workers, shared={"GRID": p.grid, "START": p.start}, initializer=work.use_main
        )
    except TypeError as exc:
        raise Unavailable(f"interp.InterpreterPoolExecutor(shared=...) failed: {exc}") from None
    with ex:
        return _sum(ex.map(work.solve_node, p.nodes))


def interp_memoryview(p):
    _need_interp()
    with interp.InterpreterPoolExecutor(p.workers) as ex:
        return _memoryview(ex, p)


def interp_frozen(p):
    _need_interp()
    freeze = getattr(interp, "freeze", None)
    if freeze is None:
        raise Unavailable("interp has no freeze()")
    grid = freeze(p.grid)
    with interp.InterpreterPoolExecutor(p.workers) as ex:
        return _naive(ex, p, grid)


DAY6 = [
    ("serial", serial),
    ("IPE naive", ipe_naive),
    ("IPE initializer", ipe_initializer),
    ("IPE memoryview", ipe_memoryview),
    ("ThreadPoolExecutor naive", threads_naive),
    ("ProcessPoolExecutor initializer", processes_initializer),
    ("interp naive", interp_naive),
    ("interp shared=", interp_shared),
    ("interp memoryview", interp_memoryview),
    ("interp frozen", interp_frozen),
]


class Problem:
    """The inputs every day-6 variant shares."""

    def __init__(self, start, grid, nodes, workers):
        self.start = start
        self.grid = grid
        self.size = len(grid)
        self.nodes = nodes
        self.workers = workers
        flat = bytearray(cell for row in grid for cell in row)
        self.view = memoryview(flat)


# --------------------------------------------------------------------------
# Tiny tasks.


# Calls per measurement: (interp, the others); --quick takes a tenth.
TINY_SIZES = {
    "round_trip": (20_000, 2_000),
    "submit": (100_000, 20_000),
    "map": (1_000_000, 20_000),
}


def tiny_sizes(quick):
    """{system: {measurement: calls}} for the tiny-task benchmark."""
    k = 10 if quick else 1
    fast = {key: n // k for key, (n, _) in TINY_SIZES.items()}
    slow = {key: n // k for key, (_, n) in TINY_SIZES.items()}
    return {"IPE": slow, "ThreadPoolExecutor": slow, "ProcessPoolExecutor": slow, "interp": fast}


def _tiny_executors(workers, systems=None):
    out = []
    out.append(("IPE", (lambda: IPE(workers)) if IPE else None, None if IPE else "no InterpreterPoolExecutor before 3.14"))
    out.append(("ThreadPoolExecutor", lambda: ThreadPoolExecutor(workers), None))
    out.append(("ProcessPoolExecutor", lambda: process_pool(workers), None))
    if interp is not None:
        out.append(("interp", lambda: interp.InterpreterPoolExecutor(workers), None))
    else:
        out.append(("interp", None, INTERP_MISSING))
    if systems is not None:
        out = [entry for entry in out if entry[0] in systems]
    return out


def _round_trip(ex, n):
    f = work.identity
    times = []
    clock = time.perf_counter
    for i in range(n):
        t0 = clock()
        got = ex.submit(f, i).result()
        times.append(clock() - t0)
        if got != i:
            raise AssertionError(f"identity({i}) returned {got!r}")
    return statistics.median(times) * 1e6


def _submit_rate(ex, n):
    f = work.identity
    t0 = time.perf_counter()
    futures = [ex.submit(f, i) for i in range(n)]
    total = sum(fut.result() for fut in futures)
    dt = time.perf_counter() - t0
    if total != n * (n - 1) // 2:
        raise AssertionError(f"submit: results sum to {total}, expected {n * (n - 1) // 2}")
    return n / dt


def _map_rate(ex, n):
    t0 = time.perf_counter()
    total = sum(ex.map(work.identity, range(n), chunksize=1024))
    dt = time.perf_counter() - t0
    if total != n * (n - 1) // 2:
        raise AssertionError(f"map: results sum to {total}, expected {n * (n - 1) // 2}")
    return n / dt


# --------------------------------------------------------------------------
# Driver.


def _stats(values):
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "values": values,
    }


def _ratio(a, b):
    return None if not a or not b else a / b


def _fmt_ratio(x):
    return "–" if x is None else f"{x:.2f}x"


def _fmt_rate(x):
    return f"{x / 1e3:,.1f}k" if x < 1e6 else f"{x / 1e6:,.2f}M"


def run_day6(args, problem, reps, results):
    variants = [(name, fn) for name, fn in DAY6 if args.only is None or name in args.only]
    expected = None
    total = len(variants) * reps
    step = 0
    out = {name: {"times": [], "counts": [], "cpu": []} for name, _ in variants}
    skipped = {}
    failed = {}
    for rep in range(reps):
        for name, fn in variants:
            step += 1
            if name in skipped or name in failed:
                continue
            t0 = time.perf_counter()
            c0 = process_cpu()
            try:
                count = fn(problem)
            except Unavailable as exc:
                skipped[name] = str(exc)
                progress(f"[day6 {step}/{total}] {name}: skipped ({exc})")
                continue
            except Exception as exc:
                failed[name] = f"{type(exc).__name__}: {exc}"
                progress(f"[day6 {step}/{total}] {name}: FAILED ({failed[name]})")
                continue
            dt = time.perf_counter() - t0
            out[name]["cpu"].append(process_cpu() - c0)
            out[name]["times"].append(dt)
            out[name]["counts"].append(count)
            if name == "serial":
                expected = count
            progress(f"[day6 {step}/{total}] {name} rep {rep + 1}/{reps}: {dt:.2f} s, {count} loops")
    mismatches = []
    serial_median = statistics.median(out["serial"]["times"]) if out.get("serial", {}).get("times") else None
    ipe = out.get("IPE naive", {}).get("times")
    ipe_median = statistics.median(ipe) if ipe else None
    for name, _ in variants:
        if name in skipped:
            results[name] = {"skipped": skipped[name]}
            continue
        if name in failed:
            results[name] = {"error": failed[name]}
            mismatches.append(f"{name} failed: {failed[name]}")
            continue
        entry = _stats(out[name]["times"])
        entry["loops"] = out[name]["counts"][0]
        entry["cpu"] = _stats(out[name]["cpu"])
        if expected is not None and any(c != expected for c in out[name]["counts"]):
            mismatches.append(f"{name}: {out[name]['counts']} loops, serial found {expected}")
        entry["vs_serial"] = _ratio(serial_median, entry["median"])
        entry["vs_ipe_naive"] = _ratio(ipe_median, entry["median"])
        results[name] = entry
    return mismatches


def run_tiny(args, all_sizes, reps, results, systems=None):
    """Tiny tasks on each system (``systems``: a subset of names, default all)."""
    errors = []
    systems = _tiny_executors(args.workers, systems)
    total = len(systems) * reps
    step = 0
    for name, make, missing in systems:
        sizes = all_sizes[name]
        if make is None:
            results[name] = {"skipped": missing}
            progress(f"[tiny] {name}: skipped ({missing})")
            continue
        rt, sub, mp, sub_cpu = [], [], [], []
        ex = make()
        try:
            # Start every worker and warm the function cache.
            for fut in [ex.submit(work.identity, i) for i in range(4 * args.workers)]:
                fut.result()
            for rep in range(reps):
                step += 1
                rt.append(_round_trip(ex, sizes["round_trip"]))
                c0 = process_cpu()
                sub.append(_submit_rate(ex, sizes["submit"]))
                sub_cpu.append((process_cpu() - c0) / sizes["submit"] * 1e6)
                mp.append(_map_rate(ex, sizes["map"]))
                progress(
                    f"[tiny {step}/{total}] {name} rep {rep + 1}/{reps}: round trip {rt[-1]:.1f} µs, "
                    f"submit {_fmt_rate(sub[-1])}/s, map {_fmt_rate(mp[-1])}/s"
                )
        except Exception as exc:
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            results[name] = {"error": f"FAILED: {type(exc).__name__}: {exc}"}
            progress(f"[tiny] {name}: FAILED ({type(exc).__name__}: {exc})")
            continue
        finally:
            ex.shutdown(wait=True)
        results[name] = {
            "round_trip_us": _stats(rt),
            "submit_per_s": _stats(sub),
            # CPU µs the whole process (workers included, if they are threads) spent per submitted task.
            "submit_cpu_us": _stats(sub_cpu),
            "map_per_s": _stats(mp),
        }
    tiny_ratios(results)
    return errors


def tiny_ratios(results):
    """Adds vs_ipe/vs_threads to every measured entry of ``results``."""
    ipe = results.get("IPE", {})
    tpe = results.get("ThreadPoolExecutor", {})
    for name, entry in results.items():
        if "round_trip_us" not in entry:
            continue
        for key, inverse in (("round_trip_us", True), ("submit_per_s", False), ("map_per_s", False)):
            for peer_name, peer in (("ipe", ipe), ("threads", tpe)):
                if key in peer:
                    a, b = entry[key]["median"], peer[key]["median"]
                    entry[key][f"vs_{peer_name}"] = _ratio(b, a) if inverse else _ratio(a, b)


def print_tables(meta, day6, tiny):
    if day6:
        print_day6(meta, day6)
    if tiny:
        print_tiny(meta, tiny)


def print_day6(meta, day6):
    g = meta["grid"]
    print(
        f"## Day 6: {g['size']}x{g['size']} grid, {g['obstacles']} obstacles, "
        f"{g['candidates']} candidates, {meta['workers']} workers, {meta['reps']} reps, "
        f"CPython {meta['python']}\n"
    )
    print("| variant | median s | min s | max s | loops | vs serial | vs IPE naive |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, e in day6.items():
        if "skipped" in e or "error" in e:
            what = f"skipped: {e['skipped']}" if "skipped" in e else f"FAILED: {e['error']}"
            print(f"| {name} | {what} | | | | | |")
            continue
        print(
            f"| {name} | {e['median']:.3f} | {e['min']:.3f} | {e['max']:.3f} | {e['loops']} | "
            f"{_fmt_ratio(e['vs_serial'])} | {_fmt_ratio(e['vs_ipe_naive'])} |"
        )
    print("\n(vs X: X's median time / this median time; above 1 is faster.)\n")


def print_tiny(meta, tiny):
    counts = "; ".join(
        f"{name} {s['round_trip']}/{s['submit']}/{s['map']}" for name, s in meta["tiny_sizes"].items()
    )
    print(
        f"## Tiny task f(x)=x: {meta['workers']} workers, {meta['reps']} reps, CPython {meta['python']}; "
        f"calls per rep (round trip/submit+result/map): {counts}\n"
    )
    print(
        "| system | round trip µs median (min–max) | vs IPE | submit+result /s median (min–max) "
        "| vs IPE | vs threads | map(chunksize=1024) /s median (min–max) | vs IPE |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, e in tiny.items():
        if "round_trip_us" not in e:
            print(f"| {name} | {e.get('skipped') or e.get('error')} | | | | | | |")
            continue
        rt, sub, mp = e["round_trip_us"], e["submit_per_s"], e["map_per_s"]
        print(
            f"| {name} | {rt['median']:.1f} ({rt['min']:.1f}–{rt['max']:.1f}) | {_fmt_ratio(rt.get('vs_ipe'))} "
            f"| {_fmt_rate(sub['median'])} ({_fmt_rate(sub['min'])}–{_fmt_rate(sub['max'])}) "
            f"| {_fmt_ratio(sub.get('vs_ipe'))} | {_fmt_ratio(sub.get('vs_threads'))} "
            f"| {_fmt_rate(mp['median'])} ({_fmt_rate(mp['min'])}–{_fmt_rate(mp['max'])}) "
            f"| {_fmt_ratio(mp.get('vs_ipe'))} |"
        )
    print("\n(round trip: vs IPE is IPE's µs / this µs; rates: this rate / the peer's.)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a subset of the candidates and fewer tiny tasks: under a minute")
    parser.add_argument("--workers", type=int, default=2, help="workers per executor (default 2)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per measurement (default 5; at least 5 for the medians)")
    parser.add_argument("--seed", type=int, default=2024, help="grid seed (default 2024)")
    parser.add_argument("--candidates", type=int, help="how many path cells to test (default: all; --quick: 300)")
    parser.add_argument("--json", help="where to write the JSON (default <repo>/target/bench-python.json)")
    parser.add_argument("--only", action="append", help="run only this day-6 variant (repeatable; serial always runs)")
    parser.add_argument("--no-tiny", action="store_true", help="skip the tiny-task benchmark")
    parser.add_argument("--no-day6", action="store_true", help="skip the day-6 benchmark")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.reps < 1:
        parser.error("--workers and --reps must be at least 1")
    if args.only is not None:
        known = {name for name, _ in DAY6}
        unknown = [n for n in args.only if n not in known]
        if unknown:
            parser.error(f"unknown variant(s) {unknown}; known: {sorted(known)}")
        args.only = set(args.only) | {"serial"}
    json_path = args.json or os.path.join(HERE, "..", "..", "target", "bench-python.json")

    progress(f"generating the grid (seed {args.seed})")
    t0 = time.perf_counter()
    start, grid, path = generate(args.seed)
    nodes = path[1:]
    limit = args.candidates or (300 if args.quick else None)
    if limit is not None and limit < len(nodes):
        # An even spread along the path, so the subset keeps the mix.
        nodes = [nodes[i * len(nodes) // limit] for i in range(limit)]
    progress(f"grid ready in {time.perf_counter() - t0:.2f} s: path {len(path)} cells, {len(nodes)} candidates")
    sizes = tiny_sizes(args.quick)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "workers": args.workers,
        "reps": args.reps,
        "seed": args.seed,
        "quick": args.quick,
        "interp": None if interp is None else getattr(interp, "__version__", "importable"),
        "grid": {
            "size": len(grid),
            "obstacles": sum(map(sum, grid)),
            "start": start,
            "path_cells": len(path),
            "candidates": len(nodes),
        },
        "tiny_sizes": sizes,
        "timing": "day 6: the whole with-block, executor start and shutdown included; tiny: a started, warmed executor",
    }
    day6, tiny, errors = {}, {}, []
    if not args.no_day6:
        errors += run_day6(args, Problem(start, grid, nodes, args.workers), args.reps, day6)
    if not args.no_tiny:
        errors += run_tiny(args, sizes, args.reps, tiny)
    report = {"meta": meta, "day6": day6, "tiny": tiny, "errors": errors}
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    with open(json_path, "w") as f:
        json.dump(report, f, indent=1)
    print_tables(meta, day6, tiny)
    progress(f"JSON written to {os.path.abspath(json_path)}")
    if errors:
        for e in errors:
            progress(f"ERROR: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
