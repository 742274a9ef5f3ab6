//! Decimal text <-> `int` values of any size (little-endian two's
//! complement bytes, as `Value::BigInt` stores them), in subquadratic time.
//!
//! Both directions are divide and conquer over Karatsuba multiplication
//! (O(n^1.59)), done in the *target* base so that no division of big numbers
//! is ever needed: parsing combines base-10^19 chunks in binary
//! (`high * 10^(19·2^k) + low`, limbs of 2^64); printing combines base-2^64
//! limbs in decimal (`high * 2^(64·2^k) + low`, limbs of 10^19). The number
//! of digits is bounded by [`INTERP_INT_MAX_DIGITS`], which bounds the time
//! of one call (the work cannot be interrupted).

use std::fmt::Write as _;

use interp_core::Value;

use crate::error::CError;

/// The allocator refused working memory: how many bytes were asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NoMemory {
    bytes: usize,
}

impl From<NoMemory> for CError {
    fn from(e: NoMemory) -> CError {
        CError::out_of_memory("the working memory of an int's decimal conversion", e.bytes)
    }
}

/// An empty vector with room for `n` items, allocated fallibly (every
/// buffer of a conversion is: its size follows the size of the input).
fn room<T>(n: usize) -> Result<Vec<T>, NoMemory> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| NoMemory {
        bytes: n.saturating_mul(std::mem::size_of::<T>()),
    })?;
    Ok(v)
}

/// `n` zero limbs, allocated fallibly.
fn zeros(n: usize) -> Result<Vec<u64>, NoMemory> {
    let mut v = room(n)?;
    v.resize(n, 0);
    Ok(v)
}

/// A copy of `items`, allocated fallibly.
fn copy<T: Copy>(items: &[T]) -> Result<Vec<T>, NoMemory> {
    let mut v = room(items.len())?;
    v.extend_from_slice(items);
    Ok(v)
}

/// The most decimal digits `interp_value_int_from_decimal` parses and
/// `interp_value_int_to_decimal` prints: the analog of CPython's
/// `sys.set_int_max_str_digits`, bounding the time of one call (which
/// cannot be interrupted) to a few seconds, about what CPython's own
/// conversions take at this size. Larger ints travel through
/// `interp_value_int_from_bytes` / `interp_value_int_to_bytes`, which are
/// linear and unbounded.
pub const INTERP_INT_MAX_DIGITS: usize = 5_000_000;

/// A limb base: how a sum splits into a limb and a carry.
trait Base {
    /// The base, as a 128-bit number.
    const B: u128;
    /// `(v mod B, v / B)` for the 192-bit `v = hi·2^128 + lo`, with `hi`
    /// small (below 2^32) so that the quotient fits 128 bits.
    fn divrem(hi: u64, lo: u128) -> (u64, u128);
    /// `(t mod B, t / B)`, for `t < B²` (so that the carry fits a limb).
    fn split(t: u128) -> (u64, u64) {
        let (r, q) = Self::divrem(0, t);
        (r, q as u64)
    }
}

/// Limbs of 2^64 (binary).
struct Bin;

impl Base for Bin {
    const B: u128 = 1 << 64;
    fn divrem(hi: u64, lo: u128) -> (u64, u128) {
        (lo as u64, ((hi as u128) << 64) | (lo >> 64))
    }
}

/// Limbs of 10^19 (decimal; the largest power of ten below 2^64).
struct Dec;

const TEN19: u64 = 10_000_000_000_000_000_000;
/// floor((2^128 - 1) / 10^19) - 2^64: the reciprocal that divides by 10^19
/// with two multiplications (Möller & Granlund, "Improved division by
/// invariant integers", algorithm 4). 10^19 has its top bit set, as the
/// method needs.
const TEN19_INV: u64 = ((u128::MAX / TEN19 as u128) - (1u128 << 64)) as u64;

/// `(u1·2^64 + u0) / 10^19` and the remainder, for `u1 < 10^19`.
fn div_ten19(u1: u64, u0: u64) -> (u64, u64) {
    debug_assert!(u1 < TEN19);
    let q = (TEN19_INV as u128) * (u1 as u128) + (((u1 as u128) << 64) | u0 as u128);
    let (mut q1, q0) = (((q >> 64) as u64).wrapping_add(1), q as u64);
    let mut r = u0.wrapping_sub(q1.wrapping_mul(TEN19));
    if r > q0 {
        q1 = q1.wrapping_sub(1);
        r = r.wrapping_add(TEN19);
    }
    if r >= TEN19 {
        q1 += 1;
        r -= TEN19;
    }
    (q1, r)
}

