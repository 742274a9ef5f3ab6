//! [`SharedBuffer`]: memory that every interpreter sees without a copy.

use std::alloc::Layout;
use std::ffi::CString;
use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use crate::error::{no_memory, Error, Result};

/// Alignment of memory that interp allocates for buffers.
pub const BUFFER_ALIGN: usize = 64;

/// Element types with a `struct`-module format code, for
/// [`SharedBuffer::from_slice`].
///
/// # Safety
/// `FORMAT` must be the native `struct` code of a type with exactly
/// `size_of::<Self>()` bytes and no padding or invalid bit patterns.
pub unsafe trait Element: Copy + Send + Sync + 'static {
    /// The `struct` format code (`"d"` for `f64`, ...).
    const FORMAT: &'static str;
}

macro_rules! element {
    ($($t:ty => $f:literal),*) => {$(
        // SAFETY: $f is the native struct code of $t, which has no padding.
        unsafe impl Element for $t { const FORMAT: &'static str = $f; }
    )*};
}
element!(u8 => "B", i8 => "b", u16 => "H", i16 => "h", u32 => "I", i32 => "i",
         u64 => "Q", i64 => "q", f32 => "f", f64 => "d");

/// The item size of a native, single-item `struct` format code, as
/// `memoryview` supports them.
fn itemsize(format: &str) -> Option<usize> {
    let code = format.strip_prefix('@').unwrap_or(format);
    Some(match code {
        "b" | "B" | "c" | "?" => 1,
        "h" | "H" | "e" => 2,
        "i" | "I" | "f" => 4,
        "l" | "L" | "q" | "Q" | "d" | "n" | "N" | "P" => 8,
        _ => return None,
    })
}

/// A checked layout (see [`SharedBuffer::layout_size`]).
struct CheckedLayout {
    itemsize: usize,
    strides: Vec<isize>,
    nbytes: usize,
}

fn check_layout(format: &str, shape: &[usize]) -> Result<CheckedLayout> {
    let itemsize = itemsize(format).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "unsupported buffer format {format:?}: use one native struct code of \
             b B h H i I l L q Q n N f d e ? c P"
        ))
    })?;
    if shape.len() > 64 {
        return Err(Error::InvalidArgument(format!(
            "a buffer shape has at most 64 dimensions, got {}",
            shape.len()
        )));
    }
    let max = isize::MAX as usize;
    if let Some((i, d)) = shape.iter().enumerate().find(|(_, &d)| d > max) {
        return Err(Error::InvalidArgument(format!(
            "shape {shape:?}: dimension {i} is {d}, more than a buffer dimension can be \
             (isize::MAX = {max})"
        )));
    }
    // C order: the stride of dimension i is the item size times the
    // dimensions after it; the total is the item size times all of them.
    let mut strides = vec![0isize; shape.len()];
    let mut step = itemsize;
    for i in (0..shape.len()).rev() {
        strides[i] = step as isize;
        step = step
            .checked_mul(shape[i])
            .filter(|&n| n <= max)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "shape {shape:?} with format {format:?} ({itemsize}-byte items) is too large: \
                 {} does not fit in isize",
                    if i == 0 {
                        "its size in bytes".to_owned()
                    } else {
                        format!("the stride of dimension {}", i - 1)
                    }
                ))
            })?;
    }
    Ok(CheckedLayout {
        itemsize,
        strides,
        nbytes: step,
    })
}

struct Memory {
    ptr: NonNull<u8>,
    len: usize,
    owner: Owner,
}

enum Owner {
    Aligned(Layout),
    Foreign(Option<Box<dyn FnOnce() + Send>>),
}

// SAFETY: the memory is plain bytes owned by this struct (or by the foreign
// owner, whose release closure is Send, until `release` runs): any thread
// may free it.
unsafe impl Send for Memory {}
// SAFETY: `&Memory` reaches the bytes only through raw pointers or atomics;
// access from several threads is the documented, unsynchronized
// shared-memory model.
unsafe impl Sync for Memory {}

impl Drop for Memory {
    fn drop(&mut self) {
        match &mut self.owner {
            // SAFETY: allocated in `SharedBuffer::zeroed` with this layout.
            Owner::Aligned(layout) => unsafe { std::alloc::dealloc(self.ptr.as_ptr(), *layout) },
            Owner::Foreign(release) => {
                if let Some(release) = release.take() {
                    release();
                }
            }
        }
    }
}

