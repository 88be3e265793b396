//! Dates in expressions (SPEC §11): `now()`, `datetime(value, format=none)`,
//! `seconds_between(a, b)` and the filters `strftime(fmt, tz="UTC")`, `add_seconds(n)` and
//! `epoch`.
//!
//! A date-time is passed around as RFC 3339 text in UTC (`2024-05-01T12:00:00Z`, with a fraction
//! of a second only when there is one). Every date function reads a *date-time value* the same
//! way: an RFC 3339 string (any offset); a string without an offset (`2024-05-01T12:00:00`,
//! `2024-05-01 12:00:00`, `2024-05-01`), taken as UTC; or a number (or a string holding only a
//! number) of seconds since the Unix epoch. `datetime(value, format)` reads any other shape with
//! a strftime-style format (chrono's `%Y-%m-%d %H:%M:%S`, `%d/%m/%Y`, `%s`, `%z`, ...); without
//! an offset in the format the time is UTC. Years outside 0000–9999 are refused (RFC 3339 has
//! four-digit years). Time zones are IANA names (`Europe/Paris`), from chrono-tz's built-in
//! database, so they do not depend on the machine's tzdata.
//!
//! Pure functions: the only outside input is the clock, read by `now()`.

use std::fmt::Write as _;

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};

/// The longest format string accepted (a format is a short pattern; this keeps the text it
/// produces small).
pub(crate) const MAX_FORMAT_CHARS: usize = 200;

/// A date-time as RFC 3339 text in UTC; an error for years RFC 3339 cannot write.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> Result<String, String> {
    if !(0..=9999).contains(&t.year()) {
        return Err(format!(
            "the date-time is out of range (year {}; RFC 3339 allows 0000 to 9999)",
            t.year()
        ));
    }
    Ok(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// Seconds since the epoch (fractions allowed) as a date-time.
pub(crate) fn from_epoch(secs: f64) -> Result<DateTime<Utc>, String> {
    if !secs.is_finite() {
        return Err(format!("{secs} is not a number of seconds"));
    }
    let whole = secs.floor();
    let nanos = (((secs - whole) * 1e9).round() as u32).min(999_999_999);
    // i64 bounds, then chrono's own range
    if whole.abs() > 1e15 {
        return Err(format!("{secs} seconds since the epoch is out of range"));
    }
    DateTime::from_timestamp(whole as i64, nanos)
        .ok_or_else(|| format!("{secs} seconds since the epoch is out of range"))
}

/// A date-time value given as text, without a format (see the module docs).
pub(crate) fn parse_text(s: &str) -> Result<DateTime<Utc>, String> {
    let t = s.trim();
    if !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+'))
        && let Ok(n) = t.parse::<f64>()
    {
        return from_epoch(n);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(Utc.from_utc_datetime(&n));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists")));
    }
    Err(format!(
        "cannot read {} as a date-time: expected RFC 3339 (such as 2024-05-01T12:00:00Z), \
         epoch seconds, or a format given to datetime()",
        quoted(s)
    ))
}

/// The items of a strftime-style format; an error names what is wrong with it.
pub(crate) fn format_items(fmt: &str) -> Result<Vec<Item<'_>>, String> {
    if fmt.chars().count() > MAX_FORMAT_CHARS {
        return Err(format!(
            "the format is longer than {MAX_FORMAT_CHARS} characters"
        ));
    }
    StrftimeItems::new(fmt)
        .parse()
        .map_err(|_| format!("invalid format {}: it has an unknown or incomplete % specifier (such as %Q or a trailing %)", quoted(fmt)))
}

