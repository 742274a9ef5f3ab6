"""InterpreterPoolExecutor, InterpreterThreadPoolExecutor and @interpreter.

Design (see the README's Python section):

- A task names its function by module and ``__qualname__``; each worker
  looks it up once and caches it. Functions of the running script
  (``__main__``) work: workers load the script under ``__mp_main__`` on
  first use, as multiprocessing's spawn does. Other callables (bound
  methods, ``functools.partial``...) are pickled; lambdas and closures get
  an error that says why they cannot travel.
- Arguments and results cross as interp values (exact copies of the
  builtin types, pickle for the rest). ``SharedBuffer``, ``Channel`` and
  ``Frozen`` pass by reference; any other buffer-protocol object (a
  ``memoryview`` of a ``bytearray``, ``array.array``, ``mmap``, a numpy
  array) arrives as a zero-copy ``memoryview``, its exporter kept alive in
  the main interpreter until the last view is gone.
- Futures are ``concurrent.futures.Future`` subclasses. A completer thread
  completes them in batches under one acquisition of the main GIL; a
  thread blocked in ``result()`` waits on the task itself with the GIL
  released and completes its own future. ``cancel()`` also interrupts a
  running task (``interp.Cancelled`` is raised in it).
"""

import builtins
import contextvars
import functools
import itertools
import operator
import os
import pickle
import sys
import threading
import time
from collections import deque
from concurrent.futures import BrokenExecutor, Future, ThreadPoolExecutor
from concurrent.futures import _base

from . import _EXECUTOR_NAMES, _event, _native

# The names the package re-exports from here (listed there, so that
# ``import interp`` need not import this module to know them).
__all__ = list(_EXECUTOR_NAMES)

#: The largest ``max_workers``: each worker is an interpreter with its own
#: thread (a few MB each), and thousands of them exhaust a machine.
MAX_WORKERS = 1024

_PENDING = _base.PENDING
_RUNNING = _base.RUNNING
_FINISHED = _base.FINISHED
_CANCELLED_AND_NOTIFIED = _base.CANCELLED_AND_NOTIFIED
LOGGER = _base.LOGGER


class BrokenInterpreterPool(BrokenExecutor):
    """The pool cannot run tasks: a worker interpreter failed to start (its
    initializer raised, for example). The message says why."""


class WorkerLost(RuntimeError):
    """The worker running the task had to be replaced: the task ignored its
    cancellation or timeout past the kill grace (a blocking C call, or code
    that swallows ``interp.Cancelled``)."""


class TaskExit(Exception):
    """A task raised ``SystemExit`` or ``KeyboardInterrupt``. Re-raised as
    this ``Exception`` so that it can never exit the caller;
    ``.exception`` holds the original."""

    exception = None


class RemoteError(Exception):
    """An exception raised in a worker whose type could not be rebuilt in
    the main interpreter (it was not picklable, or its module is not
    imported here). ``.type_name`` names the original type."""

    type_name = None


class _RemoteTraceback(Exception):
    # Carries the worker's formatted traceback as the __cause__ of the
    # re-raised exception (as concurrent.futures.process does).
    def __init__(self, tb):
        self.tb = tb

    def __str__(self):
        return self.tb


def _guard(exc):
    if isinstance(exc, (SystemExit, KeyboardInterrupt)):
        t = TaskExit(f"the task raised {type(exc).__name__}{exc.args!r}; it does not exit the caller")
        t.exception = exc
        t.__cause__ = exc
        return t
    return exc


def _with_traceback(exc, tb):
    if tb:
        exc.__cause__ = _RemoteTraceback('\n"""\n' + tb + '"""')
    return exc


_EXIT_CODE = "\0interp-exit-code:"  # as interp._worker.EXIT_CODE


