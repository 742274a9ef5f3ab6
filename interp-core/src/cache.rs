//! The materialization cache: per interpreter, the Python objects it made
//! from deeply immutable data, so that the same data passed again arrives as
//! the same object, in O(1), without a conversion.
//!
//! **What is cached.** A [`Value`] that is deeply immutable — `None`,
//! `bool`, `int`, `float`, `complex`, `str`, `bytes`, and `tuple` /
//! `frozenset` of those, nested — and big enough: a `tuple` or `frozenset`
//! of at least [`MIN_ITEMS`] items, or a `str`, `bytes` or big `int`, whose
//! Python objects come to at least [`CacheConfig::min_bytes`] (estimated).
//! Only the outermost such value of a conversion is looked up and offered:
//! the rows of a grid are not, the grid is, and so is a grid inside a
//! per-call argument tuple too small to be a candidate. Anything holding a `list`, `dict`, `set`, pickled object, buffer, channel
//! or `Frozen` is never cached: the receiver could change it, or it is
//! shared by reference already. Frozen tuple trees are cached too (at any
//! size): they arrive as real tuples, built once per interpreter.
//!
//! **Keys.** A value is found by the identity of its shared allocation (the
//! [`Shared`](crate::Shared) payload of the tuple, `str`, ...; the node of a
//! [`Frozen`] tree) and its kind; an object converted back to a value
//! (results) by the object's identity. Each entry holds a clone of the value
//! and a strong reference to the object, so neither address can be reused
//! while the entry exists: no stale hit after an allocation is freed and
//! another made at the same address.
//!
//! **Lifetime.** An entry made from a value dies when that value is dropped
//! on the Rust side; one made from an object (a result) dies when the object
//! dies in Python. The entry holds strong handles (no weak counts or
//! allocation ids are needed): it is dead when its data has no handles but
//! interp's own — the entries of every interpreter's cache and the
//! `interp.Frozen` proxies, counted per allocation in [`INTERNAL`] — or its
//! object no reference but the entry's. Dead entries are swept lazily: on
//! every insert and every [`SWEEP_EVERY`] lookups, and all entries are
//! released when the interpreter closes. The cache is bounded by entries and by estimated
//! bytes (the memory the objects take, allocator overhead included; see
//! [`CacheConfig::max_bytes`]), least recently used first out.
//!
//! **Threads.** An interpreter's cache lives in its record and is only used
//! while that interpreter is attached on the calling thread (through one of
//! interp's thread states, or any thread state of the main interpreter, so
//! that a Python host's calls into interp use the main interpreter's cache);
//! the objects it holds never leave that interpreter. The main
//! interpreter's cache is released when interp finalizes Python; under a
//! host that finalizes it, its objects are left to the finalization.

use std::collections::HashMap;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

use interp_sys as sys;

use crate::scope::{Bound, Python};
use crate::value::frozen::{Frozen, Node};
use crate::value::{Value, MAX_DEPTH};

/// The fewest items a `tuple` or `frozenset` needs to be looked up in (and
/// offered to) the cache. Smaller ones convert in about a microsecond, a
/// lookup costs tens of nanoseconds; their items are still looked up on
/// their own.
pub const MIN_ITEMS: usize = 32;

/// A `str`, `bytes` or big `int` shorter than this (in bytes) is never
/// looked up, whatever [`CacheConfig::min_bytes`] says.
const MIN_FLAT: usize = 256;

/// Dead entries are swept on every insert and after this many lookups.
pub const SWEEP_EVERY: u32 = 1024;

/// Bounds of an interpreter's materialization cache (see
/// [`InterpreterConfig::cache`](crate::InterpreterConfig::cache)).
///
/// ```
/// use interp_core::{CacheConfig, Interpreter, InterpreterConfig, Value};
///
/// let cfg = CacheConfig { max_bytes: 8 << 20, ..CacheConfig::DEFAULT };
/// let i = Interpreter::with_config(InterpreterConfig::isolated().cache(cfg))?;
/// let grid = Value::tuple((0..100).map(|r| Value::tuple((0..100).map(|c| Value::Int(r * c)))));
/// i.exec("def keep(g):\n    global kept\n    kept = g\ndef same(g):\n    return g is kept")?;
/// i.call("__main__", "keep", &[grid.clone()], &[])?;
/// // Passed again, the grid arrives as the object made the first time.
/// assert_eq!(i.call("__main__", "same", &[grid.clone()], &[])?, Value::Bool(true));
/// assert_eq!(i.cache_stats().hits, 1);
/// # Ok::<(), interp_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheConfig {
    /// At most this many bytes: the memory the cached Python objects take,
    /// each entry counting its whole tree, estimated with the allocators'
    /// overhead (pymalloc's 16-byte size classes and pool headers, malloc's
    /// chunk headers, GC headers), so that a full cache grows the process
    /// by about this much (on 64-bit CPython 3.12–3.14 with glibc). Default
    /// 64 MiB.
    pub max_bytes: usize,
    /// At most this many entries; 0 turns the cache off. Default 1024.
    pub max_entries: usize,
    /// Values whose Python objects come to fewer bytes (estimated as
    /// `max_bytes` counts them) are not cached (Frozen trees always are).
    /// Default 16 KiB: converting that much takes about 15 µs, a hit well
    /// under 1 µs (`examples/cache.rs`); smaller values save little for the
    /// entry they take.
    pub min_bytes: usize,
}

