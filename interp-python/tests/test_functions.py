"""How functions travel: by qualified name (cached per worker), functions
and classes of the running script, pickled callables, clear errors for
what cannot travel, the caller's sys.path in workers."""

import functools
import math
import sys

import pytest

import helpers
import interp
from conftest import LONG, run_script


def test_builtins_module_functions_and_classes_travel_by_name(ex):
    assert ex.submit(math.hypot, 3, 4).result(LONG) == 5.0
    assert ex.submit(len, "abcd").result(LONG) == 4
    p = ex.submit(helpers.Point, 1, 2).result(LONG)
    assert p == helpers.Point(1, 2) and type(p) is helpers.Point


def test_pickled_callables(ex):
    assert ex.submit(functools.partial(helpers.add, 1, scale=10), 2).result(LONG) == 30
    assert ex.submit(helpers.Point(3, 4).norm2).result(LONG) == 25


def test_lambda_and_closure_get_a_clear_error(ex):
    with pytest.raises(TypeError, match="lambda.*module") as e:
        ex.submit(lambda x: x, 1)
    assert "cannot send" in str(e.value)

    def inner(x):
        return x

    with pytest.raises(TypeError, match="closure"):
        ex.submit(inner, 1)
    with pytest.raises(TypeError, match="closure"):
        ex.map(inner, [1])


def test_unpicklable_argument_names_itself(ex):
    with pytest.raises(TypeError, match="argument 2 .*lock"):
        ex.submit(helpers.add, 1, __import__("threading").Lock())


def test_script_functions_and_classes_work_in_workers(tmp_path):
    r = run_script(
        tmp_path,
        """
        import interp

        class Acc:
            def __init__(self, n):
                self.n = n

        def work(x):
            return Acc(x * 2)

        def uses_shared(i):
            return GRID[i]

        print("module level runs in every interpreter")

        if __name__ == "__main__":
            with interp.InterpreterPoolExecutor(2, shared={"GRID": (10, 20, 30)}) as ex:
                a = ex.submit(work, 21).result(60)
                print("result", type(a).__name__, a.n, type(a) is Acc)
                print("map", list(ex.map(uses_shared, range(3), chunksize=2)))
                print("arg", ex.submit(work, Acc(1).n).result(60).n)
        """,
    )
    assert r.returncode == 0, r.stderr
    assert "result Acc 42 True" in r.stdout
    assert "map [10, 20, 30]" in r.stdout
    assert "arg 2" in r.stdout
    # The script ran in workers under __mp_main__ (its guard kept the pool out).
    assert r.stdout.count("module level runs") >= 2, r.stdout


def test_script_that_fails_to_load_in_workers_says_so(tmp_path):
    r = run_script(
        tmp_path,
        """
        import interp
        if interp.interpreter_id() != 0:
            raise ImportError("pretend an extension refused this interpreter")

        def work(x):
            return x

        if __name__ == "__main__":
            with interp.InterpreterPoolExecutor(1) as ex:
                try:
                    ex.submit(work, 1).result(60)
                except Exception as e:
                    print("error:", type(e).__name__, e)
        """,
    )
    assert "loading the main script" in r.stdout and "pretend an extension" in r.stdout, (r.stdout, r.stderr)


