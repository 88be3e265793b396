//! What is checked before anything runs: every filter and test an expression names exists, and
//! calls of hookflow's own functions and filters (the date functions, `fromjson`) have the right
//! number of arguments, with literal arguments of the right kind (a format that parses, a time
//! zone that exists, a number where seconds are wanted). Arguments that are variables are
//! reported as [`TypedRead`]s, for the workflow validator to compare with their declared types;
//! values that are results of hookflow's functions are compared here.
//!
//! minijinja itself finds an unknown filter or test only when it is applied; the names it has are
//! listed here (for the exact minijinja version the workspace pins, with its `builtins`, `json`
//! and `urlencode` features) and a test checks the list against the library.

use minijinja::value::{Value, ValueKind};

use super::dates;

/// Where a name is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Filter,
    Test,
    Function,
}

/// The type of a value where static analysis can tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    String,
    /// RFC 3339 text (a string).
    Datetime,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
}

impl ValueType {
    pub fn describe(self) -> &'static str {
        match self {
            ValueType::String => "a string",
            ValueType::Datetime => "a date-time (RFC 3339 text)",
            ValueType::Integer => "an integer",
            ValueType::Number => "a number",
            ValueType::Boolean => "a boolean",
            ValueType::Object => "an object",
            ValueType::Array => "a list",
        }
    }
}

/// What is known of a value before evaluation.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Const(Value),
    /// A variable path read from the context (`inputs.when`).
    Path(String),
    Typed(ValueType),
    Unknown,
}

/// What a parameter of hookflow's functions takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A date-time value: RFC 3339 (or other date text) or epoch seconds.
    Datetime,
    Number,
    /// Text (a format, a time zone, JSON).
    Text,
}

impl Expect {
    pub fn describe(self) -> &'static str {
        match self {
            Expect::Datetime => "a date-time (RFC 3339 text or epoch seconds)",
            Expect::Number => "a number",
            Expect::Text => "a string",
        }
    }

    /// Whether a value of type `t` can be what is expected.
    pub fn admits(self, t: ValueType) -> bool {
        match self {
            Expect::Datetime => matches!(
                t,
                ValueType::String | ValueType::Datetime | ValueType::Integer | ValueType::Number
            ),
            Expect::Number => matches!(t, ValueType::Integer | ValueType::Number),
            Expect::Text => matches!(t, ValueType::String | ValueType::Datetime),
        }
    }
}

/// A variable read where one of hookflow's functions needs a particular kind of value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedRead {
    /// Dotted path, as in the paths an expression reads (`vars.when`).
    pub path: String,
    pub expects: Expect,
    /// What reads it, for messages: ``the value of `strftime` ``.
    pub what: String,
}

/// One filter, test or function call in a source.
#[derive(Debug, Clone)]
pub(crate) struct Use {
    pub kind: Kind,
    pub name: String,
    /// Byte offset of the use in the parsed source.
    pub pos: usize,
    /// A filter's or test's value.
    pub input: Option<Operand>,
    pub args: Vec<Operand>,
    pub kwargs: Vec<(String, Operand)>,
    /// `*args` / `**kwargs`: the arguments cannot be counted.
    pub splat: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Param {
    Datetime,
    Number,
    Text,
    Format,
    Timezone,
}

impl Param {
    fn expects(self) -> Expect {
        match self {
            Param::Datetime => Expect::Datetime,
            Param::Number => Expect::Number,
            Param::Text | Param::Format | Param::Timezone => Expect::Text,
        }
    }
}

struct Signature {
    name: &'static str,
    kind: Kind,
    /// A filter's value.
    input: Option<Param>,
    /// `(name, kind, required)` in positional order.
    params: &'static [(&'static str, Param, bool)],
    returns: Option<ValueType>,
    usage: &'static str,
}

