"""Exceptions re-raise in the caller with their own type and arguments and
the worker's traceback as __cause__; SystemExit/KeyboardInterrupt in a task
never exit the caller."""

import pytest

import helpers
import interp
from conftest import LONG


def test_type_args_and_remote_traceback(ex):
    with pytest.raises(helpers.Boom) as e:
        ex.submit(helpers.raise_boom, 42).result(LONG)
    assert e.value.args == (42, "detail")
    cause = e.value.__cause__
    assert cause is not None and "raise_boom" in str(cause) and "helpers.py" in str(cause), str(cause)
    assert "Traceback" in str(cause)


def test_builtin_exceptions_keep_their_type(ex):
    with pytest.raises(ZeroDivisionError):
        ex.submit(divmod, 1, 0).result(LONG)
    f = ex.submit(int, "x")
    assert isinstance(f.exception(LONG), ValueError)


def test_unpicklable_exception_falls_back_with_its_name(ex):
    with pytest.raises(Exception) as e:
        ex.submit(helpers.raise_unpicklable).result(LONG)
    # Rebuilt from its type and args (its class is importable here).
    assert type(e.value) is helpers.Unpicklable, type(e.value)
    assert e.value.args == ("cannot travel",), e.value.args


def test_system_exit_and_keyboard_interrupt_never_exit_the_caller(ex):
    with pytest.raises(interp.TaskExit) as e:
        ex.submit(helpers.raise_exit, 3).result(LONG)
    assert isinstance(e.value.exception, SystemExit) and e.value.exception.code == 3
    with pytest.raises(interp.TaskExit) as e:
        ex.submit(helpers.raise_kbi).result(LONG)
    assert isinstance(e.value.exception, KeyboardInterrupt)
    # The pool goes on (the worker that got SystemExit has a fresh interpreter).
    assert [ex.submit(helpers.ident, i).result(LONG) for i in range(4)] == [0, 1, 2, 3]


def test_map_errors_keep_their_type(ex):
    it = ex.map(helpers.raise_boom, [1], chunksize=4)
    with pytest.raises(helpers.Boom):
        next(it)
