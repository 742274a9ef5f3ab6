"""interp inside Dask (``pip install interp[dask]``): run Dask tasks on
interp's worker interpreters, with the local scheduler or on a
``distributed`` cluster.

What runs where:

- Dask's own bookkeeping -- ``dask.local``'s ``execute_task`` wrappers,
  ``distributed``'s ``_run_task``, the resolution of a task's arguments
  from its dependencies, containers (lists, tuples, dicts of dependencies)
  and fused subgraphs -- runs in the main interpreter, on one of this
  executor's threads.
- Each task's own function and its arguments, and nothing else, cross to a
  worker interpreter of an ``interp.InterpreterPoolExecutor``; the result
  (or the exception, with its type) comes back. Arguments and results are
  copied as interp values (pickle for types interp does not copy); a call
  with an argument that neither can send (a lambda handed to ``bag.map``,
  say) travels as a whole, pickled with ``cloudpickle``.
- Functions found by module and qualified name (defined at the top level of
  an importable module) travel by name, as with the executor itself. All
  others -- lambdas, closures, functions a ``distributed`` client sent by
  value from its script -- travel **by value**, pickled with
  ``cloudpickle`` (as ``distributed`` itself ships them to its workers),
  afresh for every call (a closure's cells and a callable's attributes as
  they are then); a worker interpreter keeps small payloads unpickled,
  keyed by their bytes (see ``interp._by_value.SMALL``). Their results and
  exceptions come back with cloudpickle where plain pickle cannot carry
  them (instances of classes of the client's script). A function that
  cloudpickle cannot pickle either gets a ``TypeError`` that names it and
  says what to do.
- Arguments that export the buffer protocol other than ``bytes``,
  ``memoryview`` and ``interp.SharedBuffer`` (a ``bytearray``, an
  ``array.array``, numpy values) travel pickled with their call, so that
  the task gets the same type (interp itself would share them as
  ``memoryview`` objects); numpy values then fail to unpickle in the
  interpreter with an ``ImportError``.

``dask.compute(..., scheduler=DaskExecutor(2))`` runs a graph on two
interpreters; ``InterpPlugin`` gives every ``distributed`` worker such an
executor, under the name ``"interp"``, for tasks annotated with
``dask.annotate(executor="interp")``.

Limits: a task whose function imports an extension module that refuses
isolated interpreters (numpy 2.5, psutil, anything importing
``distributed.worker``) fails with that module's ``ImportError``: leave such
tasks on the worker's default executor (a plain thread of its main
interpreter). Inside a task, ``distributed.get_worker()`` and
``worker_client`` are not available (the worker lives in the main
interpreter), nor is Dask configuration set in the main interpreter
(``dask.config`` of an interpreter is its own). This module uses private
APIs of dask (``dask._task_spec``, ``dask.local.batch_execute_tasks``) and
of distributed (how ``Worker.execute`` calls an executor, the ``Profile``
thread of ``distributed.profile.watch``): tested with 2026.8.

Worker interpreters never import this module (by-value functions run
through ``interp._by_value``). Importing it imports neither dask nor
distributed (``InterpPlugin`` imports distributed on first use).
"""

import copy
import pickle
import sys
import threading
import weakref
from concurrent.futures import Executor, Future, ThreadPoolExecutor

from . import _by_value

__all__ = ["DaskExecutor", "InterpPlugin", "PROFILER_OFF", "check_profiler"]


def _cloudpickle(obj, fn, why):
    """``obj`` (``fn`` or a whole call of it) pickled by cloudpickle, or a
    ``TypeError`` that names ``fn`` and says what to do."""
    try:
        import cloudpickle
    except ImportError:
        raise TypeError(
            f"cannot send {fn!r} to a worker interpreter: {why}. What interp cannot send travels "
            f"by value with cloudpickle, which is not installed (pip install interp[dask]); or "
            f"define the function at the top level of an importable module"
        ) from None
    try:
        return cloudpickle.dumps(obj, protocol=5)
    except Exception as e:
        raise TypeError(
            f"cannot send {fn!r} to a worker interpreter: {why}; and cloudpickle could not pickle "
            f"it by value either ({type(e).__name__}: {e}). Define the function at the top level "
            f"of an importable module and pass it values that pickle, or leave this task on the "
            f"worker's default executor."
        ) from e