def test_interactive_main_functions_get_a_clear_error(tmp_path):
    import subprocess

    code = (
        "import interp\n"
        "def f(x): return x\n"
        "ex = interp.InterpreterPoolExecutor(1)\n"
        "try:\n"
        "    ex.submit(f, 1)\n"
        "except TypeError as e:\n"
        "    print('error:', e)\n"
        "ex.shutdown()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=LONG)
    assert "interactive session or `python -c`" in r.stdout, (r.stdout, r.stderr)


def test_sys_path_of_the_caller_reaches_workers(tmp_path):
    mod = tmp_path / "late_added_module.py"
    mod.write_text("def triple(x):\n    return 3 * x\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import late_added_module

        with interp.InterpreterPoolExecutor(1) as e:
            assert e.submit(late_added_module.triple, 5).result(LONG) == 15
    finally:
        sys.path.remove(str(tmp_path))


def test_import_interp_inside_a_worker_is_the_same_package(ex):
    in_worker, module, same_type, has_executor = ex.submit(helpers.import_interp_in_worker).result(LONG)
    assert in_worker and module == "interp" and same_type and has_executor


def test_a_worker_starts_without_importing_what_only_errors_need():
    # Every worker imports interp and interp._worker at start; pickle, re,
    # traceback (with _colorize, dataclasses, inspect, ast, dis on 3.14),
    # threading and concurrent.futures are imported only when used: they
    # took about half of a worker's start-up and 2-3 MiB of its memory.
    # eval and its str/dict arguments travel without importing any of them.
    with interp.InterpreterPoolExecutor(1) as e:
        loaded = set(e.submit(eval, "sorted(__import__('sys').modules)", {}).result(LONG))
        heavy = {"pickle", "re", "traceback", "inspect", "dataclasses", "threading", "concurrent.futures"}
        assert "interp._worker" in loaded, sorted(loaded)
        assert not heavy & loaded, sorted(heavy & loaded)
        # ... and what needs them still works in that worker.
        assert e.submit(functools.partial(helpers.add, 1, scale=10), 2).result(LONG) == 30
        with pytest.raises(helpers.Boom) as err:
            e.submit(helpers.raise_boom, 42).result(LONG)
        assert err.value.args == (42, "detail")
        cause = str(err.value.__cause__)
        assert "Traceback" in cause and "raise_boom" in cause, cause
        assert isinstance(interp.Event(), interp.Event) and "Event" in dir(interp)


def test_executor_refuses_to_run_inside_a_worker(ex):
    f = ex.submit(interp.InterpreterPoolExecutor, 1)
    with pytest.raises(RuntimeError, match="main interpreter"):
        f.result(LONG)


def test_functions_are_looked_up_once_per_worker():
    with interp.InterpreterPoolExecutor(1) as e:
        first = e.submit(helpers.where).result(LONG)
        assert e.submit(helpers.rebind_where).result(LONG)
        # The module attribute changed in the worker...
        assert e.submit(helpers.call_where).result(LONG) == "rebound"
        # ... but the task's function was resolved once and cached.
        assert e.submit(helpers.where).result(LONG) == first


def test_a_script_without_a_main_guard_gets_one_clear_warning(tmp_path):
    # Workers import the script to find its functions: its top-level code
    # runs there too, up to the executor's creation, which fails in a
    # worker. The tasks still work (the function was defined before); the
    # user is told once why the top-level code ran again and what to do.
    r = run_script(
        tmp_path,
        """
        import interp
        def sq(x):
            return x * x
        print("top level ran in", __name__, flush=True)
        ex = interp.InterpreterPoolExecutor(2)
        print(list(ex.map(sq, range(5))), flush=True)
        print(ex.submit(sq, 7).result(), flush=True)
        ex.shutdown()
        """,
    )
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "[0, 1, 4, 9, 16]" in r.stdout and "49" in r.stdout, r.stdout
    assert r.stderr.count("RuntimeWarning") == 1, r.stderr
    assert 'if __name__ == "__main__":' in r.stderr and "top-level code" in r.stderr, r.stderr


def test_the_main_guard_warning_never_fails_a_task_under_w_error(tmp_path):
    # Under `python -W error` the warning became an exception raised in the
    # worker, in the first task, which failed although the script works.
    # The warning is printed instead, once.
    r = run_script(
        tmp_path,
        """
        import interp
        def sq(x):
            return x * x
        ex = interp.InterpreterPoolExecutor(2)
        print(list(ex.map(sq, range(5))), flush=True)
        print(ex.submit(sq, 7).result(), flush=True)
        ex.shutdown()
        """,
        interpreter_args=("-W", "error"),
    )
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.split() == ["[0,", "1,", "4,", "9,", "16]", "49"], (r.stdout, r.stderr)
    assert r.stderr.count("RuntimeWarning") == 1, r.stderr
    assert 'if __name__ == "__main__":' in r.stderr, r.stderr
