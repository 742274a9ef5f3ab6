"""Code that runs inside worker interpreters: start-up (the main script
under ``__mp_main__``, ``shared=`` values, the initializer) and describing
exceptions for the caller.

Every worker imports this module when it starts, so it imports only what
start-up needs: ``pickle``, ``re`` and ``traceback`` (with what it pulls in
on 3.14: ``_colorize``, ``dataclasses``, ``inspect``, ``ast``, ``dis``) are
imported where they are used (a pickled callable, an exception to
describe): at start they took more than half of a pool's start-up time
and 2.5 MiB of each worker's memory (bench/startup.py, CPython 3.14)."""

import builtins
import sys
import types

from . import _native


def _resolve(target):
    kind, a, b = target
    if kind == "name":
        import importlib

        obj = sys.modules.get(a) or importlib.import_module(a)
        for part in b.split("."):
            obj = getattr(obj, part)
        return obj
    import pickle

    return pickle.loads(a)


def _main_code(path, name, d):
    if name:
        import importlib.util

        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot find the main module {name!r}")
        # As runpy.run_module (multiprocessing's spawn): relative imports
        # of a `python -m pkg.script` resolve against its package.
        d["__spec__"] = spec
        d["__package__"] = spec.parent
        d["__loader__"] = spec.loader
        return spec.loader.get_code(name)
    with open(path, "rb") as f:
        return compile(f.read(), path, "exec")


async def _aio_call(fn, args, kwargs):
    """A call on an event-loop worker (``interp.aio``): awaits the result
    when it is awaitable (an ``async def``), else returns it."""
    r = fn(*args, **kwargs) if kwargs else fn(*args)
    if hasattr(r, "__await__"):
        r = await r
    return r


async def _aio_outcome(w):
    """Awaits ``w``: ``(False, result)``, or ``(True, exception)`` when it
    raised (so that a returned exception object stays a result)."""
    try:
        return False, await w
    except Exception as e:
        return True, e


async def _aio_chunk(fn, items, star):
    """A ``map`` chunk on an event-loop worker: every item's call at once.
    Returns ``(results, raised)``: the results in order, an item's exception
    in its place, and the indices of the items that raised (an item may
    return an exception object: that is a result)."""
    import asyncio

    out = []
    raised = []
    waits = []
    for item in items:
        try:
            r = fn(*item) if star else fn(item)
        except Exception as e:
            raised.append(len(out))
            r = e
        else:
            if hasattr(r, "__await__"):
                waits.append((len(out), r))
        out.append(r)
    if waits:
        done = await asyncio.gather(*[_aio_outcome(w) for _, w in waits], return_exceptions=True)
        for (i, _), r in zip(waits, done):
            if type(r) is tuple:
                failed, r = r
            else:
                failed = True  # a BaseException gather returned (a CancelledError)
            if failed:
                raised.append(i)
            out[i] = r
    return out, raised


def _is_cancelled(e):
    core = sys.modules.get("interp._core")
    return core is not None and isinstance(e, core.Cancelled)


