"""interp inside Dask (interp.dask): the local scheduler with
``scheduler=DaskExecutor(...)`` and a ``distributed`` LocalCluster whose
worker processes run annotated tasks on interp interpreters (InterpPlugin).

Skipped, with the reason, where dask or distributed cannot be imported
(scripts/python.sh tries ``pip install dask distributed`` in each venv)."""

import os
import threading

import pytest

import interp

try:
    import dask
except ImportError as e:  # pragma: no cover - depends on the venv
    pytest.skip(f"dask is not installed ({e}); pip install interp[dask]", allow_module_level=True)

try:
    import distributed
except ImportError as e:  # pragma: no cover
    distributed = None
    DISTRIBUTED_MISSING = f"distributed is not installed ({e}); pip install interp[dask]"
else:
    DISTRIBUTED_MISSING = None

from interp.dask import PROFILER_OFF, DaskExecutor, InterpPlugin, check_profiler  # noqa: E402

import dask_helpers as h  # noqa: E402

import day6  # noqa: E402  (the benchmark's grid generator; dask_helpers put bench/ on sys.path)

LONG = h.LONG

# The profiler is turned off (PROFILER_OFF) around each distributed server
# this process starts (and, through the nannies, for its worker processes),
# not for the whole module: a test that forgets it fails as a user would.

needs_distributed = pytest.mark.skipif(distributed is None, reason=DISTRIBUTED_MISSING or "")


@pytest.fixture
def dex():
    e = DaskExecutor(2)
    yield e
    e.shutdown(wait=True, cancel_futures=True)


def day6_graph(nodes_per_task=40):
    """A small day-6 problem as a graph: the grid is one dask value shared
    by every chunk task; returns (graph, the serial answer)."""
    start, grid, path = day6.generate(2024, size=60, target=800)
    nodes = path[1:]
    serial = h.solve_many(start, nodes, grid)
    g = dask.delayed(grid, pure=True)
    parts = [
        dask.delayed(h.solve_many)(start, nodes[i : i + nodes_per_task], g)
        for i in range(0, len(nodes), nodes_per_task)
    ]
    return dask.delayed(sum)(parts), serial


# ---- the local scheduler ------------------------------------------------------


def test_local_delayed_graph_runs_functions_in_interpreters(dex):
    a = dask.delayed(h.inc)(1)
    b = dask.delayed(h.add)(a, 10)
    total = dask.delayed(sum)([a, b, dask.delayed(h.inc)(b)])
    ids = [dask.delayed(h.where)(i) for i in range(8)]
    got = dask.compute(total, ids, scheduler=dex)
    assert got[0] == 2 + 12 + 13, got
    assert all(i > 0 for i in got[1]), f"tasks ran in the main interpreter: ids {got[1]}"


def test_local_day6_graph_equals_serial(dex):
    graph, serial = day6_graph()
    got = dask.compute(graph, scheduler=dex)[0]
    assert got == serial, f"dask + interp counted {got} loops, serial {serial}"
    assert serial > 0


def test_local_containers_and_kwargs(dex):
    a = dask.delayed(h.inc)(1)
    d = dask.delayed(dict)(x=a, y=[a, (a, 5)])
    assert dask.compute(d, scheduler=dex)[0] == {"x": 2, "y": [2, (2, 5)]}


def test_local_fused_subgraph_runs_its_functions_in_interpreters(dex):
    # A linear chain fused into one task (dask's _execute_subgraph, as array
    # and bag optimizations make them): its inner tasks are resolved here,
    # their functions (a lambda among them, by value) run there.
    from dask._task_spec import _execute_subgraph, fuse_linear_task_spec
    from dask.local import get_async

    a = dask.delayed(h.inc)(1)
    b = dask.delayed(lambda x: x * 10)(a)
    c = dask.delayed(h.report)(b)
    fused = fuse_linear_task_spec(dict(c.__dask_graph__()), [c.key])
    # One fused task (and an alias from c's key to it).
    assert [getattr(t, "func", None) for t in fused.values()].count(_execute_subgraph) == 1, fused
    value, where, dask_there = get_async(dex.submit, dex._max_workers, fused, c.key)
    assert value == 20 and where > 0, (value, where)
    assert not dask_there, "the fused task ran in the interpreter as a whole (dask imported there)"