/// How a handle views the memory: format, shape, strides (C order).
struct View {
    format: CString,
    itemsize: usize,
    shape: Box<[isize]>,
    strides: Box<[isize]>,
    readonly: bool,
}

/// Memory owned by Rust (or by C, with a release callback) that every
/// interpreter sees as a buffer-protocol object: `memoryview(buf)` in
/// Python makes no copy. It carries a `struct` format and a shape, so a
/// 2-D buffer supports `mv[r, c]`.
///
/// Cloning a handle is cheap and shares the memory. The memory lives while
/// any handle exists, in Rust or as a Python object (or a view of one) in any
/// interpreter — also after the interpreter that made it is gone.
///
/// **No synchronization**: as with `multiprocessing.shared_memory`, writes
/// made in one interpreter or thread are visible in the others, and
/// concurrent writers must coordinate themselves (for example over a
/// [`Channel`](crate::Channel)).
///
/// ```
/// use interp_core::{Interpreter, SharedBuffer, Value};
///
/// // 2 x 3 doubles; Python indexes them as memoryview(grid)[row, col].
/// let grid = SharedBuffer::from_slice(&[0.0f64; 6]).with_layout("d", &[2, 3])?;
/// let a = Interpreter::new()?;
/// let b = Interpreter::new()?;
/// a.prepare_main([("grid", grid.clone().into())])?;
/// b.prepare_main([("grid", grid.clone().into())])?;
/// a.exec("memoryview(grid)[1, 2] = 4.5")?; // written in one interpreter,
/// assert_eq!(b.eval("memoryview(grid)[1, 2]")?, Value::Float(4.5)); // read in another,
/// let mut raw = [0u8; 8];
/// grid.read_at((3 + 2) * 8, &mut raw); // and in Rust: the same memory, never copied
/// assert_eq!(f64::from_ne_bytes(raw), 4.5);
/// # Ok::<(), interp_core::Error>(())
/// ```
#[derive(Clone)]
pub struct SharedBuffer {
    mem: Arc<Memory>,
    view: Arc<View>,
}

impl fmt::Debug for SharedBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBuffer")
            .field("len", &self.len())
            .field("format", &self.format())
            .field("shape", &self.shape())
            .field("readonly", &self.is_readonly())
            .finish()
    }
}

impl PartialEq for SharedBuffer {
    /// Two handles are equal when they view the same memory the same way.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.mem, &other.mem)
            && self.format() == other.format()
            && self.shape() == other.shape()
            && self.is_readonly() == other.is_readonly()
    }
}

impl Eq for SharedBuffer {}

impl std::hash::Hash for SharedBuffer {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.mem) as usize).hash(state);
    }
}

fn flat_view(len: usize) -> View {
    View {
        format: CString::new("B").unwrap(),
        itemsize: 1,
        shape: Box::new([len as isize]),
        strides: Box::new([1]),
        readonly: false,
    }
}

