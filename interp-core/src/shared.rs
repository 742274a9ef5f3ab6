//! [`Shared`]: the immutable, reference-counted storage of [`Value`]'s
//! strings, bytes and containers — like `Arc<str>` / `Arc<[T]>` (one
//! allocation, a thin pointer), but allocated fallibly where the size comes
//! from Python or C.
//!
//! [`Value`]: crate::Value

use std::alloc::{self, Layout};
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::ops::Deref;
use std::ptr::{self, NonNull};
use std::sync::atomic::{self, AtomicUsize, Ordering};

use crate::error::{no_memory, Error};

mod sealed {
    pub trait Sealed {}
    impl<T> Sealed for [T] {}
    impl Sealed for str {}
}

/// What a [`Shared`] can hold: `[T]` or `str` (sealed).
pub trait SharedData: sealed::Sealed {
    /// The element type stored (`T`, or `u8` for `str`).
    type Item;
    /// The data as elements.
    #[doc(hidden)]
    fn as_items(&self) -> &[Self::Item];
    /// The data from elements.
    ///
    /// # Safety
    /// For `str`, `items` must be UTF-8.
    #[doc(hidden)]
    unsafe fn from_items(items: &[Self::Item]) -> &Self;
}

impl<T> SharedData for [T] {
    type Item = T;
    fn as_items(&self) -> &[T] {
        self
    }
    unsafe fn from_items(items: &[T]) -> &[T] {
        items
    }
}

impl SharedData for str {
    type Item = u8;
    fn as_items(&self) -> &[u8] {
        self.as_bytes()
    }
    unsafe fn from_items(items: &[u8]) -> &str {
        // SAFETY: the caller guarantees UTF-8.
        unsafe { std::str::from_utf8_unchecked(items) }
    }
}

/// The start of every allocation: the reference count and the number of
/// items that follow (at [`data_offset`]).
#[repr(C)]
struct Header {
    refs: AtomicUsize,
    len: usize,
}

/// Where the items start, after the header (as `Layout::extend` places
/// them).
const fn data_offset<I>() -> usize {
    let a = align_of::<I>();
    size_of::<Header>().div_ceil(a) * a
}

/// The layout of an allocation holding `len` items, or `None` when it
/// would exceed `isize::MAX` bytes.
fn layout_for<I>(len: usize) -> Option<Layout> {
    let items = Layout::array::<I>(len).ok()?;
    let (layout, offset) = Layout::new::<Header>().extend(items).ok()?;
    debug_assert_eq!(offset, data_offset::<I>());
    Some(layout.pad_to_align())
}

/// A vector with room for exactly `n` items, or the allocator's refusal.
pub(crate) fn try_vec<T>(n: usize) -> Result<Vec<T>, NoMemory> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| NoMemory {
        bytes: n.saturating_mul(size_of::<T>()),
    })?;
    Ok(v)
}

/// The allocator refused (or the size overflowed): how many bytes were
/// asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoMemory {
    pub(crate) bytes: usize,
}

/// An immutable, reference-counted `str` or slice: what a
/// [`Value`](crate::Value) holds for `str`, `bytes`, big `int`s, pickles and
/// containers. It dereferences to `str` / `[T]`; cloning is O(1) and shares
/// the data. Like `Arc<str>` / `Arc<[T]>` it is one allocation behind a
/// thin pointer; unlike them, interp allocates it fallibly when the size
/// comes from Python or C, so a value too big for memory is an error rather
/// than an abort.
///
/// The `From` conversions (from `Vec`, `String`, slices, iterators) are
/// infallible, as in `std`.
///
/// ```
/// use interp_core::{Shared, Value};
///
/// let b: Shared<[u8]> = vec![1, 2, 3].into();
/// assert_eq!(&b[..], &[1, 2, 3]);
/// let v = Value::Bytes(b.clone());
/// assert_eq!(v.as_bytes(), Some(&[1u8, 2, 3][..]));
/// let s: Shared<str> = "text".into();
/// assert_eq!(s.len(), 4);
/// assert!(Shared::ptr_eq(&b, &b.clone()));
/// ```
pub struct Shared<T: ?Sized + SharedData> {
    ptr: NonNull<Header>,
    _owns: PhantomData<Box<T>>,
}

