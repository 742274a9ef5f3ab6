"""Task functions for the tests: a module workers import by name."""

import os
import sys
import threading
import time

import interp

INIT_STATUS = "uninitialized"


def ident(x):
    return x


def add(a, b=0, *, scale=1):
    return (a + b) * scale


def where():
    return interp.interpreter_id()


def init(status):
    global INIT_STATUS
    INIT_STATUS = status


def get_init_status():
    return INIT_STATUS


def init_fail():
    raise ValueError("error in initializer")


def spin():
    while True:
        pass


def sleep_then(secs, value):
    time.sleep(secs)
    return value


def wait_on(ch):
    return ch.recv()


def recv_then_spin(ch):
    ch.recv()
    while True:
        pass


def echo_after(gate, value):
    gate.recv()
    return value


def note_start(started, value):
    started.send(value)
    return value


def note_start_then_wait(started, gate, value):
    started.send(value)
    gate.recv()
    return value


class Boom(Exception):
    def __init__(self, code, detail):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


def raise_boom(code):
    raise Boom(code, "detail")


class Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("no pickling")


def raise_unpicklable():
    raise Unpicklable("cannot travel")


def raise_exit(code):
    sys.exit(code)


def raise_kbi():
    raise KeyboardInterrupt("from a task")


def fail_if_negative(x):
    if x < 0:
        raise ValueError(f"negative: {x}")
    return x * 2


def shared_value(name):
    return getattr(sys.modules["__main__"], name)


def mv_write(mv, index, value):
    mv[index] = value
    return type(mv).__name__, len(mv), mv.format, mv.readonly


def mv_sum(mv):
    return sum(mv)


def mv_shape(mv):
    return type(mv).__name__, mv.shape, mv.format


def nested_write(pair):
    label, mv = pair
    mv[0] = 99
    return label


def buffer_fill(buf, value):
    m = memoryview(buf)
    for i in range(len(m)):
        m[i] = value
    return len(m)


def frozen_sum(fz):
    return sum(fz), type(fz).__name__


def channel_send(ch, value):
    ch.send(value)
    return True


def make_buffer(n):
    b = interp.SharedBuffer(n)
    memoryview(b)[0] = 7
    return b


def import_module(name):
    __import__(name)
    return True


def import_interp_in_worker():
    import interp as i

    return (
        i.interpreter_id() != 0,
        i.SharedBuffer.__module__,
        i.SharedBuffer is sys.modules["interp._core"].SharedBuffer,
        hasattr(i, "InterpreterPoolExecutor"),
    )


def pid_and_thread():
    return os.getpid(), threading.get_ident()


def swallow_cancel_forever():
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def norm2(self):
        return self.x * self.x + self.y * self.y

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


def rebind_where():
    global where

    def rebound():
        return "rebound"

    where = rebound
    return True


def call_where():
    return where()


def wait_and_raise(event):
    event.wait()
    raise Exception("this is an exception")


def wait_event(event, timeout):
    return event.wait(timeout)


class Scaler:
    def __init__(self, k):
        self.k = k

    @interp.interpreter
    def scale(self, x):
        return (interp.interpreter_id() != 0, self.k * x)


def init_role(roles, started):
    """An initializer whose role each worker takes from `roles`: "fail"
    raises once the other two are in their blocking code, "recv" waits on a
    channel that nothing sends to, "spin" loops."""
    role = roles.try_recv()
    if role == "fail":
        started.recv()
        started.recv()
        raise ValueError("initializer failed")
    started.send(role)
    if role == "recv":
        interp.Channel().recv()
    while True:
        pass
