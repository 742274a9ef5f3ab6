"""InterpreterThreadPoolExecutor + @interpreter, and asyncio over interp
futures: run_in_executor, wrap_future, TaskGroup, the loop's default
executor with asyncio.to_thread."""

import asyncio
import concurrent.futures as cf
import threading

import pytest

import helpers
import interp
from conftest import LONG

in_worker = interp.interpreter(helpers.where)


@interp.interpreter
def decorated_where():
    return interp.interpreter_id()


def test_plain_callables_run_in_main_decorated_ones_in_workers():
    with interp.InterpreterThreadPoolExecutor(2) as ex:
        assert isinstance(ex, cf.ThreadPoolExecutor)
        assert ex.submit(helpers.where).result(LONG) == 0
        assert ex.submit(in_worker).result(LONG) != 0
        assert ex.submit(decorated_where).result(LONG) != 0
        # Main-interpreter calls get objects by reference, on a pool thread.
        box = []
        ex.submit(lambda: box.append(threading.get_ident())).result(LONG)
        assert box and box[0] != threading.get_ident()
        assert list(ex.map(interp.interpreter(helpers.add), [1, 2], [3, 4])) == [4, 6]
        assert list(ex.map(lambda x: x + 1, [1, 2])) == [2, 3]
        with pytest.raises(ZeroDivisionError):
            ex.submit(lambda: 1 / 0).result(LONG)


def test_decorated_function_called_directly_just_runs():
    assert decorated_where() == 0


def test_default_executor_and_to_thread():
    async def main():
        loop = asyncio.get_running_loop()
        ex = interp.InterpreterThreadPoolExecutor(2)
        loop.set_default_executor(ex)
        worker = await asyncio.to_thread(interp.interpreter(helpers.where))
        main_thread = await asyncio.to_thread(helpers.where)
        added = await asyncio.to_thread(interp.interpreter(helpers.add), 2, 3, scale=2)
        return worker, main_thread, added

    worker, main_thread, added = asyncio.run(main())
    assert worker != 0 and main_thread == 0 and added == 10


def test_run_in_executor_wrap_future_taskgroup(ex):
    async def one(i):
        return await asyncio.wrap_future(ex.submit(helpers.ident, i))

    async def main():
        loop = asyncio.get_running_loop()
        a = await loop.run_in_executor(ex, helpers.add, 1, 2)
        b = await asyncio.wrap_future(ex.submit(helpers.ident, "w"))
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(one(i)) for i in range(20)]
        return a, b, [t.result() for t in tasks]

    assert asyncio.run(main()) == (3, "w", list(range(20)))


def test_asyncio_cancellation_cancels_the_running_task(ex):
    started = interp.Channel()

    async def main():
        fut = ex.submit(helpers.recv_then_spin, started)
        wrapped = asyncio.wrap_future(fut)
        started.send(1)
        for _ in range(60_000):
            if fut.running():
                break
            await asyncio.sleep(0.001)
        assert fut.running()
        wrapped.cancel()
        with pytest.raises(asyncio.CancelledError):
            await wrapped
        return fut

    fut = asyncio.run(main())
    assert fut.cancelled()
    assert ex.submit(helpers.ident, 1).result(LONG) == 1


def test_taskgroup_failure_propagates_with_its_type(ex):
    async def boom():
        return await asyncio.wrap_future(ex.submit(helpers.raise_boom, 7))

    async def main():
        async with asyncio.TaskGroup() as tg:
            tg.create_task(boom())

    with pytest.raises(ExceptionGroup) as e:
        asyncio.run(main())
    assert e.group_contains(helpers.Boom)
