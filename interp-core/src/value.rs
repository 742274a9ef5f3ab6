//! Values that cross interpreters.

use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};

use interp_sys as sys;

use crate::buffer::SharedBuffer;
use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::frozen::Frozen;
use crate::module;
use crate::scope::{Bound, Python};
use crate::shared::Shared;

/// How deep a [`Value`] may nest (containers inside containers). Deeper
/// input, or a container that contains itself, is refused with
/// [`Error::Conversion`] rather than overflowing the stack.
pub const MAX_DEPTH: usize = 200;

/// A size in bytes for messages: `"500.0 MiB (524288000 bytes)"`.
pub(crate) fn size_text(bytes: usize) -> String {
    format!(
        "{:.1} MiB ({bytes} bytes)",
        bytes as f64 / (1024.0 * 1024.0)
    )
}

/// "out of memory: ..." naming what could not be allocated and its size.
pub(crate) fn out_of_memory(what: &str, bytes: usize) -> String {
    format!(
        "out of memory: could not allocate {} for {what}",
        size_text(bytes)
    )
}

/// Little-endian two's complement bytes without redundant sign extension.
fn minimal_le(bytes: &[u8]) -> &[u8] {
    let neg = bytes.last().is_some_and(|b| b & 0x80 != 0);
    let fill = if neg { 0xff } else { 0 };
    let mut end = bytes.len();
    while end > 1 && bytes[end - 1] == fill && (bytes[end - 2] & 0x80 != 0) == neg {
        end -= 1;
    }
    &bytes[..end]
}

/// The 64-bit value of little-endian two's complement bytes, or (when it
/// does not fit) the bytes without redundant sign extension.
fn int_from_le(bytes: &[u8]) -> std::result::Result<i64, &[u8]> {
    let neg = bytes.last().is_some_and(|b| b & 0x80 != 0);
    let fill = if neg { 0xff } else { 0 };
    let bytes = minimal_le(bytes);
    if bytes.len() <= 8 {
        let mut buf = [fill; 8];
        buf[..bytes.len()].copy_from_slice(bytes);
        Ok(i64::from_le_bytes(buf))
    } else {
        Err(bytes)
    }
}

/// An interpreter-independent Python value: `Send + Sync`, cheap to clone
/// (containers and strings are reference-counted [`Shared`] data), and
/// converted to a fresh object in whichever interpreter receives it.
///
/// Converting a Python object allocates fallibly: an object too big to copy
/// out of the interpreter is an [`Error::Conversion`] that names its size,
/// never an abort.
///
/// The listed types round-trip exactly (type, value, order; `-0.0` and NaN
/// included). Any other object, including subclasses of the listed types,
/// travels pickled: functions and classes by qualified name, as pickle does,
/// so their module must be importable where they arrive.
///
/// A sub-value that appears several times (the same [`Shared`] data, or the same
/// Python object) is converted once and arrives as one object, as pickle
/// does: shared structure stays shared and never blows up.
///
/// Equality is structural and exact: floats compare by bit pattern (so
/// `NaN == NaN` and `0.0 != -0.0`); dicts compare in order (their order is
/// part of the value), sets regardless of order (Python does not keep a
/// set's iteration order across a copy). `Hash` agrees with `==`.
#[derive(Clone)]
#[non_exhaustive]
pub enum Value {
    /// `None`.
    None,
    /// `bool`.
    Bool(bool),
    /// An `int` that fits in 64 bits.
    Int(i64),
    /// An `int` that does not fit in 64 bits: little-endian two's complement
    /// bytes (as `int.to_bytes(n, "little", signed=True)`), minimal length.
    BigInt(Shared<[u8]>),
    /// `float`.
    Float(f64),
    /// `complex`.
    Complex {
        /// Real part.
        re: f64,
        /// Imaginary part.
        im: f64,
    },
    /// `str` (valid Unicode; strings with lone surrogates travel pickled).
    Str(Shared<str>),
    /// `bytes`.
    Bytes(Shared<[u8]>),
    /// `tuple`.
    Tuple(Shared<[Value]>),
    /// `list`.
    List(Shared<[Value]>),
    /// `dict`, in insertion order.
    Dict(Shared<[(Value, Value)]>),
    /// `set`, in iteration order.
    Set(Shared<[Value]>),
    /// `frozenset`, in iteration order.
    FrozenSet(Shared<[Value]>),
    /// Any other object, as `pickle.dumps(obj, protocol=5)`.
    Pickled(Shared<[u8]>),
    /// Shared memory, passed by reference (`interp.SharedBuffer` in Python).
    Buffer(SharedBuffer),
    /// A channel, passed by reference (`interp.Channel` in Python).
    Channel(Channel),
    /// Frozen read-only data, passed by reference (`interp.Frozen`).
    Frozen(Frozen),
}

