import os
import subprocess
import sys
import textwrap

import pytest

import interp

HERE = os.path.dirname(os.path.abspath(__file__))

# Generous bound that only exists to turn a hang into a failure.
LONG = 60


@pytest.fixture
def ex():
    e = interp.InterpreterPoolExecutor(2)
    yield e
    e.shutdown(wait=True, cancel_futures=True)


def run_script(tmp_path, source, *args, timeout=LONG, env=None, interpreter_args=()):
    """Runs `source` as a script in a fresh interpreter process (started
    with `interpreter_args` before the script, e.g. ("-W", "error"))."""
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(source))
    e = dict(os.environ)
    e["PYTHONPATH"] = HERE + os.pathsep + e.get("PYTHONPATH", "")
    if env:
        e.update(env)
    return subprocess.run(
        [sys.executable, *interpreter_args, str(path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=e,
        cwd=str(tmp_path),
    )


def wait_until(predicate, what, timeout=LONG):
    """Polls `predicate` until true; fails (instead of hanging) after `timeout`."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.001)


#: The first line of a child script that a test interrupts with SIGINT.
#: A shell starts background jobs (nohup, `cmd &`, some CI runners) with
#: SIGINT ignored, children inherit that, and Python then installs no
#: KeyboardInterrupt handler: the test's SIGINT would do nothing. The child
#: installs it itself, as a terminal's Ctrl-C would find it. (Not a
#: `preexec_fn`: running Python in the child between fork and exec makes
#: CPython clear the parent's subinterpreters there, which crashed.)
SIGINT_HANDLER = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
