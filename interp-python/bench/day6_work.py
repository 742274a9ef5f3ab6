"""The work the day-6 benchmark hands to executors: an importable module, so that
every worker (a subinterpreter, a thread or a process) resolves the same
functions by name and keeps its state in this module's globals.

The puzzle is shaped like Advent of Code 2024 day 6, part 2: a guard walks a
grid from ``start`` facing up, turning right in front of an obstacle, until she
leaves the grid. For one candidate cell on her path, ``solve`` answers whether
one extra obstacle there makes her walk forever.

The grid travels in four ways, one function each:

* ``solve(start, node, grid)`` with ``grid`` a ``tuple[tuple[bool, ...], ...]``
  passed on every call (the blog's naive code, via ``solve_candidate``);
* ``solve_node(node)`` reading ``GRID``/``START``, set once per worker by
  ``init`` (an initializer) or looked up in the worker's ``__main__`` (interp's
  ``shared=``, which hands values over as ``prepare_main`` does);
* ``solve_buffer(start, node, view, size)`` with ``view`` a memoryview over
  ``size * size`` bytes, 1 for an obstacle;
* ``solve`` again with an interp ``Frozen`` grid (indexable like the tuple).

This module holds no benchmark logic; ``day6.py`` drives it.
"""

import sys

# Set once per worker by ``init`` (initializer variants) or ``use_main``.
GRID = None
START = None


def solve(start, node, grid):
    """Whether an extra obstacle at ``node`` makes the guard loop.

    ``grid[r][c]`` is true where an obstacle stands; the guard starts at
    ``start`` facing up and steps or turns right. She loops when she is on
    the same cell facing the same way twice: every (cell, direction) is
    remembered, the plain way the puzzle is usually solved.
    """
    rows = len(grid)
    cols = len(grid[0])
    seen = set()
    r, c = start
    dr, dc = -1, 0
    while True:
        state = (r, c, dr, dc)
        if state in seen:
            return True
        seen.add(state)
        nr, nc = r + dr, c + dc
        if not (0 <= nr < rows and 0 <= nc < cols):
            return False
        if grid[nr][nc] or (nr, nc) == node:
            dr, dc = dc, -dr
        else:
            r, c = nr, nc


def solve_candidate(candidate):
    """``solve`` over one ``(start, node, grid)`` tuple: the shape the blog maps."""
    start, node, grid = candidate
    return solve(start, node, grid)


def init(start, grid):
    """Initializer: keeps the grid in this module, once per worker.

    It imports this module by name and sets attributes on it instead of
    ``global GRID; GRID = grid``: CPython 3.14's InterpreterPoolExecutor ships
    a function that loads no global by value and runs it against the worker's
    ``__main__``, where a ``global`` statement would set ``__main__.GRID`` and
    leave this module's ``GRID`` at None.
    """
    import day6_work

    day6_work.GRID = grid
    day6_work.START = start


def use_main():
    """Initializer for interp's ``shared=``: adopts the worker's ``__main__``
    values ``GRID`` and ``START`` (where ``shared=`` puts them) as this
    module's state. Raises a clear error if they are missing."""
    main = sys.modules["__main__"]
    try:
        grid = main.GRID
        start = main.START
    except AttributeError:
        raise RuntimeError(
            "shared= did not put GRID and START into the worker's __main__"
        ) from None
    init(start, grid)


def solve_node(node):
    """``solve`` against the grid this worker was given once (see ``init``)."""
    if GRID is None:
        raise RuntimeError("day6_work.GRID is not set in this worker: run init first")
    return solve(START, node, GRID)


def solve_buffer(start, node, view, size):
    """``solve`` over a flat buffer: ``view[r * size + c]`` is 1 for an obstacle.

    The rows are memoryview slices of ``view`` (no copy), which ``solve``
    indexes like the tuple grid.
    """
    return solve(start, node, [view[r * size : (r + 1) * size] for r in range(size)])


def identity(x):
    """The tiny task: f(x) = x."""
    return x


def burn(n):
    """CPU-bound work for the scaling benchmark: pure-Python arithmetic, no
    allocation that grows, ``n`` loop turns."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total