impl Value {
    /// A tuple of values.
    pub fn tuple(items: impl IntoIterator<Item = Value>) -> Value {
        Value::Tuple(items.into_iter().collect())
    }

    /// A list of values.
    pub fn list(items: impl IntoIterator<Item = Value>) -> Value {
        Value::List(items.into_iter().collect())
    }

    /// A dict from key/value pairs, in the order given.
    pub fn dict(items: impl IntoIterator<Item = (Value, Value)>) -> Value {
        Value::Dict(items.into_iter().collect())
    }

    /// `str` from text.
    pub fn str(s: &str) -> Value {
        Value::Str(s.into())
    }

    /// `bytes` from a byte slice.
    pub fn bytes(b: &[u8]) -> Value {
        Value::Bytes(b.into())
    }

    /// `str` from text, copied fallibly.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the size when the memory cannot be
    /// had.
    pub fn try_str(s: &str) -> Result<Value> {
        Shared::try_copy(s)
            .map(Value::Str)
            .map_err(|_| Error::InvalidArgument(out_of_memory("a str", s.len())))
    }

    /// `bytes` from a byte slice, copied fallibly.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the size when the memory cannot be
    /// had.
    pub fn try_bytes(b: &[u8]) -> Result<Value> {
        Shared::try_copy(b)
            .map(Value::Bytes)
            .map_err(|_| Error::InvalidArgument(out_of_memory("a bytes value", b.len())))
    }

    /// An `int` from little-endian two's complement bytes; normalized to
    /// [`Value::Int`] when it fits in 64 bits.
    pub fn int_from_le_bytes(bytes: &[u8]) -> Value {
        match int_from_le(bytes) {
            Ok(n) => Value::Int(n),
            Err(minimal) => Value::BigInt(minimal.into()),
        }
    }

    /// As [`int_from_le_bytes`](Self::int_from_le_bytes), copying fallibly.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the size when the memory cannot be
    /// had.
    pub fn try_int_from_le_bytes(bytes: &[u8]) -> Result<Value> {
        match int_from_le(bytes) {
            Ok(n) => Ok(Value::Int(n)),
            Err(minimal) => Shared::try_copy(minimal)
                .map(Value::BigInt)
                .map_err(|_| Error::InvalidArgument(out_of_memory("an int", minimal.len()))),
        }
    }