def test_local_function_arguments_travel_with_their_call(dex):
    # A lambda passed as an argument cannot be sent as interp sends values:
    # the whole call travels by value, and so does a result that holds it.
    doubled = dask.delayed(h.lazy_map)(lambda x: x * 2, [1, 2, 3])
    listed = dask.delayed(list)(doubled)
    applied = dask.delayed(h.apply)(lambda: h.where())
    got = dask.compute(listed, applied, scheduler=dex)
    assert got[0] == [2, 4, 6] and got[1] > 0, got


def test_local_lambdas_and_closures_travel_by_value(dex):
    k = 7
    closure = dask.delayed(lambda x: (x + k, h.where()))(1)
    got = dask.compute(closure, scheduler=dex)[0]
    assert got[0] == 8 and got[1] > 0, got


def test_local_unpicklable_function_is_named_in_the_error(dex):
    lock = threading.Lock()

    def holds_a_lock(x):
        with lock:
            return x

    with pytest.raises(TypeError) as info:
        dask.compute(dask.delayed(holds_a_lock)(1), scheduler=dex)
    msg = str(info.value)
    assert "holds_a_lock" in msg and "top level" in msg and "cloudpickle" in msg, msg


def test_local_exception_keeps_its_type(dex):
    with pytest.raises(h.Boom, match="boom at 2"):
        dask.compute(dask.delayed(h.boom)(dask.delayed(h.inc)(1)), scheduler=dex)


def test_given_pool_is_used_and_left_running():
    with interp.InterpreterPoolExecutor(1) as pool:
        dex = DaskExecutor(pool=pool)
        assert dex._max_workers == 1 and dex.pool is pool
        assert dask.compute(dask.delayed(h.inc)(1), scheduler=dex)[0] == 2
        dex.shutdown()
        assert pool.submit(h.inc, 2).result(timeout=LONG) == 3
        with pytest.raises(TypeError, match="pass max_workers"):
            DaskExecutor(2, pool=pool)


def test_plain_pool_as_scheduler_runs_dask_in_the_interpreter():
    # The README's contrast: dask.local's wrapper and the pickled task go to
    # the interpreter; a lambda cannot be pickled there.
    with interp.InterpreterPoolExecutor(2) as pool:
        assert dask.compute(dask.delayed(h.inc)(1), scheduler=pool)[0] == 2
        with pytest.raises(TypeError, match="lambda"):
            dask.compute(dask.delayed(lambda x: x)(1), scheduler=pool)


def test_other_callables_go_to_an_interpreter(dex):
    assert dex.submit(h.where).result(timeout=LONG) > 0
    assert dex.submit(lambda: h.where()).result(timeout=LONG) > 0


# ---- distributed ---------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    if distributed is None:
        pytest.skip(DISTRIBUTED_MISSING)
    from distributed import Client, LocalCluster

    with dask.config.set(PROFILER_OFF):
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            dashboard_address=":0",  # any free port (other clusters may hold 8787)
            death_timeout=LONG,
            # To the nannies, for the worker processes they start again
            # (they do not keep the configuration set around their start).
            config=PROFILER_OFF,
        )
    c = Client(cluster, timeout=LONG)
    try:
        c.register_plugin(InterpPlugin(max_workers=2))
        yield c
    finally:
        c.close()
        cluster.close()


def executors(c):
    return c.run(lambda dask_worker: sorted(dask_worker.executors))


@needs_distributed
def test_cluster_workers_have_the_interp_executor(client):
    got = executors(client)
    assert len(got) == 2 and all("interp" in names for names in got.values()), got


@needs_distributed
def test_cluster_day6_graph_equals_serial_and_runs_in_interpreters(client):
    with dask.annotate(executor="interp"):
        graph, serial = day6_graph()
        ids = [dask.delayed(h.where)(i) for i in range(8)]
    plain = dask.delayed(h.where)(0)  # not annotated: the worker's own threads
    got, got_ids, got_plain = client.compute([graph, ids, plain], sync=True)
    assert got == serial, f"the cluster counted {got} loops, serial {serial}"
    assert all(i > 0 for i in got_ids), f"annotated tasks ran in a main interpreter: {got_ids}"
    assert got_plain == 0, f"an unannotated task ran in interpreter {got_plain}"


