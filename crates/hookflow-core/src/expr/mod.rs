//! The expression sandbox used by workflow definitions (SPEC §4), built on minijinja.
//!
//! * A `when` / `filter` / `while` condition is a **bare expression** in Jinja syntax:
//!   `trigger.body.severity == "high" and trigger.headers["x-github-event"] == "push"`,
//!   `x in ["a", "b"]`, `not`, arithmetic, filters (`| length`, `| lower`, ...).
//! * A string value in a step is a **template**: a string that is exactly one `{{ expression }}`
//!   (whitespace around it allowed) keeps the expression's JSON type; any other string containing
//!   `{{` or `{%` is rendered as text; any other string is returned unchanged. Objects and arrays
//!   are rendered value by value (keys are not templated).
//!
//! Besides Jinja's built-in tests there are the replaced product's condition operators, each
//! negatable with `is not`:
//!
//! * `a is eqi(b)`: equal ignoring case (Unicode lower-casing). Strings compare as they are,
//!   numbers and booleans as printed (`3 is eqi("3")`); `none` equals only `none`.
//! * `a is matches_wildcard("*alert*")`: `*` matches any run of characters (also none, also
//!   line breaks), `?` exactly one character, everything else itself; the pattern must match the
//!   whole value (anchored) and is **case-sensitive**. `none` matches nothing.
//! * `a is matches_regex("^CVE-\\d+")`: a regular expression (Rust `regex` syntax, linear time,
//!   no look-around or back-references) searched anywhere in the value, like Python's
//!   `re.search`; anchor it with `^…$` to match the whole value. An invalid pattern is an error,
//!   not `false`. `none` matches nothing.
//!
//! Evaluation is sandboxed and bounded:
//!
//! * **Strict undefined**: using a missing variable or attribute is an error naming it
//!   (``undefined value: `trigger.body.severity` is undefined``). `x is defined`,
//!   `x is undefined` and `x | default(...)` still work — for the last step of a path: with
//!   `trigger.body` missing, `trigger.body.severity is defined` is an error too (test
//!   `trigger.body is defined` first). In text, values print the Jinja way (`None`, `True`,
//!   `['a', 'b']`); use `| tojson` for JSON.
//! * A **fuel** budget (minijinja's `fuel`: instructions plus the memory values take) ends
//!   loops and huge values with an error; `range()` refuses more than 10 000 items; the runtime
//!   recursion limit is 100; the output of a text template is capped
//!   ([`ExprLimits::max_output_bytes`]), and so is the JSON size of an expression's result.
//! * Values cannot be nested arbitrarily deep (minijinja prints, compares and serializes values
//!   recursively, so a very deep value could overflow the stack): the `namespace()` global is
//!   removed, so nothing accumulates across loop iterations, and compiling refuses a source that
//!   could build values nested deeper than 256 levels (context values count as 128).
//! * There is no I/O: no template loader, no `include`/`import`/`extends`, no macros (minijinja
//!   parses them, as the server's own page templates use them, but compiling refuses a source
//!   that holds one), no `debug()`.
//!
//! Performance: compiled sources are cached per [`Sandbox`] (bounded: when 4096 entries or an
//! estimated 32 MiB are reached the cache starts over), and only the parts of the context a
//! source can reach are converted to minijinja values — a filter reading
//! `trigger.body.severity` does not convert the rest of a large body. An evaluation of a simple
//! comparison takes about 1–2 µs (release build); using a whole large body costs its
//! conversion (about 170 µs for a 200-commit push payload).
//!
//! Layout: this file is the public face ([`Sandbox`] and its checks, evaluation and
//! rendering); `compile.rs` turns a source into a cached compiled form and bounds what it may
//! do; `run.rs` evaluates a compiled form against a context; `analyze.rs` and `signatures.rs`
//! are the static analysis (paths read, value types); `convert.rs` moves values between JSON and
//! minijinja; `functions.rs` and `dates.rs` are the added tests, filters and functions;
//! `text.rs` holds string helpers.

mod analyze;
mod compile;
mod convert;
mod dates;
mod functions;
mod run;
mod signatures;
#[cfg(test)]
mod tests;
mod text;

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, State, UndefinedBehavior};
use serde_json::Value as Json;

use analyze::Needs;
use compile::Cache;
use functions::RegexCache;
pub use signatures::{Expect, TypedRead, ValueType};
use text::walk_strings;