    /// The bytes of an `int` (either variant) as little-endian two's
    /// complement, shortest form (`n.to_bytes(length, "little",
    /// signed=True)` with the smallest `length`; one byte for 0); `None`
    /// for other values. Borrowed for a big int, no copy.
    pub fn int_to_le_bytes(&self) -> Option<Cow<'_, [u8]>> {
        match self {
            Value::Int(n) => Some(Cow::Owned(minimal_le(&n.to_le_bytes()).to_vec())),
            Value::BigInt(b) => Some(Cow::Borrowed(b)),
            _ => None,
        }
    }

    /// As [`int_from_le_bytes`](Self::int_from_le_bytes), reusing `bytes`
    /// without a copy when they are already minimal.
    fn int_from_le_shared(bytes: Shared<[u8]>) -> Result<Value> {
        match int_from_le(&bytes) {
            Ok(n) => Ok(Value::Int(n)),
            Err(minimal) if minimal.len() == bytes.len() => Ok(Value::BigInt(bytes)),
            Err(minimal) => Shared::try_copy(minimal)
                .map(Value::BigInt)
                .map_err(|_| too_big("an int", minimal.len())),
        }
    }

    /// Levels of nested containers (0 for a scalar). A sub-value shared by
    /// reference (the same [`Shared`] data) is measured once, so this is linear in the
    /// number of distinct containers.
    pub fn depth(&self) -> usize {
        fn go(v: &Value, memo: &mut HashMap<usize, usize>) -> usize {
            let Some(key) = container_key(v) else {
                return 0;
            };
            if let Some(d) = memo.get(&key) {
                return *d;
            }
            let d = 1 + match v {
                Value::Dict(items) => items
                    .iter()
                    .map(|(k, x)| go(k, memo).max(go(x, memo)))
                    .max()
                    .unwrap_or(0),
                other => other
                    .as_seq()
                    .unwrap_or(&[])
                    .iter()
                    .map(|x| go(x, memo))
                    .max()
                    .unwrap_or(0),
            };
            memo.insert(key, d);
            d
        }
        go(self, &mut HashMap::new())
    }

    /// The Python type name of this value (`"int"`, `"dict"`, ...;
    /// `"pickled"` for pickled objects).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Complex { .. } => "complex",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Set(_) => "set",
            Value::FrozenSet(_) => "frozenset",
            Value::Pickled(_) => "pickled",
            Value::Buffer(_) => "SharedBuffer",
            Value::Channel(_) => "Channel",
            Value::Frozen(_) => "Frozen",
        }
    }

    /// `Some(b)` for a `bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// `Some(n)` for an `int` that fits in an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// `Some(x)` for a `float`, or an `int` that fits in an `i64` (as
    /// Python would accept it).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(x) => Some(*x),
            Value::Int(n) => Some(*n as f64),
            _ => None,
        }
    }

    /// `Some(text)` for a `str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// `Some(bytes)` for `bytes`.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The items of a tuple, list, set or frozenset.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::Tuple(v) | Value::List(v) | Value::Set(v) | Value::FrozenSet(v) => Some(v),
            _ => None,
        }
    }

    /// The items of a dict.
    pub fn as_dict(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The value for `key` in a dict (linear search).
    pub fn get(&self, key: &Value) -> Option<&Value> {
        self.as_dict()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (None, None) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (BigInt(a), BigInt(b)) => a == b,
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Complex { re: a, im: b }, Complex { re: c, im: d }) => {
                a.to_bits() == c.to_bits() && b.to_bits() == d.to_bits()
            }
            (Str(a), Str(b)) => a == b,
            (Bytes(a), Bytes(b)) | (Pickled(a), Pickled(b)) => a == b,
            (Tuple(a), Tuple(b)) | (List(a), List(b)) => Shared::ptr_eq(a, b) || a == b,
            (Set(a), Set(b)) | (FrozenSet(a), FrozenSet(b)) => {
                Shared::ptr_eq(a, b) || same_elements(a, b)
            }
            (Dict(a), Dict(b)) => Shared::ptr_eq(a, b) || a == b,
            (Buffer(a), Buffer(b)) => a == b,
            (Channel(a), Channel(b)) => a == b,
            (Frozen(a), Frozen(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

/// Order-insensitive equality of two sets' elements.
fn same_elements(a: &[Value], b: &[Value]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut counts: HashMap<&Value, usize> = HashMap::with_capacity(a.len());
    for v in a {
        *counts.entry(v).or_default() += 1;
    }
    for v in b {
        match counts.get_mut(v) {
            Some(n) if *n > 0 => *n -= 1,
            _ => return false,
        }
    }
    true
}

impl Hash for Value {
    /// Consistent with `==`: floats hash by bit pattern, sets independently
    /// of element order.
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Value::None => {}
            Value::Bool(b) => b.hash(state),
            Value::Int(n) => n.hash(state),
            Value::BigInt(b) | Value::Bytes(b) | Value::Pickled(b) => b.hash(state),
            Value::Float(x) => x.to_bits().hash(state),
            Value::Complex { re, im } => (re.to_bits(), im.to_bits()).hash(state),
            Value::Str(s) => s.hash(state),
            Value::Tuple(v) | Value::List(v) => v.hash(state),
            Value::Dict(d) => d.hash(state),
            Value::Buffer(b) => b.hash(state),
            Value::Channel(c) => c.hash(state),
            Value::Frozen(f) => f.hash(state),
            Value::Set(v) | Value::FrozenSet(v) => {
                let sum = v.iter().fold(0u64, |acc, item| {
                    let mut h = DefaultHasher::new();
                    item.hash(&mut h);
                    acc.wrapping_add(h.finish())
                });
                (v.len(), sum).hash(state);
            }
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn seq(
            f: &mut fmt::Formatter<'_>,
            open: &str,
            items: &[Value],
            close: &str,
        ) -> fmt::Result {
            f.write_str(open)?;
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{v:?}")?;
            }
            if open == "(" && items.len() == 1 {
                f.write_str(",")?;
            }
            f.write_str(close)
        }
        match self {
            Value::None => f.write_str("None"),
            Value::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            Value::Int(n) => write!(f, "{n}"),
            Value::BigInt(b) => write!(f, "<int of {} bytes>", b.len()),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Complex { re, im } => write!(f, "({re:?}{im:+?}j)"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "b{:?}", String::from_utf8_lossy(b)),
            Value::Tuple(v) => seq(f, "(", v, ")"),
            Value::List(v) => seq(f, "[", v, "]"),
            Value::Set(v) => seq(f, "{", v, "}"),
            Value::FrozenSet(v) => seq(f, "frozenset({", v, "})"),
            Value::Dict(d) => {
                f.write_str("{")?;
                for (i, (k, v)) in d.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k:?}: {v:?}")?;
                }
                f.write_str("}")
            }
            Value::Pickled(b) => write!(f, "<pickled object, {} bytes>", b.len()),
            Value::Buffer(b) => write!(f, "{b:?}"),
            Value::Channel(c) => write!(f, "{c:?}"),
            Value::Frozen(z) => write!(f, "{z:?}"),
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Value { Value::Int(n as i64) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, isize, u8, u16, u32);

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        match i64::try_from(n) {
            Ok(n) => Value::Int(n),
            Err(_) => Value::int_from_le_bytes(&(n as u128).to_le_bytes()),
        }
    }
}

