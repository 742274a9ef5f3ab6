"""Process lifecycle: no warning about remaining subinterpreters at exit,
Ctrl-C while waiting, the package importing cleanly in workers."""

import signal
import subprocess
import sys

from conftest import run_script


def test_exit_without_shutdown_leaves_no_subinterpreters(tmp_path):
    r = run_script(
        tmp_path,
        """
        import interp, helpers
        ex = interp.InterpreterPoolExecutor(2)
        fs = [ex.submit(helpers.sleep_then, 0.05, i) for i in range(4)]
        print("submitted")
        """,
    )
    assert r.returncode == 0, r.stderr
    assert "remaining subinterpreters" not in r.stderr, r.stderr
    assert r.stderr == "", r.stderr


def test_ctrl_c_while_waiting_raises_keyboard_interrupt_and_exits_cleanly(tmp_path):
    # "waiting" is printed once the main thread is about to block in
    # result() (a SIGINT sent earlier would interrupt the script before its
    # try block). A profile hook sees the call; sys._current_frames() cannot
    # be used: it walks every interpreter's threads and crashes CPython
    # (3.14.7) while a worker runs Python code.
    path = tmp_path / "wait.py"
    path.write_text(
        "import signal, sys, threading, interp, helpers\n"
        "# Python keeps SIGINT ignored when it started ignored (a background job).\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "entered = threading.Event()\n"
        "def watch(frame, event, arg):\n"
        "    if event == 'c_call' and getattr(arg, '__name__', '') == 'task_wait':\n"
        "        entered.set()\n"
        "def announce():\n"
        "    print('waiting' if entered.wait(60) else 'never waited', flush=True)\n"
        "if __name__ == '__main__':\n"
        "    with interp.InterpreterPoolExecutor(1) as ex:\n"
        "        gate = interp.Channel()\n"
        "        f = ex.submit(helpers.wait_on, gate)\n"
        "        threading.Thread(target=announce, daemon=True).start()\n"
        "        try:\n"
        "            sys.setprofile(watch)\n"
        "            f.result()\n"
        "        except KeyboardInterrupt:\n"
        "            sys.setprofile(None)\n"
        "            print('interrupted', flush=True)\n"
        "            raise\n"
    )
    import os

    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().strip() == "waiting"
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"still running 60 s after SIGINT; stdout {out!r}, stderr {err!r}") from None
    assert "interrupted" in out, (out, err)
    assert "KeyboardInterrupt" in err, err
    assert "remaining subinterpreters" not in err and "Fatal" not in err, err


def test_exit_waits_for_the_tasks_of_a_dropped_executor_and_exits_promptly(tmp_path):
    # The executor is garbage-collected without shutdown() while its tasks
    # run and wait in the queue: the exit hook waits for all of them,
    # however long they run (as for a ThreadPoolExecutor's threads; one
    # outlasts the pool's 10 s shutdown timeout, which used to interrupt
    # it), their done-callbacks run, and the process exits once they are
    # done. A first attempt at the long wait hung here instead: the
    # collected executor's shutdown and the exit hook's waited at once, and
    # the pool woke only one of them when a worker stopped.
    r = run_script(
        tmp_path,
        """
        import gc, interp, helpers
        def go():
            ex = interp.InterpreterPoolExecutor(2)
            fs = [ex.submit(helpers.sleep_then, 11.0, "long")]
            fs += [ex.submit(helpers.sleep_then, 0.2, i) for i in range(3)]
            for f in fs:
                f.add_done_callback(lambda f: print("done", f.result(), flush=True))
            return fs
        fs = go()
        gc.collect()
        print("dropped", flush=True)
        """,
    )
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stderr == "", r.stderr
    lines = sorted(r.stdout.splitlines())
    assert lines == ["done 0", "done 1", "done 2", "done long", "dropped"], r.stdout