/// `s` read with the strftime-style format `fmt`; a time without an offset is UTC, a date
/// without a time is midnight.
pub(crate) fn parse_with_format(s: &str, fmt: &str) -> Result<DateTime<Utc>, String> {
    let items = format_items(fmt)?;
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, s, items.iter())
        .map_err(|e| format!("cannot read {} with format {}: {e}", quoted(s), quoted(fmt)))?;
    if let Ok(dt) = parsed.to_datetime() {
        return Ok(dt.with_timezone(&Utc));
    }
    if let Ok(n) = parsed.to_naive_datetime_with_offset(0) {
        return Ok(Utc.from_utc_datetime(&n));
    }
    match parsed.to_naive_date() {
        Ok(d) => Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists"))),
        Err(e) => Err(format!(
            "cannot read {} with format {}: {e}",
            quoted(s),
            quoted(fmt)
        )),
    }
}

/// An IANA time zone by name.
pub(crate) fn timezone(name: &str) -> Result<chrono_tz::Tz, String> {
    name.parse::<chrono_tz::Tz>().map_err(|_| {
        format!(
            "unknown time zone {}: use an IANA name such as UTC, Europe/Paris or America/New_York",
            quoted(name)
        )
    })
}

/// `t` written with the strftime-style format `fmt` in time zone `tz`.
pub(crate) fn format_in(t: DateTime<Utc>, fmt: &str, tz: &str) -> Result<String, String> {
    let items = format_items(fmt)?;
    let zone = timezone(tz)?;
    let local = t.with_timezone(&zone);
    let mut out = String::new();
    write!(out, "{}", local.format_with_items(items.iter()))
        .map_err(|_| format!("cannot write the date-time with format {}", quoted(fmt)))?;
    Ok(out)
}

/// Seconds as JSON shows them best: whole seconds as an integer, else milliseconds' precision.
pub(crate) fn seconds_value(ms: i64) -> Value {
    if ms % 1000 == 0 {
        Value::from(ms / 1000)
    } else {
        Value::from(ms as f64 / 1000.0)
    }
}

fn quoted(s: &str) -> String {
    let shown: String = s.chars().take(80).collect();
    let more = if shown.len() < s.len() { "…" } else { "" };
    format!("{:?}{more}", shown)
}

// ---- the expression functions ------------------------------------------------------------

fn fail(msg: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

/// A date-time value (see the module docs) as a date-time; `what` names it in errors.
pub(crate) fn instant(v: &Value, what: &str) -> Result<DateTime<Utc>, String> {
    match v.kind() {
        ValueKind::String => parse_text(v.as_str().unwrap_or_default()),
        ValueKind::Number => {
            let n = f64::try_from(v.clone()).map_err(|e| e.to_string())?;
            from_epoch(n)
        }
        ValueKind::Undefined => Err(format!("{what} is undefined")),
        ValueKind::None => Err(format!("{what} is none, not a date-time")),
        kind => Err(format!(
            "{what} must be a date-time (RFC 3339 text or epoch seconds), not {kind}"
        )),
    }
}

fn text_arg<'v>(v: &'v Value, what: &str) -> Result<&'v str, Error> {
    v.as_str()
        .ok_or_else(|| fail(format!("{what} must be a string, not {}", v.kind())))
}

/// `now()`: the current time in UTC.
pub(crate) fn now() -> Result<Value, Error> {
    rfc3339(Utc::now()).map(Value::from).map_err(fail)
}

/// An optional argument given by position or by `name` (the only keyword accepted), not both;
/// `none` is as absent. `what` names it in the error (`strftime: tz`).
fn by_position_or_name(
    positional: Option<Value>,
    kwargs: &Kwargs,
    name: &str,
    what: &str,
) -> Result<Option<Value>, Error> {
    let named: Option<Value> = kwargs.get(name)?;
    kwargs.assert_all_used()?;
    match (positional, named) {
        (Some(_), Some(_)) => Err(fail(format!("{what} is given twice"))),
        (a, b) => Ok(a.or(b).filter(|v| !v.is_none())),
    }
}