const SIGNATURES: &[Signature] = &[
    Signature {
        name: "now",
        kind: Kind::Function,
        input: None,
        params: &[],
        returns: Some(ValueType::Datetime),
        usage: "now()",
    },
    Signature {
        name: "datetime",
        kind: Kind::Function,
        input: None,
        params: &[
            ("value", Param::Datetime, true),
            ("format", Param::Format, false),
        ],
        returns: Some(ValueType::Datetime),
        usage: "datetime(value) or datetime(value, \"%d/%m/%Y %H:%M\")",
    },
    Signature {
        name: "seconds_between",
        kind: Kind::Function,
        input: None,
        params: &[("a", Param::Datetime, true), ("b", Param::Datetime, true)],
        returns: Some(ValueType::Number),
        usage: "seconds_between(earlier, later)",
    },
    Signature {
        name: "strftime",
        kind: Kind::Filter,
        input: Some(Param::Datetime),
        params: &[("fmt", Param::Format, true), ("tz", Param::Timezone, false)],
        returns: Some(ValueType::String),
        usage: "value | strftime(\"%Y-%m-%d %H:%M\", tz=\"Europe/Paris\")",
    },
    Signature {
        name: "add_seconds",
        kind: Kind::Filter,
        input: Some(Param::Datetime),
        params: &[("n", Param::Number, true)],
        returns: Some(ValueType::Datetime),
        usage: "value | add_seconds(3600)",
    },
    Signature {
        name: "epoch",
        kind: Kind::Filter,
        input: Some(Param::Datetime),
        params: &[],
        returns: Some(ValueType::Integer),
        usage: "value | epoch",
    },
    Signature {
        name: "fromjson",
        kind: Kind::Filter,
        input: Some(Param::Text),
        params: &[],
        returns: None,
        usage: "text | fromjson",
    },
];

/// minijinja's filters (see the module docs).
pub(crate) const BUILTIN_FILTERS: &[&str] = &[
    "safe",
    "escape",
    "e",
    "lower",
    "upper",
    "title",
    "capitalize",
    "replace",
    "length",
    "count",
    "dictsort",
    "items",
    "reverse",
    "trim",
    "join",
    "split",
    "lines",
    "default",
    "d",
    "round",
    "abs",
    "int",
    "float",
    "attr",
    "first",
    "last",
    "min",
    "max",
    "sort",
    "list",
    "string",
    "bool",
    "batch",
    "slice",
    "sum",
    "indent",
    "select",
    "reject",
    "selectattr",
    "rejectattr",
    "map",
    "groupby",
    "unique",
    "chain",
    "zip",
    "pprint",
    "format",
    "tojson",
    "urlencode",
];

/// minijinja's tests.
pub(crate) const BUILTIN_TESTS: &[&str] = &[
    "undefined",
    "defined",
    "none",
    "safe",
    "escaped",
    "boolean",
    "odd",
    "even",
    "divisibleby",
    "number",
    "integer",
    "int",
    "float",
    "string",
    "sequence",
    "iterable",
    "mapping",
    "startingwith",
    "endingwith",
    "lower",
    "upper",
    "sameas",
    "eq",
    "equalto",
    "==",
    "ne",
    "!=",
    "lt",
    "lessthan",
    "<",
    "le",
    "<=",
    "gt",
    "greaterthan",
    ">",
    "ge",
    ">=",
    "in",
    "true",
    "false",
    "filter",
    "test",
];

/// hookflow's own tests.
pub(crate) const OWN_TESTS: &[&str] = &["eqi", "matches_wildcard", "matches_regex"];

/// hookflow's own filters.
pub(crate) fn own_filters() -> impl Iterator<Item = &'static str> {
    SIGNATURES
        .iter()
        .filter(|s| s.kind == Kind::Filter)
        .map(|s| s.name)
}

fn signature(kind: Kind, name: &str) -> Option<&'static Signature> {
    SIGNATURES.iter().find(|s| s.kind == kind && s.name == name)
}

