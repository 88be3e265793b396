//! The SPEC §11 additions through the sandbox: date functions and filters, `fromjson`, and what
//! compiling finds before anything runs (unknown filters and tests, argument counts and kinds,
//! typed variable reads, known result types).

use serde_json::{Value as Json, json};

use super::*;

fn ctx() -> Json {
    json!({
        "vars": {"when": "2024-05-01T12:00:00Z", "n": 90, "text": "{\"a\": [1, {\"b\": true}]}"},
        "inputs": {"bad": "{not json"},
    })
}

fn eval(src: &str) -> Json {
    eval_in(&ctx(), src)
}

fn err(src: &str) -> String {
    err_in(&ctx(), src)
}

fn compile_err(src: &str) -> String {
    match sb().check_template(src) {
        Ok(p) => panic!("{src}: expected a compile error, got {p:?}"),
        Err(e) => e.message,
    }
}

#[test]
fn dates() {
    let now = eval("now()");
    let now = now.as_str().unwrap();
    assert!(
        crate::workflow::is_rfc3339(now) && now.ends_with('Z'),
        "{now}"
    );
    assert_eq!(eval("datetime(1714564800)"), json!("2024-05-01T12:00:00Z"));
    assert_eq!(
        eval("datetime('2024-05-01T14:00:00+02:00')"),
        json!("2024-05-01T12:00:00Z")
    );
    assert_eq!(
        eval("datetime('01/05/2024 12:00', '%d/%m/%Y %H:%M')"),
        json!("2024-05-01T12:00:00Z")
    );
    assert_eq!(
        eval("datetime('01/05/2024', format='%d/%m/%Y')"),
        json!("2024-05-01T00:00:00Z")
    );
    assert_eq!(
        eval("datetime(vars.when, none)"),
        json!("2024-05-01T12:00:00Z")
    );
    assert_eq!(
        eval("vars.when | strftime('%d.%m.%Y %H:%M')"),
        json!("01.05.2024 12:00")
    );
    assert_eq!(
        eval("vars.when | strftime('%H:%M', 'Asia/Tokyo')"),
        json!("21:00")
    );
    assert_eq!(
        eval("vars.when | strftime('%H:%M %Z', tz='Europe/Paris')"),
        json!("14:00 CEST")
    );
    assert_eq!(
        eval("vars.when | add_seconds(vars.n)"),
        json!("2024-05-01T12:01:30Z")
    );
    assert_eq!(
        eval("vars.when | add_seconds(-0.5)"),
        json!("2024-05-01T11:59:59.500Z")
    );
    assert_eq!(eval("vars.when | epoch"), json!(1714564800));
    assert_eq!(
        eval("'2024-05-01T12:00:00.900Z' | epoch"),
        json!(1714564800)
    );
    assert_eq!(
        eval("seconds_between('2024-05-01T12:00:00', vars.when | add_seconds(90))"),
        json!(90)
    );
    assert_eq!(
        eval("seconds_between(vars.when, '2024-05-01T11:59:59.5Z')"),
        json!(-0.5)
    );
    assert_eq!(eval("seconds_between(0, '1970-01-02')"), json!(86400));
    // in text
    assert_eq!(
        sb().render(
            &json!("at {{ vars.when | add_seconds(3600) | strftime('%H:%M') }}"),
            &ctx()
        )
        .unwrap(),
        json!("at 13:00")
    );

    assert!(err("datetime('31/12/2024')").contains("cannot read \"31/12/2024\" as a date-time"));
    assert!(err("datetime('2024-12-31', '%d/%m/%Y')").contains("with format \"%d/%m/%Y\""));
    assert!(
        err("datetime(vars.n, vars.when)").contains("invalid format")
            || err("datetime(vars.n, vars.when)").contains("cannot read")
    );
    assert!(err("datetime(true)").contains("must be a date-time"));
    assert!(err("datetime(none)").contains("is none"));
    assert!(err("inputs.bad | epoch").contains("cannot read"));
    assert!(err("vars.when | add_seconds('5')").contains("must be a number"));
    assert!(err("vars.when | add_seconds(1e300)").contains("out of range"));
    assert!(err("vars.when | strftime(vars.when, tz=vars.when)").contains("unknown time zone"));
    assert!(err("datetime(vars.when, format='%Y', format2=1)").contains("format2"));
}

