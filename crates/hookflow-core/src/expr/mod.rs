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
//! * There is no I/O: no template loader, no `include`/`import`/`extends` (minijinja's
//!   `multi_template` feature is off), no macros, no `debug()`.
//!
//! Performance: compiled sources are cached per [`Sandbox`] (bounded: when 4096 entries or an
//! estimated 32 MiB are reached the cache starts over), and only the parts of the context a
//! source can reach are converted to minijinja values — a filter reading
//! `trigger.body.severity` does not convert the rest of a large body. An evaluation of a simple
//! comparison takes about 1–2 µs (release build); using a whole large body costs its
//! conversion (about 170 µs for a 200-commit push payload).

#[cfg(test)]
mod additions_tests;
mod analyze;
mod convert;
mod dates;
mod functions;
mod signatures;
#[cfg(test)]
mod tests;
mod text;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use minijinja::machinery;
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, ErrorKind, State, UndefinedBehavior};
use serde_json::Value as Json;

use analyze::{Analysis, Needs};
use functions::RegexCache;
use signatures::Operand;
pub use signatures::{Expect, TypedRead, ValueType};
use text::{
    CappedWriter, is_wrapped_expression, message, push_pointer_key, single_expression, walk_strings,
};

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
/// Largest value depth a source may build (see the module docs).
const MAX_STATIC_DEPTH: usize = 256;
/// Most operators one expression (or one `{{ }}` / `{% %}` block) may have.
const MAX_BLOCK_OPERATORS: usize = 1000;
/// Cache bounds: entries and (estimated) bytes; when either is exceeded the cache starts over.
const CACHE_ENTRIES: usize = 4096;
const CACHE_BYTES: usize = 32 << 20;
/// How much of a source an error message quotes.
const QUOTE_CHARS: usize = 160;

/// A bare expression `E` is compiled as this template, which leaves the value in a variable
/// and, when the value is undefined, prints it — which fails with minijinja's strict-undefined
/// error naming the lookup that produced it.
const RESULT_VAR: &str = "__hookflow_result";
const EXPR_PREFIX: &str = "{% set __hookflow_result = (";
const EXPR_SUFFIX: &str =
    ") %}{% if __hookflow_result is undefined %}{{ __hookflow_result }}{% endif %}";
const TEMPLATE_NAME: &str = "t";

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

#[derive(Default)]
struct Cache {
    exprs: HashMap<Box<str>, Arc<Compiled>>,
    templates: HashMap<Box<str>, Arc<Compiled>>,
    bytes: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A bare expression (also a template string that is exactly one `{{ expression }}`).
    Expr,
    /// A text template.
    Text,
}

struct Compiled {
    env: Environment<'static>,
    mode: Mode,
    /// What error messages quote: the source as the user wrote it.
    shown: Box<str>,
    /// Where the expression starts in `shown` (Expr mode; 0 for Text).
    offset: usize,
    /// A bare expression (not a template string).
    bare: bool,
    paths: Vec<String>,
    needs: Needs,
    typed_reads: Vec<TypedRead>,
    result: Known,
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
        let cache = regexes.clone();
        env.add_test(
            "matches_wildcard",
            move |state: &State, value: &Value, pattern: &Value| {
                functions::matches_wildcard(&cache, state, value, pattern)
            },
        );
        let cache = regexes;
        env.add_test(
            "matches_regex",
            move |state: &State, value: &Value, pattern: &Value| {
                functions::matches_regex(&cache, state, value, pattern)
            },
        );
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