def _unpack(packed):
    """The result of an ``interp._by_value`` call (its tagged tuple), or
    raises its exception."""
    tag = packed[0]
    if tag == 0:
        return packed[1]
    if tag == 1:
        return pickle.loads(packed[1])
    from ._executor import _with_traceback

    raise _with_traceback(pickle.loads(packed[1]), packed[2])


def _unpacked(fut):
    """A future of ``_unpack`` of ``fut``'s result."""
    out = Future()

    def done(f):
        try:
            out.set_result(_unpack(f.result()))
        except BaseException as e:
            out.set_exception(e)

    fut.add_done_callback(done)
    return out


# Exact types that are not buffer exporters: no look inside.
_PLAIN = frozenset({type(None), bool, int, float, complex, str})


def _is_exporter(obj):
    """Whether interp would share ``obj`` as a ``memoryview``: it exports
    the buffer protocol and is not bytes, a memoryview or a SharedBuffer."""
    t = type(obj)
    if not hasattr(t, "__buffer__") or issubclass(t, bytes) or t is memoryview:
        return False
    import interp

    return t is not interp.SharedBuffer


def _holds_exporter(obj, depth=0):
    """Whether ``obj`` is, or holds (in exact tuples, lists and dicts, as far
    as interp looks), a buffer exporter interp would share as a memoryview."""
    t = type(obj)
    if t in _PLAIN or t is bytes:
        return False
    if depth > 100:
        return False
    if t is tuple or t is list:
        if set(map(type, obj)) <= _PLAIN:
            return False
        return any(_holds_exporter(x, depth + 1) for x in obj if type(x) not in _PLAIN)
    if t is dict:
        return _holds_exporter(list(obj.values()), depth + 1)
    return _is_exporter(obj)


def _profiler_sampling():
    """Whether a ``distributed`` profiler samples the stacks of this
    process's threads now: the ``Profile`` thread of
    ``distributed.profile.watch`` (every server's event loop, when the
    profiler was on as it started) or a worker's ``profile`` callback."""
    if "distributed" not in sys.modules:
        return False
    for t in threading.enumerate():
        target = getattr(t, "_target", None)
        if t.name == "Profile" and getattr(target, "__module__", None) == "distributed.profile":
            return True
    worker = sys.modules.get("distributed.worker")
    for w in list(getattr(getattr(worker, "Worker", None), "_instances", ())):
        if "profile" in getattr(w, "periodic_callbacks", {}):
            return True
    return False


def _refuse_profiler():
    if _profiler_sampling():
        raise RuntimeError(
            "interp.dask.DaskExecutor cannot run in this process: a distributed profiler samples its "
            "threads' stacks with sys._current_frames(), which on this CPython aborts the process "
            "while other interpreters run. Start the distributed servers (Scheduler, Worker, "
            "LocalCluster) of this process with the profiler off: dask.config.set("
            "interp.dask.PROFILER_OFF) before they start, or "
            "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False in the environment."
        )


def _travels(fn):
    """Whether interp's executor sends ``fn`` itself (by name, or pickled)."""
    from ._executor import _target

    try:
        _target(fn)
    except TypeError:
        return False
    return True


class _Remote:
    """Stands in for a task's function: calls it in a worker interpreter."""

    __slots__ = ("fn", "owner")

    def __init__(self, fn, owner):
        self.fn = fn
        self.owner = owner

    def __call__(self, *args, **kwargs):
        return self.owner._submit_remote(self.fn, args, kwargs).result()

    def __repr__(self):
        return f"<{self.fn!r} in a worker interpreter>"


def _graph_types():
    from dask._task_spec import GraphNode, NestedContainer, Task, _execute_subgraph

    return GraphNode, Task, NestedContainer, _execute_subgraph


