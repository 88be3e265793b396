//! Translators of the date activities (calculate, difference, format, parse) into the §11
//! date functions, each result kept in the activity's result variable. The old product wrote
//! formats as Go layouts (`2006-01-02 15:04:05`); they are converted to strftime.

use serde_json::{Value, json};

use super::context::Ctx;
use super::export::str_of;

/// Go layout element → strftime, longest first at each position.
const GO_LAYOUT: &[(&str, &str)] = &[
    ("January", "%B"),
    ("Monday", "%A"),
    ("Z07:00", "%:z"),
    ("-07:00", "%:z"),
    ("-0700", "%z"),
    (".000000000", "%.9f"),
    (".000000", "%.6f"),
    (".000", "%.3f"),
    (".999999999", "%.f"),
    ("2006", "%Y"),
    ("Jan", "%b"),
    ("Mon", "%a"),
    ("MST", "%Z"),
    ("-07", "%z"),
    ("01", "%m"),
    ("02", "%d"),
    ("_2", "%e"),
    ("15", "%H"),
    ("03", "%I"),
    ("04", "%M"),
    ("05", "%S"),
    ("06", "%y"),
    ("PM", "%p"),
    ("pm", "%P"),
    ("1", "%-m"),
    ("2", "%-d"),
    ("3", "%-I"),
    ("4", "%-M"),
    ("5", "%-S"),
];

/// A Go layout as strftime; `None` when it holds digits that are no layout element (then it
/// is not a Go layout, and the importer does not guess).
pub fn go_to_strftime(layout: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = layout;
    while !rest.is_empty() {
        if let Some((go, st)) = GO_LAYOUT.iter().find(|(go, _)| rest.starts_with(go)) {
            out.push_str(st);
            rest = &rest[go.len()..];
            continue;
        }
        let c = rest.chars().next().expect("not empty");
        if c.is_ascii_digit() {
            return None;
        }
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Some(out)
}

/// RFC 3339 layouts: parsed without a format.
fn is_rfc3339_layout(layout: &str) -> bool {
    matches!(
        layout,
        "2006-01-02T15:04:05Z07:00"
            | "2006-01-02T15:04:05.999999999Z07:00"
            | "2006-01-02T15:04:05Z"
    )
}

fn layout(act: &Value) -> String {
    let p = &act["properties"];
    if p["use_custom_format"].as_bool() == Some(true) {
        str_of(p, &["custom_format"])
            .unwrap_or_default()
            .to_string()
    } else {
        str_of(p, &["format_string"])
            .unwrap_or_default()
            .to_string()
    }
}

/// The step setting the activity's result variable to `{{ code }}`.
fn result_step(ctx: &mut Ctx, act: &Value, code: String) -> Vec<Value> {
    let info = ctx.info(act);
    let Some(result) = info.result_var else {
        return vec![ctx.fail_step(act, "activity_output", "no result variable")];
    };
    let mut s = ctx.step(act, &info.step, "set_variables");
    s.insert(
        "values".into(),
        json!({ result: format!("{{{{ {code} }}}}") }),
    );
    vec![Value::Object(s)]
}

/// `core.calculate_date`: the date moved by `adjustment` seconds.
pub fn calculate_date(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let p = &act["properties"];
    let date = ctx.expression(&p["original_date"]).atom();
    let secs = ctx.expression(&p["adjustment"]);
    let code = format!("datetime({date}) | add_seconds({})", secs.code);
    result_step(ctx, act, code)
}

/// `core.calculate_date_time_difference`: original − subtract, in seconds.
pub fn difference(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let p = &act["properties"];
    let a = ctx.expression(&p["original_date"]).code;
    let b = ctx.expression(&p["subtract_date"]).code;
    result_step(ctx, act, format!("seconds_between({b}, {a})"))
}

/// `core.format_date`: the date as text in a layout.
pub fn format_date(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let l = layout(act);
    let Some(fmt) = go_to_strftime(&l) else {
        let why = format!("date layout {l:?} is not a Go layout the importer can convert");
        return vec![ctx.fail_step(act, "date_format", &why)];
    };
    let date = ctx.expression(&act["properties"]["original_date"]).atom();
    let code = format!(
        "datetime({date}) | strftime({})",
        serde_json::to_string(&fmt).expect("a string serializes")
    );
    result_step(ctx, act, code)
}

/// `core.parse_date`: text in a layout → a date-time.
pub fn parse_date(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let l = layout(act);
    let input = ctx.expression(&act["properties"]["input_string"]).code;
    if l.trim().is_empty() || is_rfc3339_layout(&l) {
        return result_step(ctx, act, format!("datetime({input})"));
    }
    let Some(fmt) = go_to_strftime(&l) else {
        let why = format!("date layout {l:?} is not a Go layout the importer can convert");
        return vec![ctx.fail_step(act, "date_format", &why)];
    };
    let code = format!(
        "datetime({input}, format={})",
        serde_json::to_string(&fmt).expect("a string serializes")
    );
    result_step(ctx, act, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        assert_eq!(go_to_strftime("2006-01-02").as_deref(), Some("%Y-%m-%d"));
        assert_eq!(
            go_to_strftime("02 Jan 06 15:04 -0700").as_deref(),
            Some("%d %b %y %H:%M %z")
        );
        assert_eq!(go_to_strftime("January 01, 2018 03:04:05 PM"), None);
    }
}