// SAFETY: as for `Arc<T>`: a handle sent to another thread reads the
// immutable items that other handles may read at the same time (Sync), and
// may be the last one, which drops them there (Send); the count is atomic.
unsafe impl<T: ?Sized + SharedData> Send for Shared<T> where T::Item: Send + Sync {}
// SAFETY: as for `Arc<T>`: `&Shared` reads the immutable items from any
// thread (Sync) and can clone a handle that another thread drops last
// (Send); the count is atomic.
unsafe impl<T: ?Sized + SharedData> Sync for Shared<T> where T::Item: Send + Sync {}

/// An allocation being filled: items `0..init` are initialized; on drop
/// (an error or a panic part-way) they are dropped and the memory freed.
struct Builder<I> {
    ptr: NonNull<Header>,
    cap: usize,
    init: usize,
    _owns: PhantomData<I>,
}

impl<I> Builder<I> {
    /// Room for exactly `cap` items, or the allocator's refusal.
    fn try_new(cap: usize) -> Result<Self, NoMemory> {
        let bytes = cap
            .checked_mul(size_of::<I>())
            .and_then(|n| n.checked_add(data_offset::<I>()))
            .unwrap_or(usize::MAX);
        let layout = layout_for::<I>(cap).ok_or(NoMemory { bytes })?;
        // SAFETY: the layout has a non-zero size (it holds the header).
        let raw = unsafe { alloc::alloc(layout) };
        let ptr = NonNull::new(raw.cast::<Header>()).ok_or(NoMemory { bytes })?;
        // SAFETY: fresh allocation, aligned for Header.
        unsafe {
            ptr.as_ptr().write(Header {
                refs: AtomicUsize::new(1),
                len: cap,
            })
        };
        Ok(Builder {
            ptr,
            cap,
            init: 0,
            _owns: PhantomData,
        })
    }

    /// As `try_new`, aborting as `std` does when memory runs out.
    fn new(cap: usize) -> Self {
        Self::try_new(cap).unwrap_or_else(|_| match layout_for::<I>(cap) {
            Some(layout) => alloc::handle_alloc_error(layout),
            None => panic!("capacity overflow"),
        })
    }

    fn data(&self) -> *mut I {
        // SAFETY: the offset lies within the allocation (the items follow
        // the header).
        unsafe {
            self.ptr
                .as_ptr()
                .cast::<u8>()
                .add(data_offset::<I>())
                .cast()
        }
    }

    /// Appends an item.
    ///
    /// # Panics
    /// When full (a bug in the caller).
    fn push(&mut self, item: I) {
        assert!(self.init < self.cap, "Shared builder overfilled");
        // SAFETY: slot `init` is inside the allocation and uninitialized.
        unsafe { self.data().add(self.init).write(item) };
        self.init += 1;
    }

    /// Appends copies of `items`.
    ///
    /// # Panics
    /// When they do not fit (a bug in the caller).
    fn extend_from_slice(&mut self, items: &[I])
    where
        I: Copy,
    {
        assert!(
            items.len() <= self.cap - self.init,
            "Shared builder overfilled"
        );
        // SAFETY: the destination range is inside the allocation and
        // uninitialized; it cannot overlap a slice the caller borrows.
        unsafe {
            ptr::copy_nonoverlapping(items.as_ptr(), self.data().add(self.init), items.len())
        };
        self.init += items.len();
    }

    /// The finished data.
    ///
    /// # Safety
    /// For `str`, the items must be UTF-8.
    ///
    /// # Panics
    /// When not full (a bug in the caller).
    unsafe fn finish<T: ?Sized + SharedData<Item = I>>(self) -> Shared<T> {
        assert_eq!(self.init, self.cap, "Shared builder not filled");
        let ptr = self.ptr;
        std::mem::forget(self);
        Shared {
            ptr,
            _owns: PhantomData,
        }
    }
}