impl Base for Dec {
    const B: u128 = TEN19 as u128;
    fn divrem(hi: u64, lo: u128) -> (u64, u128) {
        // Long division by 10^19 in three 64-bit digits; the first quotient
        // digit is 0 because hi < 10^19.
        let (q1, r1) = div_ten19(hi, (lo >> 64) as u64);
        let (q0, r0) = div_ten19(r1, lo as u64);
        (r0, ((q1 as u128) << 64) | q0 as u128)
    }
}

/// Below this many limbs (of the shorter factor) schoolbook multiplication
/// is faster than Karatsuba.
const KARATSUBA: usize = 48;

fn trim(mut v: Vec<u64>) -> Vec<u64> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

/// `a + b + carry` for limbs `a, b < B` and `carry <= 1`: the limb and the
/// new carry (0 or 1), without a division.
fn add_limb<B: Base>(a: u64, b: u64, carry: u64) -> (u64, u64) {
    let t = a as u128 + b as u128 + carry as u128;
    if t >= B::B {
        ((t - B::B) as u64, 1)
    } else {
        (t as u64, 0)
    }
}

/// `acc[at..] += x` (acc long enough to hold the result).
fn add_at<B: Base>(acc: &mut [u64], x: &[u64], at: usize) {
    let mut carry = 0u64;
    let mut i = at;
    for &d in x {
        (acc[i], carry) = add_limb::<B>(acc[i], d, carry);
        i += 1;
    }
    while carry != 0 {
        (acc[i], carry) = add_limb::<B>(acc[i], 0, carry);
        i += 1;
    }
}

/// `acc -= x`, for `acc >= x`.
fn sub_in_place<B: Base>(acc: &mut [u64], x: &[u64]) {
    let mut borrow = 0u128;
    for (i, a) in acc.iter_mut().enumerate() {
        let d = x.get(i).copied().unwrap_or(0) as u128 + borrow;
        if i >= x.len() && borrow == 0 {
            break;
        }
        let a128 = *a as u128;
        if a128 >= d {
            *a = (a128 - d) as u64;
            borrow = 0;
        } else {
            *a = (a128 + B::B - d) as u64;
            borrow = 1;
        }
    }
    debug_assert_eq!(borrow, 0, "subtrahend larger than minuend");
}

fn add<B: Base>(a: &[u64], b: &[u64]) -> Result<Vec<u64>, NoMemory> {
    let (a, b) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let mut out = room(a.len() + 1)?;
    out.extend_from_slice(a);
    out.push(0);
    add_at::<B>(&mut out, b, 0);
    Ok(out)
}

/// Column by column (Comba): the products of one column are summed in 192
/// bits and reduced once, so the decimal base costs one division per
/// column, not one per product.
fn schoolbook<B: Base>(a: &[u64], b: &[u64]) -> Result<Vec<u64>, NoMemory> {
    #[cfg(test)]
    tests::PRODUCTS.with(|c| c.set(c.get() + (a.len() * b.len()) as u64));
    let n = a.len() + b.len();
    let mut out = zeros(n)?;
    if a.is_empty() || b.is_empty() {
        return Ok(out);
    }
    let mut carry = 0u128;
    for (k, slot) in out.iter_mut().enumerate().take(n - 1) {
        let (mut hi, mut lo) = (0u64, carry);
        let first = k.saturating_sub(b.len() - 1);
        let last = k.min(a.len() - 1);
        for i in first..=last {
            let (s, o) = lo.overflowing_add(a[i] as u128 * b[k - i] as u128);
            lo = s;
            hi += o as u64;
        }
        let (r, q) = B::divrem(hi, lo);
        *slot = r;
        carry = q;
    }
    out[n - 1] = carry as u64;
    Ok(out)
}

/// `a * b` (not trimmed).
fn mul<B: Base>(a: &[u64], b: &[u64]) -> Result<Vec<u64>, NoMemory> {
    let (a, b) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if a.len() < KARATSUBA {
        return schoolbook::<B>(a, b);
    }
    let mut out = zeros(a.len() + b.len())?;
    if 2 * a.len() <= b.len() {
        // Unbalanced: multiply `a` by `a`-sized pieces of `b`.
        for (k, piece) in b.chunks(a.len()).enumerate() {
            add_at::<B>(&mut out, &trim(mul::<B>(a, piece)?), k * a.len());
        }
        return Ok(out);
    }
    // Karatsuba: a·b = z2·X² + (z1 - z0 - z2)·X + z0, X = B^m.
    let m = b.len() / 2;
    let (a0, a1) = a.split_at(m);
    let (b0, b1) = b.split_at(m);
    let z0 = trim(mul::<B>(a0, b0)?);
    let z2 = trim(mul::<B>(a1, b1)?);
    let mut z1 = mul::<B>(&trim(add::<B>(a0, a1)?), &trim(add::<B>(b0, b1)?))?;
    sub_in_place::<B>(&mut z1, &z0);
    sub_in_place::<B>(&mut z1, &z2);
    add_at::<B>(&mut out, &z0, 0);
    add_at::<B>(&mut out, &trim(z1), m);
    add_at::<B>(&mut out, &z2, 2 * m);
    Ok(out)
}

