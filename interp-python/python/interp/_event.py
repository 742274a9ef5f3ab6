"""interp.Event: a threading.Event that works across interpreters."""

import threading
import weakref

from . import _native


class Event:
    """An event shared by every interpreter it reaches: pass it, or its
    bound methods (``ex.submit(event.wait)``), to tasks; ``set()`` in any
    interpreter wakes every ``wait()`` in all of them. Built on an
    ``interp.Channel`` (closing it is setting the event), so a wait releases
    its interpreter and wakes at once, and a cancelled task's wait is
    interrupted. Once set it stays set (``clear()`` refuses)."""

    __slots__ = ("_ch", "_token", "__weakref__")

    def __init__(self):
        from . import Channel

        self._ch = Channel()
        self._token = None

    def set(self):
        """Sets the event, waking every waiter."""
        self._ch.close()

    def is_set(self):
        """Whether the event is set."""
        from . import ChannelClosed, ChannelEmpty

        try:
            self._ch.try_recv()
        except ChannelClosed:
            return True
        except ChannelEmpty:
            return False
        return False

    def wait(self, timeout=None):
        """Blocks until the event is set or ``timeout`` seconds pass;
        returns whether it is set."""
        from . import ChannelClosed

        # In the main thread, Ctrl-C ends the wait (KeyboardInterrupt): the
        # channel wakes for signal handlers there.
        try:
            self._ch.recv(timeout=timeout)
        except ChannelClosed:
            return True
        except TimeoutError:
            return False
        return self.is_set()

    def clear(self):
        """Only for an event not set yet (a no-op then): a set
        ``interp.Event`` cannot be reset; make a new one."""
        if self.is_set():
            raise RuntimeError("an interp.Event cannot be cleared once set; make a new one")

    def __repr__(self):
        return f"<interp.Event {'set' if self.is_set() else 'unset'}>"

    def __reduce__(self):
        # Pickled as a token for its channel (`_native.share`), counted:
        # this object holds one reference, each Event rebuilt from a token
        # one, and each pickle one, released by its first load (a task's
        # arguments or result are loaded once), or by the executor that
        # collected it (a `shared=` value is loaded by every worker start).
        # A pickle never loaded (a task cancelled before it ran) keeps its
        # channel until the process ends.
        if self._token is None:
            self._token = _native.share(self._ch)
            weakref.finalize(self, _native.unshare, self._token)
        _native.retain(self._token)
        sink = getattr(_collecting, "tokens", None)
        if sink is not None:
            sink.append(self._token)
            return (_rebuild, (self._token, False))
        return (_rebuild, (self._token, True))


# Set by the executor while pickles it keeps (its `shared=` values) are
# made: their references are released by it, not by their first load.
_collecting = threading.local()


def _rebuild(token, consume=False):
    e = Event.__new__(Event)
    e._ch = _native.shared(token)
    _native.retain(token)
    e._token = token
    weakref.finalize(e, _native.unshare, token)
    if consume:
        _native.unshare(token)
    return e