#[test]
fn fromjson() {
    assert_eq!(eval("vars.text | fromjson"), json!({"a": [1, {"b": true}]}));
    assert_eq!(eval("(vars.text | fromjson).a[1].b"), json!(true));
    assert_eq!(eval("'\"x\"' | fromjson"), json!("x"));
    assert!(
        err("inputs.bad | fromjson")
            .contains("fromjson: the text is not JSON: key must be a string at line 1 column 2")
    );
    assert!(err("vars.n | fromjson").contains("fromjson needs a string holding JSON, not number"));
    // nesting is bounded like context values
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let e = sb()
        .eval("vars.deep | fromjson", &json!({"vars": {"deep": deep}}))
        .unwrap_err();
    assert!(
        e.message.contains("recursion limit") || e.message.contains("deeper"),
        "{e}"
    );
    // parsing is charged: a big text runs the budget out instead of building a huge value
    let big = format!("[{}1]", "1,".repeat(1_000_000));
    let e = sb()
        .eval(
            "vars.big | fromjson | length",
            &json!({"vars": {"big": big}}),
        )
        .unwrap_err();
    assert!(e.message.contains("ran out of fuel"), "{e}");
    // a webhook body's worth (the ingest limit is 1 MiB) parses within the default budget
    let body = json!({"k": "x".repeat(1_000_000)}).to_string();
    assert_eq!(
        sb().eval(
            "(vars.body | fromjson).k | length",
            &json!({"vars": {"body": body}})
        )
        .unwrap(),
        json!(1_000_000)
    );
    let ok = format!("[{}1]", "1,".repeat(20_000));
    assert_eq!(
        sb().eval("vars.ok | fromjson | length", &json!({"vars": {"ok": ok}}))
            .unwrap(),
        json!(20_001)
    );
}

#[test]
fn compiling_checks_names_and_arguments() {
    assert!(compile_err("{{ x | no_such }}").contains("unknown filter \"no_such\""));
    assert!(compile_err("{{ x | fromjsn }}").contains("did you mean \"fromjson\"?"));
    assert!(compile_err("{% if x is oddish %}{% endif %}").contains("unknown test \"oddish\""));
    assert!(compile_err("{{ x | strftime }}").contains("`strftime` needs its fmt"));
    assert!(
        compile_err("{{ x | strftime('%Y', 'UTC', 3) }}").contains("takes 2 arguments, 3 given")
    );
    assert!(compile_err("{{ now(1) }}").contains("now() takes 0 arguments, 1 given"));
    assert!(compile_err("{{ seconds_between(x) }}").contains("needs its b"));
    assert!(compile_err("{{ x | strftime('%Y', zone='UTC') }}").contains("no argument named zone"));
    assert!(
        compile_err("{{ x | add_seconds('ten') }}")
            .contains("the n of `add_seconds`: must be a number, not string")
    );
    assert!(compile_err("{{ x | strftime('%Q') }}").contains("invalid format \"%Q\""));
    assert!(
        compile_err("{{ x | strftime('%Y', tz='Mars/Base') }}")
            .contains("unknown time zone \"Mars/Base\"")
    );
    assert!(compile_err("{{ datetime('yesterday') }}").contains("cannot read \"yesterday\""));
    assert!(compile_err("{{ datetime('2024-31-12', '%Y-%d-%m %H') }}").contains("datetime()"));
    assert!(
        compile_err("{{ now() | add_seconds(now()) }}")
            .contains("must be a number, but it is a date-time")
    );
    assert!(
        compile_err("{{ 'x' | fromjson | epoch | fromjson }}")
            .contains("must be a string, but it is an integer")
    );
    // where it is: line and column in the source
    assert!(
        compile_err("a\n{{ x | nope }}").contains("at 2:8"),
        "{}",
        compile_err("a\n{{ x | nope }}")
    );
    // fine
    for ok in [
        "{{ x | strftime('%Y', none) }}",
        "{{ datetime(x, format=none) }}",
        "{{ x | strftime(*args) }}",
        "{% filter upper %}a{% endfilter %}",
        "{{ x | default('a') | lower }}",
        "{{ x is eqi('a') }}",
    ] {
        sb().check_template(ok)
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn inspection_reports_typed_reads_and_results() {
    let i = sb()
        .inspect_template("{{ vars.when | strftime(inputs.fmt, tz=vars.tz) }}")
        .unwrap();
    let reads: Vec<(&str, Expect)> = i
        .typed_reads
        .iter()
        .map(|r| (r.path.as_str(), r.expects))
        .collect();
    assert_eq!(
        reads,
        [
            ("vars.when", Expect::Datetime),
            ("inputs.fmt", Expect::Text),
            ("vars.tz", Expect::Text)
        ]
    );
    assert_eq!(i.typed_reads[0].what, "the value of `strftime`");
    assert_eq!(i.result, Known::Type(ValueType::String));
    let known = |src: &str| sb().inspect_template(src).unwrap().result;
    assert_eq!(known("{{ now() }}"), Known::Type(ValueType::Datetime));
    assert_eq!(known("{{ x | epoch }}"), Known::Type(ValueType::Integer));
    assert_eq!(
        known("{{ seconds_between(a, b) }}"),
        Known::Type(ValueType::Number)
    );
    assert_eq!(known("{{ x | fromjson }}"), Known::Unknown);
    assert_eq!(known("{{ vars.n }}"), Known::Path("vars.n".into()));
    assert_eq!(known("{{ 3 }}"), Known::Literal(json!(3)));
    assert_eq!(known("n={{ vars.n }}"), Known::Type(ValueType::String));
    assert_eq!(known("plain"), Known::Literal(json!("plain")));
    assert_eq!(known("{{ a == b }}"), Known::Type(ValueType::Boolean));
    let e = sb().inspect_expression("now() | epoch > 0").unwrap();
    assert_eq!(e.result, Known::Type(ValueType::Boolean));
}