impl<I> Drop for Builder<I> {
    fn drop(&mut self) {
        // SAFETY: items `0..init` are initialized and owned by the builder;
        // the memory was allocated with the layout for `cap` items.
        unsafe {
            ptr::drop_in_place(ptr::slice_from_raw_parts_mut(self.data(), self.init));
            alloc::dealloc(
                self.ptr.as_ptr().cast(),
                layout_for::<I>(self.cap).expect("allocated with this layout"),
            );
        }
    }
}

impl<T: ?Sized + SharedData> Shared<T> {
    /// Whether both point at the same data (not merely equal data).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.ptr == b.ptr
    }

    /// An address unique to this data while it lives (also when it is
    /// empty).
    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// How many handles to the data live (this one included), as
    /// `Arc::strong_count`: a snapshot, which other threads may change.
    pub(crate) fn strong_count(&self) -> usize {
        // Acquire: pairs with the Release of other handles' drops.
        self.header().refs.load(Ordering::Acquire)
    }

    fn header(&self) -> &Header {
        // SAFETY: the header lives as long as any handle.
        unsafe { self.ptr.as_ref() }
    }

    fn items(&self) -> &[T::Item] {
        // SAFETY: `len` initialized items follow the header, immutable and
        // alive as long as this handle.
        unsafe {
            std::slice::from_raw_parts(
                self.ptr
                    .as_ptr()
                    .cast::<u8>()
                    .add(data_offset::<T::Item>())
                    .cast::<T::Item>(),
                self.header().len,
            )
        }
    }

    /// A copy of `data`, or the allocator's refusal.
    pub(crate) fn try_copy(data: &T) -> Result<Self, NoMemory>
    where
        T::Item: Copy,
    {
        let items = data.as_items();
        let mut b = Builder::try_new(items.len())?;
        b.extend_from_slice(items);
        // SAFETY: the items are a copy of a valid `T` (UTF-8 for str).
        Ok(unsafe { b.finish() })
    }
}

impl<I> Shared<[I]> {
    /// A slice of `len` items, item `i` made by `make(i)`, in one
    /// allocation made fallibly (for sizes that come from C or Python).
    ///
    /// ```
    /// use interp_core::{Error, Shared};
    ///
    /// let squares = Shared::<[u64]>::try_from_fn(4, |i| Ok::<_, Error>((i * i) as u64)).unwrap();
    /// assert_eq!(&squares[..], &[0, 1, 4, 9]);
    /// ```
    ///
    /// # Errors
    /// The first error of `make` (what was built is dropped), or
    /// [`Error::OutOfMemory`](crate::Error::OutOfMemory) naming the size
    /// when the memory cannot be had.
    pub fn try_from_fn<E: From<Error>>(
        len: usize,
        make: impl FnMut(usize) -> Result<I, E>,
    ) -> Result<Self, E> {
        Self::try_build(
            len,
            |e| no_memory(&format!("{len} items"), e.bytes).into(),
            make,
        )
    }

    /// A new slice of exactly `len` items, item `i` made by `next(i)`,
    /// allocated fallibly: a refused allocation (turned into an error by
    /// `no_memory`) or the first error of `next` is returned, and what was
    /// built so far is dropped.
    pub(crate) fn try_build<E>(
        len: usize,
        no_memory: impl FnOnce(NoMemory) -> E,
        mut next: impl FnMut(usize) -> Result<I, E>,
    ) -> Result<Self, E> {
        let mut b = Builder::try_new(len).map_err(no_memory)?;
        for i in 0..len {
            b.push(next(i)?);
        }
        // SAFETY: slices have no invariant beyond initialized items.
        Ok(unsafe { b.finish() })
    }
}

