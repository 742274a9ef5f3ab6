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
  ``cloudpickle`` (as ``distributed`` itself ships them to its workers);
  each worker interpreter unpickles one once (cached by its bytes). A
  function that cloudpickle cannot pickle either gets a ``TypeError`` that
  names it and says what to do.

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
interpreter).

Worker interpreters never import this module (by-value functions run
through ``interp._by_value``).
"""

import copy
import pickle
import threading
import weakref
from concurrent.futures import Executor, Future, ThreadPoolExecutor

from . import _by_value

__all__ = ["DaskExecutor", "InterpPlugin", "PROFILER_OFF", "check_profiler"]


# Functions that travel by value: their cloudpickle payloads.
_payloads = weakref.WeakKeyDictionary()
_payloads_lock = threading.Lock()


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


def _function_payload(fn):
    """fn's by-value payload if it has been sent by value before, else None."""
    try:
        with _payloads_lock:
            return _payloads.get(fn)
    except TypeError:  # not weakly referenceable
        return None


def _remember_payload(fn, payload):
    try:
        with _payloads_lock:
            _payloads[fn] = payload
    except TypeError:
        pass


def _unpickled(fut):
    """A future of ``pickle.loads`` of ``fut``'s result (bytes)."""
    out = Future()

    def done(f):
        try:
            out.set_result(pickle.loads(f.result()))
        except BaseException as e:
            out.set_exception(e)

    fut.add_done_callback(done)
    return out


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
    (left running). Either way it has as many threads as the pool has
    interpreters, and reports that number to Dask as its worker count.

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
    """

    def __init__(self, max_workers=None, *, pool=None, **pool_kwargs):
        from ._executor import InterpreterPoolExecutor

        if pool is None:
            pool = InterpreterPoolExecutor(max_workers, **pool_kwargs)
            self._owns_pool = True
        else:
            if max_workers is not None or pool_kwargs:
                raise TypeError(
                    "DaskExecutor(pool=...) uses that pool as it is: pass max_workers and other "
                    "pool options to the pool, not here"
                )
            if not isinstance(pool, InterpreterPoolExecutor):
                raise TypeError(f"pool must be an interp.InterpreterPoolExecutor, not {type(pool).__name__!r}")
            self._owns_pool = False
        self._pool = pool
        self._max_workers = pool._max_workers
        self._threads = ThreadPoolExecutor(self._max_workers, thread_name_prefix="interp-dask")

    @property
    def pool(self):
        """The ``interp.InterpreterPoolExecutor`` the tasks' functions run on."""
        return self._pool

    def _submit_remote(self, fn, args, kwargs):
        """Submits ``fn(*args, **kwargs)`` to the pool: as interp sends it
        (the function by name, arguments as interp values) where it can;
        else the function by value (cloudpickle), arguments as interp values;
        else (an argument interp cannot send, such as a lambda passed to
        ``bag.map``) the whole call by value."""
        payload = _function_payload(fn)
        if payload is None:
            try:
                return self._pool.submit(fn, *args, **kwargs)
            except TypeError as e:
                why = str(e)
            if _travels(fn):
                return self._submit_call_by_value(fn, args, kwargs, why)
            payload = _cloudpickle(fn, fn, why)
            _remember_payload(fn, payload)
        try:
            return self._pool.submit(_by_value.call, payload, args, kwargs)
        except TypeError as e:
            return self._submit_call_by_value(fn, args, kwargs, str(e))

    def _submit_call_by_value(self, fn, args, kwargs, why):
        payload = _cloudpickle((fn, args, kwargs), fn, why)
        return _unpickled(self._pool.submit(_by_value.call_packed, payload))

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
            args = tuple(_route(a, self) if isinstance(a, GraphNode) else a for a in args)
            return self._threads.submit(fn, *args, **kwargs)
        return self._submit_remote(fn, args, kwargs)

    def shutdown(self, wait=True, *, cancel_futures=False):
        """Shuts down the threads and, if this executor started it, the pool."""
        if self._owns_pool:
            # First: a thread blocked on a cancelled task's result returns.
            self._pool.shutdown(wait=False, cancel_futures=cancel_futures)
        self._threads.shutdown(wait=wait, cancel_futures=cancel_futures)
        if self._owns_pool and wait:
            self._pool.shutdown(wait=True)


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
    ``InterpreterPoolExecutor`` crashes the same way.
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


def _plugin_base():
    try:
        from distributed.diagnostics.plugin import WorkerPlugin
    except ImportError:
        return object
    return WorkerPlugin


class InterpPlugin(_plugin_base()):
    """A ``distributed`` worker plugin: gives each worker a ``DaskExecutor``
    under the name ``name`` (default ``"interp"``) for the tasks annotated
    with ``dask.annotate(executor=name)``::

        client.register_plugin(InterpPlugin(max_workers=2))
        with dask.annotate(executor="interp"):
            total = dask.delayed(sum)([dask.delayed(work)(i) for i in range(100)])
        total.compute()

    ``max_workers`` and the other keyword arguments go to each worker's
    ``interp.InterpreterPoolExecutor``. The scheduler keeps the plugin and
    installs it again on workers that join or restart. Tasks without the
    annotation run on the worker's default thread pool as before.
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
        old = worker.executors.get(self.executor_name)
        worker.executors[self.executor_name] = DaskExecutor(self.max_workers, **self.pool_kwargs)
        if isinstance(old, DaskExecutor):
            old.shutdown(wait=False)

    def teardown(self, worker):
        """Removes the executor and shuts it down (its tasks are not waited for)."""
        ex = worker.executors.pop(self.executor_name, None)
        if isinstance(ex, DaskExecutor):
            ex.shutdown(wait=False, cancel_futures=True)
