"""CPython's own generic executor tests, run against interp's executor.

The tests are not copied: the mixins are imported from the interpreter's
installed ``test.test_concurrent_futures`` package (``Lib/test`` of the CPython
that runs this file) and combined here with an executor type, the way
CPython's ``create_executor_tests`` does. On CPython 3.14.7 that is 41 tests
(``ExecutorTest`` 19, ``WaitTests`` 8, ``AsCompletedTests`` 5,
``ExecutorShutdownTest`` 7, ``InitializerMixin`` 1,
``FailingInitializerMixin`` 1) plus the three asyncio tests of
``test_interpreter_pool.AsyncioTest``; the mixins of 3.13 hold 31 tests and
3.13 has no asyncio executor tests; pyenv's 3.12.1 installs no
``test_concurrent_futures`` at all, so the module is skipped there.

The executor under test is chosen by ``INTERP_CONFORMANCE_EXECUTOR``:

* ``interp`` (default): ``interp.InterpreterPoolExecutor``. Importing
  ``interp`` must work; a missing ``interp`` is an error, not a skip.
* ``ipe``: CPython's ``concurrent.futures.InterpreterPoolExecutor`` (3.14+),
  which validates this harness. Like CPython's own ``InterpreterPoolMixin``
  it skips the six tests that need an event.

What interp must support for every test to pass is in CONFORMANCE.md.

Run: ``python -m pytest interp-python/tests/test_conformance.py`` or
``python -m unittest discover -s interp-python/tests -p test_conformance.py``
(where the module skips, ``unittest`` reports a skip only through discovery).
"""

import contextlib
import os
import sys
import unittest
from unittest import mock

try:
    from test.support import script_helper
    from test.test_concurrent_futures import executor as cf_executor
    from test.test_concurrent_futures import test_as_completed as cf_as_completed
    from test.test_concurrent_futures import test_init as cf_init
    from test.test_concurrent_futures import test_shutdown as cf_shutdown
    from test.test_concurrent_futures import test_wait as cf_wait
    from test.test_concurrent_futures import util as cf_util
except ImportError as exc:  # pragma: no cover - depends on the CPython install
    raise unittest.SkipTest(
        f"CPython {sys.version.split()[0]} at {sys.executable} does not install "
        f"Lib/test/test_concurrent_futures ({exc}); the conformance suite needs it "
        "(pyenv's 3.12.1 lacks it; 3.13 and 3.14 have it)"
    )

try:
    # The asyncio executor tests exist only in 3.14's test_interpreter_pool.
    # Imported as a module, so that the loader does not collect its classes.
    from test.test_concurrent_futures import test_interpreter_pool as cf_interpreter_pool
except ImportError:
    cf_interpreter_pool = None


EXECUTOR = os.environ.get("INTERP_CONFORMANCE_EXECUTOR", "interp")

if EXECUTOR == "interp":
    import interp

    EXECUTOR_TYPE = interp.InterpreterPoolExecutor
    # The line the child-process tests import the executor with.
    CHILD_IMPORT = "from interp import InterpreterPoolExecutor"
elif EXECUTOR == "ipe":
    try:
        from concurrent.futures import InterpreterPoolExecutor as EXECUTOR_TYPE
    except ImportError:
        raise unittest.SkipTest(
            f"INTERP_CONFORMANCE_EXECUTOR=ipe: CPython {sys.version.split()[0]} "
            "has no concurrent.futures.InterpreterPoolExecutor (3.14+)"
        )
    CHILD_IMPORT = "from concurrent.futures import InterpreterPoolExecutor"
else:
    raise ValueError(
        f"INTERP_CONFORMANCE_EXECUTOR={EXECUTOR!r}: expected 'interp' (the default) or 'ipe'"
    )


def _interp_import_root():
    """The sys.path entry that holds the imported ``interp``, for child processes."""
    path = os.path.abspath(interp.__file__)
    root = os.path.dirname(path)
    if os.path.basename(path).startswith("__init__."):
        root = os.path.dirname(root)
    return root


