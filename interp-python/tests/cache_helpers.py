"""Worker-side functions for test_cache.py (importable by name in workers)."""

KEPT = None
TABLE = tuple(range(1000, 6000))


def keep(x):
    global KEPT
    KEPT = x
    return len(x)


def same(x):
    return x is KEPT


def same_third(args):
    return args[2] is KEPT


def total(g):
    return sum(map(sum, g))


def append_last(t):
    t[-1].append(1)
    return len(t[-1])


def first_byte(b):
    return b[0]


def table():
    return TABLE


def kind(x):
    return type(x).__name__


def second_first_byte(pair):
    return pair[1][0], type(pair[1]).__name__
