"""interp.aio: coroutines on event loops that live in worker interpreters.

``Pool`` speaks aiomultiprocess' vocabulary, with interpreters instead of
processes: each worker interpreter runs one asyncio event loop for its
life, with up to ``childconcurrency`` coroutines at once::

    import asyncio
    from interp import aio

    async def fetch(url):          # at the top level of a module or script
        ...

    async def main():
        async with aio.Pool(childconcurrency=100) as pool:
            one = await pool.apply(fetch, ("https://example.org",))
            many = await pool.map(fetch, urls)          # ordered list
            async for page in pool.map(fetch, urls):    # in order, as they come
                ...
            async for page in pool.map_unordered(fetch, urls):
                ...

How it differs from aiomultiprocess:

- work reaches a worker's loop through a descriptor the loop watches (no
  polling interval), and finished coroutines come back in batches: one
  wake-up of your loop per batch (``call_soon_threadsafe``), not per result;
- exceptions keep their type, message and traceback;
- cancelling the awaitable of ``apply`` (or a ``map`` that is awaited)
  cancels the coroutine inside its worker's loop (it sees
  ``asyncio.CancelledError``); a coroutine that never yields is interrupted
  (``interp.Cancelled`` raised in it), and if it still does not stop within
  the kill grace its worker is replaced;
- a worker lost that way fails *each* of its coroutines with
  ``interp.WorkerLost`` (none is re-queued: each may have had effects);
- ``close()`` then ``await join()`` lets running coroutines finish for
  ``close_timeout`` seconds, then cancels them (what is still queued then
  fails as never run, ``BrokenInterpreterPool``).

CPython 3.13 or newer: on 3.12, asyncio in isolated interpreters corrupts
memory, and ``Pool`` refuses to start there.

Functions travel by module and qualified name (define them at the top level
of a module or of your script); plain functions run too (their result is
taken as it is).
"""

import asyncio
import os
import sys
import threading
import weakref

from . import _native
from ._executor import (
    _CANCELLED_AND_NOTIFIED,
    _FINISHED,
    _PENDING,
    _RUNNING,
    InterpreterPoolExecutor,
    WorkerLost,
    _InterpFuture,
    _chunk_items,
    _deferred,
    _target,
)

__all__ = ["Pool", "WorkerLost"]


class _Bridge:
    """Hands finished tasks to one asyncio loop, one wake-up per batch:
    interp's completer settles a batch of futures under the main GIL, and
    once the whole batch is settled (its deferred callbacks run) the bridge
    schedules one ``call_soon_threadsafe``; the loop then settles every
    asyncio future of what finished meanwhile. It holds its loop weakly
    (``_bridges`` is keyed by the loop: a strong reference would keep every
    caller loop alive as long as the module)."""

    __slots__ = ("loop", "pending", "lock", "armed", "scheduled", "__weakref__")

    def __init__(self, loop):
        self.loop = weakref.ref(loop)
        self.pending = []
        self.lock = threading.Lock()
        self.armed = False  # a kick waits for the end of the completer's batch
        self.scheduled = False  # a drain waits for the loop

    def finished(self, f, inline):
        # Called with the main GIL held, by interp's completer thread (or a
        # thread that completes futures inline, e.g. a shutdown's flush).
        with self.lock:
            self.pending.append(f)
            arm = not self.armed
            self.armed = True
        if arm:
            if inline:
                self.kick()
            else:
                _deferred.append(f)  # its _invoke_callbacks kicks

    def kick(self):
        with self.lock:
            self.armed = False
            if not self.pending or self.scheduled:
                return
            self.scheduled = True
        loop = self.loop()
        if loop is None:
            return  # the loop is gone: nobody awaits these any more
        try:
            loop.call_soon_threadsafe(self.drain)
        except RuntimeError:
            pass  # the loop is closed: nobody awaits these any more

    def drain(self):
        with self.lock:
            batch, self.pending = self.pending, []
            self.scheduled = False
        for f in batch:
            af = f._af
            if af.done():
                continue
            if f._state == _FINISHED:
                e = f._exception
                if e is None:
                    af.set_result(f._result)
                else:
                    af.set_exception(e)
            else:
                af.cancel()


_bridges = weakref.WeakKeyDictionary()


def _items(result, chunked):
    """The items one pool task gave: a chunk's, or the task's own result."""
    return _chunk_items(*result) if chunked else (result,)

def _bridge(loop):
    b = _bridges.get(loop)
    if b is None:
        b = _bridges[loop] = _Bridge(loop)
    return b


class _AioFuture(_InterpFuture):
    """The task's ``concurrent.futures`` side, settled by interp's
    completer; it passes its outcome on to the asyncio future ``_af``."""

    _af = None
    _bridge = None
    # Not empty: interp's completer then settles it through _interp_settle
    # (its quick path sets the fields of a future nobody watches).
    _cbl = (None,)

    def _interp_settle(self, state, result, exception, inline):
        if self._state not in (_PENDING, _RUNNING):
            return
        self._result = result
        self._exception = exception
        self._state = state
        self._task = None
        self._bridge.finished(self, inline)

    def _invoke_callbacks(self):
        # Run by interp's completer once its batch is settled.
        self._bridge.kick()