/// The result type of a filter or function call, when hookflow or minijinja says it.
pub(crate) fn returns(kind: Kind, name: &str) -> Option<ValueType> {
    if let Some(s) = signature(kind, name) {
        return s.returns;
    }
    if kind != Kind::Filter {
        return None;
    }
    Some(match name {
        "int" | "length" | "count" => ValueType::Integer,
        "float" | "round" => ValueType::Number,
        "lower" | "upper" | "title" | "capitalize" | "trim" | "string" | "tojson" | "urlencode"
        | "join" | "replace" | "format" | "indent" | "pprint" => ValueType::String,
        "bool" => ValueType::Boolean,
        "list" | "sort" | "split" | "lines" | "unique" | "items" | "dictsort" => ValueType::Array,
        _ => return None,
    })
}

/// Checks the uses of a source. Ok: the variables read where a typed value is needed. Err: what
/// is wrong and where (a byte offset in the parsed source).
pub(crate) fn check(uses: &[Use]) -> Result<Vec<TypedRead>, (String, usize)> {
    let mut reads = Vec::new();
    for u in uses {
        match u.kind {
            Kind::Filter => {
                let known = BUILTIN_FILTERS.contains(&u.name.as_str())
                    || own_filters().any(|f| f == u.name);
                if !known {
                    return Err((unknown("filter", &u.name, filter_names()), u.pos));
                }
            }
            Kind::Test => {
                let known = BUILTIN_TESTS.contains(&u.name.as_str())
                    || OWN_TESTS.contains(&u.name.as_str());
                if !known {
                    let names = BUILTIN_TESTS.iter().chain(OWN_TESTS).copied().collect();
                    return Err((unknown("test", &u.name, names), u.pos));
                }
            }
            Kind::Function => {}
        }
        if let Some(sig) = signature(u.kind, &u.name) {
            check_call(sig, u, &mut reads).map_err(|m| (m, u.pos))?;
        }
    }
    Ok(reads)
}

fn filter_names() -> Vec<&'static str> {
    BUILTIN_FILTERS
        .iter()
        .copied()
        .chain(own_filters())
        .collect()
}

fn unknown(what: &str, name: &str, names: Vec<&str>) -> String {
    let hint = crate::workflow::suggest_name(name, &names)
        .map(|s| format!("did you mean \"{s}\"? "))
        .unwrap_or_default();
    let mut sorted = names;
    sorted.sort_unstable();
    sorted.dedup();
    format!(
        "unknown {what} \"{name}\" ({hint}known: {})",
        sorted.join(", ")
    )
}

