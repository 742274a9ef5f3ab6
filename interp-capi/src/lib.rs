//! The C ABI of interp: built in the C-ABI issue.
