//! Byte sizes as users write and read them. One parser and one formatter, so that
//! `%output-limit 10MB` means what the default "10MB" means: decimal units (k, M, G: powers
//! of 1000, as `ls -h --si`, `df -H` and disk vendors count), and binary ones spelled with an
//! `i` (KiB, MiB, GiB: powers of 1024) for those who mean them.

/// Parses `1234`, `512k`, `10MB`, `1GiB`. k, M and G (with or without a B) are powers of
/// 1000, Ki, Mi and Gi (with or without a B) powers of 1024; case does not matter.
pub fn parse(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits.parse().ok()?;
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

/// `512 bytes`, `1.5 kB`, `10.0 MB`, `2.1 GB`: decimal units, as [`parse`] reads them.
pub fn format(n: u64) -> String {
    if n >= 1_000_000_000 {
        format!("{:.1} GB", n as f64 / 1e9)
    } else if n >= 1_000_000 {
        format!("{:.1} MB", n as f64 / 1e6)
    } else if n >= 1_000 {
        format!("{:.1} kB", n as f64 / 1e3)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decimal_and_binary_units() {
        assert_eq!(parse("10MB"), Some(10_000_000));
        assert_eq!(parse("10mb"), Some(10_000_000));
        assert_eq!(parse("512k"), Some(512_000));
        assert_eq!(parse("1G"), Some(1_000_000_000));
        assert_eq!(parse("2GiB"), Some(2 << 30));
        assert_eq!(parse("10MiB"), Some(10 << 20));
        assert_eq!(parse("4Ki"), Some(4096));
        assert_eq!(parse("1000"), Some(1000));
        assert_eq!(parse("7b"), Some(7));
        for bad in [
            "",
            "MB",
            "10 MB",
            "10TB",
            "1.5M",
            "-1",
            "99999999999999999999",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(parse("18446744073709551615G"), None, "overflow is refused");
    }

    #[test]
    fn formats_read_well() {
        assert_eq!(format(10_000_000), "10.0 MB");
        assert_eq!(format(1_500), "1.5 kB");
        assert_eq!(format(512), "512 bytes");
        assert_eq!(format(3_200_000_000), "3.2 GB");
    }

    proptest! {
        /// What the formatter writes for a whole number of units, the parser reads back.
        #[test]
        fn format_of_whole_units_parses_back(n in 1u64..1000, unit in 0usize..3) {
            let (mult, suffix) = [(1_000, "kB"), (1_000_000, "MB"), (1_000_000_000, "GB")][unit];
            let text = format(n * mult);
            let (number, shown) = text.split_once(' ').unwrap();
            prop_assert_eq!(shown, suffix);
            let whole = number.strip_suffix(".0").unwrap();
            prop_assert_eq!(parse(&format!("{whole}{shown}")), Some(n * mult));
        }
    }
}
