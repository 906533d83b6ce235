//! Exact parsing of Kubernetes Quantity strings (`"1"`, `"500m"`, `"1k"`, `"2e3"`, `"1Ki"`) into
//! non-negative integer milli-units, as TrafficSplit v1alpha1 weights need.
//!
//! The grammar is Kubernetes' (`k8s.io/apimachinery/pkg/api/resource`): a number (`1`, `1.5`,
//! `.5`, `1.`) with an optional `+` sign, then an optional suffix — binary SI (`Ki` … `Ei`),
//! decimal SI (`n`, `u`, `m`, `k`, `M`, `G`, `T`, `P`, `E`) or a decimal exponent (`e3`, `E-2`).
//! Arithmetic is integer only, so `"1"` is exactly 1000 milli-units and `"500m"` exactly 500.
//! Negative quantities and values finer than one milli-unit are rejected, not rounded.

/// The regular expression the TrafficSplit v1alpha1 CRD uses for string weights; it accepts
/// exactly the strings [`parse_milli_units`] parses, except for range and sub-milli precision.
pub const NON_NEGATIVE_QUANTITY_PATTERN: &str =
    r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?$";

/// Why a string is not a usable non-negative Quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The string does not follow the Kubernetes Quantity grammar.
    #[error("`{0}` is not a Kubernetes quantity (expected e.g. `1`, `500m`, `1.5`, `2e3`, `1Ki`)")]
    NotAQuantity(String),
    /// The quantity is negative.
    #[error("`{0}` is negative; a weight must be zero or more")]
    Negative(String),
    /// The quantity is not a whole number of milli-units (e.g. `1u`, `0.0001`).
    #[error("`{0}` is finer than one milli-unit (0.001); it cannot be represented exactly")]
    FinerThanMilli(String),
    /// The quantity does not fit in 128 bits of milli-units.
    #[error("`{0}` is too large")]
    TooLarge(String),
}

/// Parses a Quantity into milli-units: `"1"` → 1000, `"500m"` → 500, `"1k"` → 1_000_000,
/// `"1Ki"` → 1_024_000, `"0.1"` → 100.
pub fn parse_milli_units(text: &str) -> Result<u128, QuantityError> {
    let parts = split(text).ok_or_else(|| QuantityError::NotAQuantity(text.to_owned()))?;
    if parts.negative {
        return Err(QuantityError::Negative(text.to_owned()));
    }
    let scale =
        suffix_scale(parts.suffix).ok_or_else(|| QuantityError::NotAQuantity(text.to_owned()))?;
    to_milli_units(parts.digits, parts.fraction_digits, scale)
        .map_err(|failure| failure.into_error(text))
}

/// The pieces of a Quantity string.
struct QuantityParts<'a> {
    negative: bool,
    /// Every digit of the number, integer and fraction part, in order.
    digits: String,
    /// How many of `digits` are after the decimal point.
    fraction_digits: usize,
    suffix: &'a str,
}

fn split(text: &str) -> Option<QuantityParts<'_>> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let number_end = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_end);
    let (integer, fraction) = match number.split_once('.') {
        Some((integer, fraction)) => (integer, fraction),
        None => (number, ""),
    };
    if fraction.contains('.') || (integer.is_empty() && fraction.is_empty()) {
        return None;
    }
    Some(QuantityParts {
        negative,
        digits: format!("{integer}{fraction}"),
        fraction_digits: fraction.len(),
        suffix,
    })
}

/// The multiplier a suffix stands for: `10^decimal_exponent × 2^binary_exponent`.
struct Scale {
    decimal_exponent: i64,
    binary_exponent: u32,
}

fn suffix_scale(suffix: &str) -> Option<Scale> {
    let decimal = |decimal_exponent| Scale {
        decimal_exponent,
        binary_exponent: 0,
    };
    let binary = |binary_exponent| Scale {
        decimal_exponent: 0,
        binary_exponent,
    };
    let scale = match suffix {
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "" => decimal(0),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => decimal(decimal_exponent(suffix)?),
    };
    Some(scale)
}

/// The exponent of an `e<signed integer>` / `E<signed integer>` suffix.
fn decimal_exponent(suffix: &str) -> Option<i64> {
    let exponent = suffix.strip_prefix(['e', 'E'])?;
    let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Exponents beyond ±10^6 only matter for zero; clamping keeps the arithmetic in range.
    let magnitude = digits.parse::<i64>().unwrap_or(i64::MAX).min(1_000_000);
    Some(if exponent.starts_with('-') {
        -magnitude
    } else {
        magnitude
    })
}

enum Failure {
    FinerThanMilli,
    TooLarge,
}

impl Failure {
    fn into_error(self, text: &str) -> QuantityError {
        match self {
            Failure::FinerThanMilli => QuantityError::FinerThanMilli(text.to_owned()),
            Failure::TooLarge => QuantityError::TooLarge(text.to_owned()),
        }
    }
}