def _route(node, owner):
    """A copy of a dask task (a ``GraphNode``) whose functions run in
    ``owner``'s interpreters; everything else about it runs here."""
    GraphNode, Task, NestedContainer, execute_subgraph = _graph_types()
    if not isinstance(node, Task):
        return node  # DataNode, Alias: values, no function of the user's
    new = copy.copy(node)
    args = node.args
    if isinstance(node, NestedContainer):
        pass  # list/tuple/set/dict of dependencies: built here
    elif node.func is execute_subgraph:
        # A fused chain: dask runs its inner tasks here, their functions there.
        inner = {k: _route(v, owner) for k, v in args[0].items()}
        args = (inner, *args[1:])
    else:
        new.func = _Remote(node.func, owner)
    new.args = tuple(_route(a, owner) if isinstance(a, GraphNode) else a for a in args)
    if node.kwargs:
        new.kwargs = {k: _route(v, owner) if isinstance(v, GraphNode) else v for k, v in node.kwargs.items()}
    return new


class _RoutedLoads:
    """dask.local's ``loads`` for one executor: the task it loads comes out
    routed (see ``_route``)."""

    __slots__ = ("loads", "owner")

    def __init__(self, loads, owner):
        self.loads = loads
        self.owner = owner

    def __call__(self, info):
        task, data = self.loads(info)
        return _route(task, self.owner), data