/// `datetime(value, format=none)`.
pub(crate) fn datetime(
    value: Value,
    format: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let format = by_position_or_name(format, &kwargs, "format", "datetime(): format")?;
    let t = match format {
        None => instant(&value, "the value of datetime()"),
        Some(f) => {
            let fmt = text_arg(&f, "the format of datetime()")?;
            let s = match value.as_str() {
                Some(s) => s.to_string(),
                // a number read with a format (`%s`, `%Y%m%d`) is read as its text
                None if value.kind() == ValueKind::Number => value.to_string(),
                None => {
                    return Err(fail(format!(
                        "the value of datetime() with a format must be a string, not {}",
                        value.kind()
                    )));
                }
            };
            parse_with_format(&s, fmt)
        }
    };
    t.and_then(rfc3339).map(Value::from).map_err(fail)
}

/// `seconds_between(a, b)`: `b − a` in seconds.
pub(crate) fn seconds_between(a: Value, b: Value) -> Result<Value, Error> {
    let a = instant(&a, "the first date-time of seconds_between()").map_err(fail)?;
    let b = instant(&b, "the second date-time of seconds_between()").map_err(fail)?;
    let ms = b.signed_duration_since(a).num_milliseconds();
    Ok(seconds_value(ms))
}

/// `value | strftime(fmt, tz="UTC")`.
pub(crate) fn strftime(
    state: &State,
    value: Value,
    fmt: Value,
    tz: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let tz = by_position_or_name(tz, &kwargs, "tz", "strftime: tz")?;
    let fmt = text_arg(&fmt, "the format of strftime")?;
    // the format is work the engine does not charge for (it charges the value and the result)
    state.consume_fuel(fmt.len() as u64)?;
    let tz = match &tz {
        Some(z) => text_arg(z, "the tz of strftime")?,
        None => "UTC",
    };
    let t = instant(&value, "the value of strftime").map_err(fail)?;
    format_in(t, fmt, tz).map(Value::from).map_err(fail)
}

/// `value | add_seconds(n)`.
pub(crate) fn add_seconds(value: Value, n: Value) -> Result<Value, Error> {
    let t = instant(&value, "the value of add_seconds").map_err(fail)?;
    if n.kind() != ValueKind::Number {
        return Err(fail(format!(
            "the seconds of add_seconds must be a number, not {}",
            n.kind()
        )));
    }
    let secs = f64::try_from(n).map_err(|e| fail(e.to_string()))?;
    if !secs.is_finite() || secs.abs() > 1e13 {
        return Err(fail(format!("add_seconds({secs}) is out of range")));
    }
    let delta = chrono::Duration::milliseconds((secs * 1000.0).round() as i64);
    let out = t
        .checked_add_signed(delta)
        .ok_or_else(|| fail(format!("add_seconds({secs}) is out of range")))?;
    rfc3339(out).map(Value::from).map_err(fail)
}

