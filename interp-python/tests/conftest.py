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


def run_script(tmp_path, source, *args, timeout=LONG, env=None):
    """Runs `source` as a script in a fresh interpreter process."""
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(source))
    e = dict(os.environ)
    e["PYTHONPATH"] = HERE + os.pathsep + e.get("PYTHONPATH", "")
    if env:
        e.update(env)
    return subprocess.run(
        [sys.executable, str(path), *args],
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
