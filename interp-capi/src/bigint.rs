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

use interp_core::Value;

use crate::error::CError;

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

fn add<B: Base>(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (a, b) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(a.len() + 1);
    out.extend_from_slice(a);
    out.push(0);
    add_at::<B>(&mut out, b, 0);
    out
}

/// Column by column (Comba): the products of one column are summed in 192
/// bits and reduced once, so the decimal base costs one division per
/// column, not one per product.
fn schoolbook<B: Base>(a: &[u64], b: &[u64]) -> Vec<u64> {
    #[cfg(test)]
    tests::PRODUCTS.with(|c| c.set(c.get() + (a.len() * b.len()) as u64));
    let n = a.len() + b.len();
    let mut out = vec![0u64; n];
    if a.is_empty() || b.is_empty() {
        return out;
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
    out
}

/// `a * b` (not trimmed).
fn mul<B: Base>(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (a, b) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if a.len() < KARATSUBA {
        return schoolbook::<B>(a, b);
    }
    let mut out = vec![0u64; a.len() + b.len()];
    if 2 * a.len() <= b.len() {
        // Unbalanced: multiply `a` by `a`-sized pieces of `b`.
        for (k, piece) in b.chunks(a.len()).enumerate() {
            add_at::<B>(&mut out, &trim(mul::<B>(a, piece)), k * a.len());
        }
        return out;
    }
    // Karatsuba: a·b = z2·X² + (z1 - z0 - z2)·X + z0, X = B^m.
    let m = b.len() / 2;
    let (a0, a1) = a.split_at(m);
    let (b0, b1) = b.split_at(m);
    let z0 = trim(mul::<B>(a0, b0));
    let z2 = trim(mul::<B>(a1, b1));
    let mut z1 = mul::<B>(&trim(add::<B>(a0, a1)), &trim(add::<B>(b0, b1)));
    sub_in_place::<B>(&mut z1, &z0);
    sub_in_place::<B>(&mut z1, &z2);
    add_at::<B>(&mut out, &z0, 0);
    add_at::<B>(&mut out, &trim(z1), m);
    add_at::<B>(&mut out, &z2, 2 * m);
    out
}

/// Converts limbs of base `F` (little-endian) to limbs of base `T`:
/// `high * F^(2^k) + low`, with `pows[k]` = F^(2^k) in base `T` (extended
/// by squaring as needed). `leaf` converts one limb.
fn convert<T: Base>(
    limbs: &[u64],
    pows: &mut Vec<Vec<u64>>,
    leaf: &impl Fn(u64) -> Vec<u64>,
) -> Vec<u64> {
    if limbs.len() <= 1 {
        return trim(leaf(limbs.first().copied().unwrap_or(0)));
    }
    // The largest power of two below the length.
    let k = (usize::BITS - 1 - (limbs.len() - 1).leading_zeros()) as usize;
    let half = 1usize << k;
    while pows.len() <= k {
        let last = pows.last().expect("pows starts with F^1");
        let sq = trim(mul::<T>(last, last));
        pows.push(sq);
    }
    let low = convert::<T>(&limbs[..half], pows, leaf);
    let high = convert::<T>(&limbs[half..], pows, leaf);
    if high.is_empty() {
        return low;
    }
    let mut out = mul::<T>(&high, &pows[k]);
    out.push(0);
    add_at::<T>(&mut out, &low, 0);
    trim(out)
}

/// The magnitude of decimal digits (ASCII, no sign or separators) as
/// binary limbs.
fn digits_to_binary(digits: &[u8]) -> Vec<u64> {
    // Base-10^19 chunks, least significant first.
    let chunks: Vec<u64> = digits
        .rchunks(19)
        .map(|c| c.iter().fold(0u64, |n, d| n * 10 + (d - b'0') as u64))
        .collect();
    let mut pows = vec![vec![TEN19]];
    convert::<Bin>(&chunks, &mut pows, &|x| vec![x])
}

/// Binary limbs as decimal digits (no sign; "0" for zero).
fn binary_to_digits(limbs: &[u64]) -> String {
    // 2^64 in base 10^19.
    let two64 = Dec::split(1u128 << 64);
    let mut pows = vec![vec![two64.0, two64.1]];
    let dec = convert::<Dec>(limbs, &mut pows, &|x| {
        let (lo, hi) = Dec::split(x as u128);
        vec![lo, hi]
    });
    let Some((top, rest)) = dec.split_last() else {
        return "0".to_owned();
    };
    let mut s = String::with_capacity(19 * dec.len());
    s.push_str(&top.to_string());
    for c in rest.iter().rev() {
        s.push_str(&format!("{c:019}"));
    }
    s
}

fn too_many_digits(n: impl std::fmt::Display) -> CError {
    CError::invalid(format!(
        "the int has {n} decimal digits, more than INTERP_INT_MAX_DIGITS \
         ({INTERP_INT_MAX_DIGITS}); pass big ints as bytes \
         (interp_value_int_from_bytes / interp_value_int_to_bytes)"
    ))
}

/// Parses an optional sign and decimal digits (single `_` separators
/// between digits allowed, surrounding whitespace ignored), as Python's
/// `int(text)`.
pub(crate) fn parse_decimal(text: &str) -> Result<Value, CError> {
    let bad = || {
        let shown: String = text.chars().take(40).collect();
        let more = if shown.len() < text.len() { "..." } else { "" };
        CError::invalid(format!(
            "{shown:?}{more} is not a decimal integer (an optional sign, then digits, \
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
    if n > INTERP_INT_MAX_DIGITS {
        return Err(too_many_digits(n));
    }
    let digits: Vec<u8> = if n == b.len() {
        b.to_vec()
    } else {
        b.iter().copied().filter(|c| *c != b'_').collect()
    };
    let mag = digits_to_binary(&digits);
    // Two's complement, with room for the sign bit.
    let mut bytes: Vec<u8> = mag.iter().flat_map(|l| l.to_le_bytes()).collect();
    bytes.push(0);
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

/// Decimal text of little-endian two's complement bytes.
pub(crate) fn to_decimal(bytes: &[u8]) -> Result<String, CError> {
    let neg = bytes.last().is_some_and(|b| b & 0x80 != 0);
    // Digits of a number below 2^bits: at most floor(bits·log10 2) + 1.
    let bits = bytes.len() as f64 * 8.0;
    let max_digits = (bits * std::f64::consts::LOG10_2).floor() as usize + 1;
    if max_digits > INTERP_INT_MAX_DIGITS + 1 {
        return Err(too_many_digits(format!("about {max_digits}")));
    }
    let mut mag = bytes.to_vec();
    if neg {
        negate(&mut mag);
    }
    let limbs: Vec<u64> = mag
        .chunks(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(w)
        })
        .collect();
    let digits = binary_to_digits(&trim(limbs));
    if digits.len() > INTERP_INT_MAX_DIGITS {
        return Err(too_many_digits(digits.len()));
    }
    Ok(if neg { format!("-{digits}") } else { digits })
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
                trim(mul::<Bin>(&a, &b)),
                trim(reference::<Bin>(&a, &b)),
                "{la}x{lb}"
            );
            let a = limbs(la, TEN19);
            let b = limbs(lb, TEN19);
            assert_eq!(
                trim(mul::<Dec>(&a, &b)),
                trim(reference::<Dec>(&a, &b)),
                "{la}x{lb}"
            );
            // All limbs at their maximum: the largest column sums and carries.
            let a = vec![u64::MAX; la];
            let b = vec![u64::MAX; lb];
            assert_eq!(
                trim(mul::<Bin>(&a, &b)),
                trim(reference::<Bin>(&a, &b)),
                "{la}x{lb}"
            );
            let a = vec![TEN19 - 1; la];
            let b = vec![TEN19 - 1; lb];
            assert_eq!(
                trim(mul::<Dec>(&a, &b)),
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
        for bad in ["", "-", "12a", "1__0", "_1", "1_", "0x10", "+-1", "١٢"] {
            assert!(parse_decimal(bad).is_err(), "{bad:?}");
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