impl CacheConfig {
    /// 64 MiB, 1024 entries, values of 16 KiB and more.
    pub const DEFAULT: CacheConfig = CacheConfig {
        max_bytes: 64 << 20,
        max_entries: 1024,
        min_bytes: 16 << 10,
    };

    /// No cache: every value is converted on every arrival.
    pub const OFF: CacheConfig = CacheConfig {
        max_bytes: 0,
        max_entries: 0,
        min_bytes: usize::MAX,
    };
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A snapshot of an interpreter's materialization cache
/// ([`Interpreter::cache_stats`](crate::Interpreter::cache_stats)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Values (or objects) found in the cache: each saved a conversion.
    pub hits: u64,
    /// Values (or objects) big enough to be looked up but not found.
    pub misses: u64,
    /// Entries made.
    pub inserts: u64,
    /// Entries removed to respect the bounds (dead entries swept are not
    /// counted).
    pub evictions: u64,
    /// Entries held now.
    pub entries: usize,
    /// Estimated memory of the Python objects held now, allocator overhead
    /// included (as [`CacheConfig::max_bytes`] counts it; each entry counts
    /// its whole tree, so objects shared with other data count in full).
    pub bytes: usize,
}

/// What kind of data a key's address belongs to: one allocation can back
/// several kinds (a `Shared<[Value]>` both a tuple and a list), which would
/// become different objects.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Kind {
    Tuple,
    FrozenSet,
    Str,
    Bytes,
    BigInt,
    Frozen,
}

pub(crate) type Key = (usize, Kind);

/// The key of a value of a cacheable kind (whatever its size).
pub(crate) fn key_of(v: &Value) -> Option<Key> {
    Some(match v {
        Value::Tuple(a) => (a.addr(), Kind::Tuple),
        Value::FrozenSet(a) => (a.addr(), Kind::FrozenSet),
        Value::Str(s) => (s.addr(), Kind::Str),
        Value::Bytes(b) => (b.addr(), Kind::Bytes),
        Value::BigInt(b) => (b.addr(), Kind::BigInt),
        _ => return None,
    })
}

/// The key of a value worth a lookup: a cacheable kind of at least
/// [`MIN_ITEMS`] items or [`MIN_FLAT`] bytes. Cheap: no walk.
pub(crate) fn candidate(v: &Value) -> Option<Key> {
    let big = match v {
        Value::Tuple(a) | Value::FrozenSet(a) => a.len() >= MIN_ITEMS,
        Value::Str(s) => s.len() >= MIN_FLAT,
        Value::Bytes(b) | Value::BigInt(b) => b.len() >= MIN_FLAT,
        _ => false,
    };
    if big {
        key_of(v)
    } else {
        None
    }
}

/// Whether `obj` is worth a lookup by identity: an exact tuple or
/// frozenset of at least [`MIN_ITEMS`] items, or an exact `str` / `bytes`
/// of at least [`MIN_FLAT`] characters / bytes.
pub(crate) fn object_candidate(obj: &Bound<'_>) -> bool {
    let p = obj.as_ptr();
    // SAFETY: attached (brand); exact type checks precede the size macros.
    unsafe {
        if sys::PyTuple_CheckExact(p) != 0 {
            sys::PyTuple_GET_SIZE(p) as usize >= MIN_ITEMS
        } else if sys::PyUnicode_CheckExact(p) != 0 {
            sys::PyUnicode_GET_LENGTH(p) as usize >= MIN_FLAT
        } else if sys::PyBytes_CheckExact(p) != 0 {
            sys::PyBytes_Size(p) as usize >= MIN_FLAT
        } else if sys::PyFrozenSet_CheckExact(p) != 0 {
            sys::PySet_Size(p) as usize >= MIN_ITEMS
        } else {
            false
        }
    }
}

// ---- size estimates (CPython 3.12+, 64-bit; `sys.getsizeof`) -------------

