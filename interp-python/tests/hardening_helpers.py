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