@needs_distributed
def test_cluster_lambda_travels_by_value(client):
    with dask.annotate(executor="interp"):
        k = 5
        t = dask.delayed(lambda x: (x * k, h.where()))(3)
    got = client.compute(t, sync=True)
    assert got[0] == 15 and got[1] > 0, got


@needs_distributed
def test_cluster_exception_reaches_the_client_with_its_type(client):
    with dask.annotate(executor="interp"):
        t = dask.delayed(h.boom)(dask.delayed(h.inc)(41))
    f = client.compute(t)
    with pytest.raises(h.Boom, match="boom at 42"):
        f.result(timeout=LONG)
    assert isinstance(f.exception(timeout=LONG), h.Boom)


@needs_distributed
def test_cluster_worker_restart_does_not_lose_the_graph(client, tmp_path):
    gate = str(tmp_path / "go")
    with dask.annotate(executor="interp"):
        held = [dask.delayed(h.gated)(gate, i) for i in range(4)]
        pids = [dask.delayed(h.pid)(x) for x in held]
        graph, serial = day6_graph()
        total = dask.delayed(sum)(held)
    fut_total, fut_pids, fut_graph = client.compute([total, pids, graph])
    # Wait until a worker runs one of the held tasks, then restart it.
    keys = {d.key for d in held}
    victim = None

    def running():
        nonlocal victim
        for addr, ks in client.processing().items():
            if keys & set(ks):
                victim = addr
                return True
        return False

    from conftest import wait_until

    wait_until(running, "a worker runs a held task", timeout=LONG)
    old_pid = client.run(os.getpid, workers=[victim])[victim]
    client.restart_workers([victim], timeout=LONG)
    with open(gate, "w"):
        pass
    assert fut_total.result(timeout=LONG) == sum(range(4))
    assert fut_graph.result(timeout=LONG) == serial
    assert old_pid not in fut_pids.result(timeout=LONG), "a result came from the killed process"
    # The scheduler installed the plugin on the restarted worker again.
    got = executors(client)
    assert len(got) == 2 and all("interp" in names for names in got.values()), got
    with dask.annotate(executor="interp"):
        assert all(i > 0 for i in client.compute([dask.delayed(h.where)(i) for i in range(4)], sync=True))


@needs_distributed
def test_plugin_refuses_a_worker_with_the_profiler_on():
    with dask.config.set({"distributed.worker.profile.enabled": True}):
        with pytest.raises(RuntimeError, match="profiler"):
            check_profiler()
    with dask.config.set(PROFILER_OFF):
        check_profiler()

    from distributed import Client, LocalCluster

    # The worker process alone has the profiler on (the nanny hands it this
    # configuration); registering the plugin fails at the client with the
    # reason instead of the worker aborting later.
    with dask.config.set(PROFILER_OFF), LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # any free port (other clusters may hold 8787)
        config={"distributed.worker.profile.enabled": True},  # to the nanny
    ) as cluster, Client(cluster, timeout=LONG) as c:
        assert c.run(lambda: dask.config.get("distributed.worker.profile.enabled")) == {
            a: True for a in c.scheduler_info()["workers"]
        }
        with pytest.raises(RuntimeError, match="profiler.*PROFILER_OFF"):
            c.register_plugin(InterpPlugin(max_workers=1))
        assert all("interp" not in names for names in executors(c).values())


@needs_distributed
def test_in_process_worker_with_the_executor_given():
    # Worker(executor={"interp": DaskExecutor(...)}) without the plugin: the
    # scheduler, the worker and the client all in this process.
    import asyncio

    from distributed import Client, Scheduler, Worker

    async def main():
        async with Scheduler(dashboard_address=":0") as s:
            dex = DaskExecutor(2)
            async with Worker(s.address, nthreads=2, executor={"interp": dex}):
                async with Client(s.address, asynchronous=True) as c:
                    with dask.annotate(executor="interp"):
                        ids = [dask.delayed(h.where)(i) for i in range(4)]
                        total = dask.delayed(h.add)(dask.delayed(h.inc)(1), 2)
                    return await c.gather(c.compute([ids, total]))

    with dask.config.set(PROFILER_OFF):
        ids, total = asyncio.run(asyncio.wait_for(main(), LONG))
    assert total == 4 and all(i > 0 for i in ids), (ids, total)