impl SharedBuffer {
    /// `len` zeroed bytes, or an error (not an abort) when the memory cannot
    /// be had.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `len` is larger than any allocation
    /// can be (over `isize::MAX`), [`Error::OutOfMemory`] when the allocator
    /// refuses it.
    pub fn try_zeroed(len: usize) -> Result<SharedBuffer> {
        let layout = Layout::from_size_align(len.max(1), BUFFER_ALIGN)
            .map_err(|_| Error::InvalidArgument(format!("a buffer of {len} bytes is too large")))?;
        // SAFETY: the layout has a non-zero size.
        let ptr = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })
            .ok_or_else(|| no_memory("a shared buffer", len))?;
        Ok(SharedBuffer {
            mem: Arc::new(Memory {
                ptr,
                len,
                owner: Owner::Aligned(layout),
            }),
            view: Arc::new(flat_view(len)),
        })
    }

    /// `len` zeroed bytes, 64-byte aligned, format `"B"`, shape `(len,)`.
    ///
    /// # Panics
    /// When the memory cannot be allocated (see [`try_zeroed`](Self::try_zeroed)).
    pub fn zeroed(len: usize) -> SharedBuffer {
        let layout = Layout::from_size_align(len.max(1), BUFFER_ALIGN).expect("buffer too large");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        SharedBuffer {
            mem: Arc::new(Memory {
                ptr,
                len,
                owner: Owner::Aligned(layout),
            }),
            view: Arc::new(flat_view(len)),
        }
    }

    /// A copy of `bytes` in aligned memory, format `"B"`.
    pub fn from_bytes(bytes: &[u8]) -> SharedBuffer {
        let b = Self::zeroed(bytes.len());
        // SAFETY: fresh, exclusively owned allocation of the same length.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), b.as_ptr(), bytes.len()) };
        b
    }

    /// A copy of `items` in aligned memory, with `T`'s format and shape
    /// `(items.len(),)`.
    pub fn from_slice<T: Element>(items: &[T]) -> SharedBuffer {
        let bytes = std::mem::size_of_val(items);
        let b = Self::zeroed(bytes);
        // SAFETY: fresh allocation of `bytes` bytes; Element types are plain
        // data without padding.
        unsafe { std::ptr::copy_nonoverlapping(items.as_ptr().cast::<u8>(), b.as_ptr(), bytes) };
        b.with_layout(T::FORMAT, &[items.len()])
            .expect("Element formats are valid")
    }

    /// Takes ownership of `items` without copying: the buffer is the
    /// vector's own allocation (aligned as `T`, not to [`BUFFER_ALIGN`]),
    /// with `T`'s format and shape `(items.len(),)`. The vector is dropped
    /// when the last handle or view is gone.
    pub fn from_vec<T: Element>(items: Vec<T>) -> SharedBuffer {
        let mut items = items; // moving a Vec never moves its heap buffer
        let len = std::mem::size_of_val(&*items);
        let n = items.len();
        let ptr = items.as_mut_ptr().cast::<u8>();
        // SAFETY: the vector's buffer stays alive, unmoved, inside the release
        // closure until the last handle is gone; Element types are plain
        // bytes, so viewing them as u8 is sound.
        let b = unsafe { Self::from_raw_parts(ptr, len, move || drop(items)) };
        b.with_layout(T::FORMAT, &[n])
            .expect("Element formats are valid")
    }

    /// Wraps foreign memory without copying. `release` runs exactly once,
    /// on whatever thread drops the last handle (Rust or Python), when no
    /// handle or view of the memory is left.
    ///
    /// # Safety
    /// `ptr` must be valid for reads and writes of `len` bytes until
    /// `release` is called, and nothing else may free it before then.
    pub unsafe fn from_raw_parts(
        ptr: *mut u8,
        len: usize,
        release: impl FnOnce() + Send + 'static,
    ) -> SharedBuffer {
        let ptr = NonNull::new(ptr).unwrap_or(NonNull::dangling());
        SharedBuffer {
            mem: Arc::new(Memory {
                ptr,
                len,
                owner: Owner::Foreign(Some(Box::new(release))),
            }),
            view: Arc::new(flat_view(len)),
        }
    }

    /// The number of bytes a buffer with this `struct` format and shape (C
    /// order) holds, after checking that Python can view it: the format is
    /// one native, single-item code that `memoryview` supports, there are at
    /// most 64 dimensions, and every dimension, every stride (the item size
    /// times the later dimensions) and the total fit in `isize` — also when
    /// another dimension is 0 and the total is 0.
    ///
    /// ```
    /// use interp_core::SharedBuffer;
    ///
    /// assert_eq!(SharedBuffer::layout_size("d", &[2, 3]).unwrap(), 48);
    /// assert!(SharedBuffer::layout_size("d", &[0, usize::MAX]).is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] saying what is wrong.
    pub fn layout_size(format: &str, shape: &[usize]) -> Result<usize> {
        check_layout(format, shape).map(|l| l.nbytes)
    }

    /// A handle to the same memory with another `struct` format and shape
    /// (C order), like `memoryview.cast`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the layout is invalid (see
    /// [`layout_size`](Self::layout_size)) or does not cover exactly the
    /// buffer's length in bytes.
    pub fn with_layout(&self, format: &str, shape: &[usize]) -> Result<SharedBuffer> {
        let layout = check_layout(format, shape)?;
        if layout.nbytes != self.len() {
            return Err(Error::InvalidArgument(format!(
                "shape {shape:?} with format {format:?} ({}-byte items) needs {} bytes, \
                 but the buffer has {} bytes",
                layout.itemsize,
                layout.nbytes,
                self.len()
            )));
        }
        Ok(SharedBuffer {
            mem: self.mem.clone(),
            view: Arc::new(View {
                format: CString::new(format).expect("checked format"),
                itemsize: layout.itemsize,
                // Each dimension fits in isize (checked).
                shape: shape.iter().map(|&d| d as isize).collect(),
                strides: layout.strides.into(),
                readonly: self.view.readonly,
            }),
        })
    }

    /// A read-only handle to the same memory: Python views of it refuse
    /// writes. (Writable handles elsewhere can still write.)
    pub fn readonly(&self) -> SharedBuffer {
        SharedBuffer {
            mem: self.mem.clone(),
            view: Arc::new(View {
                format: self.view.format.clone(),
                itemsize: self.view.itemsize,
                shape: self.view.shape.clone(),
                strides: self.view.strides.clone(),
                readonly: true,
            }),
        }
    }

    /// The item size of a `struct` format code that buffers support (native,
    /// single item: `b B h H i I l L q Q n N f d e ? c P`), or `None`.
    pub fn itemsize_of(format: &str) -> Option<usize> {
        itemsize(format)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.mem.len
    }

    /// Whether the buffer has no bytes.
    pub fn is_empty(&self) -> bool {
        self.mem.len == 0
    }

    /// The `struct` format code of the items.
    pub fn format(&self) -> &str {
        self.view.format.to_str().expect("ASCII format")
    }

    /// Size of one item in bytes.
    pub fn itemsize(&self) -> usize {
        self.view.itemsize
    }

    /// The shape (C order).
    pub fn shape(&self) -> Vec<usize> {
        self.view.shape.iter().map(|&d| d as usize).collect()
    }

    /// Whether views made from this handle are read-only.
    pub fn is_readonly(&self) -> bool {
        self.view.readonly
    }

    /// Address of the first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.mem.ptr.as_ptr()
    }

    /// How many handles (Rust handles and Python objects in any
    /// interpreter) share this memory now.
    pub fn handle_count(&self) -> usize {
        Arc::strong_count(&self.mem)
    }

    /// Whether two handles share the same memory.
    pub fn same_memory(&self, other: &SharedBuffer) -> bool {
        Arc::ptr_eq(&self.mem, &other.mem)
    }

    fn atomics(&self) -> &[AtomicU8] {
        // SAFETY: the memory is valid for `len` bytes while `self` lives,
        // and AtomicU8 has the layout of u8; atomic access is sound even
        // while other threads access the same bytes.
        unsafe {
            std::slice::from_raw_parts(self.mem.ptr.as_ptr().cast::<AtomicU8>(), self.mem.len)
        }
    }

    /// Copies `out.len()` bytes starting at `offset` into `out` (byte-wise
    /// relaxed atomic loads: sound under concurrent writers, but a
    /// multi-byte value written concurrently may be torn).
    ///
    /// # Panics
    /// If the range is out of bounds.
    pub fn read_at(&self, offset: usize, out: &mut [u8]) {
        let src = &self.atomics()[offset..offset + out.len()];
        for (o, s) in out.iter_mut().zip(src) {
            *o = s.load(Ordering::Relaxed);
        }
    }

    /// Writes `data` at `offset` (byte-wise relaxed atomic stores).
    ///
    /// # Panics
    /// If the range is out of bounds.
    pub fn write_at(&self, offset: usize, data: &[u8]) {
        let dst = &self.atomics()[offset..offset + data.len()];
        for (d, s) in dst.iter().zip(data) {
            d.store(*s, Ordering::Relaxed);
        }
    }

    /// The bytes as a slice, without copying.
    ///
    /// # Safety
    /// Nobody (no thread, no interpreter) may write to the buffer while the
    /// slice is alive.
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: valid for `len` bytes; the caller excludes writers.
        unsafe { std::slice::from_raw_parts(self.mem.ptr.as_ptr(), self.mem.len) }
    }

    /// The bytes as a mutable slice, without copying.
    ///
    /// # Safety
    /// Nobody else may read or write the buffer while the slice is alive.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn as_mut_slice(&self) -> &mut [u8] {
        // SAFETY: valid for `len` bytes; the caller guarantees exclusivity.
        unsafe { std::slice::from_raw_parts_mut(self.mem.ptr.as_ptr(), self.mem.len) }
    }

    pub(crate) fn format_cstr(&self) -> &std::ffi::CStr {
        &self.view.format
    }

    pub(crate) fn raw_shape(&self) -> &[isize] {
        &self.view.shape
    }

    pub(crate) fn raw_strides(&self) -> &[isize] {
        &self.view.strides
    }
}