impl From<usize> for Value {
    fn from(n: usize) -> Value {
        Value::from(n as u64)
    }
}

impl From<u128> for Value {
    fn from(n: u128) -> Value {
        let mut bytes = n.to_le_bytes().to_vec();
        bytes.push(0); // keep it non-negative in two's complement
        Value::int_from_le_bytes(&bytes)
    }
}

impl From<f32> for Value {
    fn from(x: f32) -> Value {
        Value::Float(x as f64)
    }
}

impl From<SharedBuffer> for Value {
    fn from(b: SharedBuffer) -> Value {
        Value::Buffer(b)
    }
}

impl From<Channel> for Value {
    fn from(c: Channel) -> Value {
        Value::Channel(c)
    }
}

impl From<Frozen> for Value {
    fn from(f: Frozen) -> Value {
        Value::Frozen(f)
    }
}

impl From<i128> for Value {
    fn from(n: i128) -> Value {
        Value::int_from_le_bytes(&n.to_le_bytes())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s.into())
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Value {
        Value::Bytes(b.into())
    }
}

impl From<Vec<Value>> for Value {
    /// A `list`.
    fn from(v: Vec<Value>) -> Value {
        Value::List(v.into())
    }
}

impl From<()> for Value {
    fn from(_: ()) -> Value {
        Value::None
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Value {
        o.map_or(Value::None, Into::into)
    }
}

// ---- Python -> Value ------------------------------------------------------

const TOO_BIG_HINT: &str =
    "(an interp.SharedBuffer passes big data between interpreters without a copy)";

/// A Python object too big to copy out of the interpreter.
fn too_big(what: &str, bytes: usize) -> Error {
    Error::Conversion(format!(
        "cannot copy {what} of {} out of the interpreter: out of memory {TOO_BIG_HINT}",
        size_text(bytes)
    ))
}

/// A container with too many items to copy out of the interpreter
/// (`values_per_item` values each).
fn too_many(what: &str, items: usize, values_per_item: usize) -> Error {
    let bytes = items.saturating_mul(values_per_item * std::mem::size_of::<Value>());
    Error::Conversion(format!(
        "cannot copy a {what} of {items} items, {}, out of the interpreter: out of memory \
         {TOO_BIG_HINT}",
        size_text(bytes)
    ))
}

fn too_deep() -> Error {
    Error::Conversion(format!(
        "value nested deeper than {MAX_DEPTH} levels (or a container that contains itself); \
         flatten it or pass it as a pickled/bytes payload"
    ))
}

/// State of one Python -> Value conversion: the pickle policy, and the
/// containers already converted (a container reached twice — a DAG — is
/// converted once and shared; the memo keeps the objects alive, so their
/// addresses cannot be reused during the conversion).
struct FromCtx<'py> {
    allow_pickle: bool,
    memo: Option<HashMap<usize, (Bound<'py>, Value)>>,
}

pub(crate) fn from_python(obj: &Bound<'_>) -> Result<Value> {
    from_python_at(
        obj,
        0,
        &mut FromCtx {
            allow_pickle: true,
            memo: None,
        },
    )
}

/// As [`from_python`], but objects that would travel pickled are refused.
pub(crate) fn from_python_no_pickle(obj: &Bound<'_>) -> Result<Value> {
    from_python_at(
        obj,
        0,
        &mut FromCtx {
            allow_pickle: false,
            memo: None,
        },
    )
}

fn from_python_at<'py>(obj: &Bound<'py>, depth: usize, ctx: &mut FromCtx<'py>) -> Result<Value> {
    // The materialization cache (materialize.rs): an immutable object this
    // interpreter converted (or made) before gives the same Value.
    let ticket = match crate::materialize::value_for(obj) {
        crate::materialize::Found::Cached(v) => return Ok(v),
        crate::materialize::Found::Missing(ticket) => ticket,
    };
    let v = from_python_obj(obj, depth, ctx)?;
    ticket.made_value(obj, &v);
    Ok(v)
}

