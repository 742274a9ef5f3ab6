//! The C ABI of interp: `libinterp.so` / `libinterp.a` and
//! `include/interp.h` (generated from this crate by cbindgen; the header
//! test keeps the committed file in sync).
//!
//! One module per header section, in the style of wasmtime's C API:
//! [`error`] (`interp_error_t`, status codes), [`value`]
//! (`interp_value_t`), [`channel`] (`interp_channel_t`), [`pool`]
//! (`interp_pool_t`, `interp_task_t`), [`interp`] (runtime, version,
//! `interp_interpreter_t`). Handles are validated (the private `handle` module), every entry
//! point catches panics, and errors carry Python exceptions as strings.

#![allow(non_camel_case_types)]
#![warn(missing_debug_implementations)]
// Every exported function is a C entry point whose pointer arguments follow
// the contracts documented in the header (and are validated where they can
// be: NULL, handles, UTF-8, lengths). Marking them all `unsafe` would only
// concern Rust callers, which should use interp-core/interp-pool instead.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

/// interp-sys's link guard (see interp-sys/build.rs), defined here because C
/// programs that link libinterp bring libpython's rpath in their own link
/// line (`pkg-config` and the CMake package supply it), not through Cargo.
#[used]
#[export_name = env!("INTERP_RPATH_GUARD")]
static RPATH_GUARD: u8 = 0;

mod bigint;
pub mod channel;
pub mod error;
mod handle;
pub mod interp;
pub mod pool;
pub mod value;

pub use bigint::INTERP_INT_MAX_DIGITS;
pub use channel::*;
pub use error::*;
pub use interp::*;
pub use pool::*;
pub use value::*;

/// Locks `m`, ignoring poisoning: every mutex of this crate guards data that
/// a panic leaves consistent (whole values replaced, entries pushed).
pub(crate) fn lock<T: ?Sized>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