fn int_bytes(n: i64) -> usize {
    if (-5..=256).contains(&n) {
        return 0; // small ints are immortal singletons
    }
    let bits = 64 - n.unsigned_abs().leading_zeros() as usize;
    28 + 4 * (bits.saturating_sub(1) / 30)
}

fn big_int_bytes(len: usize) -> usize {
    28 + 4 * (len.saturating_mul(8).saturating_sub(1) / 30)
}

fn str_bytes(s: &str) -> usize {
    if s.is_ascii() {
        return 41 + s.len();
    }
    let (mut chars, mut widest) = (0usize, 0u32);
    for c in s.chars() {
        chars += 1;
        widest = widest.max(c as u32);
    }
    let kind = match widest {
        0..=0xff => 1,
        0x100..=0xffff => 2,
        _ => 4,
    };
    56 + (chars + 1) * kind
}

fn bytes_bytes(len: usize) -> usize {
    33 + len
}

fn tuple_bytes(n: usize) -> usize {
    if n == 0 {
        0 // the empty tuple is an immortal singleton
    } else {
        tuple_header() + 8 * n
    }
}

/// A tuple's fixed size: 3.14 added a cached hash to the header (48 bytes;
/// 40 before). The version is the one interp-sys was built against, which
/// is the one running (binaries link it; the extension is built per version).
fn tuple_header() -> usize {
    static HEADER: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *HEADER.get_or_init(|| {
        let mut parts = interp_sys::PYTHON_VERSION.split('.');
        let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(3);
        let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(14);
        if (major, minor) >= (3, 14) {
            48
        } else {
            40
        }
    })
}

/// A frozenset object with its small table inline (GC header included).
const FROZENSET_OBJECT: usize = 216;

fn frozenset_bytes(n: usize) -> usize {
    if n <= 4 {
        FROZENSET_OBJECT
    } else {
        FROZENSET_OBJECT + 16 * n.saturating_mul(4).next_power_of_two()
    }
}

/// Estimated bytes of the object `v` itself becomes (not counting its
/// items), or `None` when it is mutable or not plain data (a list, dict,
/// set, pickled object, buffer, channel or frozen tree).
fn own_bytes(v: &Value) -> Option<usize> {
    Some(match v {
        Value::None | Value::Bool(_) => 0,
        Value::Int(n) => int_bytes(*n),
        Value::BigInt(b) => big_int_bytes(b.len()),
        Value::Float(_) => 24,
        Value::Complex { .. } => 32,
        Value::Str(s) => str_bytes(s),
        Value::Bytes(b) => bytes_bytes(b.len()),
        Value::Tuple(items) => tuple_bytes(items.len()),
        Value::FrozenSet(items) => frozenset_bytes(items.len()),
        _ => return None,
    })
}

// ---- memory footprint: what the allocators take for those objects ---------
//
// `sys.getsizeof` counts what an object asks for; the process pays more:
// pymalloc (CPython's object allocator, every interpreter its own) serves
// requests up to 512 bytes as blocks rounded up to 16 bytes, carved from
// 16 KiB pools that each start with a 48-byte header (and waste the tail
// that no whole block fills); bigger requests go to the C library's malloc
// (glibc: an 8-byte chunk header, 16-byte rounding; from 128 KiB, whole
// pages by mmap). The GC header (16 bytes before a tuple or frozenset) is
// already in `sys.getsizeof`'s figure and in the sizes above (which differ
// between 3.12, 3.13 and 3.14 only in the tuple header; checked on 3.12.1,
// 3.13.0 and 3.14.7, where the RSS test passes too). A footprint
// is counted in 1/`FRACTION` bytes: a small block's share of its pool's
// header is a fraction of a byte, and rounding it up per object would
// overstate a grid of ints by 3%. Measured against RSS by the test
// `rss_with_a_full_cache_stays_within_the_bound` (interp-core/tests).

/// Footprints are in units of 1/`FRACTION` byte.
const FRACTION: usize = 64;
/// pymalloc serves requests up to this size (bytes).
const SMALL_REQUEST: usize = 512;
/// pymalloc rounds requests up to a multiple of this (64-bit builds).
const ALIGNMENT: usize = 16;
/// pymalloc's pool size (3.12+ on 64-bit, with the radix tree: 16 KiB).
const POOL_SIZE: usize = 16 << 10;
/// The header at the start of each pymalloc pool.
const POOL_OVERHEAD: usize = 48;
/// glibc malloc: from this size a request is mmapped (the default
/// threshold; a raised one only makes the estimate a little high).
const MMAP_THRESHOLD: usize = 128 << 10;
/// The page size mmapped allocations are rounded up to.
const PAGE: usize = 4 << 10;

