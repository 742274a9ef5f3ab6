//! Decimal text <-> `int` values of any size (two's complement bytes).

use interp_core::Value;

/// Parses an optional sign and decimal digits (`_` separators allowed).
pub(crate) fn parse_decimal(text: &str) -> Option<Value> {
    let t = text.trim();
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    // Little-endian base-2^32 magnitude.
    let mut limbs: Vec<u32> = vec![0];
    for c in digits.bytes() {
        if c == b'_' {
            continue;
        }
        let d = (c as char).to_digit(10)?;
        let mut carry = d as u64;
        for l in limbs.iter_mut() {
            let x = *l as u64 * 10 + carry;
            *l = x as u32;
            carry = x >> 32;
        }
        if carry > 0 {
            limbs.push(carry as u32);
        }
    }
    let mut bytes: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
    bytes.push(0); // room for the sign bit
    if neg {
        // Two's complement: invert and add one.
        let mut carry = 1u16;
        for b in bytes.iter_mut() {
            let x = (!*b) as u16 + carry;
            *b = x as u8;
            carry = x >> 8;
        }
    }
    Some(Value::int_from_le_bytes(&bytes))
}

/// Decimal text of little-endian two's complement bytes.
pub(crate) fn to_decimal(bytes: &[u8]) -> String {
    let neg = bytes.last().is_some_and(|b| b & 0x80 != 0);
    let mut mag: Vec<u8> = bytes.to_vec();
    if neg {
        let mut carry = 1u16;
        for b in mag.iter_mut() {
            let x = (!*b) as u16 + carry;
            *b = x as u8;
            carry = x >> 8;
        }
    }
    // Base-2^32 limbs, most significant last.
    let mut limbs: Vec<u32> = mag
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        })
        .collect();
    while limbs.len() > 1 && *limbs.last().unwrap() == 0 {
        limbs.pop();
    }
    let mut chunks = Vec::new(); // base 10^9, least significant first
    while !(limbs.len() == 1 && limbs[0] == 0) {
        let mut rem = 0u64;
        for l in limbs.iter_mut().rev() {
            let x = (rem << 32) | *l as u64;
            *l = (x / 1_000_000_000) as u32;
            rem = x % 1_000_000_000;
        }
        chunks.push(rem as u32);
        while limbs.len() > 1 && *limbs.last().unwrap() == 0 {
            limbs.pop();
        }
    }
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    match chunks.split_last() {
        None => s.push('0'),
        Some((top, rest)) => {
            s.push_str(&top.to_string());
            for c in rest.iter().rev() {
                s.push_str(&format!("{c:09}"));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_round_trips_against_i128() {
        for n in [
            0i128,
            1,
            -1,
            255,
            -256,
            i64::MAX as i128 + 1,
            i64::MIN as i128 - 1,
            i128::MAX,
            i128::MIN,
            10i128.pow(30),
        ] {
            let v = parse_decimal(&n.to_string()).unwrap();
            assert_eq!(v, Value::from(n), "{n}");
            let text = match &v {
                Value::Int(x) => x.to_string(),
                Value::BigInt(b) => to_decimal(b),
                _ => unreachable!(),
            };
            assert_eq!(text, n.to_string());
        }
        let huge = format!("-{}", "9".repeat(200));
        match parse_decimal(&huge).unwrap() {
            Value::BigInt(b) => assert_eq!(to_decimal(&b), huge),
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_decimal("1_000"), Some(Value::Int(1000)));
        for bad in ["", "-", "12a", "1__0", "_1", "0x10"] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }
}
