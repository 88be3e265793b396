//! Compiling a source (a bare expression or a template string) into a [`Compiled`] form, and
//! the bounded cache of compiled forms. Everything that refuses a source before it runs is
//! here: the operator count, the static depth and the type checks of `signatures.rs`. Running a
//! compiled form is `run.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use minijinja::machinery;
use minijinja::{Environment, ErrorKind};

use super::analyze::{self, Analysis, Needs};
use super::signatures::{self, Operand};
use super::text::{is_wrapped_expression, message, single_expression};
use super::{ExprError, ExprLimits, Inspection, Known, Sandbox, TypedRead, ValueType, convert};

/// Largest value depth a source may build (see the module docs).
pub(super) const MAX_STATIC_DEPTH: usize = 256;
/// Most operators one expression (or one `{{ }}` / `{% %}` block) may have.
pub(super) const MAX_BLOCK_OPERATORS: usize = 1000;
/// Cache bounds: entries and (estimated) bytes; when either is exceeded the cache starts over.
pub(super) const CACHE_ENTRIES: usize = 4096;
pub(super) const CACHE_BYTES: usize = 32 << 20;
/// How much of a source an error message quotes.
pub(super) const QUOTE_CHARS: usize = 160;

/// A bare expression `E` is compiled as this template, which leaves the value in a variable
/// and, when the value is undefined, prints it — which fails with minijinja's strict-undefined
/// error naming the lookup that produced it.
pub(super) const RESULT_VAR: &str = "__hookflow_result";
pub(super) const EXPR_PREFIX: &str = "{% set __hookflow_result = (";
pub(super) const EXPR_SUFFIX: &str =
    ") %}{% if __hookflow_result is undefined %}{{ __hookflow_result }}{% endif %}";
pub(super) const TEMPLATE_NAME: &str = "t";

#[derive(Default)]
pub(super) struct Cache {
    exprs: HashMap<Box<str>, Arc<Compiled>>,
    templates: HashMap<Box<str>, Arc<Compiled>>,
    bytes: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// A bare expression (also a template string that is exactly one `{{ expression }}`).
    Expr,
    /// A text template.
    Text,
}

pub(super) struct Compiled {
    pub(super) env: Environment<'static>,
    pub(super) mode: Mode,
    /// What error messages quote: the source as the user wrote it.
    pub(super) shown: Box<str>,
    /// Where the expression starts in `shown` (Expr mode; 0 for Text).
    pub(super) offset: usize,
    /// A bare expression (not a template string).
    pub(super) bare: bool,
    pub(super) paths: Vec<String>,
    pub(super) needs: Needs,
    pub(super) typed_reads: Vec<TypedRead>,
    pub(super) result: Known,
}

impl Sandbox {
    /// The compiled form of a bare expression (cached).
    pub(super) fn expression(&self, src: &str) -> Result<Arc<Compiled>, ExprError> {
        if let Some(c) = self.read_cache().exprs.get(src) {
            return Ok(c.clone());
        }
        let c = Arc::new(self.compile_expr(src, src, 0)?);
        self.insert(src, c.clone(), |cache| &mut cache.exprs);
        Ok(c)
    }

    /// The compiled form of a template string (cached).
    pub(super) fn template(&self, src: &str) -> Result<Arc<Compiled>, ExprError> {
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

    pub(super) fn read_cache(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        // the cache stays consistent even if a holder panicked
        self.inner.cache.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn insert(
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

    pub(super) fn compile_expr(
        &self,
        src: &str,
        shown: &str,
        offset: usize,
    ) -> Result<Compiled, ExprError> {
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

    pub(super) fn compile_text(&self, src: &str) -> Result<Compiled, ExprError> {
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
    pub(super) fn check_complexity(&self, src: &str, in_expr: bool) -> Result<(), (String, usize)> {
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

    pub(super) fn accept(&self, c: &mut Compiled, analysis: Analysis) -> Result<(), ExprError> {
        if analysis.unsupported {
            return Err(c.message(
                &format!(
                    "the {} uses a statement workflows do not have (macro, call, include, \
                     import, extends or block)",
                    c.kind()
                ),
                None,
            ));
        }
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

impl Compiled {
    pub(super) fn inspection(&self) -> Inspection {
        Inspection {
            paths: self.paths.clone(),
            typed_reads: self.typed_reads.clone(),
            result: self.result.clone(),
        }
    }

    pub(super) fn kind(&self) -> &'static str {
        if self.bare { "expression" } else { "template" }
    }

    /// An error of running the compiled template: positions in the wrapped source map back.
    pub(super) fn error(&self, err: &minijinja::Error, limits: &ExprLimits) -> ExprError {
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

    pub(super) fn error_at(
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

    pub(super) fn message(&self, what: &str, pos: Option<usize>) -> ExprError {
        message(self.kind(), &self.shown, what, pos)
    }
}