/// The memory one allocation of `n` bytes takes, in 1/[`FRACTION`] bytes.
fn footprint(n: usize) -> usize {
    let bytes = if n == 0 {
        0
    } else if n <= SMALL_REQUEST {
        // A block's share of its pool: the pool over the blocks it holds.
        let block = n.next_multiple_of(ALIGNMENT);
        let blocks = (POOL_SIZE - POOL_OVERHEAD) / block;
        return (POOL_SIZE * FRACTION).div_ceil(blocks);
    } else if n < MMAP_THRESHOLD {
        // glibc's chunk: the request plus its size field, 16-byte aligned.
        n.saturating_add(8).next_multiple_of(16)
    } else {
        // An mmapped chunk: request, header, whole pages.
        n.saturating_add(32)
            .checked_next_multiple_of(PAGE)
            .unwrap_or(usize::MAX)
    };
    bytes.saturating_mul(FRACTION)
}

/// Bytes (rounded up) of a footprint in 1/[`FRACTION`] bytes.
pub(crate) fn whole_bytes(footprint: usize) -> usize {
    footprint.div_ceil(FRACTION)
}

/// The footprint (in 1/[`FRACTION`] bytes, see [`footprint`]) of the object
/// `v` itself becomes, not counting its items, or `None` when it is not
/// plain immutable data (as [`own_bytes`]). `utf8`: the object is a
/// caller's, converted to a value, so a non-ASCII `str` has made its UTF-8
/// copy (a second allocation) on the way.
pub(crate) fn own_footprint(v: &Value, utf8: bool) -> Option<usize> {
    let size = own_bytes(v)?;
    Some(match v {
        // The table of a bigger set is an allocation of its own.
        Value::FrozenSet(items) if items.len() > 4 => {
            footprint(FROZENSET_OBJECT).saturating_add(footprint(size - FROZENSET_OBJECT))
        }
        Value::Str(s) if utf8 && !s.is_ascii() => {
            footprint(size).saturating_add(footprint(s.len() + 1))
        }
        _ => footprint(size),
    })
}

/// The footprint (in 1/[`FRACTION`] bytes) of the native objects a frozen
/// node becomes (a dict stays a small proxy whose children are made
/// lazily).
pub(crate) fn measure_node(node: &Node, depth: usize) -> usize {
    if depth > MAX_DEPTH {
        return 0;
    }
    footprint(match node {
        Node::None | Node::Bool(_) => 0,
        Node::Int(n) => int_bytes(*n),
        Node::BigInt(b) => big_int_bytes(b.len()),
        Node::Float(_) => 24,
        Node::Str(s) => str_bytes(s),
        Node::Bytes(b) => bytes_bytes(b.len()),
        Node::Tuple(items) => {
            return items
                .iter()
                .fold(footprint(tuple_bytes(items.len())), |acc, n| {
                    acc.saturating_add(measure_node(n, depth + 1))
                })
        }
        Node::Dict(_) => 96,
    })
}

// ---- the cache ------------------------------------------------------------

/// A strong reference to an object of the interpreter that owns the cache.
/// Only increfed / decrefed while that interpreter is attached.
pub(crate) struct Obj(NonNull<sys::PyObject>);

// SAFETY: the pointer moves with the cache (which lives in the
// interpreter's `Send + Sync` record) but is only dereferenced while the
// owning interpreter is attached on the current thread (module rules).
unsafe impl Send for Obj {}

/// What keeps an entry's key valid: the value (or frozen tree) whose
/// allocation the key names.
pub(crate) enum Owner {
    Value(Value),
    Frozen(Frozen),
}

impl Owner {
    /// The address of the allocation the handle keeps alive, and how many
    /// handles to it live now.
    fn handles(&self) -> (usize, usize) {
        match self {
            Owner::Value(Value::Tuple(a) | Value::FrozenSet(a)) => (a.addr(), a.strong_count()),
            Owner::Value(Value::Str(s)) => (s.addr(), s.strong_count()),
            Owner::Value(Value::Bytes(b) | Value::BigInt(b)) => (b.addr(), b.strong_count()),
            // Never made (entries hold the kinds above).
            Owner::Value(_) => (0, 0),
            Owner::Frozen(f) => (f.root_addr(), f.strong_count()),
        }
    }
}

/// The handles to shared data that interp itself holds, by allocation
/// address: the entries of every interpreter's cache, and `interp.Frozen`
/// proxies (which hold their tree). Data whose handles are all of these is
/// used by nobody: a value held by two interpreters' caches must not look
/// alive to each because of the other, nor a frozen tree because of the
/// proxies inside the tuples materialized from it.
static INTERNAL: LazyLock<Mutex<HashMap<usize, usize>>> = LazyLock::new(Default::default);

