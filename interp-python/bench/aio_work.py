"""Coroutines for aio_bench.py (imported by name in worker interpreters and
in aiomultiprocess' child processes)."""


async def ident(x):
    return x
