//! Static analysis of a parsed expression or template (minijinja's AST, from its
//! `unstable_machinery` API — hence the exact version pin in the workspace):
//!
//! * the variable paths it reads (for workflow validation, and to convert only the parts of
//!   the context a template can reach);
//! * an upper bound of how deeply nested the values it builds can be. minijinja has no limit
//!   on value depth and prints, compares and serializes values recursively, so a value nested
//!   some thousand levels deep overflows a 2 MiB stack. Without `namespace()` (removed from the
//!   environment) values cannot accumulate across loop iterations, so the depth is bounded by
//!   what the source itself builds, which this walk measures.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use minijinja::machinery::ast;
use minijinja::value::{Value, ValueKind};

use super::signatures::{self, Kind, Operand, Use, ValueType};

/// Depth assumed for any value that comes from outside the template (the context, globals):
/// the context conversion refuses anything nested deeper.
pub(crate) const CONTEXT_DEPTH: usize = 128;
/// Depth added by a filter or function call (e.g. `groupby` wraps items two levels deep).
const CALL_DEPTH: usize = 3;

/// One segment of a variable path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Seg {
    Key(String),
    Index(i64),
}

/// Which parts of the context a template can reach. A node marked `full` is used as a whole
/// (printed, iterated, passed to a filter, ...); otherwise only the listed children are read,
/// each through a literal attribute or key lookup.
#[derive(Debug, Default, Clone)]
pub(crate) struct Needs {
    pub full: bool,
    pub children: BTreeMap<String, Needs>,
}

impl Needs {
    fn insert(&mut self, root: &str, segs: &[Seg]) {
        let mut node = self.children.entry(root.to_string()).or_default();
        for seg in segs {
            if node.full {
                return;
            }
            match seg {
                Seg::Key(k) => node = node.children.entry(k.clone()).or_default(),
                // an index is looked up in an array (converted whole) or fails on an object
                Seg::Index(_) => break,
            }
        }
        node.full = true;
        node.children.clear();
    }

    pub(crate) fn merge(&mut self, other: &Needs) {
        if self.full {
            return;
        }
        if other.full {
            self.full = true;
            self.children.clear();
            return;
        }
        for (k, v) in &other.children {
            self.children.entry(k.clone()).or_default().merge(v);
        }
    }
}

/// The result of analysing one expression or template.
#[derive(Debug, Default)]
pub(crate) struct Analysis {
    /// Paths read from names the template does not define itself, as `(root, segments)`.
    pub reported: BTreeSet<(String, Vec<Seg>)>,
    /// Parts of the context the evaluation can touch.
    pub needs: Needs,
    /// Upper bound of the nesting depth of any value built.
    pub max_depth: usize,
    /// Every filter, test and function call, for [`signatures::check`].
    pub uses: Vec<Use>,
    /// What is known of a bare expression's value (`Unknown` for a text template).
    pub result: Option<Operand>,
    /// The source holds a statement expressions do not have (a macro, an include, …).
    pub unsupported: bool,
}

impl Analysis {
    /// Dotted paths, skipping names in `globals` (functions such as `range`).
    pub(crate) fn dotted_paths(&self, globals: &BTreeSet<String>) -> Vec<String> {
        let mut out: Vec<String> = self
            .reported
            .iter()
            .filter(|(root, _)| !globals.contains(root))
            .map(|(root, segs)| dotted(root, segs))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

fn dotted(root: &str, segs: &[Seg]) -> String {
    let mut s = root.to_string();
    for seg in segs {
        s.push('.');
        match seg {
            Seg::Key(k) => s.push_str(k),
            Seg::Index(i) => s.push_str(&i.to_string()),
        }
    }
    s
}

pub(crate) fn analyze_expr(expr: &ast::Expr<'_>) -> Analysis {
    let mut w = Walker::default();
    w.out.result = Some(w.operand(expr));
    let depth = w.expr(expr);
    w.out.max_depth = w.out.max_depth.max(depth);
    w.out
}

pub(crate) fn analyze_template(stmt: &ast::Stmt<'_>) -> Analysis {
    let mut w = Walker::default();
    w.stmt(stmt);
    w.out
}

#[derive(Default)]
struct Walker<'a> {
    /// Names the template assigns, with the depth bound of their value, innermost scope last.
    scopes: Vec<HashMap<&'a str, usize>>,
    out: Analysis,
}

impl<'a> Walker<'a> {
    fn local(&self, name: &str) -> Option<usize> {
        self.scopes.iter().rev().find_map(|s| s.get(name).copied())
    }