def _from_parts(module, qualname, message, tb, parts=None):
    if (module, qualname) == ("builtins", "SystemExit"):
        # Recycles its worker, so it travels as text: its code as repr.
        if message.startswith(_EXIT_CODE):
            import ast

            code = ast.literal_eval(message[len(_EXIT_CODE) :])
        else:
            code = message or None
        return _guard(_with_traceback(SystemExit(code), tb))
    typ = sys.modules.get(module)
    try:
        for part in qualname.split("."):
            typ = getattr(typ, part)
    except Exception:
        typ = None
    exc = None
    if isinstance(typ, type) and issubclass(typ, BaseException):
        if parts is not None:
            # Its args (and attributes) without calling its constructor,
            # which may take other arguments (keyword-only ones, say).
            try:
                args, attrs = pickle.loads(parts)
                exc = typ.__new__(typ, *args)
                exc.args = args
                if attrs:
                    exc.__dict__.update(attrs)
            except Exception:
                exc = None
        if exc is None:
            try:
                exc = typ(message)
            except Exception:
                exc = None
    if exc is None:
        name = qualname if module == "builtins" else f"{module}.{qualname}"
        exc = RemoteError(f"{name}: {message}")
        exc.type_name = name
    return _guard(_with_traceback(exc, tb))


def _rebuild(tb, pickled, module, qualname, message, parts=None):
    exc = None
    if pickled is not None:
        try:
            exc = pickle.loads(pickled)
        except Exception:
            exc = None
    if not isinstance(exc, BaseException):
        return _from_parts(module, qualname, message, tb, parts)
    return _guard(_with_traceback(exc, tb))


def _make_exception(code, a):
    if code == 0:
        return _rebuild(*a)
    if code == 2:
        return TimeoutError(a[0])
    if code == 3:
        return WorkerLost(a[0])
    if code == 4:
        return BrokenInterpreterPool(a[0])
    if code == 5:
        return TypeError(a[0])
    if code == 7:
        return _from_parts(*a)
    if code == 8:
        return _guard(a[0])
    return RuntimeError(a[0] if a else "task failed")


def _made_on_first_use(name, make):
    """A property whose value ``make()`` makes on its first read and the
    instance keeps in its attribute ``name`` (whose class default is None).
    ``dict.setdefault`` is atomic, so threads that race on the first read
    agree on one value."""

    def get(self):
        value = self.__dict__.get(name)
        if value is None:
            value = self.__dict__.setdefault(name, make())
        return value

    return property(get)


class _InterpFuture(Future):
    """A ``concurrent.futures.Future`` for an interp task.

    Its condition variable is made on first use: a future that is only
    waited on through ``result()`` never needs one, and interp completes
    such a future by setting its fields under the GIL."""

    # Future.__init__'s fields as class defaults (instances override them),
    # and its condition and lists made on first use: a future that is only
    # waited on through result() allocates none of them.
    _task = None
    _state = _PENDING
    _result = None
    _exception = None
    _cond = None
    _wl = None
    _cbl = None

    def __init__(self):
        pass

    # setdefault is atomic: racing threads agree on one condition and list.
    _condition = _made_on_first_use("_cond", threading.Condition)
    _waiters = _made_on_first_use("_wl", list)
    _done_callbacks = _made_on_first_use("_cbl", list)

    def cancel(self):
        """Cancels the task: a queued one never runs; a running one is
        interrupted (``interp.Cancelled`` raised in its worker). Returns
        False when it had already finished."""
        t = self._task
        if t is not None and self._state == _PENDING:
            if _native.task_cancel(t):
                if Future.cancel(self):
                    self.set_running_or_notify_cancel()
                return True
        return Future.cancel(self)

    def running(self):
        t = self._task
        if t is not None and self._state == _PENDING:
            return _native.task_running(t)
        return Future.running(self)

    def _wait_task(self, timeout):
        """Waits on the task itself (the GIL released) while the future is
        pending; returns the timeout left for Future's own wait (0 once this
        one timed out)."""
        t = self._task
        if t is not None and self._state == _PENDING:
            if timeout is not None and timeout < 0:
                timeout = 0  # as Future: a deadline already past
            if not _native.task_wait(t, timeout):
                timeout = 0
        return timeout

    def result(self, timeout=None):
        timeout = self._wait_task(timeout)
        if self._state == _FINISHED and self._exception is None:
            return self._result  # a finished future never changes again
        return Future.result(self, timeout)

    def exception(self, timeout=None):
        return Future.exception(self, self._wait_task(timeout))

    # Completion by interp._native (main GIL held). The future's state
    # changes and its waiters wake at once; its done-callbacks run at once
    # when `inline` (the thread completing it is the caller's own), else
    # they are queued for the completer to run once its whole batch is
    # complete (so a callback that blocks never delays other completions:
    # another completer thread takes over).

    def _interp_settle(self, state, result, exception, inline):
        with self._condition:
            if self._state not in (_PENDING, _RUNNING):
                return
            self._result = result
            self._exception = exception
            self._state = state
            # Its task keeps the outcome as a value: a second copy.
            self._task = None
            for w in self._waiters:
                if state == _CANCELLED_AND_NOTIFIED:
                    w.add_cancelled(self)
                elif exception is not None:
                    w.add_exception(self)
                else:
                    w.add_result(self)
            self._condition.notify_all()
        if self._cbl:
            if inline:
                self._invoke_callbacks()
            else:
                _deferred.append(self)

    def _interp_set_result(self, result, inline):
        self._interp_settle(_FINISHED, result, None, inline)

    def _interp_finish(self, code, inline, *a):
        if code == 1:
            self._interp_settle(_CANCELLED_AND_NOTIFIED, None, None, inline)
        else:
            self._interp_settle(_FINISHED, None, _make_exception(code, a), inline)


