//! [`Frozen`]: read-only data built once and read from every interpreter
//! without a per-call copy.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::{Value, MAX_DEPTH};
use crate::error::{out_of_memory, Error, Result};
use crate::shared::{try_vec, Shared};

/// A node of a frozen tree. Containers own their children inline.
pub(crate) enum Node {
    None,
    Bool(bool),
    Int(i64),
    BigInt(Shared<[u8]>),
    Float(f64),
    Str(Shared<str>),
    Bytes(Shared<[u8]>),
    Tuple(Box<[Node]>),
    Dict(Dict),
}

pub(crate) struct Dict {
    pub(crate) keys: Box<[Node]>,
    pub(crate) values: Box<[Node]>,
    index: HashMap<Value, usize>,
}

/// Read-only structured data — `None`, `bool`, `int`, `float`, `str`,
/// `bytes`, tuples (lists freeze as tuples) and dicts, nested — built once
/// and shared by reference with every interpreter.
///
/// Passing a `Frozen` in a call costs O(1) whatever its size once the
/// receiving interpreter has seen it. A frozen tuple arrives as real tuples,
/// built the first time an interpreter sees the tree and kept in its
/// materialization cache (see [`CacheConfig`](crate::CacheConfig)), so
/// indexing runs at native speed. A frozen dict arrives as an
/// `interp.Frozen` proxy with `__getitem__`, `__len__`, `__iter__`,
/// `__contains__`, `__eq__`, `__hash__`, `keys`/`values`/`items`/`get` and
/// `thaw()`, whose elements are made lazily, on first access, and cached in
/// the proxy (its tuples as real tuples); any attempt to mutate it raises
/// `TypeError`. `interp.freeze(obj)` in Python returns such a proxy for a
/// tuple too: the handle that passes the data on by reference.
///
/// ```
/// use interp_core::{Frozen, Interpreter, Value};
///
/// let squares = (0..1000).map(|i| Value::tuple([Value::from(i), Value::from(i * i)]));
/// let table = Frozen::from_value(&Value::tuple(squares))?; // built once
/// let interp = Interpreter::new()?;
/// interp.exec("def lookup(table, k):\n    return table[k][1]")?;
/// for k in [12, 999] {
///     // Each call passes the table by reference: O(1), no copy of 1000 rows.
///     let r = interp.call("__main__", "lookup", &[table.clone().into(), k.into()], &[])?;
///     assert_eq!(r, Value::Int(i64::from(k) * i64::from(k)));
/// }
/// interp.prepare_main([("table", table.into())])?;
/// assert!(interp.exec("table[0] = None").is_err()); // a tuple: TypeError
/// assert_eq!(interp.eval("type(table[0]).__name__")?, Value::str("tuple"));
/// # Ok::<(), interp_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Frozen {
    root: Arc<Node>,
    node: *const Node,
}

// SAFETY: `node` points into the immutable tree owned by `root`, which is
// kept alive by this handle; the tree is never mutated after construction
// and all its contents are Send + Sync.
unsafe impl Send for Frozen {}
// SAFETY: as above.
unsafe impl Sync for Frozen {}

/// Dict keys are looked up by value with Python's numeric key semantics:
/// `1`, `1.0` and `True` are the same key.
/// Applied inside tuple keys too, as Python's tuple equality does.
pub(crate) fn normalize_key(v: Value) -> Value {
    match v {
        Value::Bool(b) => Value::Int(b as i64),
        Value::Float(x) if float_as_int(x).is_some() => Value::Int(float_as_int(x).unwrap()),
        Value::Tuple(items) => Value::Tuple(items.iter().cloned().map(normalize_key).collect()),
        other => other,
    }
}

/// The integer a float equals exactly, if it is one that fits in an i64.
fn float_as_int(x: f64) -> Option<i64> {
    (x.fract() == 0.0 && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&x))
        .then_some(x as i64)
}

/// Exact int == float, as Python compares them (no rounding of the int).
fn int_eq_float(n: i64, x: f64) -> bool {
    float_as_int(x) == Some(n)
}

/// No memory (`bytes` were asked for) for a frozen container of `n` items.
fn no_room(n: usize, bytes: usize) -> Error {
    Error::Conversion(out_of_memory(
        &format!("frozen data (a container of {n} items)"),
        bytes,
    ))
}

/// Room for `n` items of a frozen container, or a clear error.
fn items<T>(n: usize) -> Result<Vec<T>> {
    try_vec(n).map_err(|e| no_room(n, e.bytes))
}

/// An empty key index with room for `n` keys, or a clear error.
fn index_for(n: usize) -> Result<HashMap<Value, usize>> {
    let mut index = HashMap::new();
    index
        .try_reserve(n)
        .map_err(|_| no_room(n, n.saturating_mul(std::mem::size_of::<(Value, usize)>())))?;
    Ok(index)
}