    fn assign(&mut self, name: &'a str, depth: usize) {
        if self.scopes.is_empty() {
            self.scopes.push(HashMap::new());
        }
        let scope = self.scopes.last_mut().expect("a scope");
        let d = scope.entry(name).or_insert(0);
        *d = (*d).max(depth);
    }

    fn assign_target(&mut self, target: &ast::Expr<'a>, depth: usize) {
        match target {
            ast::Expr::Var(v) => self.assign(v.id, depth),
            ast::Expr::List(l) => l.items.iter().for_each(|t| self.assign_target(t, depth)),
            ast::Expr::Tuple(t) => t.items.iter().for_each(|t| self.assign_target(t, depth)),
            // `{% set ns.attr = ... %}` reads `ns`
            other => {
                self.expr(other);
            }
        }
    }

    fn record(&mut self, depth: usize) -> usize {
        self.out.max_depth = self.out.max_depth.max(depth);
        depth
    }

    /// A chain of literal lookups from a variable: `a.b["c"][0]`.
    fn chain(expr: &ast::Expr<'a>) -> Option<(&'a str, Vec<Seg>)> {
        match expr {
            ast::Expr::Var(v) => Some((v.id, Vec::new())),
            ast::Expr::GetAttr(g) => {
                let (root, mut segs) = Self::chain(&g.expr)?;
                segs.push(Seg::Key(g.name.to_string()));
                Some((root, segs))
            }
            ast::Expr::GetItem(g) => {
                let seg = match &g.subscript_expr {
                    ast::Expr::Const(c) => const_seg(&c.value)?,
                    _ => return None,
                };
                let (root, mut segs) = Self::chain(&g.expr)?;
                segs.push(seg);
                Some((root, segs))
            }
            _ => None,
        }
    }

    /// What is known of an expression's value without evaluating it.
    fn operand(&self, expr: &ast::Expr<'a>) -> Operand {
        if let Some((root, segs)) = Self::chain(expr) {
            return match self.local(root) {
                Some(_) => Operand::Unknown,
                None => Operand::Path(dotted(root, &segs)),
            };
        }
        let typed = match expr {
            ast::Expr::Const(c) => return Operand::Const(c.value.clone()),
            ast::Expr::Filter(f) => signatures::returns(Kind::Filter, f.name),
            ast::Expr::Call(c) => match &c.expr {
                ast::Expr::Var(v) if self.local(v.id).is_none() => {
                    signatures::returns(Kind::Function, v.id)
                }
                _ => None,
            },
            ast::Expr::Test(_) | ast::Expr::Compare(_) => Some(ValueType::Boolean),
            ast::Expr::UnaryOp(u) if matches!(u.op, ast::UnaryOpKind::Not) => {
                Some(ValueType::Boolean)
            }
            ast::Expr::BinOp(b) => match b.op {
                ast::BinOpKind::Concat => Some(ValueType::String),
                ast::BinOpKind::Eq
                | ast::BinOpKind::Ne
                | ast::BinOpKind::Lt
                | ast::BinOpKind::Lte
                | ast::BinOpKind::Gt
                | ast::BinOpKind::Gte
                | ast::BinOpKind::In => Some(ValueType::Boolean),
                _ => None,
            },
            ast::Expr::List(_) | ast::Expr::Tuple(_) => Some(ValueType::Array),
            ast::Expr::Map(_) => Some(ValueType::Object),
            _ => None,
        };
        typed.map_or(Operand::Unknown, Operand::Typed)
    }