/// `value | epoch`: whole seconds since the Unix epoch (a fraction is dropped, rounding down).
pub(crate) fn epoch(value: Value) -> Result<Value, Error> {
    let t = instant(&value, "the value of epoch").map_err(fail)?;
    Ok(Value::from(t.timestamp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> String {
        rfc3339(parse_text(s).unwrap_or_else(|e| panic!("{s}: {e}"))).unwrap()
    }

    #[test]
    fn reads_rfc3339_naive_dates_and_epochs() {
        assert_eq!(utc("2024-05-01T12:00:00Z"), "2024-05-01T12:00:00Z");
        assert_eq!(utc("2024-05-01T14:00:00+02:00"), "2024-05-01T12:00:00Z");
        assert_eq!(utc("2024-05-01t12:00:00.250z"), "2024-05-01T12:00:00.250Z");
        // no offset: UTC
        assert_eq!(utc("2024-05-01T12:00:00"), "2024-05-01T12:00:00Z");
        assert_eq!(utc("2024-05-01 12:00:00.5"), "2024-05-01T12:00:00.500Z");
        assert_eq!(utc("2024-05-01"), "2024-05-01T00:00:00Z");
        // epoch seconds, also as text and with a fraction
        assert_eq!(utc("0"), "1970-01-01T00:00:00Z");
        assert_eq!(utc("1714564800"), "2024-05-01T12:00:00Z");
        assert_eq!(utc(" 1714564800.5 "), "2024-05-01T12:00:00.500Z");
        assert_eq!(utc("-1"), "1969-12-31T23:59:59Z");
        // leap day, end of a leap second's minute
        assert_eq!(utc("2024-02-29T23:59:59Z"), "2024-02-29T23:59:59Z");
    }

    #[test]
    fn refuses_what_is_not_a_date() {
        for bad in [
            "",
            "yesterday",
            "2024-02-30",
            "2023-02-29T00:00:00Z",
            "2024-05-01T25:00:00Z",
            "12/31/2024",
            "2024-05-01T12:00:00+25:00",
            "1e400",
            "NaN",
        ] {
            let e = parse_text(bad).expect_err(bad);
            assert!(
                e.contains("cannot read")
                    || e.contains("out of range")
                    || e.contains("not a number"),
                "{bad}: {e}"
            );
        }
        // beyond four-digit years
        assert!(
            rfc3339(from_epoch(3e11).unwrap())
                .unwrap_err()
                .contains("out of range")
        );
        assert!(from_epoch(1e300).is_err());
        assert!(from_epoch(f64::INFINITY).is_err());
    }

    #[test]
    fn formats_parse_and_write() {
        let t = |s: &str, f: &str| rfc3339(parse_with_format(s, f).unwrap()).unwrap();
        assert_eq!(
            t("31/12/2024 23:05", "%d/%m/%Y %H:%M"),
            "2024-12-31T23:05:00Z"
        );
        assert_eq!(t("31/12/2024", "%d/%m/%Y"), "2024-12-31T00:00:00Z");
        assert_eq!(
            t("2024-12-31 23:05:00 +0100", "%Y-%m-%d %H:%M:%S %z"),
            "2024-12-31T22:05:00Z"
        );
        assert_eq!(t("1714564800", "%s"), "2024-05-01T12:00:00Z");
        assert_eq!(
            t("Tue, 31 Dec 2024 23:05:00", "%a, %d %b %Y %H:%M:%S"),
            "2024-12-31T23:05:00Z"
        );
        // wrong input for the format, a format missing the date, bad specifiers
        assert!(
            parse_with_format("2024-12-31", "%d/%m/%Y")
                .unwrap_err()
                .contains("cannot read")
        );
        assert!(
            parse_with_format("23:05", "%H:%M")
                .unwrap_err()
                .contains("not enough")
        );
        assert!(
            format_items("%Y-%Q")
                .unwrap_err()
                .contains("invalid format")
        );
        assert!(format_items("%Y %").unwrap_err().contains("invalid format"));
        assert!(
            format_items(&"%Y".repeat(101))
                .unwrap_err()
                .contains("longer than")
        );

        let noon = parse_text("2024-05-01T12:00:00Z").unwrap();
        assert_eq!(
            format_in(noon, "%Y-%m-%d %H:%M", "UTC").unwrap(),
            "2024-05-01 12:00"
        );
        // summer time in Paris, winter in New York
        assert_eq!(
            format_in(noon, "%H:%M %Z", "Europe/Paris").unwrap(),
            "14:00 CEST"
        );
        let jan = parse_text("2024-01-15T12:00:00Z").unwrap();
        assert_eq!(
            format_in(jan, "%H:%M %z", "America/New_York").unwrap(),
            "07:00 -0500"
        );
        assert!(
            format_in(noon, "%H", "Mars/Base")
                .unwrap_err()
                .contains("unknown time zone")
        );
    }

    #[test]
    fn seconds_are_integers_when_whole() {
        assert_eq!(seconds_value(3_000), Value::from(3));
        assert_eq!(seconds_value(-1_500), Value::from(-1.5));
    }
}
