//! The conversions' hooks into the materialization cache (`cache.rs`) of
//! the interpreter attached on this thread: a lookup before a value or
//! object is converted, an offer of what the conversion made, and the
//! tally that decides whether it is worth an entry.

use std::cell::Cell;

use crate::cache::{
    candidate, key_of, measure_node, object_candidate, own_footprint, release, whole_bytes,
    InterpCache, Key, Kind, Owner,
};
use crate::scope::{Bound, Python};
use crate::tstate;
use crate::value::frozen::Frozen;
use crate::value::Value;

/// Runs `f` on the attached interpreter's cache (none for the main
/// interpreter or a thread state interp did not make).
fn with_cache<R>(f: impl FnOnce(&InterpCache) -> R) -> Option<R> {
    tstate::with_current(|record| f(&record.cache))
}

// ---- hooks for the conversions ----------------------------------------------

thread_local! {
    /// How many candidates (values or objects) this thread is converting
    /// now, one inside the other: only the outermost is looked up and
    /// offered, so the rows of a grid are never looked up one by one.
    static CONVERTING: Cell<u32> = const { Cell::new(0) };
    /// While the outermost candidate converts: the footprint (in
    /// 1/`FRACTION` bytes, see `cache.rs`) of the objects made inside it so
    /// far, whether all of them are plain immutable data, and whether they
    /// are a caller's objects converted to values (see [`own_footprint`]).
    /// Tallied as the conversion goes (every value passes through the
    /// hooks), so deciding whether to cache needs no walk.
    static TALLY: Cell<(usize, bool, bool)> = const { Cell::new((0, true, false)) };
}

/// Counts `v` (not its items, which are counted on their own) into the
/// tally of the candidate being converted.
fn tally(v: &Value) {
    TALLY.with(|t| {
        let (bytes, plain, utf8) = t.get();
        t.set(match own_footprint(v, utf8) {
            Some(n) => (bytes.saturating_add(n), plain, utf8),
            None => (bytes, false, utf8),
        })
    });
}

/// What a lookup found: the cached object or value, or a ticket to offer
/// what the conversion makes (dropping it unoffered, e.g. on an error, is
/// fine).
pub(crate) enum Found<T> {
    Cached(T),
    Missing(Ticket),
}

/// The right to offer a conversion's result under `key` (`None`: not a
/// candidate, or inside another candidate's conversion).
pub(crate) struct Ticket {
    key: Option<Key>,
}

impl Ticket {
    const NONE: Ticket = Ticket { key: None };

    /// A ticket for `key`: this thread now converts a candidate, whose
    /// tally starts empty; `from_object`: a caller's object to a value.
    fn outermost(key: Key, from_object: bool) -> Ticket {
        CONVERTING.with(|c| c.set(c.get() + 1));
        TALLY.with(|t| t.set((0, true, from_object)));
        Ticket { key: Some(key) }
    }

    /// Ends the outermost candidate's conversion: its key and its tally
    /// with `v` itself counted, when it is plain data worth an entry.
    fn finish(&mut self, v: &Value) -> Option<(Key, usize)> {
        let key = self.key.take()?;
        CONVERTING.with(|c| c.set(c.get() - 1));
        let (inside, plain, utf8) = TALLY.with(|t| t.get());
        let bytes = whole_bytes(inside.saturating_add(own_footprint(v, utf8)?));
        plain.then_some((key, bytes))
    }

    /// Value -> Python: offers `obj`, just made from `v`, to the cache.
    #[inline]
    pub(crate) fn made_object(mut self, py: Python<'_>, v: &Value, obj: &Bound<'_>) {
        if self.key.is_none() {
            return;
        }
        let Some((key, bytes)) = self.finish(v) else {
            return;
        };
        let out = with_cache(|c| {
            c.worth(bytes)
                .then(|| c.insert(key, Owner::Value(v.clone()), obj, bytes, false))
        });
        if let Some(Some(out)) = out {
            release(py, out);
        }
    }