    fn record_use(
        &mut self,
        kind: Kind,
        name: &str,
        pos: u32,
        input: Option<&ast::Expr<'a>>,
        args: &[ast::CallArg<'a>],
    ) {
        let mut u = Use {
            kind,
            name: name.to_string(),
            pos: pos as usize,
            input: input.map(|e| self.operand(e)),
            args: Vec::new(),
            kwargs: Vec::new(),
            splat: false,
        };
        for a in args {
            match a {
                ast::CallArg::Pos(e) => u.args.push(self.operand(e)),
                ast::CallArg::Kwarg(k, e) => u.kwargs.push((k.to_string(), self.operand(e))),
                ast::CallArg::PosSplat(_) | ast::CallArg::KwargSplat(_) => u.splat = true,
            }
        }
        self.out.uses.push(u);
    }

    /// Visits an expression; returns the depth bound of its value.
    fn expr(&mut self, expr: &ast::Expr<'a>) -> usize {
        if let Some((root, segs)) = Self::chain(expr) {
            // over-approximate the context needs: also for names the template shadows
            self.out.needs.insert(root, &segs);
            return match self.local(root) {
                Some(depth) => depth,
                None => {
                    self.out.reported.insert((root.to_string(), segs));
                    CONTEXT_DEPTH
                }
            };
        }
        let depth = match expr {
            ast::Expr::Var(_) => unreachable!("a variable is a chain"),
            ast::Expr::Const(c) => value_depth(&c.value, 0),
            ast::Expr::Slice(s) => {
                let d = self.expr(&s.expr);
                for e in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                    self.expr(e);
                }
                d
            }
            ast::Expr::UnaryOp(u) => {
                self.expr(&u.expr);
                1
            }
            ast::Expr::BinOp(b) => {
                let l = self.expr(&b.left);
                let r = self.expr(&b.right);
                l.max(r)
            }
            ast::Expr::Compare(c) => {
                self.expr(&c.expr);
                for op in &c.ops {
                    self.expr(&op.expr);
                }
                1
            }
            ast::Expr::IfExpr(i) => {
                self.expr(&i.test_expr);
                let t = self.expr(&i.true_expr);
                let f = i.false_expr.as_ref().map_or(0, |e| self.expr(e));
                t.max(f)
            }
            ast::Expr::Filter(f) => {
                self.record_use(
                    Kind::Filter,
                    f.name,
                    f.span().start_offset,
                    f.expr.as_ref(),
                    &f.args,
                );
                let mut d = f.expr.as_ref().map_or(0, |e| self.expr(e));
                for a in &f.args {
                    d = d.max(self.call_arg(a));
                }
                // parsed text is as deep as any context value may be
                if f.name == "fromjson" {
                    d = d.max(CONTEXT_DEPTH);
                }
                d + CALL_DEPTH
            }
            ast::Expr::Test(t) => {
                self.record_use(
                    Kind::Test,
                    t.name,
                    t.span().start_offset,
                    Some(&t.expr),
                    &t.args,
                );
                self.expr(&t.expr);
                for a in &t.args {
                    self.call_arg(a);
                }
                1
            }
            // not a literal chain: `(a ~ b).c`, `f().x`, `a[b]`
            ast::Expr::GetAttr(g) => self.expr(&g.expr),
            ast::Expr::GetItem(g) => {
                let d = self.expr(&g.expr);
                self.expr(&g.subscript_expr);
                d
            }
            ast::Expr::Call(c) => self.call(c),
            ast::Expr::List(l) => 1 + l.items.iter().map(|e| self.expr(e)).max().unwrap_or(0),
            ast::Expr::Tuple(t) => 1 + t.items.iter().map(|e| self.expr(e)).max().unwrap_or(0),
            ast::Expr::Map(m) => {
                let mut d = 0;
                for (k, v) in m.keys.iter().zip(m.values.iter()) {
                    d = d.max(self.expr(k)).max(self.expr(v));
                }
                1 + d
            }
        };
        self.record(depth)
    }

    fn call_arg(&mut self, arg: &ast::CallArg<'a>) -> usize {
        match arg {
            ast::CallArg::Pos(e)
            | ast::CallArg::Kwarg(_, e)
            | ast::CallArg::PosSplat(e)
            | ast::CallArg::KwargSplat(e) => self.expr(e),
        }
    }