fn from_python_obj<'py>(obj: &Bound<'py>, depth: usize, ctx: &mut FromCtx<'py>) -> Result<Value> {
    let allow_pickle = ctx.allow_pickle;
    let py = obj.py();
    let p = obj.as_ptr();
    // SAFETY: (whole block) attached (brand); `p` is a valid object;
    // type checks precede the type-specific accessors; borrowed items are
    // turned into owned `Bound`s before any call that could run Python code.
    unsafe {
        if obj.is_none() {
            return Ok(Value::None);
        }
        if sys::PyBool_Check(p) != 0 {
            return Ok(Value::Bool(p == sys::Py_True()));
        }
        if sys::PyLong_CheckExact(p) != 0 {
            let mut overflow = 0;
            let n = sys::PyLong_AsLongLongAndOverflow(p, &mut overflow);
            if overflow == 0 {
                if n == -1 && !sys::PyErr_Occurred().is_null() {
                    return Err(py.take_error());
                }
                return Ok(Value::Int(n));
            }
            return big_int_from_python(obj);
        }
        if sys::PyFloat_CheckExact(p) != 0 {
            return Ok(Value::Float(sys::PyFloat_AsDouble(p)));
        }
        if sys::PyComplex_CheckExact(p) != 0 {
            return Ok(Value::Complex {
                re: sys::PyComplex_RealAsDouble(p),
                im: sys::PyComplex_ImagAsDouble(p),
            });
        }
        if sys::PyUnicode_CheckExact(p) != 0 {
            return match obj.str_utf8() {
                Ok(s) => Shared::try_copy(s)
                    .map(Value::Str)
                    .map_err(|_| too_big("a str", s.len())),
                // Lone surrogates: not UTF-8; kept exact through pickle.
                Err(_) => {
                    sys::PyErr_Clear();
                    pickle(obj, allow_pickle)
                }
            };
        }
        if sys::PyBytes_CheckExact(p) != 0 {
            return copy_bytes(obj, "a bytes object").map(Value::Bytes);
        }
        let is_tuple = sys::PyTuple_CheckExact(p) != 0;
        let is_list = sys::PyList_CheckExact(p) != 0;
        let is_dict = sys::PyDict_CheckExact(p) != 0;
        let is_set = sys::PySet_CheckExact(p) != 0;
        let is_frozen = sys::PyFrozenSet_CheckExact(p) != 0;
        if !(is_tuple || is_list || is_dict || is_set || is_frozen) {
            if let Some(v) = module::shared_value(py, obj) {
                return Ok(v);
            }
            return pickle(obj, allow_pickle);
        }
        if depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        if let Some((_, v)) = ctx.memo.as_ref().and_then(|m| m.get(&(p as usize))) {
            return Ok(v.clone());
        }
        let v = from_python_container(py, obj, depth, ctx, is_tuple, is_list, is_dict, is_set)?;
        ctx.memo
            .get_or_insert_with(HashMap::new)
            .insert(p as usize, (obj.clone(), v.clone()));
        Ok(v)
    }
}