fn check_call(sig: &Signature, u: &Use, reads: &mut Vec<TypedRead>) -> Result<(), String> {
    let label = match sig.kind {
        Kind::Function => format!("{}()", sig.name),
        _ => format!("`{}`", sig.name),
    };
    let usage = || format!("(use: {})", sig.usage);
    if !u.splat {
        if u.args.len() > sig.params.len() {
            return Err(format!(
                "{label} takes {} argument{}, {} given {}",
                sig.params.len(),
                if sig.params.len() == 1 { "" } else { "s" },
                u.args.len(),
                usage()
            ));
        }
        for (name, _) in &u.kwargs {
            let Some(i) = sig.params.iter().position(|(p, ..)| p == name) else {
                return Err(format!("{label} has no argument named {name} {}", usage()));
            };
            if i < u.args.len() {
                return Err(format!("{label}: {name} is given twice {}", usage()));
            }
        }
        for (i, (name, _, required)) in sig.params.iter().enumerate() {
            let given = i < u.args.len() || u.kwargs.iter().any(|(k, _)| k == name);
            if *required && !given {
                return Err(format!("{label} needs its {name} {}", usage()));
            }
        }
    }
    let mut given: Vec<(&str, Param, bool, &Operand)> = Vec::new();
    if let (Some(p), Some(input)) = (sig.input, &u.input) {
        given.push(("value", p, true, input));
    }
    for (i, a) in u.args.iter().enumerate() {
        if let Some((name, p, required)) = sig.params.get(i) {
            given.push((name, *p, *required, a));
        }
    }
    for (k, a) in &u.kwargs {
        if let Some((name, p, required)) = sig.params.iter().find(|(n, ..)| n == k) {
            given.push((name, *p, *required, a));
        }
    }
    // `datetime(value, format)` reads the value with the format, not by itself
    let format_given = sig.name == "datetime"
        && given
            .iter()
            .any(|(n, .., o)| *n == "format" && !matches!(o, Operand::Const(v) if v.is_none()));
    for (name, p, required, operand) in given {
        let what = format!("the {name} of {label}");
        match operand {
            Operand::Const(v) => {
                // `none` for an optional argument means its default
                if v.is_none() && !required {
                    continue;
                }
                if format_given && name == "value" {
                    if !matches!(v.kind(), ValueKind::String | ValueKind::Number) {
                        return Err(format!("{what} must be a string, not {}", v.kind()));
                    }
                    continue;
                }
                literal(p, v).map_err(|e| format!("{what}: {e}"))?;
            }
            Operand::Path(path) => reads.push(TypedRead {
                path: path.clone(),
                expects: p.expects(),
                what,
            }),
            Operand::Typed(t) => {
                if !p.expects().admits(*t) {
                    return Err(format!(
                        "{what} must be {}, but it is {}",
                        p.expects().describe(),
                        t.describe()
                    ));
                }
            }
            Operand::Unknown => {}
        }
    }
    // a literal value with a literal format: read it now
    if sig.name == "datetime"
        && let (Some(Operand::Const(v)), Some(Operand::Const(f))) = (
            u.args.first(),
            u.args.get(1).or(u.kwargs.first().map(|(_, o)| o)),
        )
        && let (Some(s), Some(f)) = (v.as_str(), f.as_str())
    {
        dates::parse_with_format(s, f).map_err(|e| format!("datetime(): {e}"))?;
    }
    Ok(())
}

/// Whether a literal argument fits its parameter.
fn literal(p: Param, v: &Value) -> Result<(), String> {
    match p {
        Param::Datetime => dates::instant(v, "it").map(|_| ()),
        Param::Number => match v.kind() {
            ValueKind::Number => Ok(()),
            kind => Err(format!("must be a number, not {kind}")),
        },
        Param::Text | Param::Format | Param::Timezone => {
            let Some(s) = v.as_str() else {
                return Err(format!("must be a string, not {}", v.kind()));
            };
            match p {
                Param::Format => dates::format_items(s).map(|_| ()),
                Param::Timezone => dates::timezone(s).map(|_| ()),
                _ => Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::{Environment, ErrorKind};

    /// The lists above are minijinja's: every listed name exists, an unlisted one does not.
    #[test]
    fn builtin_lists_match_minijinja() {
        let env = Environment::new();
        let kind_of = |src: &str| match env.render_str(src, ()) {
            Ok(_) => None,
            Err(e) => Some(e.kind()),
        };
        for f in BUILTIN_FILTERS {
            let src = format!("{{{{ none | {f} }}}}");
            assert_ne!(kind_of(&src), Some(ErrorKind::UnknownFilter), "{f}");
        }
        assert_eq!(
            kind_of("{{ none | no_such_filter }}"),
            Some(ErrorKind::UnknownFilter)
        );
        for t in BUILTIN_TESTS {
            if t.chars().all(|c| c.is_ascii_alphabetic()) {
                let src = format!("{{{{ none is {t} }}}}");
                assert_ne!(kind_of(&src), Some(ErrorKind::UnknownTest), "{t}");
            }
        }
        assert_eq!(
            kind_of("{{ none is no_such_test }}"),
            Some(ErrorKind::UnknownTest)
        );
    }
}