impl<T: ?Sized + SharedData> Clone for Shared<T> {
    fn clone(&self) -> Self {
        let old = self.header().refs.fetch_add(1, Ordering::Relaxed);
        if old > isize::MAX as usize {
            // As `Arc`: a count this high means leaked handles; wrapping
            // would free live data.
            std::process::abort();
        }
        Shared {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }
}

impl<T: ?Sized + SharedData> Drop for Shared<T> {
    fn drop(&mut self) {
        if self.header().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Pairs with the Release above in every other handle's drop, so
        // their reads of the items happen before the items are dropped.
        atomic::fence(Ordering::Acquire);
        let len = self.header().len;
        // SAFETY: this was the last handle: nobody else can reach the items,
        // which are initialized, owned, and were allocated (with the header)
        // with the layout for `len` items. The pointer to them derives from
        // the allocation's own pointer (never from a shared borrow such as
        // `items()`), so dropping them may write through it.
        unsafe {
            let data = self
                .ptr
                .as_ptr()
                .cast::<u8>()
                .add(data_offset::<T::Item>())
                .cast::<T::Item>();
            ptr::drop_in_place(ptr::slice_from_raw_parts_mut(data, len));
            alloc::dealloc(
                self.ptr.as_ptr().cast(),
                layout_for::<T::Item>(len).expect("allocated with this layout"),
            );
        }
    }
}

impl<T: ?Sized + SharedData> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: built from a valid `T` (UTF-8 for str).
        unsafe { T::from_items(self.items()) }
    }
}

impl<T: ?Sized + SharedData> AsRef<T> for Shared<T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T: ?Sized + SharedData> Borrow<T> for Shared<T> {
    fn borrow(&self) -> &T {
        self
    }
}

/// Compares the data, also for two handles to the same data: for a `T` that
/// is only `PartialEq` (floats: NaN) the data need not equal itself.
impl<T: ?Sized + SharedData + PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: ?Sized + SharedData + Eq> Eq for Shared<T> {}

impl<T: ?Sized + SharedData + Eq> Shared<T> {
    /// `a == b`, answered without comparing when both are the same data:
    /// sound only because `T: Eq` (its data equals itself), as for
    /// `Arc<T: Eq>`.
    pub(crate) fn eq_fast(a: &Self, b: &Self) -> bool {
        Shared::ptr_eq(a, b) || a == b
    }
}

impl<T: ?Sized + SharedData + Hash> Hash for Shared<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl<T: ?Sized + SharedData + fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Display for Shared<str> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl<T> Default for Shared<[T]> {
    fn default() -> Self {
        Vec::new().into()
    }
}

impl Default for Shared<str> {
    fn default() -> Self {
        "".into()
    }
}

impl<T> From<Vec<T>> for Shared<[T]> {
    /// Moves the items (one allocation, as `Arc::from(Vec)`).
    fn from(mut v: Vec<T>) -> Self {
        let mut b = Builder::new(v.len());
        // SAFETY: the items are moved bitwise into the builder's empty
        // slots; setting the vector's length to 0 first makes it forget them
        // (it then frees only its buffer).
        unsafe {
            let n = v.len();
            v.set_len(0);
            ptr::copy_nonoverlapping(v.as_ptr(), b.data(), n);
            b.init = n;
            b.finish()
        }
    }
}

impl<T> From<Box<[T]>> for Shared<[T]> {
    fn from(b: Box<[T]>) -> Self {
        Vec::from(b).into()
    }
}

impl<T: Clone> From<&[T]> for Shared<[T]> {
    fn from(items: &[T]) -> Self {
        let mut b = Builder::new(items.len());
        for item in items {
            b.push(item.clone());
        }
        // SAFETY: slices have no invariant beyond initialized items.
        unsafe { b.finish() }
    }
}

impl<T, const N: usize> From<[T; N]> for Shared<[T]> {
    fn from(items: [T; N]) -> Self {
        Vec::from(items).into()
    }
}

impl<T> FromIterator<T> for Shared<[T]> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        iter.into_iter().collect::<Vec<T>>().into()
    }
}

impl From<&str> for Shared<str> {
    fn from(s: &str) -> Self {
        let mut b = Builder::new(s.len());
        b.extend_from_slice(s.as_bytes());
        // SAFETY: a copy of a str is UTF-8.
        unsafe { b.finish() }
    }
}

impl From<String> for Shared<str> {
    fn from(s: String) -> Self {
        s.as_str().into()
    }
}