    fn build(
        &self,
        v: &Json,
        root: &Value,
        compiled: &mut std::vec::IntoIter<Arc<Compiled>>,
        pointer: &mut String,
    ) -> Result<Json, ExprError> {
        Ok(match v {
            Json::String(s) if is_template(s) => {
                let c = compiled.next().expect("compiled in the first pass");
                self.render_one(&c, root.clone())
                    .map_err(|e| e.at(pointer))?
            }
            Json::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&i.to_string());
                    out.push(self.build(item, root, compiled, pointer)?);
                    pointer.truncate(len);
                }
                Json::Array(out)
            }
            Json::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, item) in map {
                    let len = pointer.len();
                    push_pointer_key(pointer, k);
                    out.insert(k.clone(), self.build(item, root, compiled, pointer)?);
                    pointer.truncate(len);
                }
                Json::Object(out)
            }
            other => other.clone(),
        })
    }

    fn render_one(&self, c: &Compiled, root: Value) -> Result<Json, ExprError> {
        match c.mode {
            Mode::Expr => {
                let v = self.run_expr(c, root)?;
                self.result_json(c, &v)
            }
            Mode::Text => self.run_text(c, root).map(Json::String),
        }
    }

    fn limits(&self) -> &ExprLimits {
        &self.inner.limits
    }

    fn context(&self, ctx: &Json, needs: &Needs) -> Result<Value, ExprError> {
        convert::context(ctx, needs).map_err(ExprError::new)
    }

    fn run_expr(&self, c: &Compiled, root: Value) -> Result<Value, ExprError> {
        let t = c
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| c.error(&e, self.limits()))?;
        let captured = t
            .render_captured(root)
            .map_err(|e| c.error(&e, self.limits()))?;
        Ok(captured
            .state()
            .lookup(RESULT_VAR)
            .unwrap_or(Value::UNDEFINED))
    }

    fn run_text(&self, c: &Compiled, root: Value) -> Result<String, ExprError> {
        let t = c
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| c.error(&e, self.limits()))?;
        let mut out = CappedWriter {
            buf: Vec::new(),
            cap: self.limits().max_output_bytes,
            exceeded: false,
        };
        match t.render_captured_to(root, &mut out) {
            Ok(_) => {}
            Err(_) if out.exceeded => {
                return Err(c.message(
                    &format!(
                        "the rendered text exceeds the limit of {} bytes",
                        self.limits().max_output_bytes
                    ),
                    None,
                ));
            }
            Err(e) => return Err(c.error(&e, self.limits())),
        }
        String::from_utf8(out.buf).map_err(|_| c.message("the rendered text is not UTF-8", None))
    }

    fn result_json(&self, c: &Compiled, v: &Value) -> Result<Json, ExprError> {
        let mut budget = self.limits().max_output_bytes;
        convert::to_json(v, &mut budget).map_err(|m| c.message(&m, None))
    }

    /// The compiled form of a bare expression (cached).
    fn expression(&self, src: &str) -> Result<Arc<Compiled>, ExprError> {
        if let Some(c) = self.read_cache().exprs.get(src) {
            return Ok(c.clone());
        }
        let c = Arc::new(self.compile_expr(src, src, 0)?);
        self.insert(src, c.clone(), |cache| &mut cache.exprs);
        Ok(c)
    }

    /// The compiled form of a template string (cached).
    fn template(&self, src: &str) -> Result<Arc<Compiled>, ExprError> {
        if let Some(c) = self.read_cache().templates.get(src) {
            return Ok(c.clone());
        }
        self.check_complexity(src, false)
            .map_err(|(what, pos)| message("template", src, &what, Some(pos)))?;
        let c = match single_expression(src) {
            Some((inner, offset)) => self.compile_expr(inner, src, offset)?,
            None => self.compile_text(src)?,
        };
        let c = Arc::new(c);
        self.insert(src, c.clone(), |cache| &mut cache.templates);
        Ok(c)
    }

    fn read_cache(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        // the cache stays consistent even if a holder panicked
        self.inner.cache.read().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(
        &self,
        src: &str,
        c: Arc<Compiled>,
        map: impl FnOnce(&mut Cache) -> &mut HashMap<Box<str>, Arc<Compiled>>,
    ) {
        // source, quoted source, template source and instructions
        let cost = 1024 + 16 * src.len();
        let mut cache = self.inner.cache.write().unwrap_or_else(|e| e.into_inner());
        if cache.exprs.len() + cache.templates.len() >= CACHE_ENTRIES
            || cache.bytes + cost > CACHE_BYTES
        {
            *cache = Cache::default();
        }
        cache.bytes += cost;
        map(&mut cache).insert(src.into(), c);
    }

    fn compile_expr(&self, src: &str, shown: &str, offset: usize) -> Result<Compiled, ExprError> {
        let mut c = Compiled {
            env: self.inner.base.clone(),
            mode: Mode::Expr,
            shown: shown.into(),
            offset,
            bare: offset == 0 && src.len() == shown.len(),
            paths: Vec::new(),
            needs: Needs::default(),
            typed_reads: Vec::new(),
            result: Known::Unknown,
        };
        self.check_complexity(src, true)
            .map_err(|(what, pos)| c.message(&what, Some(offset + pos)))?;
        let expr = machinery::parse_expr(src).map_err(|e| {
            let pos = e.range().map(|r| offset + r.start);
            c.error_at(&e, pos, None)
        })?;
        let analysis = analyze::analyze_expr(&expr);
        self.accept(&mut c, analysis)?;
        let wrapped = format!("{EXPR_PREFIX}{src}{EXPR_SUFFIX}");
        // A valid expression has no `%}` outside string literals, so it cannot close the
        // `{% set %}` early; check the shape anyway.
        let tree = machinery::parse(&wrapped, "<expression>", self.inner.syntax.clone())
            .map_err(|e| c.error(&e, self.limits()))?;
        if !is_wrapped_expression(&tree) {
            return Err(c.message("syntax error: not a single expression", None));
        }
        c.env
            .add_template_owned(TEMPLATE_NAME, wrapped)
            .map_err(|e| c.error(&e, self.limits()))?;
        Ok(c)
    }

    fn compile_text(&self, src: &str) -> Result<Compiled, ExprError> {
        let mut c = Compiled {
            env: self.inner.base.clone(),
            mode: Mode::Text,
            shown: src.into(),
            offset: 0,
            bare: false,
            paths: Vec::new(),
            needs: Needs::default(),
            typed_reads: Vec::new(),
            result: Known::Type(ValueType::String),
        };
        let tree = machinery::parse(src, "<template>", self.inner.syntax.clone())
            .map_err(|e| c.error(&e, self.limits()))?;
        let analysis = analyze::analyze_template(&tree);
        self.accept(&mut c, analysis)?;
        c.env
            .add_template_owned(TEMPLATE_NAME, src.to_string())
            .map_err(|e| c.error(&e, self.limits()))?;
        Ok(c)
    }

    /// Refuses a `{{ }}` / `{% %}` block (or a bare expression) with more than
    /// [`MAX_BLOCK_OPERATORS`] operators: minijinja parses operator chains (`a + b + …`,
    /// `a.b.c…`, `x | f | g…`) without a depth limit into a tree that compiling, analysing and
    /// dropping then walk recursively, so a very long chain would overflow the stack.
    /// The error is a message and a byte offset in `src`.
    fn check_complexity(&self, src: &str, in_expr: bool) -> Result<(), (String, usize)> {
        use machinery::Token;
        let mut operators = 0usize;
        // `elif`s nest like operators, over the whole template
        let mut elifs = 0usize;
        let mut block_start = false;
        for token in machinery::tokenize(src, in_expr, self.inner.syntax.clone()) {
            // lexing errors are left to the parser, which reports them better
            let Ok((token, span)) = token else {
                return Ok(());
            };
            let first_in_block = std::mem::replace(&mut block_start, false);
            let counts = match token {
                Token::VariableStart | Token::BlockStart => {
                    operators = 0;
                    block_start = matches!(token, Token::BlockStart);
                    false
                }
                Token::Ident("elif") if first_in_block => {
                    elifs += 1;
                    elifs > MAX_BLOCK_OPERATORS
                }
                Token::Ident(id) => {
                    matches!(id, "and" | "or" | "not" | "in" | "is" | "if" | "else")
                }
                Token::Plus
                | Token::Minus
                | Token::Mul
                | Token::Div
                | Token::FloorDiv
                | Token::Pow
                | Token::Mod
                | Token::Dot
                | Token::Tilde
                | Token::Pipe
                | Token::Eq
                | Token::Ne
                | Token::Gt
                | Token::Gte
                | Token::Lt
                | Token::Lte
                | Token::BracketOpen
                | Token::ParenOpen
                | Token::BraceOpen => true,
                _ => false,
            };
            if counts {
                operators += 1;
                if operators > MAX_BLOCK_OPERATORS || elifs > MAX_BLOCK_OPERATORS {
                    return Err((
                        format!(
                            "too complex: more than {MAX_BLOCK_OPERATORS} operators in one \
                             expression or `elif`s in one template"
                        ),
                        span.start_offset as usize,
                    ));
                }
            }
        }
        Ok(())
    }

    fn accept(&self, c: &mut Compiled, analysis: Analysis) -> Result<(), ExprError> {
        if analysis.max_depth > MAX_STATIC_DEPTH {
            return Err(c.message(
                &format!(
                    "the {} could build values nested deeper than {MAX_STATIC_DEPTH} levels",
                    c.kind()
                ),
                None,
            ));
        }
        c.typed_reads = signatures::check(&analysis.uses)
            .map_err(|(what, pos)| c.message(&what, Some(c.offset + pos)))?;
        c.paths = analysis.dotted_paths(&self.inner.globals);
        c.needs = analysis.needs;
        if let Some(result) = analysis.result {
            c.result = match result {
                Operand::Const(v) => {
                    let mut budget = self.limits().max_output_bytes;
                    convert::to_json(&v, &mut budget).map_or(Known::Unknown, Known::Literal)
                }
                Operand::Path(p) => Known::Path(p),
                Operand::Typed(t) => Known::Type(t),
                Operand::Unknown => Known::Unknown,
            };
        }
        Ok(())
    }
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl Compiled {
    fn inspection(&self) -> Inspection {
        Inspection {
            paths: self.paths.clone(),
            typed_reads: self.typed_reads.clone(),
            result: self.result.clone(),
        }
    }

    fn kind(&self) -> &'static str {
        if self.bare { "expression" } else { "template" }
    }

    /// An error of running the compiled template: positions in the wrapped source map back.
    fn error(&self, err: &minijinja::Error, limits: &ExprLimits) -> ExprError {
        let pos = err.range().and_then(|r| match self.mode {
            Mode::Text => Some(r.start),
            Mode::Expr => r
                .start
                .checked_sub(EXPR_PREFIX.len())
                .filter(|p| self.offset + p < self.shown.len())
                .map(|p| self.offset + p),
        });
        self.error_at(err, pos, Some(limits))
    }

    fn error_at(
        &self,
        err: &minijinja::Error,
        pos: Option<usize>,
        limits: Option<&ExprLimits>,
    ) -> ExprError {
        let what = match (err.kind(), limits) {
            (ErrorKind::OutOfFuel, Some(l)) => format!(
                "evaluation ran out of fuel (budget {}): too many steps or too much data",
                l.fuel
            ),
            (kind, _) => match err.detail() {
                Some(detail) => format!("{kind}: {detail}"),
                None => kind.to_string(),
            },
        };
        let pos = pos.filter(|p| *p <= self.shown.len());
        self.message(&what, pos)
    }

    fn message(&self, what: &str, pos: Option<usize>) -> ExprError {
        message(self.kind(), &self.shown, what, pos)
    }
}