/// What a source's value is known to be before it is evaluated.
#[derive(Debug, Clone, PartialEq)]
pub enum Known {
    /// A constant.
    Literal(Json),
    /// Exactly a variable path read from the context (`inputs.when`).
    Path(String),
    /// The result of a function or filter whose type is known, or text.
    Type(ValueType),
    Unknown,
}

/// What static analysis says of one expression or template string.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    /// The variable paths it reads (see [`Sandbox::check_expression`]).
    pub paths: Vec<String>,
    /// Variables read where a particular kind of value is needed.
    pub typed_reads: Vec<TypedRead>,
    /// Its value, as far as it is known.
    pub result: Known,
}

/// Limits of one evaluation.
#[derive(Debug, Clone)]
pub struct ExprLimits {
    /// minijinja fuel per evaluation: roughly one unit per instruction executed plus one per
    /// 64 bytes of values created. Must be above 0.
    pub fuel: u64,
    /// The largest rendered text (and JSON result) one template string may produce, in bytes.
    pub max_output_bytes: usize,
}

impl Default for ExprLimits {
    fn default() -> Self {
        ExprLimits {
            fuel: 100_000,
            max_output_bytes: 1 << 20,
        }
    }
}

/// A failed compilation or evaluation, with a message for people: what went wrong, where
/// (`line:column` when known) and the source it happened in.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub message: String,
}

impl ExprError {
    fn new(message: impl Into<String>) -> ExprError {
        ExprError {
            message: message.into(),
        }
    }

    fn at(self, pointer: &str) -> ExprError {
        if pointer.is_empty() {
            self
        } else {
            ExprError::new(format!("at {pointer}: {}", self.message))
        }
    }
}

/// Whether a string is a template at all (contains `{{` or `{%`).
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// Runtime recursion limit (nested loops, recursive loops).
const RECURSION_LIMIT: usize = 100;

/// The compiled-once environment: configuration, the custom tests and a bounded cache of
/// compiled expressions and templates. `Clone` is cheap and shares the cache; `Send + Sync`.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    limits: ExprLimits,
    syntax: SyntaxConfig,
    /// Configured environment without templates; each compiled source gets a clone (cheap:
    /// filters, tests and globals are shared) holding just its own template.
    base: Environment<'static>,
    /// Names the environment defines (`range`, `dict`, ...), left out of reported paths.
    globals: BTreeSet<String>,
    cache: RwLock<Cache>,
}

