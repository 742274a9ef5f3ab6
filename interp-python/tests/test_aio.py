"""interp.aio.Pool: coroutines on event loops inside worker interpreters."""

import asyncio
import os
import sys

import pytest

import aio_helpers as h
import interp
from conftest import LONG
from interp import aio


needs_313 = pytest.mark.skipif(
    sys.version_info < (3, 13),
    reason="interp.aio needs CPython 3.13+ (asyncio in isolated interpreters corrupts memory on 3.12)",
)


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="the refusal is for CPython 3.12")
def test_cpython_3_12_is_refused_with_the_reason():
    with pytest.raises(RuntimeError, match="3.13"):
        aio.Pool(1)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, LONG))


def _threads_named(name):
    """How many threads of this process are named `name` (Linux)."""
    n = 0
    for t in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{t}/comm") as f:
                n += f.read().strip() == name
        except OSError:
            pass
    return n


def recv(ch):
    return asyncio.to_thread(ch.recv, timeout=LONG)


@needs_313
def test_ten_thousand_sleeps_take_about_the_longest_not_the_sum():
    async def main():
        async with aio.Pool(2, childconcurrency=5000) as pool:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            got = await pool.starmap(h.later, [(i, 0.2) for i in range(10_000)])
            return got, loop.time() - t0

    got, took = run(main())
    assert got == list(range(10_000))
    # Serially 2000 s; 5000 at a time per loop, about 0.2 s. The bound only
    # keeps a loaded machine from failing the test.
    assert took < 10, took


@needs_313
def test_apply_map_starmap_map_unordered_wrap_and_plain_functions():
    async def main():
        async with aio.Pool(2, childconcurrency=8) as pool:
            assert await pool.apply(h.later, (1,)) == 1
            assert await pool.apply(h.add, (1,), {"b": 2}) == 3
            assert await pool.apply(h.plain, (21,)) == 42
            assert await pool.map(h.later, range(20)) == list(range(20))
            assert await pool.starmap(h.add, [(i, i) for i in range(5)]) == [0, 2, 4, 6, 8]
            assert [x async for x in pool.map(h.later, range(5))] == [0, 1, 2, 3, 4]
            assert sorted([x async for x in pool.map_unordered(h.later, range(5))]) == [0, 1, 2, 3, 4]
            assert await pool.wrap(h.add)(2, b=3) == 5

    run(main())


@needs_313
def test_a_raising_coroutine_keeps_type_message_and_traceback():
    async def main():
        async with aio.Pool(1) as pool:
            with pytest.raises(KeyError) as info:
                await pool.apply(h.boom, (7,))
            return info.value

    e = run(main())
    assert e.args == ("bad 7",)
    remote = str(e.__cause__)
    assert "in boom" in remote and "KeyError: 'bad 7'" in remote, remote


@needs_313
def test_cancelling_the_await_cancels_the_coroutine_inside_its_loop():
    async def main():
        async with aio.Pool(1, childconcurrency=8) as pool:
            ch = interp.Channel()
            others = [asyncio.ensure_future(pool.apply(h.later, (i, 0.3))) for i in range(3)]
            t = asyncio.ensure_future(pool.apply(h.wait_cancel, (ch,)))
            assert await recv(ch) == "started"
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            assert await recv(ch) == "saw CancelledError"
            assert await asyncio.gather(*others) == [0, 1, 2]
            # asyncio.wait_for's timeout cancels the same way.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(pool.apply(h.wait_cancel, (ch,)), 0.2)
            assert await recv(ch) == "started"
            assert await recv(ch) == "saw CancelledError"

    run(main())


@needs_313
def test_a_coroutine_that_never_yields_is_interrupted():
    async def main():
        async with aio.Pool(1, kill_grace=LONG) as pool:
            ch = interp.Channel()
            t = asyncio.ensure_future(pool.apply(h.spin_forever, (ch,)))
            assert await recv(ch) == "started"
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            assert await pool.apply(h.later, (5,)) == 5

    run(main())


