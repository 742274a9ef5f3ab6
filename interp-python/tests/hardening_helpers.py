"""Task functions for test_hardening.py (workers import them by name)."""

import interp


def make_event():
    return interp.Event()


def set_event(e):
    e.set()
    return e.is_set()


def wait_event(e, timeout):
    return e.wait(timeout)
