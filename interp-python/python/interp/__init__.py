"""interp: Python on CPython subinterpreters that each own their GIL.

One package, importable in the main interpreter and in every worker
interpreter:

- ``InterpreterPoolExecutor``: a ``concurrent.futures`` executor whose
  workers are isolated interpreters (the signature of the standard
  library's, on CPython 3.12+, far less overhead per task).
- ``InterpreterThreadPoolExecutor`` and ``interpreter``: one set of threads;
  plain callables run on a thread in the main interpreter, callables marked
  with ``@interpreter`` in a worker interpreter.
- ``SharedBuffer``, ``Channel``, ``Frozen``/``freeze``: data shared by
  reference between interpreters (interp-core's module, kept as
  ``interp._core`` and re-exported here, so these are the same types in the
  main interpreter and in workers).
"""

from . import _native

_core = _native.core_module()

if _core.interpreter_id() == 0:
    import atexit as _atexit

    # Registered at import: atexit runs it after the handlers registered
    # later (a script's own, usually) and before those registered earlier.
    # From then on no worker interpreter is closed (a worker abandoned in a
    # blocking call that returns now leaves its interpreter to the
    # finalization), and the closes under way are waited for, so none
    # overlaps the finalization.
    _atexit.register(_native.hold_back_late_closes)
    del _atexit

SharedBuffer = _core.SharedBuffer
Channel = _core.Channel
Frozen = _core.Frozen
freeze = _core.freeze
Cancelled = _core.Cancelled
ChannelClosed = _core.ChannelClosed
ChannelEmpty = _core.ChannelEmpty
interpreter_id = _core.interpreter_id
set_pickle_fallback = _core.set_pickle_fallback
pickle_fallback = _core.pickle_fallback

# What ``_executor`` defines and exports (its ``__all__`` is this list),
# loaded on first use by ``__getattr__`` below.
_EXECUTOR_NAMES = (
    "InterpreterPoolExecutor",
    "InterpreterThreadPoolExecutor",
    "interpreter",
    "BrokenInterpreterPool",
    "RemoteError",
    "TaskExit",
    "WorkerLost",
)

__all__ = [
    "SharedBuffer",
    "Channel",
    "Frozen",
    "freeze",
    "Cancelled",
    "ChannelClosed",
    "ChannelEmpty",
    "interpreter_id",
    "set_pickle_fallback",
    "pickle_fallback",
    "Event",
    *_EXECUTOR_NAMES,
]


def __getattr__(name):
    # The executors and Event load on first use: every worker interpreter
    # imports this package when it starts, and one that only needs
    # SharedBuffer & co. need not import concurrent.futures or threading.
    if name in _EXECUTOR_NAMES:
        from . import _executor

        return getattr(_executor, name)
    if name == "Event":
        from ._event import Event

        return Event
    raise AttributeError(f"module 'interp' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXECUTOR_NAMES) | {"Event"})