/// Converts limbs of base `F` (little-endian) to limbs of base `T`:
/// `high * F^(2^k) + low`, with `pows[k]` = F^(2^k) in base `T` (extended
/// by squaring as needed). `leaf` converts one limb.
fn convert<T: Base>(
    limbs: &[u64],
    pows: &mut Vec<Vec<u64>>,
    leaf: &impl Fn(u64) -> Result<Vec<u64>, NoMemory>,
) -> Result<Vec<u64>, NoMemory> {
    if limbs.len() <= 1 {
        return Ok(trim(leaf(limbs.first().copied().unwrap_or(0))?));
    }
    // The largest power of two below the length.
    let k = (usize::BITS - 1 - (limbs.len() - 1).leading_zeros()) as usize;
    let half = 1usize << k;
    while pows.len() <= k {
        let last = pows.last().expect("pows starts with F^1");
        let sq = trim(mul::<T>(last, last)?);
        pows.try_reserve(1).map_err(|_| NoMemory {
            bytes: std::mem::size_of::<Vec<u64>>(),
        })?;
        pows.push(sq);
    }
    let low = convert::<T>(&limbs[..half], pows, leaf)?;
    let high = convert::<T>(&limbs[half..], pows, leaf)?;
    if high.is_empty() {
        return Ok(low);
    }
    let product = mul::<T>(&high, &pows[k])?;
    drop(high);
    let mut out = room(product.len() + 1)?;
    out.extend_from_slice(&product);
    out.push(0);
    drop(product);
    add_at::<T>(&mut out, &low, 0);
    Ok(trim(out))
}

/// The magnitude of decimal digits (ASCII, no sign or separators) as
/// binary limbs.
fn digits_to_binary(digits: &[u8]) -> Result<Vec<u64>, NoMemory> {
    // Base-10^19 chunks, least significant first.
    let mut chunks = room(digits.len().div_ceil(19))?;
    chunks.extend(
        digits
            .rchunks(19)
            .map(|c| c.iter().fold(0u64, |n, d| n * 10 + (d - b'0') as u64)),
    );
    let mut pows = room(1)?;
    pows.push(copy(&[TEN19])?);
    convert::<Bin>(&chunks, &mut pows, &|x| copy(&[x]))
}

/// Binary limbs as decimal text (a `-` first when `neg`; "0" for zero),
/// with room for one more byte (the NUL of a C string).
fn binary_to_digits(limbs: &[u64], neg: bool) -> Result<String, NoMemory> {
    // 2^64 in base 10^19.
    let two64 = Dec::split(1u128 << 64);
    let mut pows = room(1)?;
    pows.push(copy(&[two64.0, two64.1])?);
    let dec = convert::<Dec>(limbs, &mut pows, &|x| {
        let (lo, hi) = Dec::split(x as u128);
        copy(&[lo, hi])
    })?;
    drop(pows);
    let Some((top, rest)) = dec.split_last() else {
        return Ok("0".to_owned());
    };
    let cap = 1 + 19 * dec.len() + 1;
    let mut s = String::new();
    s.try_reserve_exact(cap)
        .map_err(|_| NoMemory { bytes: cap })?;
    if neg {
        s.push('-');
    }
    // Writing to a String with room cannot fail (nor reallocate).
    write!(s, "{top}").expect("writing to a String");
    for c in rest.iter().rev() {
        write!(s, "{c:019}").expect("writing to a String");
    }
    Ok(s)
}

fn too_many_digits(n: impl std::fmt::Display, max: usize) -> CError {
    CError::invalid(format!(
        "the int has {n} decimal digits, more than INTERP_INT_MAX_DIGITS \
         ({max}); pass big ints as bytes \
         (interp_value_int_from_bytes / interp_value_int_to_bytes)"
    ))
}