# Futures whose done-callbacks wait for a completer (see _interp_settle).
_deferred = deque()


def _next_deferred():
    """The next future whose callbacks are due, or None (for interp._native)."""
    try:
        return _deferred.popleft()
    except IndexError:
        return None


_new_future = functools.partial(object.__new__, _InterpFuture)
_submit = _native.submit

# ---- functions that travel -------------------------------------------------

_targets = {}


def _main_info():
    m = sys.modules.get("__main__")
    path = getattr(m, "__file__", None)
    if not path or not os.path.isfile(path):
        return None
    spec = getattr(m, "__spec__", None)
    name = getattr(spec, "name", None)
    if not name or name == "__main__":
        name = None
    return (os.path.abspath(path), name)


def _named(fn):
    """(module, qualname) when fn is found by that name, else None."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    obj = sys.modules.get(module)
    try:
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        return None
    if obj is fn or (isinstance(obj, interpreter) and obj.__wrapped__ is fn):
        return module, qualname
    return None


def _cannot_travel(fn, why):
    qn = getattr(fn, "__qualname__", "")
    if "<lambda>" in qn:
        what = "a lambda"
    elif "<locals>" in qn:
        what = "a function defined inside another function (a closure)"
    else:
        what = f"this {type(fn).__name__}"
    return TypeError(
        f"cannot send {fn!r} to a worker interpreter: it is {what}. Functions travel by module "
        f"and qualified name, so define it at the top level of a module (or of your script); "
        f"other callables travel pickled, and pickling it failed: {why}"
    )


def _describe_target(fn):
    """('name', module, qualname) or ('pickle', data, None)."""
    named = _named(fn)
    if named is not None:
        if named[0] == "__main__" and _main_info() is None:
            raise TypeError(
                f"cannot send {fn!r} to a worker interpreter: it is defined in __main__ of an "
                f"interactive session or `python -c` code, which workers cannot import. Define it "
                f"in a module (or a script run as `python script.py`)."
            )
        return ("name", named[0], named[1])
    try:
        return ("pickle", pickle.dumps(fn, 5), None)
    except Exception as e:
        raise _cannot_travel(fn, e) from None


def _target(fn):
    try:
        t = _targets.get(fn)
    except TypeError:  # unhashable callable
        t = None
    if t is not None:
        return t
    if not callable(fn):
        raise TypeError(f"{fn!r} is not callable")
    kind, a, b = _describe_target(fn)
    if kind == "pickle":
        return a
    t = _native.register_function(a, b)
    try:
        _targets[fn] = t
    except TypeError:
        pass
    return t


# ---- lifecycle ---------------------------------------------------------------

_global_shutdown = False
_executors = __import__("weakref").WeakSet()
_exit_registered = False
_exit_lock = threading.Lock()
_counter = itertools.count()


def _python_exit():
    global _global_shutdown
    _global_shutdown = True
    for ex in list(_executors):
        ex._shutdown = True
    _native.shutdown_all()


def _register_exit():
    global _exit_registered
    with _exit_lock:
        if _exit_registered:
            return
        try:
            # As ThreadPoolExecutor: runs at threading._shutdown(), before
            # the interpreter finalizes (so no subinterpreter is left then).
            threading._register_atexit(_python_exit)
        except RuntimeError:
            raise RuntimeError("cannot create an interpreter pool at interpreter shutdown") from None
        _exit_registered = True


def _check_main():
    if _native is None or not _is_main():
        e = RuntimeError(
            "interp executors can only be used in the main interpreter, not inside a worker. If "
            "your script creates one at import time, put that code under "
            '`if __name__ == "__main__":` (workers load the script under another name).'
        )
        # interp._worker tells a script without that guard by this mark.
        e._interp_executor_in_worker = True
        raise e


def _is_main():
    return _native.core_module().interpreter_id() == 0


if _is_main():
    # Classes of the script pickled by workers (as __mp_main__.X) resolve
    # here, as with multiprocessing.
    sys.modules.setdefault("__mp_main__", sys.modules.get("__main__"))


def _check_buffersize(buffersize):
    if buffersize is not None and not isinstance(buffersize, int):
        raise TypeError("buffersize must be an integer or None")
    if buffersize is not None and buffersize < 1:
        raise ValueError("buffersize must be None or > 0")


def _chunks(it, size):
    while True:
        chunk = list(itertools.islice(it, size))
        if not chunk:
            return
        yield chunk


class InterpreterPoolExecutor(ThreadPoolExecutor):
    """A ``concurrent.futures`` executor whose workers are isolated
    interpreters (own GIL each), with the standard library's
    ``InterpreterPoolExecutor`` signature plus:

    - ``shared``: a mapping of names to values set as globals of each
      worker's ``__main__`` (your script's module there) once per worker,
      as ``prepare_main`` does; ``SharedBuffer``/``Frozen``/buffer values
      are shared, not copied.
    - ``max_tasks_per_worker``: a fresh interpreter (initializer again)
      after that many tasks.
    - ``kill_grace``: seconds a cancelled or timed-out task may ignore its
      interruption before its worker is replaced (default 2).
    - ``isolated``: False for legacy (shared-GIL) interpreters, which load
      single-phase extension modules.

    ``submit_with(fn, args, kwargs, timeout=)`` gives one call a timeout;
    ``map(..., chunksize=)`` runs each chunk as one task in a worker.
    """

    def __init__(
        self,
        max_workers=None,
        thread_name_prefix="",
        initializer=None,
        initargs=(),
        *,
        shared=None,
        max_tasks_per_worker=None,
        kill_grace=None,
        isolated=True,
        _event_loop=(),
    ):
        _check_main()
        if max_workers is None:
            count = getattr(os, "process_cpu_count", os.cpu_count)
            max_workers = min(count() or 1, MAX_WORKERS)
        else:
            try:
                max_workers = operator.index(max_workers)
            except TypeError:
                raise TypeError(
                    f"max_workers must be an int or None, not {type(max_workers).__name__!r}"
                ) from None
            if max_workers <= 0:
                raise ValueError("max_workers must be greater than 0")
            if max_workers > MAX_WORKERS:
                raise ValueError(
                    f"max_workers must be at most {MAX_WORKERS} (each worker is an interpreter "
                    f"with a thread of its own), got {max_workers}"
                )
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if max_tasks_per_worker is not None:
            if isinstance(max_tasks_per_worker, bool) or not isinstance(max_tasks_per_worker, int):
                raise TypeError(
                    "max_tasks_per_worker must be a positive int or None, not "
                    f"{type(max_tasks_per_worker).__name__!r}"
                )
            if max_tasks_per_worker <= 0:
                raise ValueError(f"max_tasks_per_worker must be a positive int or None, got {max_tasks_per_worker}")
            # Beyond 2**63 - 1 tasks a worker is never recycled anyway.
            max_tasks_per_worker = min(max_tasks_per_worker, 2**63 - 1)
        if not isinstance(thread_name_prefix, str):
            raise TypeError(f"thread_name_prefix must be a str, not {type(thread_name_prefix).__name__!r}")
        if "\0" in thread_name_prefix:
            raise ValueError("thread_name_prefix must not contain a NUL character")
        if shared is not None and (
            not hasattr(shared, "items") or not all(isinstance(k, str) and k.isidentifier() for k in shared)
        ):
            raise TypeError("shared must be a mapping of global names (identifiers) to values")
        if _global_shutdown:
            raise RuntimeError("cannot create an interpreter pool at interpreter shutdown")
        _register_exit()
        self._max_workers = max_workers
        self._thread_name_prefix = thread_name_prefix or f"{type(self).__name__}-{next(_counter)}"
        self._shutdown_lock = threading.Lock()
        self._shutdown = False
        self._broken = False
        self._pool = None
        _executors.add(self)
        init = _describe_target(initializer) if initializer is not None else None
        cfg = {
            "main": _main_info(),
            "argv": list(sys.argv),
            "shared": dict(shared.items()) if shared is not None else {},
            "initializer": init,
            "initargs": tuple(initargs),
        }
        init_source = "import sys\nsys.path[:] = " + repr([p for p in sys.path if isinstance(p, str)])
        # Events in `shared=` are loaded at every worker start: their
        # pickles' references are held until the pool has stopped.
        _event._collecting.tokens = self._event_tokens = []
        try:
            r = _native.pool_new(
                max_workers,
                self._thread_name_prefix,
                init_source,
                cfg,
                max_tasks_per_worker,
                kill_grace,
                bool(isolated),
                # interp.aio: (childconcurrency, loop factory, close timeout).
                *_event_loop,
            )
        finally:
            _event._collecting.tokens = None
        if isinstance(r, tuple):
            _, message, tb = r
            self._broken = (
                "A worker interpreter failed to start (its initializer raised, or it could not be "
                f"created): {message}"
            )
            # Logged when first noticed (submit), as a thread pool's worker
            # logs it when it starts; or at shutdown if nothing noticed.
            self._unlogged = tb or message
        else:
            self._pool = r

    # -- submission --

    _unlogged = None
    _event_tokens = ()

    def _log_broken(self):
        text, self._unlogged = self._unlogged, None
        if text:
            LOGGER.critical("Exception in initializer:\n%s", text)

    def _check(self):
        if self._broken:
            self._log_broken()
            raise BrokenInterpreterPool(self._broken)
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if _global_shutdown:
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    def submit(self, fn, /, *args, **kwargs):
        """Schedules ``fn(*args, **kwargs)`` in a worker interpreter."""
        if self._shutdown or self._broken:
            self._check()
        f = _new_future()
        try:
            t = _targets[fn]
        except (KeyError, TypeError):
            t = _target(fn)
        f._task = _submit(self._pool, f, t, args, kwargs or None, None)
        return f

    def submit_with(self, fn, /, args=(), kwargs=None, *, timeout=None):
        """As ``submit(fn, *args, **kwargs)``, with a timeout: a task still
        running ``timeout`` seconds after it started is interrupted and its
        future raises ``TimeoutError``."""
        self._check()
        f = _InterpFuture()
        f._task = _native.submit(self._pool, f, _target(fn), tuple(args), dict(kwargs) if kwargs else None, timeout)
        return f

    def submit_main(self, fn, /, *args, **kwargs):
        """Runs ``fn(*args, **kwargs)`` in the main interpreter on a pool
        thread (objects passed by reference): the lane for extension
        modules that cannot load in worker interpreters, numpy included."""
        self._check()
        if not callable(fn):
            raise TypeError(f"{fn!r} is not callable")
        f = _InterpFuture()
        f._task = _native.submit_main(self._pool, f, _run_in_lane, (self, f, fn, args, kwargs), None)
        return f

    def _submit_chunk(self, target, chunk, star, timeout=None):
        f = _InterpFuture()
        f._task = _native.submit_chunk(self._pool, f, target, chunk, star, timeout)
        return f

    def _map_futures(self, fn, iterables, chunksize, star):
        if not isinstance(chunksize, int) or chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        self._check()
        target = _target(fn)
        if star:
            it = iter(iterables[0])
        elif len(iterables) == 1:
            it = iter(iterables[0])
        else:
            it, star = zip(*iterables), True
        chunks = _chunks(it, chunksize)
        return target, chunks, star

    def map(self, fn, *iterables, timeout=None, chunksize=1, buffersize=None):
        """As ``Executor.map``: results in order; ``chunksize`` inputs run
        as one task in a worker; ``buffersize`` bounds the inputs submitted
        ahead of the results consumed (None: all at once)."""
        _check_buffersize(buffersize)
        if not iterables:
            iterables = ((),)
        target, chunks, star = self._map_futures(fn, iterables, chunksize, False)
        return self._ordered(target, chunks, star, timeout, buffersize, chunksize)

    def starmap(self, fn, iterable, *, timeout=None, chunksize=1, buffersize=None):
        """``map`` with each item an argument tuple: ``fn(*item)``."""
        _check_buffersize(buffersize)
        target, chunks, star = self._map_futures(fn, (iterable,), chunksize, True)
        return self._ordered(target, chunks, star, timeout, buffersize, chunksize)

    def _ordered(self, target, chunks, star, timeout, buffersize, chunksize):
        end = None if timeout is None else time.monotonic() + timeout
        if buffersize is None:
            fs = deque(self._submit_chunk(target, c, star) for c in chunks)
            more = None
        else:
            per = max(1, -(-buffersize // chunksize))
            fs = deque(self._submit_chunk(target, c, star) for c in itertools.islice(chunks, per))
            more = chunks

        def results():
            try:
                while fs:
                    f = fs.popleft()
                    if more is not None:
                        # After shutdown this raises RuntimeError, as
                        # Executor.map's submit does: inputs are never
                        # silently dropped.
                        for c in itertools.islice(more, 1):
                            fs.append(self._submit_chunk(target, c, star))
                    left = None if end is None else end - time.monotonic()
                    values, errors = _chunk_result(f, left)
                    del f
                    # Hand each result over without keeping a reference to
                    # it here (the caller may be waiting for it to be freed).
                    yield from _chunk_items(values, errors)
            finally:
                for f in fs:
                    f.cancel()

        return results()

    def map_unordered(self, fn, iterable, *, timeout=None, chunksize=1):
        """Results as they complete (in order within a chunk)."""
        target, chunks, star = self._map_futures(fn, (iterable,), chunksize, False)
        fs = [self._submit_chunk(target, c, star) for c in chunks]
        end = None if timeout is None else time.monotonic() + timeout

        def results():
            from concurrent.futures import as_completed

            pending = set(fs)
            try:
                for f in as_completed(fs, None if end is None else max(0.0, end - time.monotonic())):
                    pending.discard(f)
                    values, errors = _chunk_result(f, 0)
                    yield from _chunk_items(values, errors)
            finally:
                for f in pending:
                    f.cancel()

        return results()

    imap_unordered = map_unordered

    # -- shutdown --

    def shutdown(self, wait=True, *, cancel_futures=False):
        """As ``Executor.shutdown``. With ``wait``, returns once every
        task has finished (however long it runs: nothing is interrupted),
        every future is completed and every worker has stopped; Ctrl-C
        interrupts the wait (the workers keep stopping)."""
        with self._shutdown_lock:
            self._shutdown = True
        self._log_broken()
        if wait and getattr(_lane, "executor", None) is self:
            # As ThreadPoolExecutor (its join of the current thread raises):
            # a task of this executor would wait for itself forever.
            if self._pool is not None:
                _native.pool_shutdown(self._pool, False, bool(cancel_futures))
            raise RuntimeError(
                "cannot join current thread: shutdown(wait=True) was called from a task running on "
                "this executor, which would wait for itself; use shutdown(wait=False) there"
            )
        if self._pool is not None:
            _native.pool_shutdown(self._pool, bool(wait), bool(cancel_futures))
            if wait:
                tokens, self._event_tokens = self._event_tokens, []
                for t in tokens:
                    _native.unshare(t)

    def __exit__(self, exc_type, exc_val, exc_tb):
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt) and self._pool is not None:
            # Ctrl-C: stop the work instead of waiting for it.
            _native.pool_cancel_all(self._pool)
            self.shutdown(wait=True, cancel_futures=True)
        else:
            self.shutdown(wait=True)
        return False


# The executor whose main-lane task this thread runs now.
_lane = threading.local()


def _run_in_lane(ex, f, fn, args, kwargs):
    # A main-lane task (pool thread, main interpreter): its future enters
    # RUNNING first (so cancel() then returns False, as with a thread pool),
    # or the call is skipped when it was cancelled meanwhile.
    try:
        if not f.set_running_or_notify_cancel():
            return None
    except RuntimeError:
        return None  # completed already (cancelled and notified)
    _lane.executor = ex
    try:
        return fn(*args, **kwargs) if kwargs else fn(*args)
    finally:
        _lane.executor = None


def _chunk_items(values, errors):
    """Yields a chunk's results in order, raising the error of a failed item
    in its place. Hands each result over without keeping a reference to it
    (the caller may be waiting for it to be freed): `values` is emptied."""
    values.reverse()
    i = 0
    while values:
        if errors and i in errors:
            raise _rebuild(*errors[i])
        i += 1
        yield values.pop()


def _chunk_result(f, timeout):
    return f.result(timeout)


# ---- the hybrid pool ---------------------------------------------------------


class interpreter:
    """Marks a function to run in a worker interpreter when submitted to an
    ``InterpreterThreadPoolExecutor`` (plain callables run on a thread in
    the main interpreter). Calling the marked function directly just calls
    it. The function must be defined at module level (it travels by name).
    """

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError("interpreter() needs a callable")
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        return self.__wrapped__(*args, **kwargs)

    def __repr__(self):
        return f"interpreter({self.__wrapped__!r})"

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self, obj)


def _unwrap(fn, args, kwargs):
    """The marked function behind ``fn``, with its arguments, or None.
    Sees through ``asyncio.to_thread``'s ``partial(context.run, fn, ...)``."""
    if isinstance(fn, interpreter):
        return fn.__wrapped__, args, kwargs
    if isinstance(fn, functools.partial):
        inner = fn.func
        owner = getattr(inner, "__self__", None)
        if (
            isinstance(owner, contextvars.Context)
            and getattr(inner, "__name__", "") == "run"
            and fn.args
            and isinstance(fn.args[0], interpreter)
        ):
            return fn.args[0].__wrapped__, fn.args[1:] + args, {**fn.keywords, **kwargs}
        if isinstance(inner, interpreter):
            return inner.__wrapped__, fn.args + args, {**fn.keywords, **kwargs}
    return None