    fn call(&mut self, c: &ast::Spanned<ast::Call<'a>>) -> usize {
        if let ast::Expr::Var(v) = &c.expr
            && self.local(v.id).is_none()
        {
            self.record_use(Kind::Function, v.id, c.span().start_offset, None, &c.args);
        }
        let mut d = match &c.expr {
            // a method call: the receiver is used as a whole, the method name is no variable
            ast::Expr::GetAttr(g) => self.expr(&g.expr),
            // a function (`range`, `dict`, a loop's `loop(...)`): reported like any name
            callee => {
                self.expr(callee);
                0
            }
        };
        for a in &c.args {
            d = d.max(self.call_arg(a));
        }
        self.record(d + CALL_DEPTH)
    }

    fn body(&mut self, body: &[ast::Stmt<'a>]) {
        for s in body {
            self.stmt(s);
        }
    }

    fn scoped(&mut self, f: impl FnOnce(&mut Self)) {
        self.scopes.push(HashMap::new());
        f(self);
        self.scopes.pop();
    }

    fn stmt(&mut self, stmt: &ast::Stmt<'a>) {
        #[allow(unreachable_patterns)] // without the server, minijinja has no macros or includes
        match stmt {
            ast::Stmt::Template(t) => self.body(&t.children),
            ast::Stmt::EmitExpr(e) => {
                self.expr(&e.expr);
            }
            ast::Stmt::EmitRaw(_) => {}
            ast::Stmt::ForLoop(f) => {
                let item = self.expr(&f.iter);
                self.scoped(|w| {
                    w.assign("loop", item + 1);
                    w.assign_target(&f.target, item);
                    if let Some(e) = &f.filter_expr {
                        w.expr(e);
                    }
                    w.body(&f.body);
                });
                self.scoped(|w| w.body(&f.else_body));
            }
            // `if` opens no scope in Jinja: what it sets stays visible after it
            ast::Stmt::IfCond(i) => {
                self.expr(&i.expr);
                self.body(&i.true_body);
                self.body(&i.false_body);
            }
            ast::Stmt::WithBlock(w) => self.scoped(|this| {
                for (target, e) in &w.assignments {
                    let d = this.expr(e);
                    this.assign_target(target, d);
                }
                this.body(&w.body);
            }),
            ast::Stmt::Set(s) => {
                let d = self.expr(&s.expr);
                self.assign_target(&s.target, d);
            }
            ast::Stmt::SetBlock(s) => {
                if let Some(f) = &s.filter {
                    self.expr(f);
                }
                self.scoped(|w| w.body(&s.body));
                // captures text; a filter may wrap it
                self.assign_target(&s.target, 1 + CALL_DEPTH);
            }
            ast::Stmt::AutoEscape(a) => {
                self.expr(&a.enabled);
                self.body(&a.body);
            }
            ast::Stmt::FilterBlock(f) => {
                self.expr(&f.filter);
                self.body(&f.body);
            }
            ast::Stmt::Do(d) => {
                self.call(&d.call);
            }
            ast::Stmt::Continue(_) | ast::Stmt::Break(_) => {}
            // Macros, calls, includes, imports, extends and blocks: parsed only because the
            // server's templates enable them; refused by `accept`. Should that ever be skipped,
            // stay safe: everything is needed and the depth is unknown.
            _ => {
                self.out.unsupported = true;
                self.out.needs.full = true;
                self.out.max_depth = usize::MAX;
            }
        }
    }
}

fn const_seg(v: &Value) -> Option<Seg> {
    if let Some(s) = v.as_str() {
        Some(Seg::Key(s.to_string()))
    } else if v.is_integer() {
        v.as_i64().map(Seg::Index)
    } else {
        None
    }
}

/// Depth of a constant (constant folding turns literal lists and maps into values).
fn value_depth(v: &Value, level: usize) -> usize {
    if level > CONTEXT_DEPTH {
        return level;
    }
    match v.kind() {
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => {
            let mut d = 0;
            if let Ok(iter) = v.try_iter() {
                for item in iter {
                    d = d.max(value_depth(&item, level + 1));
                    if v.kind() == ValueKind::Map
                        && let Ok(inner) = v.get_item(&item)
                    {
                        d = d.max(value_depth(&inner, level + 1));
                    }
                }
            }
            1 + d
        }
        _ => 1,
    }
}