class _MapResult:
    """What ``Pool.map`` and ``Pool.starmap`` return: awaitable (the list of
    results, in order; the first failure is raised and what has not finished
    is cancelled) and async-iterable (each result in order, as soon as it and
    those before it are done)."""

    def __init__(self, pool, func, iterable, star, chunksize):
        self._pool = pool
        self._args = (func, iterable, star, chunksize)
        self._tasks = None

    def _submit(self):
        if self._tasks is None:
            self._tasks = self._pool._submit_map(*self._args)
        return self._tasks

    async def _all(self):
        tasks = self._submit()
        out = []
        try:
            for _, af, chunked in tasks:
                r = await af
                if chunked:
                    out.extend(_chunk_items(*r))
                else:
                    out.append(r)
            return out
        except BaseException:
            _cancel(tasks)
            raise

    def __await__(self):
        return self._all().__await__()

    async def __aiter__(self):
        tasks = self._submit()
        try:
            for _, af, chunked in tasks:
                r = await af
                for x in _items(r, chunked):
                    yield x
        finally:
            _cancel(tasks)


def _cancel(tasks):
    """Cancels the pool tasks of `tasks` ((future, asyncio future, chunked)
    triples) whose results nobody will read."""
    for f, af, _ in tasks:
        if not af.done() or af.cancelled():
            _InterpFuture.cancel(f)


def _check_chunksize(chunksize):
    if isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1:
        raise ValueError(f"chunksize must be a positive int, got {chunksize!r}")