#[allow(clippy::too_many_arguments)]
fn from_python_container<'py>(
    py: Python<'py>,
    obj: &Bound<'py>,
    depth: usize,
    ctx: &mut FromCtx<'py>,
    is_tuple: bool,
    is_list: bool,
    is_dict: bool,
    is_set: bool,
) -> Result<Value> {
    let p = obj.as_ptr();
    // SAFETY: (whole block) attached; `p` is a container of the checked
    // type; borrowed items become owned `Bound`s before any call that could
    // run Python code.
    unsafe {
        if is_dict {
            // Snapshot the items: converting an element may run Python code
            // (pickling) that mutates the dict.
            let items = py.from_owned_ptr(sys::PyDict_Items(p))?;
            let n = sys::PyList_GET_SIZE(items.as_ptr()) as usize;
            let pairs = Shared::try_build(
                n,
                |_| too_many("dict", n, 2),
                |i| {
                    let pair = py.from_borrowed_ptr(sys::PyList_GET_ITEM(items.as_ptr(), i as _));
                    let k = py.from_borrowed_ptr(sys::PyTuple_GET_ITEM(pair.as_ptr(), 0));
                    let v = py.from_borrowed_ptr(sys::PyTuple_GET_ITEM(pair.as_ptr(), 1));
                    Ok((
                        from_python_at(&k, depth + 1, ctx)?,
                        from_python_at(&v, depth + 1, ctx)?,
                    ))
                },
            )?;
            return Ok(Value::Dict(pairs));
        }
        // Sequences and sets: a snapshot as a tuple (list and set contents
        // could change while elements are converted).
        let snapshot = if is_tuple {
            obj.clone()
        } else {
            py.from_owned_ptr(sys::PySequence_Tuple(p))?
        };
        let n = sys::PyTuple_GET_SIZE(snapshot.as_ptr()) as usize;
        let items = Shared::try_build(
            n,
            |_| too_many(&obj.type_name(), n, 1),
            |i| {
                let item = py.from_borrowed_ptr(sys::PyTuple_GET_ITEM(snapshot.as_ptr(), i as _));
                from_python_at(&item, depth + 1, ctx)
            },
        )?;
        Ok(if is_tuple {
            Value::Tuple(items)
        } else if is_list {
            Value::List(items)
        } else if is_set {
            Value::Set(items)
        } else {
            Value::FrozenSet(items)
        })
    }
}

