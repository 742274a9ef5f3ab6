//! [`Value`], the data that crosses interpreters: the type, its equality,
//! hashing and accessors (converting it to and from Python objects is
//! `conversion/`).
//!
//! `Value` is one recursive type with the two shareable types that hold
//! values, which are its submodules: a [`Channel`] carries `Value`s
//! (`channel.rs`) and a [`Frozen`] tree is built from them and indexed by
//! them (`frozen.rs`). They use each other and the lower layers only;
//! [`SharedBuffer`] holds no values and lives apart (`buffer.rs`).

use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};

pub(crate) mod channel;
pub(crate) mod frozen;

use crate::buffer::SharedBuffer;
use crate::error::{no_memory, Error, Result};
use crate::shared::Shared;
use channel::Channel;
use frozen::Frozen;

/// How deep a [`Value`] may nest (containers inside containers). Deeper
/// input, or a container that contains itself, is refused with
/// [`Error::Conversion`] rather than overflowing the stack.
pub const MAX_DEPTH: usize = 200;

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
    /// [`Error::OutOfMemory`] naming the size when the memory cannot be had.
    pub fn try_str(s: &str) -> Result<Value> {
        Shared::try_copy(s)
            .map(Value::Str)
            .map_err(|_| no_memory("a str", s.len()))
    }

    /// `bytes` from a byte slice, copied fallibly.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] naming the size when the memory cannot be had.
    pub fn try_bytes(b: &[u8]) -> Result<Value> {
        Shared::try_copy(b)
            .map(Value::Bytes)
            .map_err(|_| no_memory("a bytes value", b.len()))
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
    /// [`Error::OutOfMemory`] naming the size when the memory cannot be had.
    pub fn try_int_from_le_bytes(bytes: &[u8]) -> Result<Value> {
        match int_from_le(bytes) {
            Ok(n) => Ok(Value::Int(n)),
            Err(minimal) => Shared::try_copy(minimal)
                .map(Value::BigInt)
                .map_err(|_| no_memory("an int", minimal.len())),
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
    /// without a copy when they are already minimal; `too_big` makes the
    /// error when a minimal copy cannot be allocated.
    pub(crate) fn int_from_le_shared(
        bytes: Shared<[u8]>,
        too_big: impl FnOnce(usize) -> Error,
    ) -> Result<Value> {
        match int_from_le(&bytes) {
            Ok(n) => Ok(Value::Int(n)),
            Err(minimal) if minimal.len() == bytes.len() => Ok(Value::BigInt(bytes)),
            Err(minimal) => Shared::try_copy(minimal)
                .map(Value::BigInt)
                .map_err(|_| too_big(minimal.len())),
        }
    }

    /// Levels of nested containers (0 for a scalar). A sub-value shared by
    /// reference (the same [`Shared`] data) is measured once, so this is linear in the
    /// number of distinct containers.
    pub fn depth(&self) -> usize {
        fn go(v: &Value, memo: &mut HashMap<ContainerKey, usize>) -> usize {
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
            (BigInt(a), BigInt(b)) => Shared::eq_fast(a, b),
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Complex { re: a, im: b }, Complex { re: c, im: d }) => {
                a.to_bits() == c.to_bits() && b.to_bits() == d.to_bits()
            }
            (Str(a), Str(b)) => Shared::eq_fast(a, b),
            (Bytes(a), Bytes(b)) | (Pickled(a), Pickled(b)) => Shared::eq_fast(a, b),
            (Tuple(a), Tuple(b)) | (List(a), List(b)) => Shared::eq_fast(a, b),
            (Set(a), Set(b)) | (FrozenSet(a), FrozenSet(b)) => {
                Shared::ptr_eq(a, b) || same_elements(a, b)
            }
            (Dict(a), Dict(b)) => Shared::eq_fast(a, b),
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

/// What identifies a container: the address of its items, and its kind
/// (the same items may back a tuple and a list, which are different
/// objects).
pub(crate) type ContainerKey = (usize, std::mem::Discriminant<Value>);

/// The [`ContainerKey`] of a tuple, list, dict, set or frozenset; `None`
/// for other values.
pub(crate) fn container_key(v: &Value) -> Option<ContainerKey> {
    let addr = match v {
        Value::Tuple(a) | Value::List(a) | Value::Set(a) | Value::FrozenSet(a) => a.addr(),
        Value::Dict(d) => d.addr(),
        _ => return None,
    };
    Some((addr, std::mem::discriminant(v)))
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Value>();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(v: &Value) -> u64 {
        let mut h = DefaultHasher::new();
        v.hash(&mut h);
        h.finish()
    }

    /// `a == b`, and (as `Hash` must agree with `==`) equal hashes.
    #[track_caller]
    fn assert_same(a: &Value, b: &Value) {
        assert!(a == b, "expected {a:?} == {b:?}");
        assert_eq!(
            hash_of(a),
            hash_of(b),
            "{a:?} == {b:?} but their hashes differ"
        );
    }

    #[track_caller]
    fn assert_differ(a: &Value, b: &Value) {
        assert!(a != b, "expected {a:?} != {b:?}");
    }

    #[test]
    fn floats_compare_by_bit_pattern() {
        assert_same(&Value::Float(f64::NAN), &Value::Float(f64::NAN));
        assert_differ(&Value::Float(f64::NAN), &Value::Float(-f64::NAN));
        assert_differ(&Value::Float(0.0), &Value::Float(-0.0));
        assert_same(&Value::Float(-0.0), &Value::Float(-0.0));
        let c = |re, im| Value::Complex { re, im };
        assert_same(&c(f64::NAN, 1.0), &c(f64::NAN, 1.0));
        assert_differ(&c(0.0, 1.0), &c(-0.0, 1.0));
        assert_differ(&c(1.0, 0.0), &c(1.0, -0.0));
        // No numeric coercion: 1, 1.0 and True are different values.
        assert_differ(&Value::Int(1), &Value::Float(1.0));
        assert_differ(&Value::Int(1), &Value::Bool(true));
    }

    #[test]
    fn containers_compare_by_kind_and_dicts_by_order() {
        let items = || [Value::Int(1), Value::str("a")];
        assert_same(&Value::tuple(items()), &Value::tuple(items()));
        assert_differ(&Value::tuple(items()), &Value::list(items()));
        let ab = Value::dict([(Value::str("a"), 1.into()), (Value::str("b"), 2.into())]);
        let ba = Value::dict([(Value::str("b"), 2.into()), (Value::str("a"), 1.into())]);
        assert_differ(&ab, &ba);
        assert_eq!(ab.get(&Value::str("b")), Some(&Value::Int(2)));
        assert_eq!(ab.get(&Value::str("c")), None);
    }

    #[test]
    fn sets_compare_regardless_of_order_but_count_elements() {
        let set = |v: &[i64]| Value::Set(v.iter().map(|&n| Value::Int(n)).collect());
        let frozen = |v: &[i64]| Value::FrozenSet(v.iter().map(|&n| Value::Int(n)).collect());
        assert_same(&set(&[1, 2, 3]), &set(&[3, 1, 2]));
        assert_same(&frozen(&[1, 2]), &frozen(&[2, 1]));
        assert_differ(&set(&[1, 1, 2]), &set(&[1, 2, 2]));
        assert_differ(&set(&[1, 2]), &set(&[1, 2, 3]));
        assert_differ(&set(&[1, 2]), &frozen(&[1, 2]));
    }

    #[test]
    fn shared_objects_compare_as_their_types_do() {
        let ch = Channel::unbounded();
        assert_same(&ch.clone().into(), &ch.clone().into());
        assert_differ(&ch.into(), &Channel::unbounded().into());
        let data = || Value::tuple([1.into(), Value::dict([("k".into(), 2.into())])]);
        let a = Frozen::from_value(&data()).unwrap();
        let b = Frozen::from_value(&data()).unwrap();
        assert_same(&a.clone().into(), &b.into());
        assert_differ(
            &a.into(),
            &Frozen::from_value(&Value::tuple([])).unwrap().into(),
        );
    }

    #[test]
    fn ints_are_normalized_to_64_bits_when_they_fit() {
        assert_eq!(Value::from(u64::MAX >> 1), Value::Int(i64::MAX));
        assert_eq!(
            Value::int_from_le_bytes(&[0xff, 0xff, 0xff]),
            Value::Int(-1)
        );
        assert_eq!(
            Value::int_from_le_bytes(&[0x80, 0, 0, 0, 0]),
            Value::Int(128)
        );
        // u64::MAX needs a ninth byte for the sign; redundant ones are dropped.
        let minimal = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0];
        let big = Value::from(u64::MAX);
        assert_eq!(big, Value::BigInt(minimal[..].into()));
        let padded = [&minimal[..], &[0, 0]].concat();
        assert_same(&big, &Value::int_from_le_bytes(&padded));
        assert_eq!(big.int_to_le_bytes().as_deref(), Some(&minimal[..]));
        let min = Value::from(i128::MIN);
        assert_eq!(
            min.int_to_le_bytes().as_deref(),
            Some(&i128::MIN.to_le_bytes()[..])
        );
        assert_eq!(
            Value::Int(-1).int_to_le_bytes().as_deref(),
            Some(&[0xff][..])
        );
        assert_eq!(Value::Int(0).int_to_le_bytes().as_deref(), Some(&[0][..]));
        assert_eq!(
            Value::Int(255).int_to_le_bytes().as_deref(),
            Some(&[0xff, 0][..])
        );
        assert_eq!(Value::None.int_to_le_bytes(), None);
    }

    #[test]
    fn depth_counts_container_levels() {
        assert_eq!(Value::Int(1).depth(), 0);
        assert_eq!(Value::list([]).depth(), 1);
        let nested = Value::list([Value::tuple([Value::dict([(1.into(), Value::list([]))])])]);
        assert_eq!(nested.depth(), 4);
        // Dict keys count too.
        let key = Value::dict([(Value::tuple([Value::tuple([])]), 1.into())]);
        assert_eq!(key.depth(), 3);
    }

    #[test]
    fn depth_measures_shared_sub_values_once() {
        // Each level holds the one below twice: 150 levels, 2^150 paths.
        let mut v = Value::list([]);
        for _ in 1..150 {
            v = Value::list([v.clone(), v]);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(v.depth()));
        // A generous bound, only so that a regression fails instead of
        // hanging (walking every path would take forever).
        let depth = rx.recv_timeout(std::time::Duration::from_secs(120));
        assert_eq!(depth, Ok(150));
    }

    #[test]
    fn containers_are_keyed_by_their_items_and_kind() {
        let items: Shared<[Value]> = [Value::Int(1)].into();
        let tuple = Value::Tuple(items.clone());
        let key = container_key(&tuple);
        assert_eq!(key.map(|k| k.0), Some(items.addr()));
        assert_eq!(container_key(&tuple.clone()), key, "clones share the key");
        let list = Value::List(items.clone());
        assert_ne!(
            container_key(&list),
            key,
            "the same items as a list are another object"
        );
        assert_eq!(container_key(&list).map(|k| k.0), Some(items.addr()));
        let elsewhere = Value::Tuple([Value::Int(1)].into());
        assert_ne!(
            container_key(&elsewhere),
            key,
            "equal items elsewhere are another object"
        );
        let dict = Value::dict([(1.into(), 2.into())]);
        assert!(container_key(&dict).is_some(), "{dict:?} has no key");
        for scalar in [
            Value::None,
            Value::Int(1),
            Value::str("s"),
            Value::bytes(b"b"),
        ] {
            assert_eq!(container_key(&scalar), None, "{scalar:?}");
        }
    }
}