fn build(v: &Value, depth: usize) -> Result<Node> {
    if depth > MAX_DEPTH {
        return Err(Error::Conversion(format!(
            "frozen data nested deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(match v {
        Value::None => Node::None,
        Value::Bool(b) => Node::Bool(*b),
        Value::Int(n) => Node::Int(*n),
        Value::BigInt(b) => Node::BigInt(b.clone()),
        Value::Float(x) => Node::Float(*x),
        Value::Str(s) => Node::Str(s.clone()),
        Value::Bytes(b) => Node::Bytes(b.clone()),
        Value::Tuple(seq) | Value::List(seq) => {
            let mut nodes = items(seq.len())?;
            for i in seq.iter() {
                nodes.push(build(i, depth + 1)?);
            }
            Node::Tuple(nodes.into())
        }
        Value::Dict(pairs) => {
            let mut index = index_for(pairs.len())?;
            let mut keys = items(pairs.len())?;
            let mut values = items(pairs.len())?;
            for (k, v) in pairs.iter() {
                let key = normalize_key(k.clone());
                let node_v = build(v, depth + 1)?;
                if let Some(&i) = index.get(&key) {
                    values[i] = node_v; // later duplicates win, as in a dict display
                    continue;
                }
                index.insert(key, keys.len());
                keys.push(build(k, depth + 1)?);
                values.push(node_v);
            }
            Node::Dict(Dict {
                keys: keys.into(),
                values: values.into(),
                index,
            })
        }
        Value::Frozen(f) => {
            // Embedding another frozen tree: its height counts too.
            if depth + f.node().height() > MAX_DEPTH {
                return Err(Error::Conversion(format!(
                    "frozen data nested deeper than {MAX_DEPTH} levels"
                )));
            }
            return f.node().clone_node();
        }
        other => {
            return Err(Error::Conversion(format!(
            "cannot freeze a '{}': frozen data holds None, bool, int, float, str, bytes, tuple, \
                 list (as tuple) and dict",
            other.type_name()
        )))
        }
    })
}

impl Node {
    /// A deep copy (for embedding a tree in another), allocated fallibly.
    fn clone_node(&self) -> Result<Node> {
        fn all(nodes: &[Node]) -> Result<Box<[Node]>> {
            let mut out = items(nodes.len())?;
            for n in nodes {
                out.push(n.clone_node()?);
            }
            Ok(out.into())
        }
        Ok(match self {
            Node::None => Node::None,
            Node::Bool(b) => Node::Bool(*b),
            Node::Int(n) => Node::Int(*n),
            Node::BigInt(b) => Node::BigInt(b.clone()),
            Node::Float(x) => Node::Float(*x),
            Node::Str(s) => Node::Str(s.clone()),
            Node::Bytes(b) => Node::Bytes(b.clone()),
            Node::Tuple(nodes) => Node::Tuple(all(nodes)?),
            Node::Dict(d) => {
                let mut index = index_for(d.index.len())?;
                index.extend(d.index.iter().map(|(k, v)| (k.clone(), *v)));
                Node::Dict(Dict {
                    keys: all(&d.keys)?,
                    values: all(&d.values)?,
                    index,
                })
            }
        })
    }

    /// The data as a [`Value`] (tuples for sequences), allocated fallibly.
    pub(crate) fn try_to_value(&self) -> Result<Value> {
        Ok(match self {
            Node::None => Value::None,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(n) => Value::Int(*n),
            Node::BigInt(b) => Value::BigInt(b.clone()),
            Node::Float(x) => Value::Float(*x),
            Node::Str(s) => Value::Str(s.clone()),
            Node::Bytes(b) => Value::Bytes(b.clone()),
            Node::Tuple(nodes) => Value::Tuple(Shared::try_build(
                nodes.len(),
                |e| no_room(nodes.len(), e.bytes),
                |i| nodes[i].try_to_value(),
            )?),
            Node::Dict(d) => Value::Dict(Shared::try_build(
                d.keys.len(),
                |e| no_room(d.keys.len(), e.bytes),
                |i| Ok((d.keys[i].try_to_value()?, d.values[i].try_to_value()?)),
            )?),
        })
    }

    /// As [`try_to_value`](Self::try_to_value).
    ///
    /// # Panics
    /// When memory runs out.
    pub(crate) fn to_value(&self) -> Value {
        self.try_to_value().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Levels of containers below and including this node (0 for a scalar).
    /// Bounded by MAX_DEPTH for every tree `build` makes.
    pub(crate) fn height(&self) -> usize {
        match self {
            Node::Tuple(items) => 1 + items.iter().map(Node::height).max().unwrap_or(0),
            Node::Dict(d) => {
                1 + d
                    .keys
                    .iter()
                    .chain(d.values.iter())
                    .map(Node::height)
                    .max()
                    .unwrap_or(0)
            }
            _ => 0,
        }
    }

    pub(crate) fn len(&self) -> Option<usize> {
        match self {
            Node::Tuple(items) => Some(items.len()),
            Node::Dict(d) => Some(d.keys.len()),
            _ => None,
        }
    }

    /// Python equality between this node and a value: numbers compare by
    /// value across int/float/bool, tuples equal tuples and lists, dicts
    /// compare regardless of order.
    pub(crate) fn eq_value(&self, v: &Value) -> bool {
        match (self, v) {
            (Node::None, Value::None) => true,
            (Node::Int(a), Value::Int(b)) => a == b,
            (Node::Int(a), Value::Bool(b)) => *a == *b as i64,
            (Node::Bool(a), Value::Int(b)) => *a as i64 == *b,
            (Node::Bool(a), Value::Bool(b)) => a == b,
            (Node::Float(a), Value::Float(b)) => a == b,
            (Node::Float(a), Value::Int(b)) => int_eq_float(*b, *a),
            (Node::Float(a), Value::Bool(b)) => int_eq_float(*b as i64, *a),
            (Node::Int(a), Value::Float(b)) => int_eq_float(*a, *b),
            (Node::Bool(a), Value::Float(b)) => int_eq_float(*a as i64, *b),
            (Node::BigInt(a), Value::BigInt(b)) => a == b,
            (Node::Str(a), Value::Str(b)) => a == b,
            (Node::Bytes(a), Value::Bytes(b)) => a == b,
            (Node::Tuple(a), Value::Tuple(b) | Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.eq_value(y))
            }
            (Node::Dict(d), Value::Dict(items)) => {
                d.keys.len() == items.len()
                    && items
                        .iter()
                        .all(|(k, v)| d.get(k).is_some_and(|n| n.eq_value(v)))
            }
            (node, Value::Frozen(f)) => node.eq_value(&f.node().to_value()),
            _ => false,
        }
    }
}

impl Dict {
    pub(crate) fn index_of(&self, key: &Value) -> Option<usize> {
        self.index.get(&normalize_key(key.clone())).copied()
    }

    pub(crate) fn get(&self, key: &Value) -> Option<&Node> {
        self.index_of(key).map(|i| &self.values[i])
    }
}

impl Frozen {
    /// Freezes `value` (one copy, now; none afterwards).
    ///
    /// # Errors
    /// [`Error::Conversion`] for a value that cannot be frozen (sets,
    /// complex numbers, pickled objects, buffers, channels) or that nests
    /// deeper than [`MAX_DEPTH`].
    pub fn from_value(value: &Value) -> Result<Frozen> {
        let root = Arc::new(build(value, 0)?);
        let node: *const Node = &*root;
        Ok(Frozen { root, node })
    }

    pub(crate) fn node(&self) -> &Node {
        // SAFETY: `node` points into the tree kept alive by `root`.
        unsafe { &*self.node }
    }

    /// A handle to a node of this tree (kept alive by the same root).
    pub(crate) fn child(&self, node: &Node) -> Frozen {
        Frozen {
            root: self.root.clone(),
            node,
        }
    }

    /// A [`Value`] copy of the data (tuples for sequences).
    ///
    /// # Panics
    /// When memory runs out (see [`try_to_value`](Self::try_to_value)).
    pub fn to_value(&self) -> Value {
        self.node().to_value()
    }

    /// A [`Value`] copy of the data (tuples for sequences), allocated
    /// fallibly.
    ///
    /// # Errors
    /// [`Error::Conversion`] naming the size when the memory cannot be had.
    pub fn try_to_value(&self) -> Result<Value> {
        self.node().try_to_value()
    }

    /// The number of items of a tuple or dict; `None` for a scalar.
    pub fn len(&self) -> Option<usize> {
        self.node().len()
    }

    /// Whether this is an empty tuple or dict.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Whether two handles point at the same node of the same tree.
    pub fn ptr_eq(&self, other: &Frozen) -> bool {
        std::ptr::eq(self.node, other.node)
    }

    /// How many handles to the tree (to it or any of its nodes) live, this
    /// one included: a snapshot, as `Arc::strong_count`.
    pub(crate) fn strong_count(&self) -> usize {
        Arc::strong_count(&self.root)
    }

    /// The address of the tree's allocation (shared by all its handles).
    pub(crate) fn root_addr(&self) -> usize {
        Arc::as_ptr(&self.root) as usize
    }

    /// The address of this handle's node: unique among live nodes.
    pub(crate) fn node_addr(&self) -> usize {
        self.node as usize
    }
}

impl PartialEq for Frozen {
    /// Structural equality (as the data's [`Value`]s compare).
    fn eq(&self, other: &Frozen) -> bool {
        self.ptr_eq(other) || self.to_value() == other.to_value()
    }
}

impl Eq for Frozen {}

impl std::hash::Hash for Frozen {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.to_value().hash(state)
    }
}

impl fmt::Debug for Frozen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Frozen({:?})", self.to_value())
    }
}