@needs_313
def test_a_worker_lost_mid_batch_fails_each_of_its_coroutines():
    async def main():
        async with aio.Pool(1, childconcurrency=8, kill_grace=0.2) as pool:
            ch = interp.Channel()
            sleepers = [asyncio.ensure_future(pool.apply(h.later, (i, 3600))) for i in range(3)]
            blocker = asyncio.ensure_future(pool.apply(h.block_in_c, (ch, 1)))
            assert await recv(ch) == "started"
            blocker.cancel()
            with pytest.raises(asyncio.CancelledError):
                await blocker
            got = await asyncio.gather(*sleepers, return_exceptions=True)
            assert all(isinstance(g, interp.WorkerLost) for g in got), got
            assert "did not turn" in str(got[0])
            # A fresh worker serves.
            assert await pool.apply(h.later, (7,)) == 7
            # Once its blocking call returns, the abandoned loop stops and its
            # thread ends (else its interpreter would outlive the process's
            # Python: a fatal error at exit on 3.12, a warning on 3.14).
            loop = asyncio.get_running_loop()
            deadline = loop.time() + LONG
            while _threads_named("interp-aio_0") > 1:
                assert loop.time() < deadline, "the abandoned worker thread did not end"
                await asyncio.sleep(0.01)

    run(main())


@needs_313
def test_close_lets_running_coroutines_finish():
    async def main():
        pool = aio.Pool(2, childconcurrency=50).start()
        tasks = [asyncio.ensure_future(pool.apply(h.later, (i, 0.2))) for i in range(40)]
        await asyncio.sleep(0)
        pool.close()
        with pytest.raises(RuntimeError, match="closed"):
            await pool.apply(h.later, (1,))
        await pool.join()
        assert await asyncio.gather(*tasks) == list(range(40))

    run(main())


@needs_313
def test_close_cancels_what_still_runs_after_close_timeout():
    async def main():
        pool = aio.Pool(2, childconcurrency=50, close_timeout=0.3, kill_grace=LONG).start()
        ch = interp.Channel()
        tasks = [asyncio.ensure_future(pool.apply(h.wait_cancel, (ch,))) for _ in range(10)]
        # All running (what is still queued at the close timeout fails as
        # not run instead).
        for _ in range(10):
            assert await recv(ch) == "started"
        pool.close()
        await pool.join()
        got = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(g, asyncio.CancelledError) for g in got), got

    run(main())


@needs_313
def test_cpu_bound_coroutines_on_two_workers_overlap():
    # While one worker's interpreter holds its GIL through one long C call
    # (sum), a coroutine on the other worker keeps running bytecode: were
    # the two serialised on one lock, it could not run any meanwhile.
    # Overlapping wall windows prove nothing (time slicing overlaps them),
    # nor does CPU time on a busy machine (the scheduler then gives the
    # process about one core). One channel keeps the send order, so the
    # ticks between "in" and "out" were sent during the call.
    async def main():
        seen = []
        async with aio.Pool(2, childconcurrency=4) as pool:
            for _ in range(3):
                log, started, stop = interp.Channel(), interp.Channel(), interp.Channel()
                ticker = asyncio.ensure_future(pool.apply(h.tick_until, (log, started, stop)))
                # The ticker's loop does not turn while it ticks: the other
                # worker takes the next call.
                assert await recv(started) == "ticking"
                try:
                    a = await pool.apply(h.hold_gil, (log, 30_000_000))
                finally:
                    stop.close()
                b = await ticker
                assert a != b, "both ran on the same worker"
                msgs = []
                while len(log):
                    msgs.append(log.try_recv())
                during = msgs[msgs.index("in") + 1 : msgs.index("out")]
                seen.append(during.count("tick"))
                if seen[-1] >= 10:
                    return seen
        raise AssertionError(f"the other worker ran (almost) no bytecode while one held its GIL in a C call: {seen}")

    print(run(main()))


@needs_313
def test_caller_loops_are_not_kept_alive_by_the_pool():
    import gc
    import weakref

    pool = aio.Pool(1)
    loops = []

    async def one(i):
        loops.append(weakref.ref(asyncio.get_running_loop()))
        return await pool.apply(h.later, (i,))

    try:
        assert [asyncio.run(one(i)) for i in range(5)] == list(range(5))
    finally:
        pool.close()
        asyncio.run(pool.join())
    gc.collect()
    alive = [r for r in loops if r() is not None]
    assert not alive, f"{len(alive)} of 5 finished asyncio.run() loops are still alive: {alive}"


