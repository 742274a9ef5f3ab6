"""Task functions for test_hardening.py (workers import them by name)."""

import interp


def make_event():
    return interp.Event()


def set_event(e):
    e.set()
    return e.is_set()


def wait_event(e, timeout):
    return e.wait(timeout)


class BadReduce(Exception):
    def __reduce__(self):
        raise RuntimeError("no reduce for you")


class KwOnly(Exception):
    def __init__(self, msg, *, code):
        super().__init__(msg)
        self.code = code

    def __reduce__(self):
        raise TypeError("not picklable either")


def raise_bad_reduce():
    raise BadReduce("bad", 1)


def raise_kw_only():
    raise KwOnly("m", code=7)


def raise_exit(code):
    raise SystemExit(code)


_AT_CLOSE_REGISTERED = False


def read_then_report_close(fd, returned, main_thread, went_on_fd, wait):
    """Reads a byte from `fd` (a blocking C call that no interruption
    reaches), then sends "returned" on `returned`. When this interpreter
    closes, prints which thread closes it (`main_thread`: the native id of
    the main interpreter's main thread), then whether the exit had gone on
    past interp's exit hooks (a byte on `went_on_fd`). When its own worker
    closes it, it first sends "closing" on `returned` and waits up to
    `wait` seconds for that byte."""
    import atexit
    import os
    import select
    import threading

    def at_close():
        by_main = threading.get_native_id() == main_thread
        print("closing on", "the main thread" if by_main else "its worker", flush=True)
        if not by_main:
            returned.send("closing")
        went_on, _, _ = select.select([went_on_fd], [], [], 0 if by_main else wait)
        print("closed", "after" if went_on else "before", "the exit went on", flush=True)

    global _AT_CLOSE_REGISTERED
    if not _AT_CLOSE_REGISTERED:  # once: an attempt interrupted before its read is made again
        atexit.register(at_close)
        _AT_CLOSE_REGISTERED = True
    try:
        return os.read(fd, 1)
    finally:
        try:
            returned.send("returned")
        except BaseException:  # the pending interp.Cancelled may land here
            returned.send("returned")