/// Parses decimal text as `interp_value_int_from_decimal` documents it: an
/// optional sign (`+` or `-`), then the ASCII digits `0`-`9`, with single
/// `_` separators between digits allowed; surrounding whitespace is
/// ignored: the Unicode `White_Space` characters (`str::trim`), which are
/// exactly the ones Python's `int(text)` strips. Unlike `int(text)`, only
/// ASCII digits are accepted: other Unicode decimal digits (Arabic-Indic
/// `"١٢"`, fullwidth `"１２"`, ...) are refused. At most
/// [`INTERP_INT_MAX_DIGITS`] digits.
pub(crate) fn parse_decimal(text: &str) -> Result<Value, CError> {
    parse_decimal_at_most(text, INTERP_INT_MAX_DIGITS)
}

/// [`parse_decimal`] with at most `max` digits.
fn parse_decimal_at_most(text: &str, max: usize) -> Result<Value, CError> {
    let bad = || {
        let shown: String = text.chars().take(40).collect();
        let more = if shown.len() < text.len() { "..." } else { "" };
        CError::invalid(format!(
            "{shown:?}{more} is not a decimal integer (an optional sign, then ASCII digits, \
             single '_' between digits allowed)"
        ))
    };
    let t = text.trim();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        Some(_) => (false, t),
        None => return Err(bad()),
    };
    let b = body.as_bytes();
    if b.is_empty() || b[0] == b'_' || b[b.len() - 1] == b'_' || body.contains("__") {
        return Err(bad());
    }
    if !b.iter().all(|c| c.is_ascii_digit() || *c == b'_') {
        return Err(bad());
    }
    let n = b.iter().filter(|c| c.is_ascii_digit()).count();
    if n > max {
        return Err(too_many_digits(n, max));
    }
    let mut digits = room(n)?;
    digits.extend(b.iter().copied().filter(|c| *c != b'_'));
    let mag = digits_to_binary(&digits)?;
    drop(digits);
    // Two's complement, with room for the sign bit.
    let mut bytes = room(mag.len() * 8 + 1)?;
    for limb in &mag {
        bytes.extend_from_slice(&limb.to_le_bytes());
    }
    bytes.push(0);
    drop(mag);
    if neg {
        negate(&mut bytes);
    }
    Ok(Value::try_int_from_le_bytes(&bytes)?)
}

/// Two's complement negation in place (invert, add one).
fn negate(bytes: &mut [u8]) {
    let mut carry = 1u16;
    for b in bytes.iter_mut() {
        let x = (!*b) as u16 + carry;
        *b = x as u8;
        carry = x >> 8;
    }
}

/// The number of bits of an unsigned little-endian magnitude (0 for 0).
fn bit_length(mag: &[u8]) -> u64 {
    match mag.iter().rposition(|b| *b != 0) {
        Some(i) => i as u64 * 8 + u64::from(8 - mag[i].leading_zeros()),
        None => 0,
    }
}

/// The bit length of the magnitude of little-endian two's complement
/// bytes, without making the magnitude: for a negative `x`, `-x = !x + 1`,
/// which has the bits of `!x`, one more when `!x` is all ones
/// (`2^k - 1`, whose successor is `2^k`).
fn magnitude_bits(bytes: &[u8]) -> u64 {
    if bytes.last().is_none_or(|b| b & 0x80 == 0) {
        return bit_length(bytes);
    }
    let Some(top) = bytes.iter().rposition(|b| *b != 0xff) else {
        return 1; // -1
    };
    let t = !bytes[top];
    let bits = top as u64 * 8 + u64::from(8 - t.leading_zeros());
    let all_ones = t & t.wrapping_add(1) == 0 && bytes[..top].iter().all(|b| *b == 0);
    bits + u64::from(all_ones)
}

/// The fewest decimal digits a number of `bits` bits can have: those of
/// 2^(bits-1), floor((bits-1)·log10 2) + 1 (1 for 0 or 1 bit). A lower
/// bound, never more: log10 2 is rounded down (to 19 decimals, in integer
/// arithmetic), which could only make it one less, and only for bit counts
/// far beyond what memory holds.
fn min_digits(bits: u64) -> u64 {
    /// floor(log10(2) · 10^19).
    const LOG10_2: u128 = 3_010_299_956_639_811_952;
    match bits.checked_sub(1) {
        None | Some(0) => 1,
        Some(b) => (b as u128 * LOG10_2 / 10u128.pow(19)) as u64 + 1,
    }
}

/// Decimal text of little-endian two's complement bytes, as
/// `interp_value_int_to_decimal` documents it.
pub(crate) fn to_decimal(bytes: &[u8]) -> Result<String, CError> {
    to_decimal_at_most(bytes, INTERP_INT_MAX_DIGITS)
}