@needs_313
def test_results_reach_the_caller_loop_in_batches():
    async def main():
        async with aio.Pool(1, childconcurrency=2000) as pool:
            loop = asyncio.get_running_loop()
            t = asyncio.ensure_future(pool.map(h.gated, range(1000)))
            deadline = loop.time() + LONG
            while await pool.apply(h.waiting) < 1000:
                assert loop.time() < deadline, "the gated coroutines did not all start"
            calls = []
            orig = loop.call_soon_threadsafe

            def counting(cb, *args, **kw):
                calls.append(cb)
                return orig(cb, *args, **kw)

            loop.call_soon_threadsafe = counting
            try:
                # All 1000 finish in the same turn of the worker's loop.
                await pool.apply(h.open_gate)
                got = await t
            finally:
                del loop.call_soon_threadsafe
            return got, len(calls)

    got, wakeups = run(main())
    assert got == list(range(1000))
    print(f"{wakeups} wake-ups for 1000 results")
    assert wakeups <= 10, f"{wakeups} wake-ups of the caller's loop for 1000 results"


@needs_313
def test_maxtasksperchild_and_loop_initializer():
    async def main():
        async with aio.Pool(1, childconcurrency=2, maxtasksperchild=3, loop_initializer=h.new_loop) as pool:
            ids = [await pool.apply(h.where) for _ in range(9)]
            made = await pool.apply(h.loop_maker)
            return ids, made

    ids, made = run(main())
    assert len(set(ids)) == 3, ids
    assert made == "aio_helpers.new_loop"


@needs_313
def test_bad_arguments_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="childconcurrency"):
        aio.Pool(1, childconcurrency=0)
    with pytest.raises(ValueError, match="maxtasksperchild"):
        aio.Pool(1, maxtasksperchild=-1)
    with pytest.raises(TypeError, match="loop_initializer"):
        aio.Pool(1, loop_initializer=lambda: None)

    async def main():
        pool = aio.Pool(1)
        with pytest.raises(ValueError, match="close"):
            await pool.join()

    run(main())


@needs_313
def test_chunked_map_starmap_and_map_unordered_keep_order_and_errors():
    async def main():
        async with aio.Pool(2, childconcurrency=4) as pool:
            assert await pool.map(h.later, range(1000), chunksize=64) == list(range(1000))
            assert await pool.starmap(h.add, [(i, 1) for i in range(100)], chunksize=7) == list(range(1, 101))
            assert [x async for x in pool.map(h.plain, range(10), chunksize=3)] == [2 * i for i in range(10)]
            got = sorted([x async for x in pool.map_unordered(h.later, range(50), chunksize=8)])
            assert got == list(range(50))
            # The first failure in order is raised, with its type.
            with pytest.raises(KeyError, match="bad 3"):
                await pool.map(h.boom, range(3, 10), chunksize=4)
            with pytest.raises(ValueError, match="chunksize"):
                await pool.map(h.later, range(3), chunksize=0)
            # Cancelling a chunked map cancels its chunks in the workers.
            ch = interp.Channel()
            t = asyncio.ensure_future(pool.map(h.wait_cancel, [ch, ch], chunksize=2))
            assert await recv(ch) == "started"
            assert await recv(ch) == "started"
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            assert {await recv(ch), await recv(ch)} == {"saw CancelledError"}

    run(main())


@needs_313
@pytest.mark.parametrize("chunksize", [1, 3])
def test_a_returned_exception_object_is_a_result_whatever_the_chunksize(chunksize):
    async def main():
        async with aio.Pool(2, childconcurrency=4) as pool:
            a = await pool.map(h.returns_error, range(7), chunksize=chunksize)
            b = [x async for x in pool.map(h.returns_error_now, range(7), chunksize=chunksize)]
            return a, b

    for got in run(main()):
        assert [(type(e), str(e)) for e in got] == [(ValueError, f"returned {i}") for i in range(7)], got