fn internal() -> MutexGuard<'static, HashMap<usize, usize>> {
    // Plain counters, consistent after every statement: ignore poisoning.
    INTERNAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records one more internal handle to the allocation at `addr`.
pub(crate) fn hold(addr: usize) {
    *internal().entry(addr).or_default() += 1;
}

/// Forgets one internal handle to the allocation at `addr`.
pub(crate) fn unhold(addr: usize) {
    let mut map = internal();
    if let Some(n) = map.get_mut(&addr) {
        *n -= 1;
        if *n == 0 {
            map.remove(&addr);
        }
    }
}

struct Entry {
    owner: Owner,
    obj: Obj,
    /// Estimated bytes of the object's tree.
    bytes: usize,
    /// Last use (a tick of `Inner::clock`).
    stamp: u64,
    /// Made from an object being converted to a value (a result): lives
    /// while the object does. Otherwise made from a value arriving: lives
    /// while the value does.
    from_object: bool,
}

impl Entry {
    /// Whether the entry's key is still in use: its object used by Python
    /// (made from an object), or its data held by anything but interp's own
    /// handles (`internal`, a snapshot of [`INTERNAL`]). Counts read while
    /// other threads change them can only make an entry die early (a later
    /// miss) or live until the next sweep.
    fn alive(&self, internal: &HashMap<usize, usize>) -> bool {
        if self.from_object {
            // SAFETY: attached to the owning interpreter (callers); the
            // entry's reference keeps the object valid.
            unsafe { sys::Py_REFCNT(self.obj.0.as_ptr()) > 1 }
        } else {
            let (addr, handles) = self.owner.handles();
            handles > internal.get(&addr).copied().unwrap_or(0)
        }
    }
}

/// Entries taken out of the cache: their references are dropped after the
/// lock is released, still attached.
pub(crate) type Released = Vec<(Obj, Owner)>;

struct Inner {
    config: CacheConfig,
    entries: HashMap<Key, Entry>,
    /// Object address -> key of the entry holding it, for entries whose
    /// owner is a [`Value`] (a frozen tree's tuples convert back to plain
    /// tuples, not to the `Frozen`).
    by_object: HashMap<usize, Key>,
    bytes: usize,
    clock: u64,
    lookups: u32,
}

impl Inner {
    fn remove(&mut self, key: &Key, out: &mut Released) -> bool {
        let Some(e) = self.entries.remove(key) else {
            return false;
        };
        if self.by_object.get(&(e.obj.0.as_ptr() as usize)) == Some(key) {
            self.by_object.remove(&(e.obj.0.as_ptr() as usize));
        }
        unhold(e.owner.handles().0);
        self.bytes -= e.bytes;
        out.push((e.obj, e.owner));
        true
    }

    /// Removes the entries whose value (or object) only the cache holds.
    fn sweep(&mut self, out: &mut Released) {
        self.lookups = 0;
        let dead: Vec<Key> = {
            let internal = internal();
            self.entries
                .iter()
                .filter(|(_, e)| !e.alive(&internal))
                .map(|(k, _)| *k)
                .collect()
        };
        for k in dead {
            self.remove(&k, out);
        }
    }