/// `digits × 10^(3 − fraction_digits) × scale`, exactly.
fn to_milli_units(digits: String, fraction_digits: usize, scale: Scale) -> Result<u128, Failure> {
    let significant = digits.trim_start_matches('0');
    let without_trailing_zeros = significant.trim_end_matches('0');
    if without_trailing_zeros.is_empty() {
        return Ok(0);
    }
    let trailing_zeros = significant.len() - without_trailing_zeros.len();
    let mantissa: u128 = without_trailing_zeros
        .parse()
        .map_err(|_| Failure::TooLarge)?;
    let fraction_digits = i64::try_from(fraction_digits).map_err(|_| Failure::FinerThanMilli)?;
    let trailing_zeros = i64::try_from(trailing_zeros).map_err(|_| Failure::TooLarge)?;
    let power_of_ten = 3 - fraction_digits + trailing_zeros + scale.decimal_exponent;
    let scaled = mantissa
        .checked_mul(1u128 << scale.binary_exponent)
        .ok_or(Failure::TooLarge)?;
    let milli_units = if power_of_ten >= 0 {
        let factor = u32::try_from(power_of_ten)
            .ok()
            .and_then(|exponent| 10u128.checked_pow(exponent))
            .ok_or(Failure::TooLarge)?;
        scaled.checked_mul(factor).ok_or(Failure::TooLarge)?
    } else {
        let divisor = u32::try_from(-power_of_ten)
            .ok()
            .and_then(|exponent| 10u128.checked_pow(exponent))
            .ok_or(Failure::FinerThanMilli)?;
        if scaled % divisor != 0 {
            return Err(Failure::FinerThanMilli);
        }
        scaled / divisor
    };
    Ok(milli_units)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn milli(text: &str) -> u128 {
        parse_milli_units(text).unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    #[test]
    fn one_is_a_thousand_milli_units_not_one() {
        assert_eq!(milli("1"), 1000);
        assert_eq!(milli("500m"), 500);
        // "1" vs "500m": the 500m backend gets one third, as Kubernetes means it.
        assert_eq!(milli("1") / milli("500m"), 2);
    }

    #[test]
    fn decimal_suffixes_and_exponents() {
        assert_eq!(milli("1k"), 1_000_000);
        assert_eq!(milli("2e3"), 2_000_000);
        assert_eq!(milli("2E3"), 2_000_000);
        assert_eq!(milli("2e+3"), 2_000_000);
        assert_eq!(milli("5e-3"), 5);
        assert_eq!(milli("1M"), 1_000_000_000);
        assert_eq!(milli("1000000n"), 1);
        assert_eq!(milli("1000u"), 1);
        assert_eq!(milli("1E"), 1_000_000_000_000_000_000_000);
    }

    #[test]
    fn binary_suffixes() {
        assert_eq!(milli("1Ki"), 1_024_000);
        assert_eq!(milli("1Mi"), 1_048_576_000);
        assert_eq!(milli("0.5Ki"), 512_000);
    }

    #[test]
    fn fractions() {
        assert_eq!(milli("1.5"), 1500);
        assert_eq!(milli("0.1"), 100);
        assert_eq!(milli(".5"), 500);
        assert_eq!(milli("1."), 1000);
        assert_eq!(milli("0.001"), 1);
        assert_eq!(milli("1.500"), 1500);
        assert_eq!(milli("0.0010000"), 1);
    }

    #[test]
    fn zero_and_sign() {
        assert_eq!(milli("0"), 0);
        assert_eq!(milli("0m"), 0);
        assert_eq!(milli("0e999999999999"), 0);
        assert_eq!(milli("+1"), 1000);
        assert_eq!(milli("007"), 7000);
    }

    #[test]
    fn finer_than_a_milli_unit_is_an_error_naming_the_value() {
        for text in ["1u", "0.0001", "1n", "1.0001", "1e-4", "0.0000001"] {
            let error = parse_milli_units(text).unwrap_err();
            assert_eq!(error, QuantityError::FinerThanMilli(text.into()));
            assert!(error.to_string().contains(&format!("`{text}`")), "{error}");
        }
    }

    #[test]
    fn not_quantities() {
        for text in [
            "abc", "1.2.3", "", "1e", "5mm", ".", "+", "1K", "1 k", "k", "1ki", "1e1.5",
        ] {
            assert_eq!(
                parse_milli_units(text),
                Err(QuantityError::NotAQuantity(text.into())),
                "{text}"
            );
        }
        assert_eq!(
            parse_milli_units("-1"),
            Err(QuantityError::Negative("-1".into()))
        );
    }

    #[test]
    fn too_large() {
        for text in [
            "1e100",
            "1e36",
            "99999999999999999999999999999999999999999999",
        ] {
            assert_eq!(
                parse_milli_units(text),
                Err(QuantityError::TooLarge(text.into()))
            );
        }
        assert_eq!(milli("340282366920938463463374607431768211455m"), u128::MAX);
        assert_eq!(milli("9223372036854775807"), 9_223_372_036_854_775_807_000);
    }

    #[test]
    fn pattern_accepts_what_the_parser_accepts() -> Result<(), regex::Error> {
        let pattern = regex::Regex::new(NON_NEGATIVE_QUANTITY_PATTERN)?;
        for text in [
            "1", "500m", "1k", "2e3", "1.5", "1Ki", "0.1", ".5", "1.", "+1", "5e-3",
        ] {
            assert!(pattern.is_match(text), "{text}");
        }
        for text in ["abc", "1.2.3", "", "-1", "1e", "5mm", ".", "1K", "1e1.5"] {
            assert!(!pattern.is_match(text), "{text}");
        }
        Ok(())
    }
}
