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


def call_packed(payload):
    """Calls ``fn(*args, **kwargs)`` from ``payload``, the bytes of a pickled
    ``(fn, args, kwargs)`` (a call whose arguments interp could not send),
    and returns the result pickled by cloudpickle: it may hold those
    arguments (a lazy iterator over a lambda, say)."""
    import cloudpickle

    fn, args, kwargs = pickle.loads(payload)
    return cloudpickle.dumps(fn(*args, **kwargs), protocol=5)
