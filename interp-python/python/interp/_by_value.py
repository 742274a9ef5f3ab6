"""Runs functions sent by value (cloudpickle payloads) in a worker
interpreter, for ``interp.dask``; kept apart from it so that a worker
interpreter imports neither dask nor distributed to run one.

Both calls return a tagged tuple that ``interp.dask`` unpacks in the main
interpreter: ``(0, result)`` (a value interp copies as it is), ``(1, data)``
(the result pickled here: with cloudpickle when plain pickle cannot: an
instance of a class the payload carried by value, say) or ``(2, data, tb)``
(an exception that plain pickle cannot carry, with its traceback text)."""

import functools
import pickle
import traceback

#: Payloads smaller than this (bytes) are unpickled once per interpreter and
#: kept (keyed by their bytes, as distributed caches its tasks' functions);
#: bigger ones are unpickled for every call and dropped after it.
SMALL = 100_000


@functools.lru_cache(maxsize=128)
def _load_small(payload):
    return pickle.loads(payload)


def _load(payload, what, cache=True):
    try:
        if cache and len(payload) < SMALL:
            return _load_small(payload)
        return pickle.loads(payload)
    except Exception as e:
        kind = ImportError if isinstance(e, ImportError) else TypeError
        lines = str(e).strip().splitlines()  # numpy's ImportError: the reason is its last line
        raise kind(
            f"cannot run {what} in a worker interpreter: it (or its arguments) could not be unpickled "
            f"there ({type(e).__name__}: {lines[-1] if lines else ''}). An extension module that refuses isolated interpreters "
            f"(numpy, say) cannot be used there: leave this task on the worker's default executor"
        ) from e


# Exact types interp copies natively (its own shared types are added on
# first use).
_PLAIN = {type(None), bool, int, float, complex, str, bytes}
_CONTAINERS = (tuple, list, set, frozenset)


def _plain_types():
    if len(_PLAIN) == 7:
        import interp

        _PLAIN.update((interp.SharedBuffer, interp.Channel, interp.Frozen))
    return _PLAIN


def _plain(obj, plain, depth=0):
    """Whether interp copies ``obj`` as it is (no pickle on the way)."""
    t = type(obj)
    if t in plain:
        return True
    if depth > 100:
        return False
    if t in _CONTAINERS:
        if set(map(type, obj)) <= plain:
            return True
        return all(_plain(x, plain, depth + 1) for x in obj if type(x) not in plain)
    if t is dict:
        return _plain(list(obj), plain, depth + 1) and _plain(list(obj.values()), plain, depth + 1)
    return False


def _result(result, fn):
    if _plain(result, _plain_types()):
        return (0, result)
    try:
        return (1, pickle.dumps(result, 5))
    except Exception:
        return _cloudpickled(result, fn)


def _cloudpickled(result, fn):
    try:
        import cloudpickle

        return (1, cloudpickle.dumps(result, protocol=5))
    except Exception as e:
        raise TypeError(
            f"cannot send the result of {fn!r} (a {type(result).__name__!r} object) back from the "
            f"worker interpreter: cloudpickle could not pickle it ({type(e).__name__}: {e}). "
            f"Return values that pickle."
        ) from e


def _is_cancelled(e):
    import interp

    return isinstance(e, interp.Cancelled)


def _exception(e):
    """``(2, data, tb)`` for an exception plain pickle cannot carry (one of
    a class the payload carried by value), else None (interp sends it)."""
    if isinstance(e, (SystemExit, KeyboardInterrupt, GeneratorExit)) or _is_cancelled(e):
        return None
    try:
        pickle.dumps(e, 5)
        return None
    except Exception:
        pass
    try:
        import cloudpickle

        data = cloudpickle.dumps(e, protocol=5)
    except Exception:
        return None
    return (2, data, "".join(traceback.format_exception(e)))


def _run(fn, args, kwargs, pack):
    try:
        result = fn(*args, **kwargs)
    except BaseException as e:
        packed = _exception(e)
        if packed is None:
            raise
        return packed
    return pack(result, fn)


def call(payload, what, args, kwargs):
    """Calls the function pickled in ``payload`` (bytes; ``what`` names it
    in errors) with ``args`` and ``kwargs``."""
    return _run(_load(payload, what), args, kwargs, _result)


def call_packed(payload, what):
    """Calls ``fn(*args, **kwargs)`` from ``payload``, the bytes of a pickled
    ``(fn, args, kwargs)`` (a call whose arguments interp could not send, or
    should not share), and returns the result pickled by cloudpickle: it
    may hold those arguments (a lazy iterator over a lambda, say)."""
    fn, args, kwargs = _load(payload, what, cache=False)
    return _run(fn, args, kwargs, _cloudpickled)