class DaskExecutor(Executor):
    """A ``concurrent.futures`` executor for Dask: the wrappers Dask submits
    run on threads of the main interpreter, the functions of the tasks they
    carry in worker interpreters.

    ``DaskExecutor(max_workers, **kwargs)`` starts an
    ``interp.InterpreterPoolExecutor(max_workers, **kwargs)`` of its own
    (shut down with this executor); ``DaskExecutor(pool=ex)`` uses ``ex``
    (left running; an ``InterpreterThreadPoolExecutor`` is refused: it
    would run the tasks in the main interpreter). Either way it has as many
    threads as the pool has interpreters, and reports that number to Dask
    as its worker count.

    - ``dask.compute(..., scheduler=DaskExecutor(2))``: the local scheduler
      submits ``dask.local.batch_execute_tasks``; each task in the batch runs
      here with its function sent to an interpreter.
    - ``distributed``: a worker submits ``_run_task_simple`` with the task
      (its executors other than thread pools get no contextvars-carrying
      lambda; this class's name must not contain "ThreadPoolExecutor",
      which distributed tests for); same. ``InterpPlugin`` installs one per
      worker. ``async def`` tasks never reach an executor: distributed runs
      them on the worker's event loop.
    - Any other callable submitted is sent to an interpreter as it is.

    Raises ``RuntimeError`` (when made, or for a distributed task) if a
    distributed profiler samples this process (see ``check_profiler``).
    Leaving a ``with DaskExecutor(...)`` block on ``KeyboardInterrupt``
    cancels its running tasks instead of waiting for them.
    """

    def __init__(self, max_workers=None, *, pool=None, **pool_kwargs):
        from ._executor import InterpreterPoolExecutor, InterpreterThreadPoolExecutor

        _refuse_profiler()
        if pool is None:
            pool = InterpreterPoolExecutor(max_workers, **pool_kwargs)
            self._owns_pool = True
        else:
            if max_workers is not None or pool_kwargs:
                raise TypeError(
                    "DaskExecutor(pool=...) uses that pool as it is: pass max_workers and other "
                    "pool options to the pool, not here"
                )
            if isinstance(pool, InterpreterThreadPoolExecutor):
                raise TypeError(
                    "DaskExecutor(pool=...) needs an interp.InterpreterPoolExecutor, not an "
                    "InterpreterThreadPoolExecutor: that pool runs unmarked callables (all of Dask's) "
                    "on threads of the main interpreter"
                )
            if not isinstance(pool, InterpreterPoolExecutor):
                raise TypeError(f"pool must be an interp.InterpreterPoolExecutor, not {type(pool).__name__!r}")
            self._owns_pool = False
        self._pool = pool
        self._max_workers = pool._max_workers
        self._threads = ThreadPoolExecutor(self._max_workers, thread_name_prefix="interp-dask")
        self._profiler_ok = False
        # The pool futures of tasks in flight (for Ctrl-C: see __exit__).
        self._inflight = weakref.WeakSet()
        self._inflight_lock = threading.Lock()

    @property
    def pool(self):
        """The ``interp.InterpreterPoolExecutor`` the tasks' functions run on."""
        return self._pool

    def _pool_submit(self, fn, *args, **kwargs):
        f = self._pool.submit(fn, *args, **kwargs)
        with self._inflight_lock:
            self._inflight.add(f)
        return f

    def _submit_remote(self, fn, args, kwargs):
        """Submits ``fn(*args, **kwargs)`` to the pool: as interp sends it
        (the function by name, arguments as interp values) where it can;
        else the function by value (cloudpickle, afresh each time: its
        closure or attributes may have changed), arguments as interp values;
        else (an argument interp cannot send, such as a lambda passed to
        ``bag.map``, or a buffer exporter it would share as a memoryview)
        the whole call by value."""
        if _holds_exporter(args) or (kwargs and _holds_exporter(kwargs)):
            why = "its arguments hold a buffer exporter, which interp would share as a memoryview"
            return self._submit_call_by_value(fn, args, kwargs, why)
        try:
            return self._pool_submit(fn, *args, **kwargs)
        except TypeError as e:
            why = str(e)
        if _travels(fn):
            return self._submit_call_by_value(fn, args, kwargs, why)
        payload = _cloudpickle(fn, fn, why)
        try:
            return _unpacked(self._pool_submit(_by_value.call, payload, _what(fn), args, kwargs))
        except TypeError as e:
            return self._submit_call_by_value(fn, args, kwargs, str(e))

    def _submit_call_by_value(self, fn, args, kwargs, why):
        payload = _cloudpickle((fn, args, kwargs), fn, why)
        return _unpacked(self._pool_submit(_by_value.call_packed, payload, _what(fn)))

    def _check_distributed(self):
        if not self._profiler_ok:
            _refuse_profiler()
            self._profiler_ok = True

    def submit(self, fn, /, *args, **kwargs):
        """Runs a Dask wrapper here with its task's functions routed to the
        interpreters, or sends any other ``fn(*args, **kwargs)`` to one."""
        from dask._task_spec import GraphNode
        from dask.local import batch_execute_tasks

        if fn is batch_execute_tasks:
            (batch,) = args
            batch = [(a[0], a[1], a[2], _RoutedLoads(a[3], self), *a[4:]) for a in batch]
            return self._threads.submit(fn, batch)
        if any(isinstance(a, GraphNode) for a in args):
            if getattr(fn, "__module__", "").startswith("distributed."):
                self._check_distributed()
            args = tuple(_route(a, self) if isinstance(a, GraphNode) else a for a in args)
            return self._threads.submit(fn, *args, **kwargs)
        return self._submit_remote(fn, args, kwargs)

    def shutdown(self, wait=True, *, cancel_futures=False):
        """Shuts down the threads and, if this executor started it, the
        pool. Wrappers already submitted still run (their tasks reach the
        pool), unless ``cancel_futures``: then the queued ones are cancelled
        and so are the tasks queued in the pool. Without ``wait`` the pool
        is shut down once the last wrapper is done."""
        if cancel_futures and self._owns_pool:
            # First: a thread blocked on a cancelled task's result returns.
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._threads.shutdown(wait=wait, cancel_futures=cancel_futures)
        if not self._owns_pool:
            return
        if wait:
            self._pool.shutdown(wait=True)
        else:

            def drain(threads=self._threads, pool=self._pool):
                threads.shutdown(wait=True)
                pool.shutdown(wait=True)

            threading.Thread(target=drain, name="interp-dask-shutdown", daemon=True).start()

    def __exit__(self, exc_type, exc_val, exc_tb):
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            # Ctrl-C: stop the work instead of waiting for it.
            with self._inflight_lock:
                running = list(self._inflight)
            for f in running:
                f.cancel()
            self.shutdown(wait=True, cancel_futures=True)
        else:
            self.shutdown(wait=True)
        return False


def _what(fn):
    """``fn`` as errors name it."""
    try:
        return repr(fn)
    except Exception:
        return f"a {type(fn).__name__!r} object"


PROFILER_OFF = {"distributed.worker.profile.enabled": False}
"""The Dask configuration every process that runs ``distributed`` servers
and interp interpreters needs: ``dask.config.set(PROFILER_OFF)`` before
``LocalCluster``/``Worker``/``Nanny`` start (nannies pass it on to their
worker processes), or ``DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False``
in the environment of ``dask worker``."""


