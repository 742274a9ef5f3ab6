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

# Up, right, down, left: a right turn is the next entry.
_DIRS = ((-1, 0), (0, 1), (1, 0), (0, -1))


def solve(start, node, grid):
    """Whether an extra obstacle at ``node`` makes the guard loop.

    ``grid[r][c]`` is true where an obstacle stands; the guard starts at
    ``start`` facing up. She loops if she faces the same way on the same cell
    twice; only the cells where she turns are remembered.
    """
    rows = len(grid)
    cols = len(grid[0])
    block_r, block_c = node
    r, c = start
    d = 0
    turns = set()
    while True:
        dr, dc = _DIRS[d]
        nr = r + dr
        nc = c + dc
        if nr < 0 or nr >= rows or nc < 0 or nc >= cols:
            return False
        if grid[nr][nc] or (nr == block_r and nc == block_c):
            state = (r, c, d)
            if state in turns:
                return True
            turns.add(state)
            d = (d + 1) & 3
        else:
            r = nr
            c = nc


def solve_candidate(candidate):
    """``solve`` over one ``(start, node, grid)`` tuple: the shape the blog maps."""
    start, node, grid = candidate
    return solve(start, node, grid)


def init(start, grid):
    """Initializer: keeps the grid in this module, once per worker."""
    global GRID, START
    GRID = grid
    START = start


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
    """``solve`` over a flat buffer: ``view[r * size + c]`` is 1 for an obstacle."""
    block = node[0] * size + node[1]
    r, c = start
    d = 0
    turns = set()
    while True:
        dr, dc = _DIRS[d]
        nr = r + dr
        nc = c + dc
        if nr < 0 or nr >= size or nc < 0 or nc >= size:
            return False
        cell = nr * size + nc
        if view[cell] or cell == block:
            state = (r, c, d)
            if state in turns:
                return True
            turns.add(state)
            d = (d + 1) & 3
        else:
            r = nr
            c = nc


def identity(x):
    """The tiny task: f(x) = x."""
    return x