class InterpMixin(cf_util.ExecutorMixin):
    """The executor mixin (CPython's ``ThreadPoolMixin``/``InterpreterPoolMixin``
    counterpart). It must not define ``ctx``: ``ExecutorMixin.setUp`` would then
    pass ``mp_context=`` as for a process pool."""

    executor_type = EXECUTOR_TYPE

    def create_event(self):
        if EXECUTOR == "ipe":
            # What CPython's InterpreterPoolMixin does.
            self.skipTest("InterpreterPoolExecutor doesn't support events")
        event_type = getattr(interp, "Event", None)
        if event_type is None:
            self.fail(
                "interp has no Event: these tests submit event.wait and pass the "
                "event as an argument; see interp-python/tests/CONFORMANCE.md"
            )
        return event_type()


class InterpExecutorTest(InterpMixin, cf_executor.ExecutorTest, cf_util.BaseTestCase):
    """``ExecutorTest``: submit, map (chunksize, buffersize, timeout), references."""


class InterpWaitTest(InterpMixin, cf_wait.WaitTests, cf_util.BaseTestCase):
    """``WaitTests``: ``concurrent.futures.wait`` over the executor's futures."""


class InterpAsCompletedTest(InterpMixin, cf_as_completed.AsCompletedTests, cf_util.BaseTestCase):
    """``AsCompletedTests``: ``concurrent.futures.as_completed``."""


class InterpInitializerTest(InterpMixin, cf_init.InitializerMixin, cf_util.BaseTestCase):
    """``InitializerMixin``: the initializer sets a module global in each worker."""


class InterpFailingInitializerTest(
    InterpMixin, cf_init.FailingInitializerMixin, cf_util.BaseTestCase
):
    """``FailingInitializerMixin``: a failing initializer breaks the executor."""


class InterpShutdownTest(InterpMixin, cf_shutdown.ExecutorShutdownTest, cf_util.BaseTestCase):
    """``ExecutorShutdownTest``. Three of its tests start a child Python that
    imports ``{executor_type.__name__}`` from ``concurrent.futures``, which would
    test CPython's executor under interp's name: here they run CPython's test
    bodies unchanged with the child's import line pointed at interp."""

    @contextlib.contextmanager
    def _child_imports_executor_under_test(self):
        original = script_helper.assert_python_ok
        cpython_import = f"from concurrent.futures import {self.executor_type.__name__}"
        rewritten = []

        def assert_python_ok(*args, **env_vars):
            args = list(args)
            for i, arg in enumerate(args):
                if isinstance(arg, str) and cpython_import in arg:
                    args[i] = arg.replace(cpython_import, CHILD_IMPORT)
                    rewritten.append(i)
            if EXECUTOR == "interp":
                # CPython runs the child isolated (-I), which drops PYTHONPATH;
                # point the child at the interp this process imported instead.
                env_vars.setdefault("__isolated", False)
                env_vars.setdefault(
                    "PYTHONPATH",
                    os.pathsep.join(
                        p for p in [_interp_import_root(), os.environ.get("PYTHONPATH")] if p
                    ),
                )
            return original(*args, **env_vars)

        with mock.patch.object(cf_shutdown, "assert_python_ok", assert_python_ok):
            yield
        self.assertTrue(
            rewritten,
            f"the child script no longer contains {cpython_import!r}: CPython's test "
            "changed, update this override",
        )

    def test_interpreter_shutdown(self):
        with self._child_imports_executor_under_test():
            super().test_interpreter_shutdown()

    def test_submit_after_interpreter_shutdown(self):
        with self._child_imports_executor_under_test():
            super().test_submit_after_interpreter_shutdown()

    def test_hang_gh83386(self):
        with self._child_imports_executor_under_test():
            super().test_hang_gh83386()


if cf_interpreter_pool is not None:

    class InterpAsyncioTest(cf_interpreter_pool.AsyncioTest):
        """CPython 3.14's asyncio executor tests: ``run_in_executor``, its
        cancellation, and the executor as the loop's default executor."""

        executor_type = EXECUTOR_TYPE


def setUpModule():
    cf_util.setup_module()


if __name__ == "__main__":
    unittest.main()