impl From<Box<str>> for Shared<str> {
    fn from(s: Box<str>) -> Self {
        (*s).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    #[test]
    fn data_round_trips_and_empty_data_has_distinct_addresses() {
        let a: Shared<[u8]> = Shared::default();
        let b: Shared<[u8]> = Shared::default();
        assert_ne!(a.addr(), b.addr());
        assert_eq!(a, b);
        assert!(!Shared::ptr_eq(&a, &b));
        assert!(Shared::ptr_eq(&a, &a.clone()));
        let s: Shared<str> = "héllo".into();
        assert_eq!(&*s, "héllo");
        assert_eq!(s.to_string(), "héllo");
        let v: Shared<[u64]> = (0..1000u64).collect();
        assert_eq!(v.len(), 1000);
        assert_eq!(v.iter().sum::<u64>(), 499_500);
        let copy = Shared::<[u64]>::try_copy(&v).unwrap();
        assert_eq!(copy, v);
        assert!(!Shared::ptr_eq(&copy, &v));
        // Over-aligned items start where the layout puts them.
        #[repr(align(64))]
        #[derive(Clone, Copy, PartialEq, Debug)]
        struct Wide(u8);
        let w: Shared<[Wide]> = vec![Wide(1), Wide(2)].into();
        assert_eq!(&w[..], &[Wide(1), Wide(2)]);
        assert_eq!(w.as_ptr() as usize % 64, 0);
    }

    /// Counts live instances, to check that every item is dropped once.
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    fn counted(live: &Arc<AtomicUsize>) -> Counted {
        live.fetch_add(1, Ordering::SeqCst);
        Counted(live.clone())
    }

    #[test]
    fn items_are_dropped_once_by_the_last_handle_or_a_failed_build() {
        let live = Arc::new(AtomicUsize::new(0));
        let s: Shared<[Counted]> = (0..10).map(|_| counted(&live)).collect();
        let t = s.clone();
        let th = std::thread::spawn(move || drop(t));
        th.join().unwrap();
        assert_eq!(live.load(Ordering::SeqCst), 10);
        drop(s);
        assert_eq!(live.load(Ordering::SeqCst), 0);
        // An error part-way drops what was built.
        let r = Shared::<[Counted]>::try_build(
            5,
            |_| "no memory",
            |i| {
                if i < 3 {
                    Ok(counted(&live))
                } else {
                    Err("stop")
                }
            },
        );
        assert_eq!(r.err(), Some("stop"));
        assert_eq!(live.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn equality_compares_the_data_even_for_the_same_handle() {
        // Floats are only PartialEq: NaN is not equal to itself, so neither
        // is a slice holding it, even through two handles to the same data
        // (as for Arc<[f64]>).
        let nan: Shared<[f64]> = vec![1.0, f64::NAN].into();
        let same = nan.clone();
        assert!(Shared::ptr_eq(&nan, &same));
        assert!(nan != same, "a NaN slice compared equal to itself");
        let plain: Shared<[f64]> = vec![1.0, 2.0].into();
        assert_eq!(plain, plain.clone());
        // Eq data may take the shortcut, and agrees with ==.
        let a: Shared<str> = "abc".into();
        assert!(Shared::eq_fast(&a, &a.clone()));
        assert!(Shared::eq_fast(&a, &"abc".into()));
        assert!(!Shared::eq_fast(&a, &"abd".into()));
    }

    #[test]
    fn a_refused_allocation_is_an_error() {
        // More than isize::MAX bytes can never be allocated.
        let r = Shared::<[u64]>::try_build(usize::MAX / 4, |e| e, |_| Ok(0));
        assert_eq!(r.err(), Some(NoMemory { bytes: usize::MAX }));
        let r = Shared::<[u8]>::try_build(isize::MAX as usize - 8, |e| e, |_| Ok(0));
        assert!(r.is_err());
        // The public constructor says out of memory (not a bad argument).
        let r = Shared::<[u64]>::try_from_fn(usize::MAX / 4, |_| Ok::<_, crate::Error>(0));
        match r {
            Err(crate::Error::OutOfMemory(m)) => {
                assert!(m.contains(&format!("for {} items", usize::MAX / 4)), "{m}")
            }
            other => panic!("expected Error::OutOfMemory, got {other:?}"),
        }
    }
}