    /// Evicts least recently used entries until `new` more entries of
    /// `extra` bytes in all fit; returns how many were evicted.
    fn make_room(&mut self, new: usize, extra: usize, out: &mut Released) -> u64 {
        let cfg = self.config;
        let fits = |me: &Inner| {
            me.entries.len() + new <= cfg.max_entries
                && me.bytes.saturating_add(extra) <= cfg.max_bytes
        };
        if fits(self) {
            return 0;
        }
        let mut order: Vec<(u64, Key)> = self.entries.iter().map(|(k, e)| (e.stamp, *k)).collect();
        order.sort_unstable_by_key(|(stamp, _)| *stamp);
        let mut evicted = 0;
        for (_, k) in order {
            if fits(self) {
                break;
            }
            self.remove(&k, out);
            evicted += 1;
        }
        evicted
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

/// One interpreter's materialization cache (in its record, see `tstate`).
pub(crate) struct InterpCache {
    inner: Mutex<Inner>,
    /// Mirrors of the state for lock-free reads: `entries` is also the
    /// fast "nothing cached" check of every lookup.
    entries: AtomicUsize,
    bytes: AtomicUsize,
    /// `config.min_bytes`, read before the lock is taken.
    min_bytes: AtomicUsize,
    /// Enabled and `config.max_entries > 0`: lookups and tallies run.
    on: AtomicBool,
    hits: AtomicU64,
    misses: AtomicU64,
    inserts: AtomicU64,
    evictions: AtomicU64,
}

impl InterpCache {
    pub(crate) fn new() -> InterpCache {
        InterpCache {
            inner: Mutex::new(Inner {
                config: CacheConfig::DEFAULT,
                entries: HashMap::new(),
                by_object: HashMap::new(),
                bytes: 0,
                clock: 0,
                lookups: 0,
            }),
            entries: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            min_bytes: AtomicUsize::new(CacheConfig::DEFAULT.min_bytes),
            on: AtomicBool::new(true),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            inserts: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every mutation leaves the maps consistent before anything that
        // could panic: ignore poisoning.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, inner: &Inner) {
        self.entries.store(inner.entries.len(), Ordering::Relaxed);
        self.bytes.store(inner.bytes, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            inserts: self.inserts.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries: self.entries.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn config(&self) -> CacheConfig {
        self.lock().config
    }

    /// Sets the bounds, evicting what no longer fits. Call attached to the
    /// owning interpreter, then [`release`] what is returned.
    #[must_use]
    fn configure(&self, config: CacheConfig) -> Released {
        let mut out = Vec::new();
        let mut inner = self.lock();
        inner.config = config;
        self.min_bytes.store(config.min_bytes, Ordering::Relaxed);
        self.on.store(config.max_entries > 0, Ordering::Relaxed);
        inner.sweep(&mut out);
        if inner.config.max_entries == 0 {
            let keys: Vec<Key> = inner.entries.keys().copied().collect();
            for k in keys {
                inner.remove(&k, &mut out);
            }
        } else {
            let evicted = inner.make_room(0, 0, &mut out);
            self.evictions.fetch_add(evicted, Ordering::Relaxed);
        }
        self.publish(&inner);
        out
    }

    /// Sets the bounds before the interpreter has used the cache.
    pub(crate) fn set_initial_config(&self, config: CacheConfig) {
        let mut inner = self.lock();
        debug_assert!(inner.entries.is_empty());
        inner.config = config;
        self.min_bytes.store(config.min_bytes, Ordering::Relaxed);
        self.on.store(config.max_entries > 0, Ordering::Relaxed);
    }

    /// Takes every entry out (the interpreter is closing). Call attached,
    /// then [`release`] what is returned.
    #[must_use]
    fn take_all(&self) -> Released {
        let mut out = Vec::new();
        let mut inner = self.lock();
        let keys: Vec<Key> = inner.entries.keys().copied().collect();
        for k in keys {
            inner.remove(&k, &mut out);
        }
        inner.config.max_entries = 0;
        self.on.store(false, Ordering::Relaxed);
        self.publish(&inner);
        out
    }

    /// Whether the cache is in use (cheap, lock-free).
    pub(crate) fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Whether a lookup can find anything (cheap, lock-free).
    fn maybe_holds(&self) -> bool {
        self.is_on() && self.entries.load(Ordering::Relaxed) > 0
    }

    /// Whether the object at `addr` is held as the object of a value (a
    /// query: no hit counted, the LRU order left alone).
    pub(crate) fn holds_object(&self, addr: usize) -> bool {
        self.maybe_holds() && self.lock().by_object.contains_key(&addr)
    }

    /// Counts a lookup; every [`SWEEP_EVERY`]th also sweeps.
    fn count_lookup(&self, inner: &mut Inner, hit: bool, out: &mut Released) {
        if hit {
            self.hits.fetch_add(1, Ordering::Relaxed);
        } else {
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
        inner.lookups += 1;
        if inner.lookups >= SWEEP_EVERY {
            inner.sweep(out);
            self.publish(inner);
        }
    }

    /// A lookup: `find` gets the state and a fresh LRU stamp to give what
    /// it finds. Counts a hit or a miss.
    fn lookup<T>(&self, find: impl FnOnce(&mut Inner, u64) -> Option<T>) -> (Option<T>, Released) {
        let mut out = Vec::new();
        if !self.is_on() {
            return (None, out);
        }
        if !self.maybe_holds() {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return (None, out);
        }
        let mut inner = self.lock();
        let stamp = inner.tick();
        let found = find(&mut inner, stamp);
        self.count_lookup(&mut inner, found.is_some(), &mut out);
        (found, out)
    }

    /// The object cached under `key`, as a new reference.
    pub(crate) fn object<'py>(&self, py: Python<'py>, key: Key) -> (Option<Bound<'py>>, Released) {
        self.lookup(|inner, stamp| {
            let e = inner.entries.get_mut(&key)?;
            e.stamp = stamp;
            // SAFETY: attached to the owning interpreter (callers); the
            // entry's reference keeps the object valid; this adds ours.
            Some(unsafe { py.from_borrowed_ptr(e.obj.0.as_ptr()) })
        })
    }

    /// The value cached for the object at `addr`.
    pub(crate) fn value(&self, addr: usize) -> (Option<Value>, Released) {
        self.lookup(|inner, stamp| {
            let key = inner.by_object.get(&addr).copied()?;
            let e = inner.entries.get_mut(&key)?;
            e.stamp = stamp;
            match &e.owner {
                Owner::Value(v) => Some(v.clone()),
                Owner::Frozen(_) => None,
            }
        })
    }

    /// Whether a value of `bytes` (estimated) is worth an entry.
    pub(crate) fn worth(&self, bytes: usize) -> bool {
        self.is_on() && bytes >= self.min_bytes.load(Ordering::Relaxed)
    }

    /// Offers `obj`, just made from (or converted to) `owner`, under `key`,
    /// `bytes` its estimated size; kept when it fits the bounds.
    pub(crate) fn insert(
        &self,
        key: Key,
        owner: Owner,
        obj: &Bound<'_>,
        bytes: usize,
        from_object: bool,
    ) -> Released {
        let mut out = Vec::new();
        if !self.is_on() {
            return out;
        }
        let mut inner = self.lock();
        let cfg = inner.config;
        let addr = obj.as_ptr() as usize;
        if cfg.max_entries == 0
            || bytes > cfg.max_bytes
            || inner.entries.contains_key(&key)
            || (matches!(owner, Owner::Value(_)) && inner.by_object.contains_key(&addr))
        {
            return out;
        }
        inner.sweep(&mut out);
        let evicted = inner.make_room(1, bytes, &mut out);
        let stamp = inner.tick();
        let index = matches!(owner, Owner::Value(_));
        hold(owner.handles().0);
        inner.entries.insert(
            key,
            Entry {
                owner,
                // SAFETY: attached to the owning interpreter (callers); the
                // entry keeps this new reference until it is released.
                obj: Obj(unsafe { NonNull::new_unchecked(obj.clone().into_ptr()) }),
                bytes,
                stamp,
                from_object,
            },
        );
        if index {
            inner.by_object.insert(addr, key);
        }
        inner.bytes += bytes;
        self.inserts.fetch_add(1, Ordering::Relaxed);
        self.evictions.fetch_add(evicted, Ordering::Relaxed);
        self.publish(&inner);
        out
    }
}

impl Drop for InterpCache {
    fn drop(&mut self) {
        // Entries left here belong to an interpreter that ended without
        // `clear` (abandoned, or the process is exiting): its objects are
        // gone or unreachable, so their references are left alone (`Obj`
        // has no drop glue). The values are ordinary Rust data, freed with
        // the maps; their internal handles are forgotten.
        let inner = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        for e in inner.entries.values() {
            unhold(e.owner.handles().0);
        }
    }
}

/// Drops the references of entries taken out of the cache.
pub(crate) fn release(_py: Python<'_>, out: Released) {
    for (obj, owner) in out {
        // SAFETY: attached to the interpreter that owns the object (the
        // token's; callers release what that interpreter's cache returned).
        unsafe { sys::Py_DecRef(obj.0.as_ptr()) };
        drop(owner);
    }
}

/// Sets the bounds of `cache`, evicting what no longer fits; `py` must be
/// the token of the interpreter that owns it.
pub(crate) fn configure(py: Python<'_>, cache: &InterpCache, config: CacheConfig) {
    release(py, cache.configure(config));
}

/// Releases every entry of `cache` (its interpreter is closing).
///
/// # Safety
/// The interpreter owning `cache` must be attached on this thread.
pub(crate) unsafe fn clear(cache: &InterpCache) {
    // SAFETY: the caller guarantees the owning interpreter is attached.
    release(unsafe { Python::assume_attached() }, cache.take_all());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Interpreter, Shared};

    const HELPERS: &str = "def keep(x):\n    global kept\n    kept = x\ndef same(x):\n    return x is kept\ndef total(x):\n    return sum(x)";

    /// 1,000 ints from `base`, in one allocation (no temporary vector).
    fn ints(base: i64) -> Shared<[Value]> {
        Shared::try_from_fn(1000, |n| Ok::<_, crate::Error>(Value::Int(base + n as i64))).unwrap()
    }

    #[test]
    fn no_stale_hit_when_a_freed_address_is_reused() {
        let i = Interpreter::new().unwrap();
        i.exec(HELPERS).unwrap();
        let a = ints(1000);
        let addr = a.addr();
        i.call("__main__", "keep", &[Value::Tuple(a.clone())], &[])
            .unwrap();
        // The entry holds the allocation: it cannot be reused meanwhile.
        assert_eq!(a.strong_count(), 2);
        drop(a);
        assert_eq!(i.cache_stats().entries, 1);
        // A sweep finds only the cache holding it and frees it.
        i.set_cache_config(i.cache_config());
        assert_eq!(i.cache_stats().entries, 0);
        // New data at the freed address (non-matching tries stay alive so
        // the allocator cannot hand the same block out twice).
        let mut tries = Vec::new();
        let b = loop {
            let b = ints(5000);
            if b.addr() == addr {
                break b;
            }
            tries.push(b);
            assert!(
                tries.len() < 10_000,
                "the allocator never reused the freed address; cannot test reuse"
            );
        };
        let before = i.cache_stats();
        let b = Value::Tuple(b);
        assert_eq!(
            i.call("__main__", "same", std::slice::from_ref(&b), &[])
                .unwrap(),
            Value::Bool(false)
        );
        let after = i.cache_stats();
        assert_eq!(
            (after.hits, after.misses),
            (before.hits, before.misses + 1),
            "{after:?}"
        );
        assert_eq!(
            i.call("__main__", "total", &[b], &[]).unwrap(),
            Value::Int((5000..6000).sum())
        );
    }

    #[test]
    fn closing_the_interpreter_releases_every_entry() {
        let i = Interpreter::new().unwrap();
        i.exec(HELPERS).unwrap();
        let a = ints(1000);
        i.call("__main__", "keep", &[Value::Tuple(a.clone())], &[])
            .unwrap();
        i.exec("T = tuple(range(1000, 3000))").unwrap();
        let Value::Tuple(t) = i.eval("T").unwrap() else {
            panic!()
        };
        assert_eq!(i.cache_stats().entries, 2);
        assert!(a.strong_count() > 1 && t.strong_count() > 1);
        drop(i);
        assert!(
            a.strong_count() == 1 && t.strong_count() == 1,
            "the cache let go of both values"
        );
    }

    #[test]
    fn footprints_count_the_allocators_overhead() {
        // An int (28 bytes): a 32-byte pymalloc block, plus its share of a
        // 16 KiB pool's header and tail (510 blocks a pool): 32.13 bytes.
        assert_eq!(footprint(28), (16384 * FRACTION).div_ceil(510));
        let int = footprint(28) as f64 / FRACTION as f64;
        assert!((32.12..32.15).contains(&int), "{int}");
        // 512 bytes: 31 blocks a pool.
        assert_eq!(footprint(512), (16384 * FRACTION).div_ceil(31));
        // A 130-item tuple on 3.14 (1,088 bytes): a malloc chunk of 1,104.
        assert_eq!(footprint(1088), 1104 * FRACTION);
        // 1 MiB: mmapped, whole pages.
        assert_eq!(footprint(1 << 20), ((1 << 20) + 4096) * FRACTION);
        assert_eq!((footprint(0), whole_bytes(1)), (0, 1));
        // Immortal objects take nothing; a non-ASCII str converted from a
        // caller's object has made its UTF-8 copy too.
        assert_eq!(own_footprint(&Value::Int(5), false), Some(0));
        let euro = Value::str(&"€".repeat(100));
        assert_eq!(
            own_footprint(&euro, true),
            Some(footprint(258) + footprint(301))
        );
        assert_eq!(own_footprint(&euro, false), Some(footprint(258)));
        assert_eq!(
            own_footprint(&Value::List(Shared::from(Vec::new())), false),
            None
        );
    }

    #[test]
    fn size_estimates_match_sys_getsizeof() {
        let i = Interpreter::new().unwrap();
        for (expr, v) in [
            ("300", Value::Int(300)),
            ("2**40", Value::Int(1 << 40)),
            ("-2**63", Value::Int(i64::MIN)),
            ("1.5", Value::Float(1.5)),
            ("1j", Value::Complex { re: 0.0, im: 1.0 }),
            ("'a' * 100", Value::str(&"a".repeat(100))),
            ("'é' * 100", Value::str(&"é".repeat(100))),
            ("'€' * 100", Value::str(&"€".repeat(100))),
            ("'😀' * 100", Value::str(&"😀".repeat(100))),
            ("b'x' * 100", Value::bytes(&[b'x'; 100])),
            ("(True,) * 100", Value::tuple(vec![Value::Bool(true); 100])),
        ] {
            let want = i
                .eval(&format!("__import__('sys').getsizeof({expr})"))
                .unwrap()
                .as_i64()
                .unwrap() as usize;
            // (The bools in the tuple are immortal singletons: 0 bytes.)
            assert_eq!(own_bytes(&v), Some(want), "{expr}");
        }
    }
}
