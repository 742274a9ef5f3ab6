//! Converting between [`Value`](crate::Value) and the Python objects of the
//! attached interpreter: [`Python::value`](crate::Python::value)
//! (`to_python`) and [`Bound::to_value`](crate::Bound::to_value)
//! (`from_python`). Conversion builds on the shareable types and the `interp`
//! module's Python types; none of them depends on it.

mod from_python;
mod to_python;

use crate::error::Error;
use crate::value::MAX_DEPTH;

/// A value nested deeper than [`MAX_DEPTH`] (or a container that contains
/// itself), in either direction.
fn too_deep() -> Error {
    Error::Conversion(format!(
        "value nested deeper than {MAX_DEPTH} levels (or a container that contains itself); \
         flatten it or pass it as a pickled/bytes payload"
    ))
}
