"""Coroutines for test_aio.py (imported by name in worker interpreters)."""

import asyncio
import threading
import time

import interp

LOOP_MADE_BY = None


def new_loop():
    global LOOP_MADE_BY
    LOOP_MADE_BY = "aio_helpers.new_loop"
    return asyncio.new_event_loop()


async def loop_maker():
    return LOOP_MADE_BY


async def later(x, delay=0.0):
    await asyncio.sleep(delay)
    return x


async def add(a, b):
    await asyncio.sleep(0)
    return a + b


def plain(x):
    return x * 2


async def boom(n):
    await asyncio.sleep(0)
    raise KeyError(f"bad {n}")


async def wait_cancel(ch):
    try:
        ch.send("started")
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        ch.send("saw CancelledError")
        raise


async def spin_forever(ch):
    ch.send("started")
    while True:
        pass


async def block_in_c(ch, seconds):
    ch.send("started")
    time.sleep(seconds)


async def hold_gil(log, n):
    r = range(n)
    log.send("in")
    sum(r)  # one C call: this interpreter's GIL is held throughout
    log.send("out")
    return threading.get_ident()


async def tick_until(log, started, stop):
    started.send("ticking")
    i = 0
    while not stop.closed:  # Python bytecode, never yielding
        i += 1
        if i % 1000 == 0:
            log.send("tick")
    return threading.get_ident()


async def where():
    await asyncio.sleep(0)
    return interp.interpreter_id()


_gate = None
_waiting = 0


async def gated(x):
    """Waits until open_gate() runs in the same loop."""
    global _gate, _waiting
    if _gate is None:
        _gate = asyncio.Event()
    _waiting += 1
    await _gate.wait()
    return x


async def waiting():
    return _waiting


async def open_gate():
    _gate.set()


async def returns_error(x):
    """Returns (does not raise) an exception object."""
    await asyncio.sleep(0)
    return ValueError(f"returned {x}")


def returns_error_now(x):
    return ValueError(f"returned {x}")