class InterpreterThreadPoolExecutor(InterpreterPoolExecutor):
    """One set of threads for both kinds of work: callables marked with
    ``@interpreter`` run in a worker interpreter (in parallel, own GIL);
    everything else runs on a pool thread in the main interpreter, as with
    ``ThreadPoolExecutor`` (objects by reference). A ``ThreadPoolExecutor``
    subclass, so it can be an asyncio loop's default executor:
    ``asyncio.to_thread(interpreter(f), x)`` then runs ``f`` in a worker.
    """

    def submit(self, fn, /, *args, **kwargs):
        """Runs a marked callable in a worker interpreter, any other on a
        thread in the main interpreter."""
        routed = _unwrap(fn, args, kwargs)
        if routed is not None:
            f, a, k = routed
            return InterpreterPoolExecutor.submit(self, f, *a, **k)
        return self.submit_main(fn, *args, **kwargs)

    def map(self, fn, *iterables, timeout=None, chunksize=1, buffersize=None):
        if isinstance(fn, interpreter):
            return InterpreterPoolExecutor.map(
                self, fn.__wrapped__, *iterables, timeout=timeout, chunksize=chunksize, buffersize=buffersize
            )
        return _base.Executor.map(self, fn, *iterables, timeout=timeout, chunksize=chunksize, buffersize=buffersize) if sys.version_info >= (3, 14) else _base.Executor.map(self, fn, *iterables, timeout=timeout, chunksize=chunksize)
