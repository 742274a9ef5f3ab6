"""Task functions for test_dask.py: top-level functions of an importable
module, so that they travel to worker interpreters (and to distributed's
worker processes) by name."""

import os
import sys
import time

import interp

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench")
if BENCH not in sys.path:
    sys.path.insert(0, BENCH)

import day6_work  # noqa: E402

# A bound that only turns a hang into a failure.
LONG = 300


class Boom(ValueError):
    """Raised by ``boom``; a type of this module, so that it reaches the
    caller (the client) as itself."""


def inc(x):
    return x + 1


def add(a, b):
    return a + b


def where(*_):
    """The id of the interpreter that runs the task (0: the main one)."""
    return interp.interpreter_id()


def boom(x):
    raise Boom(f"boom at {x}")


def solve_many(start, nodes, grid):
    """How many of ``nodes`` make the guard loop (``day6_work.solve`` each)."""
    return sum(1 for node in nodes if day6_work.solve(start, node, grid))


def gated(path, value):
    """Returns ``value`` once the file ``path`` exists: holds a task running
    until the test lets it go (LONG bounds the wait)."""
    deadline = time.monotonic() + LONG
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {LONG}s")
        time.sleep(0.01)
    return value


def pid(*_):
    return os.getpid()


def apply(f, *args):
    """Calls ``f``: a task whose argument is a function."""
    return f(*args)


def lazy_map(f, xs):
    """A lazy ``map`` over ``f``: a result that holds its function argument."""
    return map(f, xs)


def report(x):
    """``x``, this interpreter's id, and whether dask is imported here."""
    return x, interp.interpreter_id(), "dask" in sys.modules


def started_then_gated(started_dir, gate, value):
    """Leaves a file ``<value>`` in ``started_dir`` (the task has started),
    then ``gated(gate, value)``."""
    with open(os.path.join(started_dir, str(value)), "w"):
        pass
    return gated(gate, value)


def run_task(task):
    """What distributed's ``_run_task_simple`` does with a task: calls it
    with its dependencies' data (none here)."""
    return task({})


def tname(x):
    """``x``'s type name, and ``x`` (as a task received it)."""
    return type(x).__name__, x


def type_name(x):
    return type(x).__name__


def by_value_cache_size():
    """How many by-value payloads this interpreter keeps unpickled."""
    import interp._by_value as b

    load = getattr(b, "_load_small", None) or b._load
    return load.cache_info().currsize