/// The magnitude of little-endian two's complement bytes, and whether they
/// are negative.
fn magnitude(bytes: &[u8]) -> Result<(Vec<u8>, bool), NoMemory> {
    let neg = bytes.last().is_some_and(|b| b & 0x80 != 0);
    let mut mag = copy(bytes)?;
    if neg {
        negate(&mut mag);
    }
    Ok((mag, neg))
}

/// Refuses, before any work, two's complement bytes whose digits must
/// exceed `max` (the fewest digits a number of its magnitude's bit length
/// has); a number at the limit passes.
fn check_digits_before(bytes: &[u8], max: usize) -> Result<(), CError> {
    let least = min_digits(magnitude_bits(bytes));
    if least > max as u64 {
        return Err(too_many_digits(format!("at least {least}"), max));
    }
    Ok(())
}

/// [`to_decimal`] with at most `max` digits.
fn to_decimal_at_most(bytes: &[u8], max: usize) -> Result<String, CError> {
    check_digits_before(bytes, max)?;
    let (mag, neg) = magnitude(bytes)?;
    let mut limbs = room(mag.len().div_ceil(8))?;
    limbs.extend(mag.chunks(8).map(|c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(w)
    }));
    drop(mag);
    let text = binary_to_digits(&trim(limbs), neg)?;
    let digits = text.len() - usize::from(neg);
    if digits > max {
        return Err(too_many_digits(digits, max));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// Limb products done by `schoolbook` on this thread: the work of a
        /// conversion, counted exactly (no clock).
        pub(super) static PRODUCTS: Cell<u64> = const { Cell::new(0) };
    }

    fn products(f: impl FnOnce()) -> u64 {
        PRODUCTS.with(|c| c.set(0));
        f();
        PRODUCTS.with(Cell::get)
    }

    /// The allocator of this test binary: the system's, except that a
    /// thread may arm it to refuse one allocation, as when memory runs out.
    struct Refusing;

    #[global_allocator]
    static ALLOCATOR: Refusing = Refusing;

    thread_local! {
        /// Armed on this thread: the smallest size (bytes) that counts, and
        /// how many counted allocations remain until the one refused (0:
        /// disarmed).
        static REFUSE: Cell<(usize, u64)> = const { Cell::new((0, 0)) };
    }

    /// Whether to refuse an allocation of `size` bytes (and, when it is the
    /// one, disarm).
    fn refuse(size: usize) -> bool {
        REFUSE
            .try_with(|r| match r.get() {
                (min, left) if left > 0 && size >= min => {
                    r.set((min, left - 1));
                    left == 1
                }
                _ => false,
            })
            .unwrap_or(false)
    }

    // SAFETY: every call is passed on to the system allocator with the same
    // arguments, or refused (NULL), which GlobalAlloc allows; `refuse`
    // itself does not allocate (a const-initialized thread local).
    unsafe impl std::alloc::GlobalAlloc for Refusing {
        unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
            if refuse(layout.size()) {
                return std::ptr::null_mut();
            }
            // SAFETY: as the caller's contract.
            unsafe { std::alloc::System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
            if refuse(layout.size()) {
                return std::ptr::null_mut();
            }
            // SAFETY: as the caller's contract.
            unsafe { std::alloc::System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(
            &self,
            ptr: *mut u8,
            layout: std::alloc::Layout,
            new_size: usize,
        ) -> *mut u8 {
            if refuse(new_size) {
                return std::ptr::null_mut();
            }
            // SAFETY: as the caller's contract.
            unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
            // SAFETY: as the caller's contract.
            unsafe { std::alloc::System.dealloc(ptr, layout) }
        }
    }

    #[test]
    fn every_refused_working_buffer_is_an_out_of_memory_error() {
        use crate::error::interp_status_t::INTERP_ERR_OUT_OF_MEMORY;
        // Refuse the 1st, 2nd, ... allocation of at least 1 KiB that a
        // conversion makes, until one runs through: every refusal must be
        // an out-of-memory error, never an abort.
        let text = format!("-{}", "8".repeat(20_000));
        let bytes = match parse_decimal(&text).unwrap() {
            Value::BigInt(b) => b,
            other => panic!("{other:?}"),
        };
        type Conversion<'a> = &'a dyn Fn() -> Result<(), CError>;
        let cases: [(&str, Conversion<'_>); 2] = [
            ("parse_decimal", &|| parse_decimal(&text).map(drop)),
            ("to_decimal", &|| {
                to_decimal(&bytes).map(|t| assert_eq!(t, text))
            }),
        ];
        for (what, convert) in cases {
            let mut refused = 0;
            for n in 1.. {
                REFUSE.with(|r| r.set((1024, n)));
                let got = convert();
                let (_, left) = REFUSE.with(|r| r.replace((0, 0)));
                if left > 0 {
                    // Fewer than n big allocations: it ran through.
                    assert!(got.is_ok(), "{what}: {got:?}");
                    break;
                }
                let e = got.expect_err("the refused allocation was not reported");
                assert_eq!(e.status, INTERP_ERR_OUT_OF_MEMORY, "{what}, #{n}: {e:?}");
                assert!(
                    format!("{e:?}").contains("out of memory: could not allocate"),
                    "{e:?}"
                );
                refused += 1;
            }
            eprintln!("{what}: {refused} allocations refused in turn");
            assert!(refused >= 10, "{what}: only {refused} big allocations");
        }
    }

    #[test]
    fn work_grows_subquadratically_both_ways() {
        // 8x the digits: quadratic work grows 64x, Karatsuba's about 27x.
        let digits =
            |n: usize| -> String { (0..n).map(|i| (b'1' + (i * 7 % 9) as u8) as char).collect() };
        let (small, big) = (digits(20_000), digits(160_000));
        let parse_small = products(|| drop(parse_decimal(&small).unwrap()));
        let parse_big = products(|| drop(parse_decimal(&big).unwrap()));
        let bytes = |t: &str| match parse_decimal(t).unwrap() {
            Value::BigInt(b) => b,
            other => panic!("{other:?}"),
        };
        let (bs, bb) = (bytes(&small), bytes(&big));
        let print_small = products(|| assert_eq!(to_decimal(&bs).unwrap(), small));
        let print_big = products(|| assert_eq!(to_decimal(&bb).unwrap(), big));
        for (what, s, b) in [
            ("from_decimal", parse_small, parse_big),
            ("to_decimal", print_small, print_big),
        ] {
            let ratio = b as f64 / s as f64;
            eprintln!("{what}: {s} -> {b} limb products, {ratio:.1}x for 8x the digits");
            assert!(
                ratio < 40.0,
                "{what}: 8x the digits took {ratio:.1}x the limb products ({s} -> {b}); \
                 quadratic is 64x, Karatsuba about 27x"
            );
        }
    }

    fn text_of(v: &Value) -> String {
        match v {
            Value::Int(x) => x.to_string(),
            Value::BigInt(b) => to_decimal(b).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dividing_by_ten_to_the_19_is_exact() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let limit = TEN19 as u128 * TEN19 as u128;
        for _ in 0..100_000 {
            let t = ((next() as u128) << 64 | next() as u128) % limit;
            assert_eq!(
                Dec::split(t),
                ((t % TEN19 as u128) as u64, (t / TEN19 as u128) as u64),
                "{t}"
            );
        }
        for t in [0, 1, TEN19 as u128 - 1, TEN19 as u128, limit - 1] {
            assert_eq!(
                Dec::split(t),
                ((t % TEN19 as u128) as u64, (t / TEN19 as u128) as u64),
                "{t}"
            );
        }
    }

    /// Row by row, one split per product: the plain method, as a reference.
    fn reference<B: Base>(a: &[u64], b: &[u64]) -> Vec<u64> {
        let mut out = vec![0u64; a.len() + b.len()];
        for (i, &x) in a.iter().enumerate() {
            let mut carry = 0u64;
            for (j, &y) in b.iter().enumerate() {
                let t = x as u128 * y as u128 + out[i + j] as u128 + carry as u128;
                let (lo, c) = B::split(t);
                out[i + j] = lo;
                carry = c;
            }
            out[i + b.len()] = carry;
        }
        out
    }

    #[test]
    fn multiplication_agrees_with_the_plain_method() {
        let mut x = 12345u64;
        let mut limbs = |n: usize, modulus: u64| -> Vec<u64> {
            (0..n)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    if modulus == 0 {
                        x
                    } else {
                        x % modulus
                    }
                })
                .collect()
        };
        for (la, lb) in [
            (1, 1),
            (3, 39),
            (39, 39),
            (40, 40),
            (41, 97),
            (100, 100),
            (63, 300),
            (200, 201),
        ] {
            let a = limbs(la, 0);
            let b = limbs(lb, 0);
            assert_eq!(
                trim(mul::<Bin>(&a, &b).unwrap()),
                trim(reference::<Bin>(&a, &b)),
                "{la}x{lb}"
            );
            let a = limbs(la, TEN19);
            let b = limbs(lb, TEN19);
            assert_eq!(
                trim(mul::<Dec>(&a, &b).unwrap()),
                trim(reference::<Dec>(&a, &b)),
                "{la}x{lb}"
            );
            // All limbs at their maximum: the largest column sums and carries.
            let a = vec![u64::MAX; la];
            let b = vec![u64::MAX; lb];
            assert_eq!(
                trim(mul::<Bin>(&a, &b).unwrap()),
                trim(reference::<Bin>(&a, &b)),
                "{la}x{lb}"
            );
            let a = vec![TEN19 - 1; la];
            let b = vec![TEN19 - 1; lb];
            assert_eq!(
                trim(mul::<Dec>(&a, &b).unwrap()),
                trim(reference::<Dec>(&a, &b)),
                "{la}x{lb}"
            );
        }
    }

    #[test]
    fn decimal_round_trips_against_i128() {
        for n in [
            0i128,
            1,
            -1,
            255,
            -256,
            i64::MAX as i128,
            i64::MIN as i128,
            i64::MAX as i128 + 1,
            i64::MIN as i128 - 1,
            u64::MAX as i128,
            -(u64::MAX as i128),
            i128::MAX,
            i128::MIN,
            10i128.pow(19),
            10i128.pow(19) - 1,
            10i128.pow(30),
        ] {
            let v = parse_decimal(&n.to_string()).unwrap();
            assert_eq!(v, Value::from(n), "{n}");
            assert_eq!(text_of(&v), n.to_string());
        }
        for text in [
            format!("-{}", "9".repeat(200)),
            format!("1{}", "0".repeat(5000)),
            "123456789".repeat(1000),
        ] {
            let v = parse_decimal(&text).unwrap();
            assert_eq!(text_of(&v), text);
        }
        assert_eq!(parse_decimal("1_000").ok(), Some(Value::Int(1000)));
        assert_eq!(parse_decimal(" -0 ").ok(), Some(Value::Int(0)));
        assert_eq!(parse_decimal("007").ok(), Some(Value::Int(7)));
        // Whitespace as Python's int() strips it, Unicode included ...
        assert_eq!(
            parse_decimal("\u{3000}\u{a0}\t+12\u{2028}\u{85}").ok(),
            Some(Value::Int(12))
        );
        // ... but not the separators int() refuses too, and only ASCII
        // digits (int() also takes other Unicode decimal digits).
        for bad in [
            "",
            "-",
            "12a",
            "1__0",
            "_1",
            "1_",
            "0x10",
            "+-1",
            "- 1",
            "١٢",
            "１２",
            "1２",
            "\u{1c}12",
            "12\u{1f}",
            "\u{200b}12",
        ] {
            assert!(parse_decimal(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_digit_estimate_is_the_fewest_digits_of_the_bit_length() {
        assert_eq!(min_digits(0), 1);
        // Exact for every bit length up to 3000: 2^(bits-1) has the fewest
        // digits of the numbers with that bit length.
        let mut p = vec![1u8];
        for bits in 1..=3000u64 {
            assert_eq!(min_digits(bits), p.len() as u64, "{bits} bits");
            let mut carry = 0;
            for x in p.iter_mut() {
                let y = *x * 2 + carry;
                *x = y % 10;
                carry = y / 10;
            }
            if carry > 0 {
                p.push(carry);
            }
        }
        // Around 10^10000 = 2^33219.28...: 2^33219 has 10000 digits, 2^33220
        // has 10001.
        for (k, digits) in [
            (33_219usize, 10_000u64),
            (33_220, 10_001),
            (100_000, 30_103),
        ] {
            let printed = to_decimal(&power_of_two_bytes(k, false)).unwrap();
            assert_eq!(printed.len() as u64, digits, "2^{k}");
            assert_eq!(min_digits(k as u64 + 1), digits, "2^{k}");
        }
        // The bit length of the magnitude, not of the two's complement
        // bytes (which may carry a sign byte and unused high bits).
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(bit_length(&[0xff, 0x01, 0x00]), 9);
        assert_eq!(bit_length(&[0x00, 0x80]), 16);
        // Of two's complement bytes, without making the magnitude: as the
        // magnitude's, for powers of two and their neighbours, both signs.
        let mut cases = vec![
            vec![0u8],
            vec![0xff],
            vec![0x80],
            vec![0x7f],
            vec![0x00, 0x80],
        ];
        for k in 0..40 {
            for negative in [false, true] {
                let p = power_of_two_bytes(k, negative);
                let mut below = p.clone();
                negate(&mut below); // -p
                cases.push(p);
                cases.push(below);
            }
        }
        for n in [
            -(1i128 << 70) - 1,
            -(1 << 70) + 1,
            (1 << 70) - 1,
            -255,
            -256,
            -257,
        ] {
            cases.push(Value::from(n).int_to_le_bytes().unwrap().into_owned());
        }
        for bytes in cases {
            let (mag, _) = magnitude(&bytes).unwrap();
            assert_eq!(magnitude_bits(&bytes), bit_length(&mag), "{bytes:02x?}");
        }
    }

    /// Minimal two's complement bytes of ±2^k.
    fn power_of_two_bytes(k: usize, negative: bool) -> Vec<u8> {
        let mut b = vec![0u8; k / 8 + 1];
        b[k / 8] = 1 << (k % 8);
        if negative {
            negate(&mut b);
            // -2^k: drop the sign extension that negation left.
            while b.len() > 1 && b[b.len() - 1] == 0xff && b[b.len() - 2] & 0x80 != 0 {
                b.pop();
            }
        } else if b[b.len() - 1] & 0x80 != 0 {
            b.push(0);
        }
        b
    }

    #[test]
    fn ints_of_exactly_the_digit_limit_pass_the_estimate() {
        // 10^MAX - 1 (MAX nines, which parse_decimal accepts) has BITS bits,
        // as has 2^(BITS-1), the smallest number of that length, which has
        // MAX digits too: (BITS-1)·log10 2 < MAX < BITS·log10 2.
        const BITS: u64 = 16_609_641;
        let max = INTERP_INT_MAX_DIGITS as f64;
        let l = std::f64::consts::LOG10_2;
        assert!((BITS - 1) as f64 * l < max && max < BITS as f64 * l);
        for negative in [false, true] {
            let bytes = power_of_two_bytes(BITS as usize - 1, negative);
            assert_eq!(magnitude_bits(&bytes), BITS, "negative: {negative}");
            // Accepted by the estimate (to_decimal then prints it).
            let r = check_digits_before(&bytes, INTERP_INT_MAX_DIGITS);
            assert!(r.is_ok(), "negative: {negative}: {r:?}");
            // 16 times as much cannot have MAX digits: refused before any
            // work.
            let over = power_of_two_bytes(BITS as usize + 3, negative);
            let work = products(|| {
                let e = to_decimal(&over).unwrap_err();
                assert_eq!(
                    e.status,
                    crate::error::interp_status_t::INTERP_ERR_INVALID_ARGUMENT
                );
            });
            assert_eq!(work, 0, "negative: {negative}");
        }
    }

    #[test]
    fn the_digit_limit_is_exact_both_ways() {
        // The same code as at INTERP_INT_MAX_DIGITS, with a smaller limit
        // (a round trip at 5,000,000 digits takes about a minute in a debug
        // build): numbers of exactly `max` digits round-trip, one more
        // digit is refused both ways.
        for max in [1usize, 19, 20, 2000, 2001, 2002] {
            for sign in ["", "-"] {
                let nines = format!("{sign}{}", "9".repeat(max));
                let v = parse_decimal_at_most(&nines, max)
                    .unwrap_or_else(|e| panic!("{max} nines refused: {e:?}"));
                let bytes = v.int_to_le_bytes().unwrap();
                assert_eq!(
                    to_decimal_at_most(&bytes, max).map_err(|e| format!("{e:?}")),
                    Ok(nines),
                    "{max} digits"
                );
                let ten = format!("{sign}1{}", "0".repeat(max));
                let e = parse_decimal_at_most(&ten, max).unwrap_err();
                assert!(
                    format!("{e:?}").contains(&format!("has {} decimal digits", max + 1)),
                    "{e:?}"
                );
                let v = parse_decimal_at_most(&ten, max + 1).unwrap();
                let e = to_decimal_at_most(&v.int_to_le_bytes().unwrap(), max).unwrap_err();
                assert!(
                    format!("{e:?}").contains(&format!("has {} decimal digits", max + 1)),
                    "{max}: {e:?}"
                );
            }
        }
    }

    #[test]
    fn the_digit_limit_is_enforced_both_ways() {
        use crate::error::interp_status_t::INTERP_ERR_INVALID_ARGUMENT;
        let e = parse_decimal(&"7".repeat(INTERP_INT_MAX_DIGITS + 1)).unwrap_err();
        assert_eq!(e.status, INTERP_ERR_INVALID_ARGUMENT);
        let big = vec![0x7fu8; INTERP_INT_MAX_DIGITS / 2];
        assert_eq!(
            to_decimal(&big).unwrap_err().status,
            INTERP_ERR_INVALID_ARGUMENT
        );
        // Just below the limit both ways works.
        let v = parse_decimal(&"7".repeat(INTERP_INT_MAX_DIGITS / 100)).unwrap();
        assert_eq!(text_of(&v).len(), INTERP_INT_MAX_DIGITS / 100);
    }
}