fn big_int_from_python(obj: &Bound<'_>) -> Result<Value> {
    let py = obj.py();
    let bits = obj.getattr("bit_length")?.call(&[], &[])?.to_value()?;
    let bits = bits
        .as_i64()
        .ok_or_else(|| Error::Conversion("int.bit_length() is not an int".into()))?;
    let len = py.value(&Value::Int(bits / 8 + 1))?;
    let little = py.str("little")?;
    let signed = py.value(&Value::Bool(true))?;
    let b = obj
        .getattr("to_bytes")?
        .call(&[len, little], &[("signed", signed)])?;
    Value::int_from_le_shared(copy_bytes(&b, "an int")?)
}

/// A copy of the contents of a `bytes` object, allocated fallibly (`what`
/// names the object in errors).
fn copy_bytes(b: &Bound<'_>, what: &str) -> Result<Shared<[u8]>> {
    let p = b.as_ptr();
    // SAFETY: attached (brand); the type is checked before the accessors;
    // the data stays valid while `b` holds the (immutable) object.
    unsafe {
        if sys::PyBytes_CheckExact(p) == 0 {
            return Err(Error::Conversion(format!(
                "{what}: expected bytes, got a '{}' object",
                b.type_name()
            )));
        }
        let data = sys::PyBytes_AsString(p).cast::<u8>();
        let len = sys::PyBytes_Size(p) as usize;
        Shared::try_copy(std::slice::from_raw_parts(data, len)).map_err(|_| too_big(what, len))
    }
}

fn pickle(obj: &Bound<'_>, allow: bool) -> Result<Value> {
    let py = obj.py();
    if !allow || !module::pickle_allowed(py) {
        return Err(Error::Conversion(format!(
            "cannot send a '{}' object to another interpreter: it is not one of the natively shared \
             types (None, bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset, \
             SharedBuffer, Channel, Frozen) and the pickle fallback is off \
             (interp.set_pickle_fallback(True) turns it on)",
            obj.type_name()
        )));
    }
    let dumps = py.lookup("pickle", "dumps")?;
    let protocol = py.value(&Value::Int(5))?;
    match dumps.call(&[obj.clone(), protocol], &[]) {
        Ok(b) => copy_bytes(
            &b,
            &format!("the pickle of a '{}' object", obj.type_name()),
        )
        .map(Value::Pickled),
        Err(e) => Err(Error::Conversion(format!(
            "cannot send a '{}' object to another interpreter: it is not one of the natively shared \
             types (None, bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset) and \
             pickling it failed: {e}",
            obj.type_name()
        ))),
    }
}

// ---- Value -> Python ------------------------------------------------------

pub(crate) fn to_python<'py>(py: Python<'py>, v: &Value) -> Result<Bound<'py>> {
    to_python_at(py, v, 0, &mut None)
}

/// Containers already made in one Value -> Python conversion, by the
/// address of their shared items: a sub-value reached twice (the same
/// [`Shared`] data) becomes one object, as pickle does.
type ToMemo<'py> = Option<HashMap<usize, Bound<'py>>>;

fn container_key(v: &Value) -> Option<usize> {
    match v {
        Value::Tuple(a) | Value::List(a) | Value::Set(a) | Value::FrozenSet(a) => Some(a.addr()),
        Value::Dict(d) => Some(d.addr()),
        _ => None,
    }
}

fn to_python_at<'py>(
    py: Python<'py>,
    v: &Value,
    depth: usize,
    memo: &mut ToMemo<'py>,
) -> Result<Bound<'py>> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    // The materialization cache (materialize.rs): an immutable value this
    // interpreter made before arrives as the same object.
    let ticket = match crate::materialize::object_for(py, v) {
        crate::materialize::Found::Cached(o) => return Ok(o),
        crate::materialize::Found::Missing(ticket) => ticket,
    };
    let key = container_key(v);
    if let Some(k) = key {
        if let Some(o) = memo.as_ref().and_then(|m| m.get(&k)) {
            return Ok(o.clone());
        }
    }
    let o = to_python_fresh(py, v, depth, memo)?;
    if let Some(k) = key {
        memo.get_or_insert_with(HashMap::new).insert(k, o.clone());
    }
    ticket.made_object(py, v, &o);
    Ok(o)
}

