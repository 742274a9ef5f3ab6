"""The materialization cache from Python: the caller's immutable object
passed again arrives in a worker as the object that worker built the first
time; mutable data never does; results returned again are the same object;
memory stays flat over many distinct values."""

import gc
import sys

import pytest

import cache_helpers as h
import interp
from conftest import LONG


@pytest.fixture
def ex1():
    e = interp.InterpreterPoolExecutor(1)
    yield e
    e.shutdown(wait=True, cancel_futures=True)


def grid(n=100, base=1000):
    return tuple(tuple(range(base + r * n, base + r * n + n)) for r in range(n))


def test_the_same_object_arrives_as_the_same_object(ex1):
    g = grid()
    assert ex1.submit(h.keep, g).result(LONG) == 100
    assert ex1.submit(h.same, g).result(LONG) is True
    # The blog's shape: a fresh (start, node, grid) tuple per call.
    assert list(ex1.map(h.same_third, [(1, n, g) for n in range(20)])) == [True] * 20
    # An equal but distinct object is another value: built afresh.
    assert ex1.submit(h.same, grid()).result(LONG) is False
    assert ex1.submit(h.total, grid()).result(LONG) == ex1.submit(h.total, g).result(LONG)


def test_the_callers_object_is_held_while_cached(ex1):
    g = grid()
    before = sys.getrefcount(g)
    ex1.submit(h.keep, g).result(LONG)
    assert sys.getrefcount(g) == before + 1, "the cache holds one reference"


def test_no_stale_object_when_an_address_is_reused(ex1):
    # 64 rows of 32: the outer tuple is the only object of its size, made
    # with its exact size (from a list), so a freed one's block is reused.
    def make(base):
        return tuple([tuple(range(base + r * 32, base + r * 32 + 32)) for r in range(64)])

    a = make(1000)
    ex1.submit(h.keep, a).result(LONG)
    a_id = id(a)
    del a
    # Inserts sweep dead entries: the next big value passed frees `a`.
    ex1.submit(h.total, grid(base=50_000)).result(LONG)
    tries = []
    for _ in range(2000):
        b = make(90_000)
        if id(b) == a_id:
            break
        tries.append(b)
    else:
        pytest.skip("the allocator never reused the freed address")
    assert ex1.submit(h.same, b).result(LONG) is False
    assert ex1.submit(h.total, b).result(LONG) == sum(map(sum, b))


def test_mutable_data_is_never_cached(ex1):
    t = tuple(range(1000, 2000)) + ([],)
    for _ in range(3):
        # A fresh list in the worker each call: never the one changed before.
        assert ex1.submit(h.append_last, t).result(LONG) == 1
    assert t[-1] == []
    ba = bytearray(b"a" * 5000)
    assert ex1.submit(h.first_byte, ba).result(LONG) == ord("a")
    ba[0] = ord("b")
    assert ex1.submit(h.first_byte, ba).result(LONG) == ord("b"), "never stale"


def test_a_buffer_next_to_a_cached_grid_is_still_shared(ex1):
    g = grid()
    ex1.submit(h.keep, g).result(LONG)
    ba = bytearray(b"a" * 100)
    assert ex1.submit(h.second_first_byte, (g, ba)).result(LONG) == (ord("a"), "memoryview")
    ba[0] = ord("c")
    assert ex1.submit(h.second_first_byte, (g, ba)).result(LONG) == (ord("c"), "memoryview")


def test_a_result_returned_again_is_the_same_object(ex1):
    r1 = ex1.submit(h.table).result(LONG)
    r2 = ex1.submit(h.table).result(LONG)
    assert r1 == tuple(range(1000, 6000))
    assert r1 is r2


def test_frozen_tuples_arrive_as_tuples_built_once(ex1):
    fz = interp.freeze(grid())
    assert type(fz) is interp.Frozen
    assert ex1.submit(h.kind, fz).result(LONG) == "tuple"
    ex1.submit(h.keep, fz).result(LONG)
    assert ex1.submit(h.same, fz).result(LONG) is True


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_rss_stays_flat_over_ten_thousand_distinct_grids(ex1):
    before = 0
    for n in range(10_000):
        if n == 1_000:
            gc.collect()
            before = rss_kib()
        g = grid(32, 1000 + n)
        assert ex1.submit(h.keep, g).result(LONG) == 32
    gc.collect()
    growth = rss_kib() - before
    # 9,000 grids of about 40 KB each, kept, would be 360 MB.
    assert growth < 64 * 1024, f"RSS grew {growth} KiB over 9,000 distinct grids"