    /// Python -> Value: offers `obj`, just converted to `v`, to the cache
    /// (it then lives while the object does).
    #[inline]
    pub(crate) fn made_value(mut self, obj: &Bound<'_>, v: &Value) {
        if self.key.is_none() {
            if nested() {
                tally(v);
            }
            return;
        }
        let Some((_, bytes)) = self.finish(v) else {
            return;
        };
        let Some(key) = key_of(v) else { return };
        let out = with_cache(|c| {
            c.worth(bytes)
                .then(|| c.insert(key, Owner::Value(v.clone()), obj, bytes, true))
        });
        if let Some(Some(out)) = out {
            release(obj.py(), out);
        }
    }
}

impl Drop for Ticket {
    #[inline]
    fn drop(&mut self) {
        if self.key.take().is_some() {
            CONVERTING.with(|c| c.set(c.get() - 1));
        }
    }
}

/// Whether a candidate's conversion is in progress on this thread.
#[inline]
fn nested() -> bool {
    CONVERTING.with(|c| c.get() > 0)
}

/// Value -> Python: the object this interpreter made for `v` before, if
/// cached (a new reference), else a ticket to offer the one made now.
#[inline]
pub(crate) fn object_for<'py>(py: Python<'py>, v: &Value) -> Found<Bound<'py>> {
    if nested() {
        tally(v);
        return Found::Missing(Ticket::NONE);
    }
    match candidate(v) {
        None => Found::Missing(Ticket::NONE),
        Some(key) => lookup_object(py, key),
    }
}

fn lookup_object(py: Python<'_>, key: Key) -> Found<Bound<'_>> {
    match with_cache(|c| c.is_on().then(|| c.object(py, key))).flatten() {
        None => Found::Missing(Ticket::NONE),
        Some((found, out)) => {
            release(py, out);
            match found {
                Some(o) => Found::Cached(o),
                None => Found::Missing(Ticket::outermost(key, false)),
            }
        }
    }
}

/// Python -> Value: the value `obj` was made from, or converted to, before
/// in this interpreter, if cached, else a ticket to offer the one made now.
#[inline]
pub(crate) fn value_for(obj: &Bound<'_>) -> Found<Value> {
    if nested() || !object_candidate(obj) {
        return Found::Missing(Ticket::NONE);
    }
    let addr = obj.as_ptr() as usize;
    match with_cache(|c| c.is_on().then(|| c.value(addr))).flatten() {
        None => Found::Missing(Ticket::NONE),
        Some((found, out)) => {
            release(obj.py(), out);
            match found {
                Some(v) => Found::Cached(v),
                // The value's key is known only once it is made.
                None => Found::Missing(Ticket::outermost((addr, Kind::Tuple), true)),
            }
        }
    }
}

/// Whether `obj` is in the attached interpreter's materialization cache as
/// the object of a value (made from one passed in, or converted to one
/// before): then it is plain immutable data — `None`, `bool`, `int`,
/// `float`, `complex`, `str`, `bytes`, and tuples and frozensets of those —
/// with nothing inside that a conversion would treat specially (a buffer,
/// say), and converting it again costs O(1). A query: it counts no hit and
/// leaves the entry's place in the LRU order alone.
pub fn is_cached(obj: &Bound<'_>) -> bool {
    if !object_candidate(obj) {
        return false;
    }
    let addr = obj.as_ptr() as usize;
    with_cache(|c| c.holds_object(addr)).unwrap_or(false)
}

/// A frozen tuple tree as native objects: made by `build` the first time
/// this interpreter sees the tree, the cached object after that.
pub(crate) fn frozen_object<'py>(
    py: Python<'py>,
    f: &Frozen,
    build: impl FnOnce() -> crate::error::Result<Bound<'py>>,
) -> crate::error::Result<Bound<'py>> {
    let key = (f.node_addr(), Kind::Frozen);
    if let Some((found, out)) = with_cache(|c| c.object(py, key)) {
        release(py, out);
        if let Some(o) = found {
            return Ok(o);
        }
    }
    let o = build()?;
    let bytes = whole_bytes(measure_node(f.node(), 0));
    if let Some(out) = with_cache(|c| c.insert(key, Owner::Frozen(f.clone()), &o, bytes, false)) {
        release(py, out);
    }
    Ok(o)
}