impl Sandbox {
    pub fn new(limits: ExprLimits) -> Sandbox {
        let mut env = Environment::new();
        // a templated string keeps its trailing newline, like a plain one
        let syntax = SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("default delimiters are valid");
        env.set_syntax(syntax.clone());
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(limits.fuel));
        env.set_recursion_limit(RECURSION_LIMIT);
        // tracks where undefined values come from, for error messages; no effect on results
        env.set_debug(true);
        // template names are internal; never HTML-escape by name
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.remove_global("namespace");
        env.remove_global("debug");
        let regexes = Arc::new(RegexCache::default());
        env.add_test("eqi", functions::eqi);
        for test in functions::PatternTest::ALL {
            let cache = regexes.clone();
            env.add_test(
                test.name(),
                move |state: &State, value: &Value, pattern: &Value| {
                    test.test(&cache, state, value, pattern)
                },
            );
        }
        env.add_filter("fromjson", functions::fromjson);
        env.add_filter("strftime", dates::strftime);
        env.add_filter("add_seconds", dates::add_seconds);
        env.add_filter("epoch", dates::epoch);
        env.add_function("now", dates::now);
        env.add_function("datetime", dates::datetime);
        env.add_function("seconds_between", dates::seconds_between);
        let globals = env.globals().map(|(name, _)| name.to_string()).collect();
        Sandbox {
            inner: Arc::new(Inner {
                limits,
                syntax,
                base: env,
                globals,
                cache: RwLock::new(Cache::default()),
            }),
        }
    }

    /// Compiles a bare expression. Ok: every variable path it reads, as dotted paths built from
    /// literal attribute/subscript lookups from a root name, e.g. "trigger.body.severity",
    /// "steps.post.output.body.id", "item", "loop.index"; `trigger.headers["x-github-event"]`
    /// gives "trigger.headers.x-github-event", `vars.list[0]` gives "vars.list.0". Paths stop at
    /// the first non-literal subscript (`vars.list[loop.index]` gives "vars.list" and
    /// "loop.index") and at a method call (`trigger.body.title.upper()` gives
    /// "trigger.body.title"). Dedup, sorted.
    ///
    /// Not reported: names the source defines itself (`{% set %}`, `{% for x in %}` targets,
    /// the template's own `loop` inside a `{% for %}`), and the environment's global functions
    /// (`range`, `dict`, `cycler`, `joiner`, `lipsum`) — unless the context shadows them, which
    /// this cannot know. A segment containing a dot (`trigger.headers["a.b"]`) is ambiguous in
    /// the dotted form.
    pub fn check_expression(&self, src: &str) -> Result<Vec<String>, ExprError> {
        Ok(self.expression(src)?.paths.clone())
    }

    /// Compiles one template string (whatever is in `{{ }}` / `{% %}`), same result shape. A
    /// string that is not a template reads nothing.
    pub fn check_template(&self, src: &str) -> Result<Vec<String>, ExprError> {
        if !is_template(src) {
            return Ok(Vec::new());
        }
        Ok(self.template(src)?.paths.clone())
    }

    /// Compiles a bare expression and says what is known of it before evaluation.
    pub fn inspect_expression(&self, src: &str) -> Result<Inspection, ExprError> {
        Ok(self.expression(src)?.inspection())
    }

    /// Compiles a template string and says what is known of it. A string that is not a template
    /// is a literal.
    pub fn inspect_template(&self, src: &str) -> Result<Inspection, ExprError> {
        if !is_template(src) {
            return Ok(Inspection {
                paths: Vec::new(),
                typed_reads: Vec::new(),
                result: Known::Literal(Json::String(src.to_string())),
            });
        }
        Ok(self.template(src)?.inspection())
    }

    /// Walks a JSON value and check_template()s every string in it; the error says which string
    /// (as a JSON pointer, e.g. `at /body/text: ...`).
    pub fn check_value(&self, v: &Json) -> Result<Vec<String>, ExprError> {
        let mut paths = BTreeSet::new();
        walk_strings(v, &mut String::new(), &mut |s, pointer| {
            if is_template(s) {
                let c = self.template(s).map_err(|e| e.at(pointer))?;
                paths.extend(c.paths.iter().cloned());
            }
            Ok(())
        })?;
        Ok(paths.into_iter().collect())
    }

    /// Evaluates a bare expression against `ctx` (a JSON object of the namespaces) to JSON.
    pub fn eval(&self, src: &str, ctx: &Json) -> Result<Json, ExprError> {
        let c = self.expression(src)?;
        let root = self.context(ctx, &c.needs)?;
        let v = self.run_expr(&c, root)?;
        self.result_json(&c, &v)
    }

    /// The fields of context variable `root` (e.g. `trigger`) that the bare expression `src`
    /// reads, so a caller can build only those: `None` when it may read `root` whole (iterates
    /// it, passes it to a filter, ...). A variable it does not read at all gives no fields.
    pub fn fields_read(
        &self,
        src: &str,
        root: &str,
    ) -> Result<Option<BTreeSet<String>>, ExprError> {
        let c = self.expression(src)?;
        if c.needs.full {
            return Ok(None);
        }
        Ok(match c.needs.children.get(root) {
            None => Some(BTreeSet::new()),
            Some(n) if n.full => None,
            Some(n) => Some(n.children.keys().cloned().collect()),
        })
    }

    /// Evaluates a bare expression and applies Jinja truthiness (false, none, 0, "" and empty
    /// lists and maps are false).
    pub fn eval_bool(&self, src: &str, ctx: &Json) -> Result<bool, ExprError> {
        let c = self.expression(src)?;
        let root = self.context(ctx, &c.needs)?;
        Ok(self.run_expr(&c, root)?.is_true())
    }

    /// Renders a value per the template rules (see the module docs). The context is converted
    /// once for all template strings in `v`. An error says which string (JSON pointer).
    pub fn render(&self, v: &Json, ctx: &Json) -> Result<Json, ExprError> {
        let mut compiled = Vec::new();
        let mut needs = Needs::default();
        walk_strings(v, &mut String::new(), &mut |s, pointer| {
            if is_template(s) {
                let c = self.template(s).map_err(|e| e.at(pointer))?;
                needs.merge(&c.needs);
                compiled.push(c);
            }
            Ok(())
        })?;
        if compiled.is_empty() {
            return Ok(v.clone());
        }
        let root = self.context(ctx, &needs)?;
        let mut compiled = compiled.into_iter();
        self.build(v, &root, &mut compiled, &mut String::new())
    }
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}
