//! Kubernetes resource quantities (`500m`, `0.5`, `1Gi`, `1024Mi`, `1e3`) compared by value.
//! A quantity is reduced to an exact canonical form — sign, integer mantissa without trailing
//! zeros, power of ten — so equal amounts compare equal whatever their spelling.

/// The exact value of a quantity: `(-1)^negative × mantissa × 10^exponent`, with no trailing
/// zero in `mantissa` (zero is `0 × 10^0`, never negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quantity {
    negative: bool,
    mantissa: u128,
    exponent: i32,
}

/// Parses a quantity as the API server accepts it: an optional sign, a decimal number, then a
/// binary-SI suffix (`Ki`…`Ei`), a decimal-SI suffix (`n u m k M G T P E`) or a decimal exponent
/// (`e3`, `E-2`). Returns `None` for anything else, and for values too large to hold exactly
/// (the caller then compares the text as written).
pub fn parse(text: &str) -> Option<Quantity> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut negative = false;
    if let Some(&sign) = bytes.first()
        && (sign == b'+' || sign == b'-')
    {
        negative = sign == b'-';
        i = 1;
    }
    let mut mantissa: u128 = 0;
    let mut exponent: i32 = 0;
    let mut digits = 0usize;
    let mut seen_point = false;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_digit() {
            mantissa = mantissa
                .checked_mul(10)?
                .checked_add(u128::from(b - b'0'))?;
            if seen_point {
                exponent = exponent.checked_sub(1)?;
            }
            digits += 1;
        } else if b == b'.' && !seen_point {
            seen_point = true;
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    let suffix = &text[i..];
    match suffix {
        "" => {}
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            let power = match suffix {
                "Ki" => 1,
                "Mi" => 2,
                "Gi" => 3,
                "Ti" => 4,
                "Pi" => 5,
                _ => 6,
            };
            mantissa = mantissa.checked_mul(1u128 << (10 * power))?;
        }
        "n" => exponent = exponent.checked_sub(9)?,
        "u" => exponent = exponent.checked_sub(6)?,
        "m" => exponent = exponent.checked_sub(3)?,
        "k" => exponent = exponent.checked_add(3)?,
        "M" => exponent = exponent.checked_add(6)?,
        "G" => exponent = exponent.checked_add(9)?,
        "T" => exponent = exponent.checked_add(12)?,
        "P" => exponent = exponent.checked_add(15)?,
        "E" => exponent = exponent.checked_add(18)?,
        _ => {
            let rest = suffix.strip_prefix(['e', 'E'])?;
            let (sign, digits) = match rest.as_bytes().first() {
                Some(b'-') => (-1i32, &rest[1..]),
                Some(b'+') => (1, &rest[1..]),
                _ => (1, rest),
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 6
            {
                return None;
            }
            let value: i32 = digits.parse().ok()?;
            exponent = exponent.checked_add(sign * value)?;
        }
    }
    if mantissa == 0 {
        return Some(Quantity {
            negative: false,
            mantissa: 0,
            exponent: 0,
        });
    }
    while mantissa.is_multiple_of(10) {
        mantissa /= 10;
        exponent = exponent.checked_add(1)?;
    }
    Some(Quantity {
        negative,
        mantissa,
        exponent,
    })
}

/// Whether two JSON values are the same quantity. Numbers are read through their decimal
/// text, so `cpu: 1` equals `cpu: "1"` and `"1000m"`. `None` when either side is not a quantity.
pub fn same_quantity(a: &serde_json::Value, b: &serde_json::Value) -> Option<bool> {
    let qa = quantity_of(a)?;
    let qb = quantity_of(b)?;
    Some(qa == qb)
}

fn quantity_of(value: &serde_json::Value) -> Option<Quantity> {
    match value {
        serde_json::Value::String(s) => parse(s),
        serde_json::Value::Number(n) => parse(&n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(a: &str, b: &str, expect: Option<bool>) {
        let got = match (parse(a), parse(b)) {
            (Some(x), Some(y)) => Some(x == y),
            _ => None,
        };
        assert_eq!(got, expect, "{a} vs {b}");
    }

    #[test]
    fn spellings_compare_by_value() {
        check("500m", "0.5", Some(true));
        check("1Gi", "1024Mi", Some(true));
        check("1", "1000m", Some(true));
        check("1e3", "1k", Some(true));
        check("1E3", "1000", Some(true));
        check("1E", "1000P", Some(true));
        check("0.1", "100m", Some(true));
        check("+1", "1", Some(true));
        check("-0", "0", Some(true));
        check("1.", "1", Some(true));
        check(".5", "500m", Some(true));
        check("128974848", "129e6", Some(false));
        check("129M", "129e6", Some(true));
        check("123Mi", "128974848", Some(true));
        check("1Ki", "1k", Some(false));
        check("500m", "501m", Some(false));
        check("-1", "1", Some(false));
        check("1x", "1", None);
        check("", "1", None);
        check("m", "1", None);
        check("1.2.3", "1", None);
        check("1e", "1", None);
        check("1 ", "1", None);
    }

    #[test]
    fn numbers_are_quantities_too() {
        use serde_json::json;
        assert_eq!(same_quantity(&json!(1), &json!("1000m")), Some(true));
        assert_eq!(same_quantity(&json!(0.5), &json!("500m")), Some(true));
        assert_eq!(same_quantity(&json!(true), &json!("1")), None);
    }
}
