//! Times `interp_value_int_from_decimal` and `interp_value_int_to_decimal`
//! on ints of the given numbers of digits (thread CPU time, so that other
//! processes on a busy machine count less), checking the round trip:
//!
//! ```text
//! cargo run --release -p interp-capi --example bigint_bench -- 400000 1000000 5000000
//! ```

use std::ffi::{CStr, CString};
use std::ptr::null_mut;

use ::interp::*;

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// CPU time of this thread, in seconds.
fn cpu() -> f64 {
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn main() {
    for arg in std::env::args().skip(1) {
        let n: usize = arg.parse().expect("a number of digits");
        let text: String = (0..n)
            .map(|i| char::from(b'1' + (i * 7 % 9) as u8))
            .collect();
        let c = CString::new(text.clone()).unwrap();
        let mut v = null_mut();
        let t = cpu();
        let st = interp_value_int_from_decimal(c.as_ptr(), &mut v, null_mut());
        let parse = cpu() - t;
        assert_eq!(st, interp_status_t::INTERP_OK);
        let mut out = null_mut();
        let t = cpu();
        let st = interp_value_int_to_decimal(v, &mut out, null_mut());
        let print = cpu() - t;
        assert_eq!(st, interp_status_t::INTERP_OK);
        // SAFETY: a NUL-terminated string owned until interp_string_free.
        assert!(unsafe { CStr::from_ptr(out) }.to_bytes() == text.as_bytes());
        println!("{n:>9} digits: from_decimal {parse:7.3} s, to_decimal {print:7.3} s (CPU)");
        // SAFETY: returned by interp_value_int_to_decimal, freed once.
        unsafe { interp_string_free(out) };
        interp_value_free(v);
    }
}
