"""Sharing from Python: SharedBuffer, Channel, Frozen by reference; any
buffer-protocol object as a zero-copy memoryview in the worker, released in
the main interpreter when the last view is gone."""

import array
import gc
import mmap

import pytest

import helpers
import interp
from conftest import LONG, wait_until


def test_shared_buffer_channel_frozen_by_reference(ex):
    buf = interp.SharedBuffer(8)
    assert ex.submit(helpers.buffer_fill, buf, 5).result(LONG) == 8
    assert bytes(memoryview(buf)) == b"\x05" * 8
    ch = interp.Channel()
    assert ex.submit(helpers.channel_send, ch, "hi").result(LONG)
    assert ch.recv(timeout=LONG) == "hi"
    fz = interp.freeze(tuple(range(100)))
    assert type(fz) is interp.Frozen
    # Passed by reference, a frozen tuple arrives as a real tuple, built once
    # per worker.
    assert ex.submit(helpers.frozen_sum, fz).result(LONG) == (4950, "tuple")
    made = ex.submit(helpers.make_buffer, 4).result(LONG)
    assert isinstance(made, interp.SharedBuffer) and memoryview(made)[0] == 7


def test_shared_values_by_reference():
    buf = interp.SharedBuffer(4)
    with interp.InterpreterPoolExecutor(2, shared={"BUF": buf}) as e:
        e.submit(helpers.buffer_fill, e.submit(helpers.shared_value, "BUF").result(LONG), 1).result(LONG)
    assert bytes(memoryview(buf)) == b"\x01" * 4


def test_memoryview_of_bytearray_is_shared_without_a_copy(ex):
    data = bytearray(16)
    kind, n, fmt, ro = ex.submit(helpers.mv_write, memoryview(data), 3, 200).result(LONG)
    assert (kind, n, fmt, ro) == ("memoryview", 16, "B", False)
    assert data[3] == 200, "the worker wrote into the caller's bytearray"
    # A bare bytearray is shared too.
    ex.submit(helpers.mv_write, data, 4, 100).result(LONG)
    assert data[4] == 100


def test_nested_buffers_in_containers(ex):
    data = bytearray(2)
    assert ex.submit(helpers.nested_write, ("label", memoryview(data))).result(LONG) == "label"
    assert data[0] == 99
    out = list(ex.map(helpers.nested_write, [("a", data), ("b", data)], chunksize=2))
    assert out == ["a", "b"]


def test_array_and_mmap(ex, tmp_path):
    a = array.array("d", [1.5, 2.5, 3.0])
    assert ex.submit(helpers.mv_sum, a).result(LONG) == 7.0
    assert ex.submit(helpers.mv_shape, a).result(LONG) == ("memoryview", (3,), "d")
    m = mmap.mmap(-1, 8)
    ex.submit(helpers.mv_write, m, 0, 42).result(LONG)
    assert m[0] == 42
    m.close()


def test_readonly_exporters_stay_readonly(ex):
    f = ex.submit(helpers.mv_write, memoryview(b"abc"), 0, 1)
    with pytest.raises(TypeError):
        f.result(LONG)


def test_exporter_is_released_when_the_last_view_is_gone(ex):
    data = bytearray(8)
    ex.submit(helpers.mv_sum, data).result(LONG)
    gc.collect()

    # While a buffer is exported a bytearray cannot be resized; once every
    # view in the worker is gone it is released (in the main interpreter, by
    # the worker thread, which needs the main GIL: wait_until's sleeps give
    # it up, however late that thread gets a CPU).
    def resized():
        try:
            data.extend(b"x")
            return True
        except BufferError:
            return False

    wait_until(resized, "the exported buffer is released")
    assert len(data) == 9


def test_non_contiguous_buffer_is_refused_clearly(ex):
    mv = memoryview(bytearray(8))[::2]
    with pytest.raises(TypeError, match="contiguous"):
        ex.submit(helpers.mv_sum, mv)


def test_numpy_arrays_are_shared_and_numpy_in_a_task_is_explained(ex):
    np = pytest.importorskip("numpy")
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    assert ex.submit(helpers.mv_shape, a).result(LONG) == ("memoryview", (3, 4), "d")
    ex.submit(helpers.mv_write, a.reshape(-1), 5, 100.0).result(LONG)
    assert a[1, 1] == 100.0
    with pytest.raises(ImportError) as e:
        ex.submit(helpers.import_module, "numpy").result(LONG)
    text = str(e.value) + "".join(getattr(e.value, "__notes__", []))
    assert "numpy" in text and "main interpreter" in text, text


def test_subinterpreter_incompatible_module_is_explained(ex):
    try:
        import _testsinglephase  # noqa: F401
    except ImportError:
        pytest.skip("CPython built without _testsinglephase")
    with pytest.raises(ImportError) as e:
        ex.submit(helpers.import_module, "_testsinglephase").result(LONG)
    notes = "".join(getattr(e.value, "__notes__", []))
    assert "_testsinglephase" in notes and "submit_main" in notes, (str(e.value), notes)
    # The main-interpreter lane runs it.
    assert ex.submit_main(helpers.import_module, "_testsinglephase").result(LONG) is True


def test_legacy_interpreters_load_single_phase_modules():
    try:
        import _testsinglephase  # noqa: F401
    except ImportError:
        pytest.skip("CPython built without _testsinglephase")
    with interp.InterpreterPoolExecutor(1, isolated=False) as e:
        assert e.submit(helpers.import_module, "_testsinglephase").result(LONG) is True


def test_event_across_interpreters(ex):
    ev = interp.Event()
    assert not ev.is_set()
    assert ex.submit(helpers.wait_event, ev, 0.01).result(LONG) is False
    waiting = ex.submit(ev.wait)  # a bound method: pickled, the event by reference
    raising = ex.submit(helpers.wait_and_raise, ev)
    assert not waiting.done()
    ev.set()
    assert waiting.result(LONG) is True
    with pytest.raises(Exception, match="this is an exception"):
        raising.result(LONG)
    assert ev.is_set() and ev.wait(0)
    with pytest.raises(RuntimeError):
        ev.clear()


def test_cancel_interrupts_an_event_wait(ex):
    ev = interp.Event()
    f = ex.submit(ev.wait)
    wait_until(f.running, "the wait runs")
    assert f.cancel()
    # The worker is free: both workers answer.
    assert [ex.submit(helpers.ident, i).result(LONG) for i in range(4)] == [0, 1, 2, 3]


def test_share_refuses_other_objects():
    from interp import _native

    with pytest.raises(TypeError, match="Channel, SharedBuffer or Frozen"):
        _native.share([1])
    with pytest.raises(RuntimeError, match="gone"):
        _native.shared(10**12)