# ---- review fixes ------------------------------------------------------------------


def test_by_value_functions_are_sent_as_they_are_at_each_call(dex):
    # A by-value function is pickled for every call: a closure's cells and a
    # callable's attributes changed since the last call are seen.
    k = 1
    f = lambda x: x + k  # noqa: E731

    class Adder:
        def __init__(self):
            self.k = 1

        def __call__(self, x):
            return x + self.k

    a = Adder()
    first = dask.compute(dask.delayed(f)(0), dask.delayed(a)(0), scheduler=dex)
    k = 100
    a.k = 100
    second = dask.compute(dask.delayed(f)(0), dask.delayed(a)(0), scheduler=dex)
    assert (first, second) == ((1, 1), (100, 100)), (first, second)


def test_by_value_results_and_exceptions_keep_their_classes(dex):
    # Classes that plain pickle cannot find by name (a local class here, a
    # client script's class on a cluster): cloudpickle carries them back.
    class Point:
        def __init__(self, x):
            self.x = x

    class LocalError(ValueError):
        pass

    def fail(x):
        raise LocalError(f"bad {x}")

    got = dask.compute(dask.delayed(lambda x: Point(x))(3), scheduler=dex)[0]
    assert type(got) is Point and got.x == 3, got
    with pytest.raises(LocalError, match="bad 4") as info:
        dask.compute(dask.delayed(fail)(4), scheduler=dex)
    assert "fail" in str(info.value.__cause__), f"no worker traceback: {info.value.__cause__!r}"
    # A result that cannot be pickled at all names the function.
    with pytest.raises(TypeError, match="result of .*lambda.*back") as info:
        dask.compute(dask.delayed(lambda: threading.Lock())(), scheduler=dex)


def test_shutdown_lets_accepted_wrappers_finish(tmp_path):
    # One thread, three wrappers (as distributed submits them): two wait in
    # the executor's queue while shutdown starts; they still run.
    from dask._task_spec import Task

    from conftest import wait_until

    gate = str(tmp_path / "go")
    for wait in (True, False):
        ex = DaskExecutor(1)
        futs = [ex.submit(h.run_task, Task(f"k{i}", h.gated, gate, i)) for i in range(3)]
        wait_until(futs[0].running, "the first wrapper runs", timeout=LONG)
        t = threading.Thread(target=ex.shutdown, kwargs={"wait": wait})
        t.start()
        wait_until(lambda: ex._threads._shutdown, "shutdown started", timeout=LONG)
        with open(gate, "w"):
            pass
        t.join(LONG)
        got = [f.result(timeout=LONG) for f in futs]
        assert got == [0, 1, 2], (wait, got)
        wait_until(lambda: ex.pool._shutdown, "the pool is shut down", timeout=LONG)
        os.remove(gate)


def test_shutdown_with_cancel_futures_cancels_queued_wrappers(tmp_path):
    from dask._task_spec import Task

    from conftest import wait_until

    gate = str(tmp_path / "go")
    ex = DaskExecutor(1)
    futs = [ex.submit(h.run_task, Task(f"k{i}", h.gated, gate, i)) for i in range(3)]
    wait_until(futs[0].running, "the first wrapper runs", timeout=LONG)
    ex.shutdown(wait=False, cancel_futures=True)
    with open(gate, "w"):
        pass
    assert futs[1].cancelled() and futs[2].cancelled(), futs


def test_buffer_exporters_reach_the_task_as_their_type(dex):
    import array

    values = [bytearray(b"ab"), array.array("i", [1, 2])]
    for v in values:
        got = dask.compute(dask.delayed(h.tname)(v), scheduler=dex)[0]
        assert got == (type(v).__name__, v), got
    nested = dask.compute(dask.delayed(h.tname)([1, {"a": bytearray(b"x")}]), scheduler=dex)[0]
    assert nested == ("list", [1, {"a": bytearray(b"x")}]), nested
    # A memoryview is what it is (shared without a copy), bytes are bytes.
    got = dask.compute(dask.delayed(h.type_name)(memoryview(b"ab")), dask.delayed(h.type_name)(b"ab"), scheduler=dex)
    assert got == ("memoryview", "bytes"), got


