//! Kubernetes resource quantities (`1Gi`, `500M`, `1.5Ti`, `250m`) as numbers, for comparisons.

/// The value of a quantity in base units, or `None` when it is not a quantity.
pub fn parse(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent if exponent.starts_with(['e', 'E']) => 10f64.powi(exponent[1..].parse().ok()?),
        _ => return None,
    };
    Some(number * factor)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn binary_decimal_milli_and_exponent_suffixes() {
        assert_eq!(parse("1Gi"), Some(1_073_741_824.0));
        assert_eq!(parse("500M"), Some(5e8));
        assert_eq!(parse("1.5Ki"), Some(1536.0));
        assert_eq!(parse("250m"), Some(0.25));
        assert_eq!(parse("2e3"), Some(2000.0));
        assert_eq!(parse("10"), Some(10.0));
        assert!(parse("1Gi") > parse("1G"));
        assert_eq!(parse("lots"), None);
        assert_eq!(parse("1Xi"), None);
    }
}
