//! Source text helpers of the sandbox: where an error is (line and column), how a source is
//! quoted in messages, which strings of a value are templates, and a writer that stops at the
//! output limit.

use std::io;

use minijinja::machinery::{self, ast};
use serde_json::Value as Json;

use super::ExprError;
use super::compile::{QUOTE_CHARS, RESULT_VAR};

/// `{what} at {line}:{col} in {kind} `{shown}``, the position being a byte offset in `shown`.
pub(super) fn message(kind: &str, shown: &str, what: &str, pos: Option<usize>) -> ExprError {
    let at = match pos {
        Some(p) => {
            let (line, col) = line_col(shown, p);
            format!(" at {line}:{col}")
        }
        None => String::new(),
    };
    ExprError::new(format!("{what}{at} in {kind} `{}`", quote(shown)))
}

/// Whether `tree` is exactly the template `EXPR_PREFIX <expr> EXPR_SUFFIX`.
pub(super) fn is_wrapped_expression(tree: &ast::Stmt<'_>) -> bool {
    let ast::Stmt::Template(t) = tree else {
        return false;
    };
    match t.children.as_slice() {
        [ast::Stmt::Set(set), ast::Stmt::IfCond(_)] => {
            matches!(&set.target, ast::Expr::Var(v) if v.id == RESULT_VAR)
        }
        _ => false,
    }
}

/// A template string that is exactly one `{{ expression }}`: the expression and where it
/// starts in `s`.
pub(super) fn single_expression(s: &str) -> Option<(&str, usize)> {
    let start = s.len() - s.trim_start().len();
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    // `{{-`, `-}}`, `{{+`, `+}}` control whitespace: text
    if inner.starts_with(['-', '+']) || inner.ends_with(['-', '+']) {
        return None;
    }
    machinery::parse_expr(inner).ok()?;
    Some((inner, start + 2))
}

pub(super) fn line_col(s: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(s.len());
    while !s.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &s[..pos];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

pub(super) fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

pub(super) fn push_pointer_key(pointer: &mut String, key: &str) {
    pointer.push('/');
    pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
}

/// Calls `f` with every string in `v` and its JSON pointer, in document order.
pub(super) fn walk_strings(
    v: &Json,
    pointer: &mut String,
    f: &mut dyn FnMut(&str, &str) -> Result<(), ExprError>,
) -> Result<(), ExprError> {
    match v {
        Json::String(s) => f(s, pointer),
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                walk_strings(item, pointer, f)?;
                pointer.truncate(len);
            }
            Ok(())
        }
        Json::Object(map) => {
            for (k, item) in map {
                let len = pointer.len();
                push_pointer_key(pointer, k);
                walk_strings(item, pointer, f)?;
                pointer.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Collects rendered text up to a cap; writing more fails (and ends the rendering).
pub(super) struct CappedWriter {
    pub(super) buf: Vec<u8>,
    pub(super) cap: usize,
    pub(super) exceeded: bool,
}

impl io::Write for CappedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > self.cap {
            self.exceeded = true;
            return Err(io::Error::other("output limit exceeded"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
