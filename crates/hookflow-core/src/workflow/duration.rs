//! Durations as documents write them: `250ms`, `2s`, `1m`, `1h`, `1d`, combinations such as
//! `1h30m`, or a plain integer number of milliseconds.

use serde_json::Value;

const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// What a duration may look like, for error messages.
pub const DURATION_HINT: &str = "expected a duration such as 250ms, 2s, 1m, 1h or 1h30m (units ms, s, m, h, d), or an integer number of milliseconds";

/// Parses a duration text into milliseconds.
///
/// Accepts one or more `<integer><unit>` parts (units `ms`, `s`, `m`, `h`, `d`; each unit at most
/// once, largest first), optionally surrounded by whitespace. A text of digits only is refused
/// (is `250` seconds or milliseconds?) — write the unit, or an integer number in the document.
pub fn parse_duration_str(text: &str) -> Result<u64, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err(format!("empty duration: {DURATION_HINT}"));
    }
    let bad = || format!("invalid duration \"{text}\": {DURATION_HINT}");
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total: u64 = 0;
    let mut last_rank: Option<usize> = None;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
        let number: u64 = s[start..i].parse().map_err(|_| bad())?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = s[unit_start..i].to_ascii_lowercase();
        if unit.is_empty() {
            return Err(if start == 0 && i == bytes.len() {
                format!(
                    "invalid duration \"{text}\": the unit is missing (write e.g. {number}ms or {number}s, or an integer without quotes for milliseconds)"
                )
            } else {
                bad()
            });
        }
        // Rank: index into UNITS from the largest (d) down to ms.
        let Some(pos) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(bad());
        };
        let rank = UNITS.len() - 1 - pos;
        if let Some(prev) = last_rank
            && rank <= prev
        {
            return Err(format!(
                "invalid duration \"{text}\": write each unit once, largest first (e.g. 1h30m)"
            ));
        }
        last_rank = Some(rank);
        let part = number
            .checked_mul(UNITS[pos].1)
            .ok_or_else(|| format!("duration \"{text}\" is too long"))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| format!("duration \"{text}\" is too long"))?;
    }
    Ok(total)
}

/// Parses a duration document value: a string as in [`parse_duration_str`] or a non-negative
/// integer number of milliseconds.
pub fn parse_duration(value: &Value) -> Result<u64, String> {
    match value {
        Value::String(s) => parse_duration_str(s),
        Value::Number(n) => n.as_u64().ok_or_else(|| {
            format!(
                "invalid duration {n}: an integer number of milliseconds must be whole and not negative; or {DURATION_HINT}"
            )
        }),
        other => Err(format!(
            "{DURATION_HINT}, found {}",
            super::parse::describe(other)
        )),
    }
}

/// Formats milliseconds the way documents write them (`1h30m`, `250ms`, `0ms`).
pub fn format_duration(ms: u64) -> String {
    if ms == 0 {
        return "0ms".to_string();
    }
    let mut rest = ms;
    let mut out = String::new();
    for (unit, size) in UNITS.iter().rev() {
        let n = rest / size;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
            rest -= n * size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration_str("250ms"), Ok(250));
        assert_eq!(parse_duration_str("2s"), Ok(2_000));
        assert_eq!(parse_duration_str("1m"), Ok(60_000));
        assert_eq!(parse_duration_str("1h"), Ok(3_600_000));
        assert_eq!(parse_duration_str("7d"), Ok(7 * 86_400_000));
        assert_eq!(parse_duration_str(" 1h30m "), Ok(5_400_000));
        assert_eq!(parse_duration_str("1m30s500ms"), Ok(90_500));
        assert_eq!(parse_duration_str("2S"), Ok(2_000));
        assert_eq!(parse_duration(&json!(1500)), Ok(1500));
        assert_eq!(parse_duration(&json!("0s")), Ok(0));
    }

    #[test]
    fn refuses_what_is_ambiguous_or_wrong() {
        for bad in [
            "", "5", "5x", "s", "1.5s", "-1s", "1s1s", "1s1m", "1 s", "ms5",
        ] {
            assert!(parse_duration_str(bad).is_err(), "{bad:?} should fail");
        }
        assert!(
            parse_duration_str("5")
                .unwrap_err()
                .contains("unit is missing")
        );
        assert!(parse_duration(&json!(-5)).is_err());
        assert!(parse_duration(&json!(1.5)).is_err());
        assert!(parse_duration(&json!(true)).is_err());
        assert!(parse_duration_str("99999999999999999999d").is_err());
        assert!(parse_duration_str("999999999999999999d").is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(format_duration(0), "0ms");
        assert_eq!(format_duration(250), "250ms");
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(7 * 86_400_000), "7d");
    }
}
