#!/usr/bin/env python3
"""``make bench``: every system side by side, one run, one CPython.

Sections (each prints a progress line per step on stderr):

  tiny     f(x)=x: round trip, submit+result throughput, map throughput, from
           Python for IPE, ThreadPoolExecutor, ProcessPoolExecutor and interp's
           Python front (day6.run_tiny), and from Rust for interp's native API
           (interp-pool's ``bench`` example with ``--json``)
  day6     the day-6 shaped workload (day6.py: seeded grid, ~5,000-cell path):
           serial and every executor naive / initializer or shared= /
           memoryview / frozen (day6.run_day6)
  scaling  CPU-bound ``burn`` on 1..N workers (N = cores): efficiency
           T(1 worker, k tasks) / T(n workers, n*k tasks), 100% is perfect
  startup  executor start to first result, in a fresh process per repetition,
           next to creating one interpreter; RSS per idle worker (8 workers)
  async    coroutines (aio_bench.py's measurements): tiny ones (`async def
           f(x): return x`), time per item of one batched map and throughput,
           and sleeping ones (2,000 x asyncio.sleep(0.05)), wall time against
           the ideal; interp.aio (chunksize 1 and 256), aiomultiprocess (when
           installed) and asyncio.gather in one loop

ThreadPoolExecutor on a free-threaded 3.14t (``scripts/bootstrap.sh
--free-threaded``) joins the tiny, day6 and scaling sections when that build
exists (this script re-runs itself there with ``--_ft``); else the rows say
it was skipped.

Writes JSON (default target/bench/bench.json), a markdown table per section
on stdout, and PNG charts per section (matplotlib, when importable) next to
the JSON.

  bench.py [--quick] [--reps N] [--workers N] [--json PATH] [--sections a,b]
  bench.py --demo     the quick day-6 run, all systems, ending with the table
  bench.py --guard    the CI regression guard: ratios measured in one run
                      must stay within bounds (GUARD); never absolute times
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import day6  # noqa: E402
import day6_work as work  # noqa: E402
import startup  # noqa: E402
from day6 import interp, progress  # noqa: E402
from startup import FT, IDLE_WORKERS  # noqa: E402

SECTIONS = ("tiny", "day6", "scaling", "startup", "async")

# Upper bound for a child run (the 3.14t rows, the Rust example with its
# first release build): only so that nothing hangs forever.
CHILD_TIMEOUT = 3600


# The CI guard: (what, section, row, metric, peer row, minimum ratio). Each
# ratio compares two systems measured in the same run, and the bounds are
# generous, so that the guard holds while both cores are busy with other
# processes. Submit and day 6 compare the CPU time the process spent (its
# worker threads included), not wall time: with the cores taken by others,
# wall time measures the scheduler. At a load average of 24 on 2 cores the
# submit throughput ratio swung from 4.8x to 19x between two runs while CPU
# per task stayed at 14-16x; map throughput 93-190x; day-6 CPU 2.3x (its wall
# time ratio 0.9-1.5x).
GUARD = [
    ("interp CPU per submitted task vs IPE's (tiny task, Python front)", "tiny", "interp", "submit_cpu_us", "IPE", 8.0),
    ("interp map throughput vs IPE's (tiny task, Python front)", "tiny", "interp", "map_per_s", "IPE", 20.0),
    ("interp naive vs IPE naive (day 6, CPU seconds of the process)", "day6", "interp naive", "cpu", "IPE naive", 1.5),
]


def _stats(values):
    return day6._stats(list(values))


def _sh_quote(args):
    return " ".join(args)


# --------------------------------------------------------------------------
# The free-threaded build.


def ft_python():
    """(path, None) of a finished free-threaded 3.14t build, or (None, why not)."""
    path = os.environ.get("INTERP_FT_PYTHON")
    if path:
        return (path, None) if os.access(path, os.X_OK) else (None, f"INTERP_FT_PYTHON={path} is not executable")
    cache = os.environ.get("INTERP_CACHE") or os.path.expanduser("~/.cache/interp")
    prefix = os.path.join(cache, "cpython-3.14.7t")
    exe = os.path.join(prefix, "bin", "python3.14t")
    if os.access(exe, os.X_OK) and os.path.exists(os.path.join(prefix, ".interp-complete")):
        return exe, None
    return None, f"no free-threaded build in {prefix}: run scripts/bootstrap.sh --free-threaded (about 10 minutes)"


def run_ft_child(args, sections):
    """Runs this script on the free-threaded build for ThreadPoolExecutor's
    rows; returns its JSON, or {"skipped": why}."""
    exe, why = ft_python()
    if exe is None:
        return {"skipped": why}
    out = os.path.join(os.path.dirname(args.json), "bench-ft.json")
    cmd = [exe, os.path.abspath(__file__), "--_ft", "--json", out, "--reps", str(args.reps),
           "--workers", str(args.workers), "--sections", ",".join(sections), "--seed", str(args.seed)]
    if args.quick:
        cmd.append("--quick")
    if args.candidates:
        cmd += ["--candidates", str(args.candidates)]
    progress(f"[3.14t] {_sh_quote(cmd)}")
    try:
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"the 3.14t run took over {CHILD_TIMEOUT} s and was stopped"}
    if proc.returncode != 0:
        return {"error": f"{exe} exited with {proc.returncode} (its progress lines are above)"}
    with open(out) as f:
        return json.load(f)


# --------------------------------------------------------------------------
# Tiny tasks from Rust (interp-pool's bench example).


def run_rust(args):
    """interp's native pool figures: tiny tasks, start-up, RSS per idle worker."""
    cmd = [os.path.join(REPO, "scripts", "example.sh"), "-p", "interp-pool", "bench", str(args.workers),
           "--json", "--runs", str(args.reps)]
    if args.quick:
        cmd.append("--quick")
    progress(f"[rust] {_sh_quote(cmd)} (builds the example in release mode the first time)")
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO, timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"{' '.join(cmd)} took over {CHILD_TIMEOUT} s and was stopped"}
    if proc.returncode != 0:
        return {"error": f"{' '.join(cmd)} exited with {proc.returncode} (stderr above)"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": f"no JSON line in the output of {' '.join(cmd)}: {proc.stdout[-300:]!r}"}
    raw = json.loads(lines[-1])
    out = {"calls": raw["calls"], "idle_workers": raw["idle_workers"]}
    for key in ("round_trip_us", "submit_per_s", "map_per_s", "create_one_interpreter_ms",
                "startup_to_first_result_ms", "rss_per_idle_worker_mib"):
        out[key] = _stats(raw[key])
    progress(
        f"[rust] round trip {out['round_trip_us']['median']:.1f} µs, submit {day6._fmt_rate(out['submit_per_s']['median'])}/s, "
        f"map {day6._fmt_rate(out['map_per_s']['median'])}/s, start-up {out['startup_to_first_result_ms']['median']:.1f} ms"
    )
    return out


# --------------------------------------------------------------------------
# Scaling.


def run_scaling(args, systems, results):
    """Weak scaling: with n workers, TASKS_PER_WORKER * n tasks of ``burn``;
    efficiency(n) = median T(1) / median T(n)."""
    per_worker = 4
    size = 300_000 if args.quick else 1_000_000
    cores = os.cpu_count() or 1
    counts = list(range(1, cores + 1))
    errors = []
    for name in systems:
        times = {n: [] for n in counts}
        try:
            for n in counts:
                with startup.executor(name, n) as ex:
                    list(ex.map(work.burn, [10] * (4 * n)))  # start and warm every worker
                    for rep in range(args.reps):
                        t0 = time.perf_counter()
                        list(ex.map(work.burn, [size] * (per_worker * n)))
                        times[n].append(time.perf_counter() - t0)
                progress(f"[scaling] {name} {n} worker(s): median {statistics.median(times[n]):.3f} s")
        except (day6.Unavailable, startup.Unavailable) as exc:
            results[name] = {"skipped": str(exc)}
            progress(f"[scaling] {name}: skipped ({exc})")
            continue
        except Exception as exc:
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            errors.append(f"scaling {name}: {type(exc).__name__}: {exc}")
            continue
        base = statistics.median(times[1])
        results[name] = {
            "tasks_per_worker": per_worker,
            "burn": size,
            "workers": {str(n): dict(_stats(times[n]), efficiency=base / statistics.median(times[n])) for n in counts},
        }
    return errors


# --------------------------------------------------------------------------
# Start-up and RSS, each repetition in a fresh process.

def run_startup(args, systems, results):
    errors = []
    for name in systems:
        reps = []
        for rep in range(args.reps):
            cmd = [sys.executable, os.path.join(HERE, "startup.py"), name, str(args.workers)]
            try:
                proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
            except subprocess.TimeoutExpired:
                proc = subprocess.CompletedProcess(cmd, -1, "", "the start-up child took over 300 s and was stopped")
            if proc.returncode != 0:
                why = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
                results[name] = {"skipped" if "Unavailable" in why else "error": why}
                if "Unavailable" not in why:
                    errors.append(f"startup {name}: {why}")
                progress(f"[startup] {name}: {why}")
                break
            reps.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            r = reps[-1]
            progress(
                f"[startup] {name} rep {rep + 1}/{args.reps}: first result after {r['startup_to_first_result_ms']:.1f} ms, "
                f"RSS {r['rss_per_idle_worker_mib']:.2f} MiB per idle worker"
            )
        else:
            entry = {
                key: _stats([r[key] for r in reps])
                for key in ("startup_to_first_result_ms", "rss_per_idle_worker_mib")
            }
            firsts = [r["rss_first_executor_mib"] for r in reps if "rss_first_executor_mib" in r]
            if firsts:
                entry["rss_first_executor_mib"] = _stats(firsts)
            ones = [r["create_one_interpreter_ms"] for r in reps if r["create_one_interpreter_ms"] is not None]
            if ones:
                entry["create_one_interpreter_ms"] = _stats(ones)
                entry["vs_one_interpreter"] = entry["startup_to_first_result_ms"]["median"] / statistics.median(ones)
            if "rss_note" in reps[0]:
                entry["rss_note"] = reps[0]["rss_note"]
            results[name] = entry
    return errors


# --------------------------------------------------------------------------
# Async: interp.aio vs aiomultiprocess vs one asyncio loop (aio_bench.py's
# measurements).


def async_sizes(quick):
    """(tiny coroutines per map, sleeping coroutines per map, seconds each sleeps)."""
    return (5_000 if quick else 20_000), 2_000, 0.05


ASYNC_CHILDCONCURRENCY = 256
ASYNC_CHUNKSIZE = 256


def run_async(args, results):
    """Tiny coroutines (per-item time batched, throughput) and sleeping
    coroutines (wall time against the ideal), on interp.aio (chunksize 1
    and chunked), aiomultiprocess and asyncio.gather in one loop."""
    import asyncio

    import aio_bench

    if aio_bench.AIO_MISSING:
        results["skipped"] = aio_bench.AIO_MISSING
        progress(f"[async] skipped: {aio_bench.AIO_MISSING}")
        return []
    n, sleep_n, delay = async_sizes(args.quick)
    chunk = aio_bench.chunked(ASYNC_CHUNKSIZE)
    results["meta"] = {
        "tiny_n": n, "sleep_n": sleep_n, "sleep_s": delay, "workers": args.workers,
        "childconcurrency": ASYNC_CHILDCONCURRENCY, "chunksize": ASYNC_CHUNKSIZE,
        "sleep_childconcurrency": aio_bench.sleep_concurrency(sleep_n, args.workers),
    }
    try:
        tiny = asyncio.run(aio_bench.measure_tiny(n, args.reps, args.workers, ASYNC_CHILDCONCURRENCY,
                                                  ASYNC_CHUNKSIZE, progress))
        sleep = asyncio.run(aio_bench.measure_sleep(sleep_n, delay, args.reps, args.workers, ASYNC_CHUNKSIZE, progress))
    except Exception as exc:
        results["error"] = f"FAILED: {type(exc).__name__}: {exc}"
        progress(f"[async] FAILED ({type(exc).__name__}: {exc})")
        return [f"async: {type(exc).__name__}: {exc}"]
    out_tiny = {}
    for name, secs in tiny.items():
        out_tiny[name] = {"per_item_us": _stats([t / n * 1e6 for t in secs]), "items_per_s": _stats([n / t for t in secs])}
    g = out_tiny[aio_bench.GATHER]["per_item_us"]["median"]
    peer = out_tiny.get(aio_bench.AIOMP, {}).get("items_per_s", {}).get("median")
    for name, e in out_tiny.items():
        e["vs_gather"] = e["per_item_us"]["median"] / g
        e["vs_aiomultiprocess"] = e["items_per_s"]["median"] / peer if peer else None
    out_sleep = {}
    for name, secs in sleep.items():
        out_sleep[name] = {"wall_s": _stats(secs), "ideal_s": delay, "vs_ideal": statistics.median(secs) / delay}
    if aio_bench.AIOMP_MISSING:
        out_tiny[aio_bench.AIOMP] = out_sleep[aio_bench.AIOMP] = {"skipped": aio_bench.AIOMP_MISSING}
        progress(f"[async] {aio_bench.AIOMP}: skipped ({aio_bench.AIOMP_MISSING})")
    results["tiny"] = out_tiny
    results["sleep"] = out_sleep
    results["chunked"] = chunk
    return []


def _print_table(header, entries, key, cells):
    """A markdown table: ``header`` (column names), a row per entry that has
    ``key`` (``cells(entry)`` gives its cells after the name), else the
    reason it was skipped."""
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    for name, e in entries.items():
        row = cells(e) if key in e else [e.get("skipped") or e.get("error")] + [""] * (len(header) - 2)
        print(f"| {name} | " + " | ".join(row) + " |")
    print()


def print_async(meta, a):
    if "tiny" not in a:
        print("## Async coroutines\n")
        print(f"not measured: {a.get('skipped') or a.get('error')}\n")
        return
    m = a["meta"]
    print(
        f"## Async: {m['tiny_n']:,} tiny coroutines (`async def f(x): return x`) per map, {m['workers']} workers, "
        f"childconcurrency {m['childconcurrency']}, {meta['reps']} reps\n"
    )

    def span(s, spec):
        return f"{s['median']:{spec}} ({s['min']:{spec}}–{s['max']:{spec}})"

    _print_table(
        ["system", "per item µs median (min–max)", "items/s median", "vs gather's time per item",
         "vs aiomultiprocess' throughput"],
        a["tiny"], "per_item_us",
        lambda e: [span(e["per_item_us"], ".2f"), day6._fmt_rate(e["items_per_s"]["median"]),
                   day6._fmt_ratio(e["vs_gather"]), day6._fmt_ratio(e["vs_aiomultiprocess"])],
    )
    print(
        f"## Async: {m['sleep_n']:,} coroutines sleeping {m['sleep_s']} s per map (ideal {m['sleep_s']} s: all at once), "
        f"{m['workers']} workers, childconcurrency {m['sleep_childconcurrency']}, {meta['reps']} reps\n"
    )
    _print_table(["system", "wall s median (min–max)", "vs ideal"], a["sleep"], "wall_s",
                 lambda e: [span(e["wall_s"], ".3f"), day6._fmt_ratio(e["vs_ideal"])])


# --------------------------------------------------------------------------
# Tables and charts.


def _fmt(x, spec=".2f"):
    return "–" if x is None else format(x, spec)


def print_rust(meta, rust, py_tiny):
    print(f"## Tiny task f(x)=x from Rust (interp's native API), {meta['workers']} workers, {meta['reps']} reps\n")
    if "error" in rust or "skipped" in rust:
        print(f"not measured: {rust.get('error') or rust.get('skipped')}\n")
        return
    ipe = py_tiny.get("IPE", {})
    print("| measurement | median (min–max) | vs IPE (from Python) |")
    print("|---|---:|---:|")
    for key, label, inverse in (
        ("round_trip_us", "round trip µs", True),
        ("submit_per_s", "submit+wait /s", False),
        ("map_per_s", "map (chunk 4096) /s", False),
    ):
        s = rust[key]
        peer = ipe.get(key, {}).get("median")
        ratio = None if not peer else (peer / s["median"] if inverse else s["median"] / peer)
        fmt = (lambda v: f"{v:.1f}") if inverse else day6._fmt_rate
        print(f"| {label} | {fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])}) | {day6._fmt_ratio(ratio)} |")
    print()


def print_scaling(meta, scaling):
    cores = meta["cpus"]
    print(f"## CPU-bound scaling: 4 tasks of burn() per worker, efficiency = T(1) / T(n), {meta['reps']} reps\n")
    cols = list(range(1, cores + 1))
    print("| system | " + " | ".join(f"{n} worker{'s' if n > 1 else ''}: s median (min–max), efficiency" for n in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for name, e in scaling.items():
        if "workers" not in e:
            print(f"| {name} | {e.get('skipped') or e.get('error')} |" + " |" * (len(cols) - 1))
            continue
        cells = []
        for n in cols:
            w = e["workers"][str(n)]
            cells.append(f"{w['median']:.3f} ({w['min']:.3f}–{w['max']:.3f}), {w['efficiency'] * 100:.0f}%")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()


def print_startup(meta, startup, rust):
    print(
        f"## Start-up to first result ({meta['workers']} workers) and RSS per idle worker "
        f"({IDLE_WORKERS} workers, after a first 1-worker executor paid the one-off costs), "
        f"a fresh process per rep, {meta['reps']} reps\n"
    )
    print("| system | start-up ms median (min–max) | one interpreter ms | start-up / one interpreter "
          "| RSS MiB per idle worker median (min–max) | first executor (imports + 1 worker) MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = list(startup.items())
    if "startup_to_first_result_ms" in rust:
        rows.append(("interp (Rust API; RSS: pools of 8 built in turn, f(x)=x)", {
            "startup_to_first_result_ms": rust["startup_to_first_result_ms"],
            "create_one_interpreter_ms": rust["create_one_interpreter_ms"],
            "vs_one_interpreter": rust["startup_to_first_result_ms"]["median"] / rust["create_one_interpreter_ms"]["median"],
            "rss_per_idle_worker_mib": rust["rss_per_idle_worker_mib"],
        }))
    for name, e in rows:
        if "startup_to_first_result_ms" not in e:
            print(f"| {name} | {e.get('skipped') or e.get('error')} | | | | |")
            continue
        s, r = e["startup_to_first_result_ms"], e["rss_per_idle_worker_mib"]
        one = e.get("create_one_interpreter_ms", {}).get("median")
        note = f" ({e['rss_note']})" if "rss_note" in e else ""
        print(
            f"| {name} | {s['median']:.1f} ({s['min']:.1f}–{s['max']:.1f}) | {_fmt(one, '.1f')} "
            f"| {day6._fmt_ratio(e.get('vs_one_interpreter'))} | {r['median']:.2f} ({r['min']:.2f}–{r['max']:.2f}){note} "
            f"| {_fmt(e.get('rss_first_executor_mib', {}).get('median'), '.2f')} |"
        )
    print()


def draw_charts(report, outdir):
    """One PNG per section, systems side by side; returns the paths."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        progress(f"charts: skipped (matplotlib is not importable: {exc}; `make bench` installs it)")
        return []
    os.makedirs(outdir, exist_ok=True)
    paths = []
    title = f"CPython {report['meta']['python']}, {report['meta']['workers']} workers, {report['meta']['cpus']} cores"

    def bars(ax, names, stats, label, log=False):
        med = [s["median"] for s in stats]
        lo = [s["median"] - s["min"] for s in stats]
        hi = [s["max"] - s["median"] for s in stats]
        ax.barh(names, med, xerr=[lo, hi], color="tab:blue", ecolor="black", capsize=3)
        ax.invert_yaxis()
        ax.set_xlabel(label)
        if log:
            ax.set_xscale("log")
        for y, (v, top) in enumerate(zip(med, (s["max"] for s in stats))):
            ax.text(top, y, f"  {v:,.3g}", va="center", fontsize=8)

    def save(fig, name):
        path = os.path.join(outdir, name)
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)

    tiny = {k: v for k, v in report.get("tiny", {}).items() if "round_trip_us" in v}
    rust = report.get("rust", {})
    if "round_trip_us" in rust:
        tiny["interp (Rust API)"] = rust
    if tiny:
        fig, axes = plt.subplots(1, 3, figsize=(15, 0.6 * len(tiny) + 1.8))
        for ax, (key, label) in zip(axes, (("round_trip_us", "round trip µs (lower is better)"),
                                           ("submit_per_s", "submit+result tasks/s"),
                                           ("map_per_s", "map tasks/s"))):
            bars(ax, list(tiny), [e[key] for e in tiny.values()], label, log=True)
        fig.suptitle(f"Tiny task f(x)=x — {title}")
        save(fig, "tiny.png")
    d6 = {k: v for k, v in report.get("day6", {}).items() if "median" in v}
    if d6:
        fig, ax = plt.subplots(figsize=(9, 0.45 * len(d6) + 1.5))
        bars(ax, [f"{k} ({day6._fmt_ratio(v.get('vs_serial'))} serial)" for k, v in d6.items()], list(d6.values()),
             "seconds, executor start and shutdown included (lower is better)")
        g = report["meta"]["grid"]
        fig.suptitle(f"Day 6: {g['candidates']} candidates on a {g['size']}x{g['size']} grid — {title}", fontsize=10)
        save(fig, "day6.png")
    sc = {k: v for k, v in report.get("scaling", {}).items() if "workers" in v}
    if sc:
        fig, ax = plt.subplots(figsize=(7, 4))
        for name, e in sc.items():
            ns = sorted(int(n) for n in e["workers"])
            ax.plot(ns, [e["workers"][str(n)]["efficiency"] * 100 for n in ns], marker="o", label=name)
        ax.axhline(90, color="grey", linestyle="--", linewidth=1, label="target 90%")
        ax.set_xticks(ns)
        ax.set_xlabel("workers")
        ax.set_ylabel("efficiency % (T(1) / T(n), weak scaling)")
        ax.set_ylim(0, 110)
        ax.legend(fontsize=8)
        fig.suptitle(f"CPU-bound scaling — {title}", fontsize=10)
        save(fig, "scaling.png")
    st = {k: v for k, v in report.get("startup", {}).items() if "startup_to_first_result_ms" in v}
    if "startup_to_first_result_ms" in rust:
        st["interp (Rust API)"] = rust
    if st:
        fig, axes = plt.subplots(1, 2, figsize=(12, 0.55 * len(st) + 1.8))
        bars(axes[0], list(st), [e["startup_to_first_result_ms"] for e in st.values()], "start-up to first result, ms", log=True)
        bars(axes[1], list(st), [e["rss_per_idle_worker_mib"] for e in st.values()], f"RSS MiB per idle worker ({IDLE_WORKERS} workers)")
        fig.suptitle(f"Start-up and memory — {title}", fontsize=10)
        save(fig, "startup.png")
    a = report.get("async", {})
    at = {k: v for k, v in a.get("tiny", {}).items() if "per_item_us" in v}
    asl = {k: v for k, v in a.get("sleep", {}).items() if "wall_s" in v}
    if at and asl:
        m = a["meta"]
        fig, axes = plt.subplots(1, 2, figsize=(13, 0.55 * len(at) + 1.8))
        bars(axes[0], list(at), [e["per_item_us"] for e in at.values()],
             f"{m['tiny_n']:,} tiny coroutines: µs per item (lower is better)", log=True)
        bars(axes[1], list(asl), [e["wall_s"] for e in asl.values()],
             f"{m['sleep_n']:,} x asyncio.sleep({m['sleep_s']}): wall s (ideal {m['sleep_s']} s, dashed)")
        axes[1].axvline(m["sleep_s"], color="grey", linestyle="--", linewidth=1)
        fig.suptitle(f"Async coroutines — {title}", fontsize=10)
        save(fig, "async.png")
    return paths


def targets(report):
    """Issue 13's targets against this run: [(target, figure, met or None)]."""
    rows = []
    tiny = report.get("tiny", {})
    rust = report.get("rust", {})
    ipe = tiny.get("IPE", {})

    def ratio(entry, key, inverse):
        a, b = entry.get(key, {}).get("median"), ipe.get(key, {}).get("median")
        if not a or not b:
            return None
        return b / a if inverse else a / b

    for who, entry, need in (("the Python front", tiny.get("interp", {}), 10), ("Rust", rust, 100)):
        for key, label, inverse in (("round_trip_us", "round trip", True), ("submit_per_s", "submit throughput", False),
                                    ("map_per_s", "map throughput", False)):
            r = ratio(entry, key, inverse)
            rows.append((f"tiny tasks via {who} >= {need}x IPE: {label}", day6._fmt_ratio(r), None if r is None else r >= need))
    naive = report.get("day6", {}).get("interp naive", {})
    r = naive.get("vs_serial")
    rows.append((f"day-6 naive >= 1.9x serial on {report['meta']['workers']} workers", day6._fmt_ratio(r), None if r is None else r >= 1.9))
    r = report.get("day6", {}).get("IPE naive", {}).get("vs_serial")
    rows.append(("(IPE naive vs serial, for reference; the issue says about 0.3x)", day6._fmt_ratio(r), None))
    cores = str(report["meta"]["cpus"])
    for name in ("interp", "IPE", "ProcessPoolExecutor", "ThreadPoolExecutor", FT):
        e = report.get("scaling", {}).get(name, {}).get("workers", {}).get(cores)
        if e:
            eff = e["efficiency"]
            rows.append((f"scaling efficiency >= 90% at N = {cores} cores: {name}", f"{eff * 100:.0f}%",
                         (eff >= 0.9) if name == "interp" else None))
    st = report.get("startup", {}).get("interp", {})
    if "vs_one_interpreter" in st:
        r = st["vs_one_interpreter"]
        rows.append(("start-up <= 1.5x one interpreter's creation: Python front", f"{r:.2f}x", r <= 1.5))
    if "startup_to_first_result_ms" in rust:
        r = rust["startup_to_first_result_ms"]["median"] / rust["create_one_interpreter_ms"]["median"]
        rows.append(("start-up <= 1.5x one interpreter's creation: Rust", f"{r:.2f}x", r <= 1.5))
    for who, e in (("Python front", st), ("Rust", rust)):
        if "rss_per_idle_worker_mib" in e:
            m = e["rss_per_idle_worker_mib"]["median"]
            rows.append((f"RSS <= 3 MiB per idle worker: {who}", f"{m:.2f} MiB", m <= 3))
    a = report.get("async", {})
    at = a.get("tiny", {})
    for name in (n for n in at if n.startswith("interp.aio")):
        r = at[name].get("vs_gather")
        rows.append((f"async tiny coroutines, batched: time per item <= 2x asyncio.gather in one loop: {name}",
                     day6._fmt_ratio(r), None if r is None else r <= 2))
    for name in (n for n in at if n.startswith("interp.aio")):
        r = at[name].get("vs_aiomultiprocess")
        rows.append((f"async tiny coroutines: throughput >= 20x aiomultiprocess': {name}",
                     day6._fmt_ratio(r), None if r is None else r >= 20))
    return rows


def print_targets(report):
    print("## Issue 13's targets in this run\n")
    print("| target | this run | |")
    print("|---|---:|---|")
    for what, figure, met in targets(report):
        if figure == "–":  # not measured in this run (a section left out)
            continue
        print(f"| {what} | {figure} | {'' if met is None else 'met' if met else 'MISSED'} |")
    print()


# --------------------------------------------------------------------------
# The guard.


def check_guard(report):
    """The GUARD ratios of this run: (lines, failures)."""
    lines, failures = [], []
    for what, section, row, metric, peer, minimum in GUARD:
        a = report.get(section, {}).get(row, {})
        b = report.get(section, {}).get(peer, {})
        if metric in ("time", "cpu", "submit_cpu_us"):  # lower is better
            va = a.get("median") if metric == "time" else a.get(metric, {}).get("median")
            vb = b.get("median") if metric == "time" else b.get(metric, {}).get("median")
            ratio = vb / va if va and vb else None
        else:
            va, vb = a.get(metric, {}).get("median"), b.get(metric, {}).get("median")
            ratio = va / vb if va and vb else None
        if ratio is None:
            failures.append(f"{what}: not measured ({row}: {a.get('error') or a.get('skipped') or 'missing'}; "
                            f"{peer}: {b.get('error') or b.get('skipped') or 'missing'})")
            continue
        ok = ratio >= minimum
        line = f"{'ok  ' if ok else 'FAIL'} {what}: {ratio:.1f}x (must be >= {minimum:g}x)"
        lines.append(line)
        if not ok:
            failures.append(line)
    return lines, failures


# --------------------------------------------------------------------------
# Driver.


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer calls and candidates (300), same systems")
    p.add_argument("--demo", action="store_true", help="the quick day-6 section only, all systems (make demo)")
    p.add_argument("--guard", action="store_true", help="CI: a fast subset whose ratios must stay within bounds")
    p.add_argument("--reps", type=int, help="repetitions per measurement (default 5; --demo/--guard 3)")
    p.add_argument("--workers", type=int, default=2, help="workers per executor (default 2)")
    p.add_argument("--seed", type=int, default=2024, help="grid seed (default 2024)")
    p.add_argument("--candidates", type=int, help="day-6 candidates (default all; --quick 300)")
    p.add_argument("--sections", help=f"comma-separated subset of {','.join(SECTIONS)} (default all)")
    p.add_argument("--json", help="where to write the JSON (default target/bench/bench.json, demo.json or guard.json; charts beside it)")
    p.add_argument("--no-rust", action="store_true", help="skip the Rust rows (no cargo build)")
    p.add_argument("--no-ft", action="store_true", help="skip the free-threaded 3.14t column")
    p.add_argument("--_ft", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error("--workers must be at least 1")
    if args.reps is not None and args.reps < 1:
        p.error("--reps must be at least 1")
    if args.reps is None:
        args.reps = 3 if (args.demo or args.guard) else 5
    if args.demo or args.guard:
        args.quick = True
    if args.sections:
        args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
        unknown = [s for s in args.sections if s not in SECTIONS]
        if unknown:
            p.error(f"unknown section(s) {unknown}; known: {', '.join(SECTIONS)}")
    elif args.demo:
        args.sections = ["day6"]
    elif args.guard:
        args.sections = ["tiny", "day6"]
        args.no_ft = True
        args.no_rust = True
    else:
        args.sections = list(SECTIONS)
    default = "guard.json" if args.guard else "demo.json" if args.demo else "bench.json"
    args.json = os.path.abspath(args.json or os.path.join(REPO, "target", "bench", default))
    return args


def main(argv=None):
    args = parse(argv)
    started = time.perf_counter()
    ft_child = args._ft
    errors = []
    report = {}
    cores = os.cpu_count() or 1
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpus": cores,
        "loadavg_at_start": os.getloadavg(),
        "workers": args.workers,
        "reps": args.reps,
        "quick": args.quick,
        "seed": args.seed,
        "interp": None if interp is None else getattr(interp, "__version__", "importable"),
        "command": " ".join([os.path.basename(sys.argv[0])] + (argv if argv is not None else sys.argv[1:])),
    }
    report["meta"] = meta
    if not ft_child:
        progress(f"bench: sections {', '.join(args.sections)}; {args.reps} reps; {args.workers} workers; "
                 f"{cores} cores; load average {meta['loadavg_at_start'][0]:.2f}")
    ft = {}
    if not ft_child and not args.no_ft and any(s in args.sections for s in ("tiny", "day6", "scaling")):
        ft = run_ft_child(args, [s for s in args.sections if s in ("tiny", "day6", "scaling")])
    elif not ft_child:
        ft = {"skipped": "not asked for (--no-ft)" if args.no_ft else "no section uses it"}

    sizes = day6.tiny_sizes(args.quick)
    sizes[FT] = sizes["ThreadPoolExecutor"]
    meta["tiny_sizes"] = sizes

    if "tiny" in args.sections:
        tiny = {}
        systems = ["ThreadPoolExecutor"] if ft_child else ["IPE", "ThreadPoolExecutor", "ProcessPoolExecutor", "interp"]
        if args.guard:
            systems = ["IPE", "interp"]
        errors += day6.run_tiny(args, sizes, args.reps, tiny, systems)
        if not ft_child:
            if "tiny" in ft:
                tiny[FT] = ft["tiny"].get("ThreadPoolExecutor", {"error": "missing from the 3.14t run"})
            elif not args.guard:
                tiny[FT] = {"skipped": ft.get("skipped") or ft.get("error")}
            day6.tiny_ratios(tiny)
        report["tiny"] = tiny
        if not ft_child:
            report["rust"] = {"skipped": "--no-rust"} if args.no_rust else run_rust(args)
            if "error" in report["rust"]:
                errors.append(f"rust: {report['rust']['error']}")

    if "day6" in args.sections:
        progress(f"generating the grid (seed {args.seed})")
        start, grid, path = day6.generate(args.seed)
        nodes = path[1:]
        limit = args.candidates or (300 if args.quick else None)
        if args.guard:
            limit = args.candidates or 300
        if limit is not None and limit < len(nodes):
            nodes = [nodes[i * len(nodes) // limit] for i in range(limit)]
        meta["grid"] = {"size": len(grid), "obstacles": sum(map(sum, grid)), "start": start,
                        "path_cells": len(path), "candidates": len(nodes)}
        progress(f"grid: path {len(path)} cells, {len(nodes)} candidates")
        only = None
        if ft_child:
            only = {"serial", "ThreadPoolExecutor naive"}
        elif args.guard:
            only = {"serial", "IPE naive", "interp naive"}
        args.only = only
        d6 = {}
        errors += day6.run_day6(args, day6.Problem(start, grid, nodes, args.workers), args.reps, d6)
        if not ft_child and not args.guard:
            if "day6" in ft:
                e = ft["day6"].get("ThreadPoolExecutor naive", {"error": "missing from the 3.14t run"})
                s = ft["day6"].get("serial", {})
                if "median" in e and "median" in s:
                    # Ratios against this run's serial/IPE; its own serial for reference.
                    e["vs_serial_3_14t"] = s["median"] / e["median"]
                    e["vs_serial"] = d6["serial"]["median"] / e["median"]
                    ipe = d6.get("IPE naive", {}).get("median")
                    e["vs_ipe_naive"] = ipe / e["median"] if ipe else None
                d6["serial (3.14t free-threaded)"] = s or {"skipped": "missing from the 3.14t run"}
                if "median" in s:
                    s["vs_serial"] = d6["serial"]["median"] / s["median"]
                    ipe = d6.get("IPE naive", {}).get("median")
                    s["vs_ipe_naive"] = ipe / s["median"] if ipe else None
                d6[f"{FT} naive"] = e
            else:
                d6[f"{FT} naive"] = {"skipped": ft.get("skipped") or ft.get("error")}
        report["day6"] = d6

    if "scaling" in args.sections:
        sc = {}
        systems = ["ThreadPoolExecutor"] if ft_child else ["IPE", "ThreadPoolExecutor", "ProcessPoolExecutor", "interp"]
        errors += run_scaling(args, systems, sc)
        if not ft_child:
            if "scaling" in ft:
                sc[FT] = ft["scaling"].get("ThreadPoolExecutor", {"error": "missing from the 3.14t run"})
            else:
                sc[FT] = {"skipped": ft.get("skipped") or ft.get("error")}
        report["scaling"] = sc

    if "startup" in args.sections and not ft_child:
        st = {}
        errors += run_startup(args, ["IPE", "ThreadPoolExecutor", "ProcessPoolExecutor", "interp"], st)
        report["startup"] = st
        if "rust" not in report and not args.no_rust:
            report["rust"] = run_rust(args)

    if "async" in args.sections and not ft_child:
        report["async"] = {}
        errors += run_async(args, report["async"])

    if not ft_child and isinstance(ft, dict) and ft.get("errors"):
        errors += [f"3.14t: {e}" for e in ft["errors"]]
    report["errors"] = errors
    meta["seconds"] = time.perf_counter() - started
    meta["loadavg_at_end"] = os.getloadavg()
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    if not ft_child and not args.demo and not args.guard:
        report["charts"] = draw_charts(report, os.path.dirname(args.json))
    with open(args.json, "w") as f:
        json.dump(report, f, indent=1, default=str)
    if ft_child:
        return 1 if errors else 0

    # The tables: the workload first in the demo, the table last.
    if "tiny" in report:
        day6.print_tiny(meta, report["tiny"])
        print()
        print_rust(meta, report.get("rust", {}), report["tiny"])
    if "scaling" in report:
        print_scaling(meta, report["scaling"])
    if "startup" in report:
        print_startup(meta, report["startup"], report.get("rust", {}))
    if "async" in report:
        print_async(meta, report["async"])
    if not args.demo and not args.guard:
        report["targets"] = targets(report)
        print_targets(report)
    if "day6" in report:
        day6.print_day6(meta, report["day6"])
    print(f"(load average {meta['loadavg_at_start'][0]:.2f} at the start, {meta['loadavg_at_end'][0]:.2f} at the end; "
          f"{meta['seconds']:.0f} s; {meta['date']})")
    for path in report.get("charts", []):
        progress(f"chart: {path}")
    progress(f"JSON written to {args.json}")
    status = 0
    if args.guard:
        lines, failures = check_guard(report)
        print("\n## Regression guard (ratios in this run)\n")
        for line in lines:
            print(f"    {line}")
        for f in failures:
            if f not in lines:
                print(f"    FAIL {f}")
        if failures:
            status = 1
    for e in errors:
        progress(f"ERROR: {e}")
    return 1 if errors else status


if __name__ == "__main__":
    sys.exit(main())