class Pool:
    """A pool of worker interpreters, each running one asyncio event loop
    (aiomultiprocess' ``Pool``, with interpreters for processes).

    - ``processes``: workers (default: the CPU count).
    - ``initializer(*initargs)``: runs in each worker at start (and after
      each recycle).
    - ``maxtasksperchild``: a fresh interpreter after that many coroutines
      (0: never).
    - ``childconcurrency``: coroutines per worker loop at once (default 16).
    - ``loop_initializer``: a function returning the event loop each worker
      uses (e.g. ``uvloop.new_event_loop``); default
      ``asyncio.new_event_loop``.
    - ``close_timeout``: how long ``join()`` after ``close()`` lets running
      coroutines go on before it cancels them (seconds, default 10).
    - ``kill_grace``: how long a cancelled coroutine may ignore its
      cancellation (a blocking call, code that never yields) before its
      worker is replaced (seconds, default 2).

    Use it as ``async with Pool() as pool:`` (close and join on exit), or
    call ``start()`` / ``close()`` / ``await join()`` yourself, so the pool
    can sit idle between uses. Its workers start on ``start()`` (or the
    first call), which blocks its caller while they make their
    interpreters.
    """

    def __init__(
        self,
        processes=None,
        initializer=None,
        initargs=(),
        maxtasksperchild=0,
        childconcurrency=16,
        loop_initializer=None,
        *,
        close_timeout=None,
        kill_grace=None,
    ):
        if sys.version_info < (3, 13):
            raise RuntimeError(
                "interp.aio needs CPython 3.13 or newer: on 3.12, asyncio in isolated interpreters "
                "corrupts memory (asyncio.gather in a worker ends in 'double free or corruption' "
                "at exit)"
            )
        if processes is None:
            processes = os.cpu_count() or 1
        if isinstance(childconcurrency, bool) or not isinstance(childconcurrency, int) or childconcurrency < 1:
            raise ValueError(f"childconcurrency must be a positive int, got {childconcurrency!r}")
        if isinstance(maxtasksperchild, bool) or not isinstance(maxtasksperchild, int) or maxtasksperchild < 0:
            raise ValueError(f"maxtasksperchild must be an int >= 0 (0: never recycle), got {maxtasksperchild!r}")
        factory = None
        if loop_initializer is not None:
            module = getattr(loop_initializer, "__module__", None)
            qualname = getattr(loop_initializer, "__qualname__", None)
            if not callable(loop_initializer) or not module or not qualname or "<" in qualname:
                raise TypeError(
                    "loop_initializer must be a function defined at the top level of a module "
                    f"(workers import it by name), got {loop_initializer!r}"
                )
            factory = (module, qualname)
        self._args = dict(
            max_workers=processes,
            initializer=initializer,
            initargs=initargs,
            max_tasks_per_worker=maxtasksperchild or None,
            kill_grace=kill_grace,
            _event_loop=(childconcurrency, factory, close_timeout),
        )
        self.processes = processes
        self.childconcurrency = childconcurrency
        self._ex = None
        self._closed = False
        self._lock = threading.Lock()

    # -- lifecycle --

    def start(self):
        """Starts the workers (once); returns the pool."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the pool is closed")
            if self._ex is None:
                self._ex = InterpreterPoolExecutor(thread_name_prefix="interp-aio", **self._args)
        return self

    def close(self):
        """Takes no more work; what is queued and running goes on (see
        ``join``)."""
        with self._lock:
            self._closed = True
            ex = self._ex
        if ex is not None and ex._pool is not None:
            ex._shutdown = True
            _native.pool_shutdown(ex._pool, False, False)

    def terminate(self):
        """Takes no more work and cancels every coroutine queued or
        running."""
        with self._lock:
            self._closed = True
            ex = self._ex
        if ex is not None and ex._pool is not None:
            ex._shutdown = True
            _native.pool_cancel_all(ex._pool)
            _native.pool_shutdown(ex._pool, False, False)

    async def join(self):
        """Waits until every worker has stopped: after ``close()``, running
        coroutines get ``close_timeout`` seconds, then are cancelled."""
        if not self._closed:
            raise ValueError("close() or terminate() the pool before join()")
        ex = self._ex
        if ex is not None and ex._pool is not None:
            await asyncio.to_thread(_native.aio_join, ex._pool)
            # The executor's own bookkeeping (nothing left to wait for).
            ex.shutdown(wait=True)

    async def __aenter__(self):
        return self.start()

    async def __aexit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, (asyncio.CancelledError, KeyboardInterrupt)):
            self.terminate()
        else:
            self.close()
        await self.join()
        return False

    # -- work --

    def _ready(self):
        """The started executor that takes new work (raises otherwise)."""
        ex = self._ex
        if ex is None or self._closed:
            if self._closed:
                raise RuntimeError("the pool is closed: no new work")
            ex = self.start()._ex
        if ex._broken:
            ex._check()
        return ex

    def _future(self):
        """The started executor, and a new future pair bound to the running
        loop: the completer's ``_AioFuture`` and the caller's asyncio one."""
        ex = self._ready()
        loop = asyncio.get_running_loop()
        f = _AioFuture.__new__(_AioFuture)
        f._bridge = _bridge(loop)
        af = f._af = loop.create_future()
        return ex, f, af

    def _submit(self, func, args, kwds):
        ex, f, af = self._future()
        f._task = _native.submit(ex._pool, f, _target(func), args, kwds, None)
        return f, af

    async def apply(self, func, args=None, kwds=None):
        """Runs ``func(*args, **kwds)`` in a worker's loop (awaited there when
        it is a coroutine function) and returns its result. Cancelling the
        await cancels the coroutine in its worker."""
        f, af = self._submit(func, tuple(args) if args else (), dict(kwds) if kwds else None)
        try:
            return await af
        except BaseException:
            _cancel(((f, af, False),))
            raise

    def _submit_chunk(self, func, chunk, star):
        ex, f, af = self._future()
        f._task = _native.submit_chunk(ex._pool, f, _target(func), chunk, star, None)
        return f, af

    def _submit_map(self, func, iterable, star, chunksize):
        _check_chunksize(chunksize)
        tasks = []
        try:
            if chunksize == 1:
                # _submit's work, hoisted out of the loop.
                ex = self._ready()
                loop = asyncio.get_running_loop()
                bridge = _bridge(loop)
                target = _target(func)
                pool = ex._pool
                new = _AioFuture.__new__
                submit = _native.submit
                make = loop.create_future
                append = tasks.append
                for a in iterable:
                    f = new(_AioFuture)
                    f._bridge = bridge
                    af = f._af = make()
                    f._task = submit(pool, f, target, tuple(a) if star else (a,), None, None)
                    append((f, af, False))
            else:
                chunk = []
                for a in iterable:
                    chunk.append(tuple(a) if star else a)
                    if len(chunk) == chunksize:
                        tasks.append((*self._submit_chunk(func, chunk, star), True))
                        chunk = []
                if chunk:
                    tasks.append((*self._submit_chunk(func, chunk, star), True))
        except BaseException:
            _cancel(tasks)
            raise
        return tasks

    def map(self, func, iterable, chunksize=1):
        """``func(item)`` for each item: await it for the list of results
        (in order), or ``async for`` over it. Each item is a task of a
        worker's loop (one of its ``childconcurrency``); with ``chunksize``
        > 1, each task is a chunk of that many items whose calls run at once
        in one loop (much less overhead per item; a chunk counts once
        against ``childconcurrency``)."""
        return _MapResult(self, func, iterable, False, chunksize)

    def starmap(self, func, iterable, chunksize=1):
        """As ``map``, with ``func(*item)``."""
        return _MapResult(self, func, iterable, True, chunksize)

    async def map_unordered(self, func, iterable, chunksize=1):
        """``func(item)`` for each item, yielded as each finishes (a chunk's
        results together, with ``chunksize`` > 1)."""
        tasks = self._submit_map(func, iterable, False, chunksize)
        try:
            for fut in asyncio.as_completed([af for _, af, _ in tasks]):
                r = await fut
                for x in _items(r, chunksize > 1):
                    yield x
        finally:
            _cancel(tasks)

    def wrap(self, func):
        """An ``async`` callable running ``func`` in the pool: ``await
        pool.wrap(f)(x)`` is ``await pool.apply(f, (x,))``."""

        async def call(*args, **kwargs):
            return await self.apply(func, args, kwargs)

        call.__name__ = getattr(func, "__name__", "wrapped")
        call.__qualname__ = getattr(func, "__qualname__", call.__name__)
        call.__doc__ = getattr(func, "__doc__", None)
        return call