fn to_python_fresh<'py>(
    py: Python<'py>,
    v: &Value,
    depth: usize,
    memo: &mut ToMemo<'py>,
) -> Result<Bound<'py>> {
    // SAFETY: (whole block) attached (brand); every constructor returns a
    // new reference or NULL with an exception, which `from_owned_ptr`
    // handles; SET_ITEM fills fresh tuples/lists exactly once (stealing).
    unsafe {
        match v {
            Value::None => Ok(py.none()),
            Value::Bool(b) => {
                Ok(py.from_borrowed_ptr(if *b { sys::Py_True() } else { sys::Py_False() }))
            }
            Value::Int(n) => py.from_owned_ptr(sys::PyLong_FromLongLong(*n)),
            Value::BigInt(bytes) => {
                let int_type = py.from_borrowed_ptr((&raw mut sys::PyLong_Type).cast());
                let b = to_python_at(py, &Value::Bytes(bytes.clone()), depth, memo)?;
                let little = py.str("little")?;
                let signed = py.value(&Value::Bool(true))?;
                int_type
                    .getattr("from_bytes")?
                    .call(&[b, little], &[("signed", signed)])
            }
            Value::Float(x) => py.from_owned_ptr(sys::PyFloat_FromDouble(*x)),
            Value::Complex { re, im } => py.from_owned_ptr(sys::PyComplex_FromDoubles(*re, *im)),
            Value::Str(s) => py.str(s),
            Value::Bytes(b) => py.from_owned_ptr(sys::PyBytes_FromStringAndSize(
                b.as_ptr().cast(),
                b.len() as sys::Py_ssize_t,
            )),
            Value::Tuple(items) => {
                let t = py.from_owned_ptr(sys::PyTuple_New(items.len() as sys::Py_ssize_t))?;
                for (i, item) in items.iter().enumerate() {
                    let o = to_python_at(py, item, depth + 1, memo)?;
                    sys::PyTuple_SET_ITEM(t.as_ptr(), i as sys::Py_ssize_t, o.into_ptr());
                }
                Ok(t)
            }
            Value::List(items) => {
                let l = py.from_owned_ptr(sys::PyList_New(items.len() as sys::Py_ssize_t))?;
                for (i, item) in items.iter().enumerate() {
                    let o = to_python_at(py, item, depth + 1, memo)?;
                    sys::PyList_SET_ITEM(l.as_ptr(), i as sys::Py_ssize_t, o.into_ptr());
                }
                Ok(l)
            }
            Value::Dict(items) => {
                let d = py.from_owned_ptr(sys::PyDict_New())?;
                for (k, v) in items.iter() {
                    let k = to_python_at(py, k, depth + 1, memo)?;
                    let v = to_python_at(py, v, depth + 1, memo)?;
                    if sys::PyDict_SetItem(d.as_ptr(), k.as_ptr(), v.as_ptr()) < 0 {
                        return Err(py.take_error());
                    }
                }
                Ok(d)
            }
            Value::Set(items) | Value::FrozenSet(items) => {
                let s = py.from_owned_ptr(sys::PySet_New(std::ptr::null_mut()))?;
                for item in items.iter() {
                    let o = to_python_at(py, item, depth + 1, memo)?;
                    if sys::PySet_Add(s.as_ptr(), o.as_ptr()) < 0 {
                        return Err(py.take_error());
                    }
                }
                if matches!(v, Value::FrozenSet(_)) {
                    py.from_owned_ptr(sys::PyFrozenSet_New(s.as_ptr()))
                } else {
                    Ok(s)
                }
            }
            Value::Buffer(b) => module::buffer_to_python(py, b),
            Value::Channel(c) => module::channel_to_python(py, c),
            Value::Frozen(f) => module::frozen_to_python(py, f),
            Value::Pickled(bytes) => {
                let loads = py.lookup("pickle", "loads")?;
                let b = to_python_at(py, &Value::Bytes(bytes.clone()), depth, memo)?;
                loads.call(&[b], &[])
            }
        }
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Value>();
}