def test_numpy_values_fail_clearly_instead_of_arriving_as_memoryviews(dex):
    np = pytest.importorskip("numpy")
    with pytest.raises(ImportError, match=r"cannot run .*float.* leave this task on the worker's default"):
        dask.compute(dask.delayed(float)(np.float64(1.5)), scheduler=dex)


def test_big_by_value_payloads_are_not_kept_in_the_interpreters():
    def make(i, size):
        blob = bytes([i]) * size  # captured by the closure
        return lambda: len(blob)

    with DaskExecutor(1) as ex:
        got = dask.compute([dask.delayed(make(i, 200_000))() for i in range(4)], scheduler=ex)[0]
        assert got == [200_000] * 4, got
        big = ex.pool.submit(h.by_value_cache_size).result(timeout=LONG)
        dask.compute(dask.delayed(make(1, 10))(), scheduler=ex)
        small = ex.pool.submit(h.by_value_cache_size).result(timeout=LONG)
    assert (big, small) == (0, 1), f"payloads kept: {big} after big closures, {small} after a small one"


def test_ctrl_c_in_the_with_block_stops_running_tasks(tmp_path):
    # The child runs never-released tasks inside `with DaskExecutor(2)`; a
    # SIGINT there leaves the block at once (running tasks cancelled)
    # instead of waiting for them.
    import signal
    import subprocess
    import sys
    import textwrap

    from conftest import HERE, SIGINT_HANDLER, wait_until

    started = tmp_path / "started"
    started.mkdir()
    script = tmp_path / "ctrlc.py"
    script.write_text(
        SIGINT_HANDLER
        + textwrap.dedent(
            f"""
            import dask, sys
            from interp.dask import DaskExecutor
            import dask_helpers as h
            try:
                with DaskExecutor(2) as ex:
                    dask.compute([dask.delayed(h.started_then_gated)({str(started)!r}, {str(tmp_path / "never")!r}, i)
                                  for i in range(4)], scheduler=ex)
            except KeyboardInterrupt:
                print("left the block", flush=True)
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_until(lambda: len(os.listdir(started)) == 2 or p.poll() is not None, "two tasks run", timeout=LONG)
        assert p.poll() is None, p.communicate()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=LONG // 2)  # the tasks would wait LONG for their gate
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert "left the block" in out, (p.returncode, out, err[-2000:])


def test_an_interpreter_thread_pool_is_refused():
    with interp.InterpreterThreadPoolExecutor(1) as pool:
        with pytest.raises(TypeError, match="InterpreterThreadPoolExecutor.*main interpreter"):
            DaskExecutor(pool=pool)


def test_executor_refuses_a_process_whose_profiler_samples(monkeypatch):
    # Made while a distributed profiler samples: refused; made before one
    # started: the first distributed task is refused (in-process stand-ins:
    # a real profiler would abort this process; the subprocess test below
    # runs the real thing).
    import interp.dask as idask

    monkeypatch.setattr(idask, "_profiler_sampling", lambda: True)
    with pytest.raises(RuntimeError, match="profiler.*PROFILER_OFF"):
        DaskExecutor(1)
    monkeypatch.setattr(idask, "_profiler_sampling", lambda: False)
    with DaskExecutor(1) as ex:
        monkeypatch.setattr(idask, "_profiler_sampling", lambda: True)
        from dask._task_spec import Task

        # A wrapper that is not distributed's is not checked.
        assert ex.submit(h.run_task, Task("k", h.inc, 1)).result(timeout=LONG) == 2
        fake = _distributed_wrapper()
        with pytest.raises(RuntimeError, match="profiler"):
            ex.submit(fake, Task("k", h.inc, 1))


def _distributed_wrapper():
    def _run_task_simple(task, data=None, delay=0):
        return task(data or {})

    _run_task_simple.__module__ = "distributed.worker"
    return _run_task_simple


@needs_distributed
@pytest.mark.parametrize("made", ["inside", "before"])
def test_in_process_worker_with_the_profiler_on_fails_clearly(tmp_path, made):
    # The README's in-process recipe without PROFILER_OFF: a RuntimeError
    # that says what to set (when the executor is made, or at the first
    # task), not an aborted process.
    from conftest import run_script

    r = run_script(
        tmp_path,
        f"""
        import asyncio, dask
        import dask_helpers as h
        from interp.dask import DaskExecutor
        from distributed import Client, Scheduler, Worker

        async def main():
            dex = DaskExecutor(2) if {made!r} == "before" else None
            async with Scheduler(dashboard_address=":0") as s:
                dex = dex or DaskExecutor(2)
                async with Worker(s.address, nthreads=2, executor={{"interp": dex}}):
                    async with Client(s.address, asynchronous=True) as c:
                        with dask.annotate(executor="interp"):
                            ts = [dask.delayed(h.solve_many)(None, [], None) for i in range(20)]
                        return await c.gather(c.compute(ts))

        assert dask.config.get("distributed.worker.profile.enabled")
        asyncio.run(main())
        print("no error")
        """,
        timeout=LONG,
    )
    assert r.returncode == 1 and "RuntimeError" in r.stderr and "PROFILER_OFF" in r.stderr, (
        r.returncode,
        r.stdout,
        r.stderr[-3000:],
    )


def test_plugin_defaults_to_the_worker_thread_count():
    class FakeWorker:
        nthreads = 3
        executors = {}

    w = FakeWorker()
    plugin = InterpPlugin()
    with dask.config.set(PROFILER_OFF):
        plugin.setup(w)
    ex = w.executors["interp"]
    try:
        assert ex._max_workers == 3 and ex.pool._max_workers == 3, ex._max_workers
    finally:
        plugin.teardown(w)
    assert "interp" not in w.executors


def test_importing_interp_dask_does_not_import_distributed(tmp_path):
    from conftest import run_script

    r = run_script(
        tmp_path,
        """
        import sys
        import interp.dask
        print(sorted(m for m in ("dask", "distributed") if m in sys.modules))
        """,
    )
    assert r.returncode == 0 and r.stdout.strip() == "[]", (r.stdout, r.stderr)


@needs_distributed
@pytest.mark.parametrize("how", ["register again", "unregister"])
def test_plugin_replaced_or_removed_while_tasks_wait_loses_none(tmp_path, how):
    # One interpreter, four worker threads: one task runs, three wrappers
    # wait in the executor's queue when the plugin is registered again (or
    # unregistered); every task still returns.
    import asyncio

    from distributed import Client, Scheduler, Worker

    gate = str(tmp_path / "go")

    async def main():
        async with Scheduler(dashboard_address=":0") as s:
            async with Worker(s.address, nthreads=4) as w:
                async with Client(s.address, asynchronous=True) as c:
                    await c.register_plugin(InterpPlugin(max_workers=1))
                    with dask.annotate(executor="interp"):
                        futs = c.compute([dask.delayed(h.gated)(gate, i) for i in range(4)])
                    while len(w.state.executing) < 4:
                        await asyncio.sleep(0.01)
                    old = w.executors["interp"]
                    if how == "register again":
                        await c.register_plugin(InterpPlugin(max_workers=2))
                        assert w.executors["interp"] is not old
                    else:
                        await c.unregister_worker_plugin("interp-executor-interp")
                        assert "interp" not in w.executors
                    with open(gate, "w"):
                        pass
                    return await c.gather(futs)

    with dask.config.set(PROFILER_OFF):
        got = asyncio.run(asyncio.wait_for(main(), LONG))
    assert got == [0, 1, 2, 3], got


@needs_distributed
def test_cluster_by_value_results_and_exceptions_keep_their_classes(client):
    # Classes a client sends by value (as its script's are): the worker's
    # interpreter returns their instances, and raises them, as they are.
    class Point:
        def __init__(self, x):
            self.x = x

    class ScriptError(ValueError):
        pass

    def make(x):
        return Point(x)

    def fail(x):
        raise ScriptError(f"bad {x}")

    with dask.annotate(executor="interp"):
        p = dask.delayed(make)(5)
        e = dask.delayed(fail)(6)
    got = client.compute(p, sync=True)
    assert type(got) is Point and got.x == 5, got
    with pytest.raises(ScriptError, match="bad 6"):
        client.compute(e, sync=True)