def _install_main(path, name, shared):
    """Makes ``__main__`` (and ``__mp_main__``) of this worker a module that
    loads the caller's script on first use of a name it lacks, the way
    multiprocessing's spawn does (under a name other than ``__main__``, so
    its ``if __name__ == "__main__":`` block does not run)."""
    mod = types.ModuleType("__mp_main__")
    d = mod.__dict__
    d["__file__"] = path
    d["__builtins__"] = builtins
    state = {"loaded": False, "error": None}

    def __getattr__(attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        if not state["loaded"]:
            state["loaded"] = True
            try:
                exec(_main_code(path, name, d), d)
            except BaseException as e:  # noqa: B902 - reported on use
                if _is_cancelled(e):
                    # The task was interrupted, not the script broken: the
                    # next use loads it again.
                    state["loaded"] = False
                    raise
                state["error"] = e
                if getattr(e, "_interp_executor_in_worker", False):
                    _warn_no_main_guard(path, e)
            d.update(shared)
            if d.get("__getattr__") is __getattr__:
                del d["__getattr__"]
            if attr in d:
                return d[attr]
        err = state["error"]
        if err is not None:
            raise AttributeError(
                f"{attr!r} is not available in worker interpreters: loading the main script "
                f"{path} there failed with {type(err).__name__}: {err}. Functions and classes "
                f"a task uses must be importable in a worker: move them to a module, or make "
                f"the script importable (imports that fail in subinterpreters under "
                f'`if __name__ == "__main__":`).'
            ) from err
        raise AttributeError(f"module '__main__' (the script {path}) has no attribute {attr!r}")

    d["__getattr__"] = __getattr__
    d.update(shared)
    sys.modules["__mp_main__"] = mod
    sys.modules["__main__"] = mod


def _warn_no_main_guard(path, error):
    # Once per process, not once per worker: every worker loads the script.
    if not _native.first_time("no-main-guard"):
        return
    import traceback
    import warnings

    # Shown at the script's line that creates the executor.
    line = 0
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        if frame.f_code.co_filename == path:
            line = lineno
    message = (
        f"interp: this script creates an executor when it is imported, outside "
        f'`if __name__ == "__main__":`. Each worker interpreter imports the script (under the '
        f"name __mp_main__, to find the functions it runs), so its top-level code also ran in "
        f"every worker, up to this line, where it stopped with an error. Put the code that "
        f'creates and uses the executor under `if __name__ == "__main__":` (as '
        f"multiprocessing requires)."
    )
    try:
        warnings.warn_explicit(message, RuntimeWarning, path, line)
    except Warning:
        # Warnings are errors here (`python -W error`): raised in a worker,
        # this one would fail the task that loaded the script, for a script
        # that otherwise works. It is printed instead.
        sys.stderr.write(warnings.formatwarning(message, RuntimeWarning, path, line))


def _bootstrap(cfg):
    """Runs once in each worker interpreter (and after each recycle)."""
    argv = cfg.get("argv")
    if argv:
        sys.argv[:] = argv
    shared = {k: _native.view_if_foreign(v) for k, v in (cfg.get("shared") or {}).items()}
    main = cfg.get("main")
    if main:
        _install_main(main[0], main[1], shared)
    else:
        sys.modules["__main__"].__dict__.update(shared)
    init = cfg.get("initializer")
    if init is not None:
        _resolve(init)(*cfg.get("initargs", ()))


def _subinterpreter_hint(exc):
    import re

    pattern = re.compile(r"module (\S+) does not support loading in subinterpreters")
    seen = set()
    e = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        m = pattern.search(str(e))
        if isinstance(e, ImportError) and m:
            return m.group(1)
        e = e.__cause__ or e.__context__
    return None


def pack(exc):
    """Describes an exception for the main interpreter: ``(traceback text,
    pickled exception or None, type module, type qualname, str(exc))``."""
    import pickle
    import traceback

    module = _subinterpreter_hint(exc)
    if module is not None and hasattr(exc, "add_note"):
        top = module.split(".")[0]
        exc.add_note(
            f"interp: the extension module {module} (package {top!r}) cannot be loaded in an "
            f"isolated worker interpreter. Run this function in the main interpreter instead: "
            f"submit it to an InterpreterThreadPoolExecutor without @interpreter, or use "
            f"executor.submit_main(fn, ...). InterpreterPoolExecutor(isolated=False) uses "
            f"legacy (shared-GIL, so not parallel) interpreters, which load single-phase extension modules and numpy."
        )
    tb = "".join(traceback.format_exception(exc))
    try:
        data = pickle.dumps(exc, 5)
    except Exception:
        data = None
    t = type(exc)
    try:
        text = str(exc)
    except Exception:
        text = f"<unprintable {t.__qualname__}>"
    if isinstance(exc, SystemExit):
        # Travels as text (it recycles the worker): its code exactly, when
        # it is a literal (None, an int, a str...).
        import ast

        try:
            r = repr(exc.code)
            if ast.literal_eval(r) == exc.code:
                text = EXIT_CODE + r
        except Exception:
            pass
    parts = None
    if data is None:
        # The exception does not pickle: its args (and attributes, if they
        # do) travel, to rebuild it without calling its constructor.
        for state in ((exc.args, getattr(exc, "__dict__", None) or None), (exc.args, None)):
            try:
                parts = pickle.dumps(state, 5)
                break
            except Exception:
                pass
    return (tb, data, t.__module__, t.__qualname__, text, parts)


#: Marks a SystemExit description whose rest is repr(code).
EXIT_CODE = "\0interp-exit-code:"
