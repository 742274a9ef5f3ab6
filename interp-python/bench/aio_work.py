"""Coroutines for aio_bench.py (imported by name in worker interpreters and
in aiomultiprocess' child processes)."""

import asyncio


async def ident(x):
    return x


async def nap(delay):
    """Sleeps ``delay`` seconds (a coroutine that waits, not works)."""
    await asyncio.sleep(delay)
    return delay
