"""Runs functions sent by value (cloudpickle payloads) in a worker
interpreter, for ``interp.dask``; kept apart from it so that a worker
interpreter imports neither dask nor distributed to run one."""

import functools
import pickle


@functools.lru_cache(maxsize=256)
def _load(payload):
    return pickle.loads(payload)


def call(payload, args, kwargs):
    """Calls the function pickled in ``payload`` (bytes) with ``args`` and
    ``kwargs``; each payload is unpickled once per interpreter."""
    return _load(payload)(*args, **kwargs)