def check_profiler():
    """Raises ``RuntimeError`` if ``distributed``'s profiler is enabled in
    this process's Dask configuration.

    The profiler calls ``sys._current_frames()`` every few milliseconds, and
    on CPython 3.12 to 3.14 (default build; checked with 3.12.1, 3.13.0 and
    3.14.7) that function makes frame objects for the threads of *every*
    interpreter in the process, in the calling interpreter's memory; the
    worker interpreter later frees them with its own allocator and the
    process aborts (``free(): invalid pointer``). The standard library's
    ``InterpreterPoolExecutor`` crashes the same way. ``InterpPlugin``
    checks this configuration on each worker; ``DaskExecutor`` checks
    whether a profiler samples its process (when it is made, and at its
    first distributed task).
    """
    import dask

    if dask.config.get("distributed.worker.profile.enabled", default=True):
        raise RuntimeError(
            "interp's executor cannot run in a distributed worker whose profiler is on: "
            "distributed samples stacks with sys._current_frames(), which on this CPython "
            "aborts the process while other interpreters run. Start the workers with the "
            "profiler off: dask.config.set(interp.dask.PROFILER_OFF) before LocalCluster(...), "
            "or DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False in the environment of "
            "`dask worker`."
        )


def _make_plugin_class():
    try:
        from distributed.diagnostics.plugin import WorkerPlugin
    except ImportError:
        WorkerPlugin = object

    class InterpPlugin(WorkerPlugin):
        """A ``distributed`` worker plugin: gives each worker a ``DaskExecutor``
        under the name ``name`` (default ``"interp"``) for the tasks annotated
        with ``dask.annotate(executor=name)``::

            client.register_plugin(InterpPlugin(max_workers=2))
            with dask.annotate(executor="interp"):
                total = dask.delayed(sum)([dask.delayed(work)(i) for i in range(100)])
            total.compute()

        ``max_workers`` (default: the worker's thread count) and the other
        keyword arguments go to each worker's
        ``interp.InterpreterPoolExecutor``. The scheduler keeps the plugin and
        installs it again on workers that join or restart. Tasks without the
        annotation run on the worker's default thread pool as before.
        Registering the plugin again (or unregistering it) replaces (removes)
        the executor; the tasks the old one has accepted still run to the end.
        """

        def __init__(self, max_workers=None, *, name="interp", **pool_kwargs):
            if not isinstance(name, str) or not name:
                raise TypeError(f"name must be a non-empty str, not {name!r}")
            self.max_workers = max_workers
            self.executor_name = name
            self.pool_kwargs = pool_kwargs
            self.name = f"interp-executor-{name}"

        def setup(self, worker):
            """Installs the executor on ``worker`` (its main interpreter), or
            raises if the worker's profiler is on (see ``check_profiler``)."""
            check_profiler()
            n = self.max_workers
            if n is None:
                n = getattr(worker, "nthreads", None) or None
            old = worker.executors.get(self.executor_name)
            worker.executors[self.executor_name] = DaskExecutor(n, **self.pool_kwargs)
            if isinstance(old, DaskExecutor):
                old.shutdown(wait=False)

        def teardown(self, worker):
            """Removes the executor and shuts it down once the tasks it has
            accepted are done (not waited for here). Nothing is cancelled:
            distributed waits for every task it handed to an executor."""
            ex = worker.executors.pop(self.executor_name, None)
            if isinstance(ex, DaskExecutor):
                ex.shutdown(wait=False)

    InterpPlugin.__module__ = __name__
    InterpPlugin.__qualname__ = "InterpPlugin"
    return InterpPlugin


def __getattr__(name):
    # InterpPlugin is made on first use: importing interp.dask does not
    # import distributed (a distributed.WorkerPlugin subclass when it is
    # installed).
    if name == "InterpPlugin":
        with _plugin_lock:
            cls = globals().get("InterpPlugin")
            if cls is None:
                cls = globals()["InterpPlugin"] = _make_plugin_class()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_plugin_lock = threading.Lock()
