use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange};

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::{Diagnostic, Edit, Fix};
use crate::helpers::deep;
use crate::helpers::is_main_guard;
use crate::registry::Rule;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// `gc.disable()` (however `gc` or `disable` is imported) followed by a `gc.enable()` that
    /// is not reached on every path: a `return` or `raise` between the two, or statements
    /// between them that can raise, without a `try:`/`finally: gc.enable()` around them.
    ///
    /// Not reported: `gc.disable()` inside a `try:` whose `finally:` calls `gc.enable()`
    /// (directly or under a condition, as in `if was_enabled: gc.enable()`); `gc.disable()`
    /// right before such a `try:`; a function that disables the collector and never enables
    /// it (its job is to switch the collector off; another function switches it back on);
    /// anything under `if __name__ == "__main__":`, where switching the collector off for the
    /// whole run is a deliberate choice. A module-level `gc.disable()` in a module that never
    /// enables the collector again, has no `__main__` guard and no `#!` line (an imported
    /// library module) is reported: importing it switches the collector off for every program.
    ///
    /// ## Why it keeps memory alive
    /// While the cyclic garbage collector is off, objects that are part of a reference cycle
    /// (a parent and its child pointing at each other, an exception and its traceback's frames,
    /// a closure referring to itself) are never freed: reference counting alone cannot free a
    /// cycle. If an exception or an early `return` skips `gc.enable()`, the collector stays off
    /// for the rest of the process, and every cycle created from then on accumulates.
    ///
    /// ## Example
    /// ```python
    /// import gc
    ///
    /// def load(path):
    ///     gc.disable()
    ///     data = parse(path)  # may raise
    ///     gc.enable()
    ///     return data
    /// ```
    ///
    /// ## Fix
    /// Re-enable the collector in a `finally:` block, so that it runs on every path:
    ///
    /// ```python
    /// def load(path):
    ///     gc.disable()
    ///     try:
    ///         data = parse(path)
    ///     finally:
    ///         gc.enable()
    ///     return data
    /// ```
    ///
    /// If the collector may already be off when the function is called, remember its state:
    /// `was_enabled = gc.isenabled()` before `gc.disable()`, and `if was_enabled: gc.enable()`
    /// in the `finally:` block.
    ///
    /// ## Fix safety
    /// The fix is offered when `gc.disable()` and `gc.enable()` are statements of the same block
    /// with the statements to protect between them: it wraps those statements in `try:` and
    /// moves the `gc.enable()` line into `finally:`. It is safe when the wrapped statements
    /// contain no `return`, `break` or `continue`: only paths that used to leave the collector
    /// off change. With a `return`, `break` or `continue` among them the fix is unsafe: those
    /// paths now re-enable the collector too, which is the point, but it is a change in
    /// behaviour a reviewer should confirm. When the two calls are in different blocks (the
    /// `gc.enable()` after an enclosing `if` or loop), no fix is offered.
    pub struct GcNotReenabled {
        code: "RL204",
        name: "gc-not-reenabled",
        summary: "`gc.disable()` not followed by `gc.enable()` on every path",
        fix: Sometimes,
    }
}

/// Words one of which a file needs for this rule to run on it (see `triggers`).
pub(crate) const TRIGGERS: Triggers = Triggers::AnyOf(&["disable"]);

pub(crate) fn check(checker: &mut Checker) {
    let mut found = Vec::new();
    let module_enables = contains_call(checker, checker.suite, "gc.enable");
    let script = has_main_guard(checker.suite) || checker.source.starts_with("#!");
    let mut scan = Scan {
        checker,
        found: &mut found,
        module_enables,
        script,
    };
    let mut path = Vec::new();
    scan.scope(checker.suite, None, &mut path);
    for diagnostic in found {
        checker.report(diagnostic);
    }
}

/// One level of the path from a scope's body down to a statement: the block and the index of
/// the statement in it.
#[derive(Clone, Copy)]
struct Frame<'a> {
    suite: &'a [Stmt],
    index: usize,
    /// What part of the parent statement this block is.
    part: Part,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The scope's own body.
    Scope,
    /// A `try:` body, `except` handler or `else:` of a `try`.
    TryGuarded,
    /// A `finally:` block.
    Finally,
    Other,
}

struct Scan<'c, 'a> {
    checker: &'c Checker<'a>,
    found: &'c mut Vec<Diagnostic>,
    module_enables: bool,
    script: bool,
}

impl<'a> Scan<'_, 'a> {
    /// Walks one scope (the module, a function or a class body) with `path` leading to `suite`.
    fn scope(
        &mut self,
        suite: &'a [Stmt],
        function: Option<&'a ast::StmtFunctionDef>,
        path: &mut Vec<Frame<'a>>,
    ) {
        self.block(suite, Part::Scope, function, path);
    }

    fn block(
        &mut self,
        suite: &'a [Stmt],
        part: Part,
        function: Option<&'a ast::StmtFunctionDef>,
        path: &mut Vec<Frame<'a>>,
    ) {
        for (index, stmt) in suite.iter().enumerate() {
            path.push(Frame { suite, index, part });
            self.statement(stmt, function, path);
            path.pop();
        }
    }

    fn statement(
        &mut self,
        stmt: &'a Stmt,
        function: Option<&'a ast::StmtFunctionDef>,
        path: &mut Vec<Frame<'a>>,
    ) {
        match stmt {
            Stmt::FunctionDef(def) => {
                let mut inner = Vec::new();
                deep(|| self.scope(&def.body, Some(def), &mut inner));
            }
            Stmt::ClassDef(class) => {
                let mut inner = Vec::new();
                deep(|| self.scope(&class.body, None, &mut inner));
            }
            Stmt::If(if_) if function.is_none() && path.len() == 1 && is_main_guard(&if_.test) => {}
            Stmt::Expr(ast::StmtExpr { value, .. }) if self.is_call(value, "gc.disable") => {
                if let Some(diagnostic) = self.judge(stmt, function, path) {
                    self.found.push(diagnostic);
                }
            }
            _ => {
                for (suite, part) in child_suites(stmt) {
                    deep(|| self.block(suite, part, function, path));
                }
            }
        }
    }

    fn is_call(&self, expr: &Expr, name: &str) -> bool {
        is_call(self.checker, expr, name)
    }

    /// Decides whether the `gc.disable()` statement at the end of `path` is a finding.
    fn judge(
        &self,
        disable: &'a Stmt,
        function: Option<&'a ast::StmtFunctionDef>,
        path: &[Frame<'a>],
    ) -> Option<Diagnostic> {
        let checker = self.checker;
        // Inside a `try:` whose `finally:` re-enables the collector.
        for (depth, frame) in path.iter().enumerate().take(path.len() - 1) {
            let child = path[depth + 1];
            if let Stmt::Try(try_) = &frame.suite[frame.index]
                && child.part == Part::TryGuarded
                && contains_call(checker, &try_.finalbody, "gc.enable")
            {
                return None;
            }
        }
        // The statements that follow, climbing out of the enclosing blocks, up to the first
        // one that re-enables the collector.
        let mut between: Vec<&'a Stmt> = Vec::new();
        let mut enable: Option<(&'a Stmt, usize)> = None;
        'levels: for level in (0..path.len()).rev() {
            let frame = path[level];
            for stmt in &frame.suite[frame.index + 1..] {
                if contains_call(checker, std::slice::from_ref(stmt), "gc.enable") {
                    enable = Some((stmt, level));
                    break 'levels;
                }
                between.push(stmt);
            }
        }
        let call_range = match disable {
            Stmt::Expr(expr) => expr.value.range(),
            _ => disable.range(),
        };
        let Some((enable, level)) = enable else {
            // Never re-enabled in this scope: deliberate in a function; at import time in a
            // library module it switches the collector off for every program.
            if function.is_none() && !self.module_enables && !self.script {
                return Some(
                    Diagnostic::new(
                        Rule::GcNotReenabled,
                        call_range,
                        "`gc.disable()` at import time switches the cyclic garbage collector off for every program that imports this module: reference cycles created afterwards are never freed",
                    )
                    .with_note("No automatic fix: move `gc.disable()` into the code that needs it, with `gc.enable()` in a `finally:` block."),
                );
            }
            return None;
        };
        if between.is_empty() {
            return None;
        }
        let exits = early_exits(&between);
        let raises = between.iter().any(|stmt| can_raise(checker, stmt));
        if exits.is_empty() && !raises {
            return None;
        }
        let scope = match function {
            Some(def) => format!("`{}`", def.name),
            None => "the module".to_owned(),
        };
        let line = |range: TextRange| checker.line_index.line_index(range.start()).get();
        let message = if let Some(exit) = exits.first() {
            let what = if matches!(exit, Stmt::Return(_)) {
                "returns"
            } else {
                "raises"
            };
            format!(
                "`gc.disable()` is not undone when {scope} {what} at line {}: the cyclic garbage collector stays off for the whole process, and every reference cycle created afterwards is never freed",
                line(exit.range())
            )
        } else {
            format!(
                "an exception between `gc.disable()` and `gc.enable()` (line {}) leaves the cyclic garbage collector off for the whole process: every reference cycle created afterwards is never freed",
                line(enable.range())
            )
        };
        let mut diagnostic = Diagnostic::new(Rule::GcNotReenabled, call_range, message)
            .with_related(enable.range(), "the collector is re-enabled here");
        for exit in &exits {
            diagnostic = diagnostic.with_related(exit.range(), "this path skips `gc.enable()`");
        }
        match self.fix(disable, enable, level == path.len() - 1, &between) {
            Ok(fix) => Some(diagnostic.with_fix(fix)),
            Err(note) => Some(diagnostic.with_note(note)),
        }
    }

    fn fix(
        &self,
        disable: &Stmt,
        enable: &Stmt,
        same_block: bool,
        between: &[&Stmt],
    ) -> Result<Fix, String> {
        let checker = self.checker;
        if !same_block {
            return Err(
                "No automatic fix: `gc.enable()` is in another block than `gc.disable()`; wrap the code between them in `try:`/`finally: gc.enable()` by hand."
                    .to_owned(),
            );
        }
        let plain_enable = matches!(enable, Stmt::Expr(ast::StmtExpr { value, .. }) if is_call(checker, value, "gc.enable"));
        if !plain_enable {
            return Err(
                "No automatic fix: `gc.enable()` is conditional or nested; move it into a `finally:` block by hand."
                    .to_owned(),
            );
        }
        let (Some(first), Some(_)) = (between.first(), between.last()) else {
            return Err("No automatic fix: nothing to protect.".to_owned());
        };
        if !checker.starts_line(*first)
            || !checker.starts_line(enable)
            || checker.followed_on_line(enable)
            || checker.followed_on_line(disable)
        {
            return Err(
                "No automatic fix: the statements share lines; wrap them in `try:`/`finally: gc.enable()` by hand."
                    .to_owned(),
            );
        }
        let eol = checker.line_ending();
        let indentation = checker.indentation(first.start());
        let unit = checker.indent_unit();
        let body_range = TextRange::new(
            checker.line_start(first.start()),
            checker.line_start(enable.start()),
        );
        let body = checker.indent_lines(body_range, unit);
        let enable_line = &checker.source
            [enable.start().to_usize()..checker.full_line_end(enable.end()).to_usize()];
        let content = format!(
            "{indentation}try:{eol}{body}{indentation}finally:{eol}{indentation}{unit}{enable_line}"
        );
        let edit = Edit::replacement(
            content,
            TextRange::new(body_range.start(), checker.full_line_end(enable.end())),
        );
        let message = "Re-enable the collector in `try:`/`finally:`";
        if jumps(between) {
            Ok(Fix::unsafe_(message, vec![edit]))
        } else {
            Ok(Fix::safe(message, vec![edit]))
        }
    }
}

fn is_call(checker: &Checker, expr: &Expr, name: &str) -> bool {
    matches!(expr, Expr::Call(call)
        if call.arguments.is_empty() && checker.semantic.resolves_to(&call.func, &[name]))
}

/// The blocks directly inside a compound statement (not nested scopes).
fn child_suites(stmt: &Stmt) -> Vec<(&[Stmt], Part)> {
    match stmt {
        Stmt::If(if_) => {
            let mut out = vec![(if_.body.as_slice(), Part::Other)];
            for clause in &if_.elif_else_clauses {
                out.push((clause.body.as_slice(), Part::Other));
            }
            out
        }
        Stmt::For(for_) => vec![
            (for_.body.as_slice(), Part::Other),
            (for_.orelse.as_slice(), Part::Other),
        ],
        Stmt::While(while_) => vec![
            (while_.body.as_slice(), Part::Other),
            (while_.orelse.as_slice(), Part::Other),
        ],
        Stmt::With(with) => vec![(with.body.as_slice(), Part::Other)],
        Stmt::Try(try_) => {
            let mut out = vec![(try_.body.as_slice(), Part::TryGuarded)];
            for handler in &try_.handlers {
                let ast::ExceptHandler::ExceptHandler(handler) = handler;
                out.push((handler.body.as_slice(), Part::TryGuarded));
            }
            out.push((try_.orelse.as_slice(), Part::TryGuarded));
            out.push((try_.finalbody.as_slice(), Part::Finally));
            out
        }
        Stmt::Match(match_) => match_
            .cases
            .iter()
            .map(|case| (case.body.as_slice(), Part::Other))
            .collect(),
        _ => Vec::new(),
    }
}

fn has_main_guard(suite: &[Stmt]) -> bool {
    suite
        .iter()
        .any(|stmt| matches!(stmt, Stmt::If(if_) if is_main_guard(&if_.test)))
}

/// Walks statements and expressions, not entering nested functions, classes or lambdas.
struct Finder<'f> {
    pred: &'f dyn Fn(&Expr) -> bool,
    stmt_pred: &'f dyn Fn(&Stmt) -> bool,
    found: bool,
}

impl<'a> Visitor<'a> for Finder<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if self.found {
            return;
        }
        if (self.stmt_pred)(stmt) {
            self.found = true;
            return;
        }
        if matches!(stmt, Stmt::FunctionDef(_) | Stmt::ClassDef(_)) {
            return;
        }
        deep(|| visitor::walk_stmt(self, stmt));
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if self.found {
            return;
        }
        if (self.pred)(expr) {
            self.found = true;
            return;
        }
        if matches!(expr, Expr::Lambda(_)) {
            return;
        }
        deep(|| visitor::walk_expr(self, expr));
    }
}

fn find(stmts: &[Stmt], pred: &dyn Fn(&Expr) -> bool, stmt_pred: &dyn Fn(&Stmt) -> bool) -> bool {
    let mut finder = Finder {
        pred,
        stmt_pred,
        found: false,
    };
    for stmt in stmts {
        finder.visit_stmt(stmt);
    }
    finder.found
}

fn contains_call(checker: &Checker, stmts: &[Stmt], name: &str) -> bool {
    find(stmts, &|expr| is_call(checker, expr, name), &|_| false)
}

/// `return` and `raise` statements among `stmts` (not in nested scopes); a `raise` inside a
/// `try:` body with handlers may be caught, and is not counted.
fn early_exits<'a>(stmts: &[&'a Stmt]) -> Vec<&'a Stmt> {
    struct Exits<'a> {
        out: Vec<&'a Stmt>,
        in_handled_try: usize,
    }
    impl<'a> ruff_python_ast::statement_visitor::StatementVisitor<'a> for Exits<'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(_) | Stmt::ClassDef(_) => {}
                Stmt::Return(_) => self.out.push(stmt),
                Stmt::Raise(_) if self.in_handled_try == 0 => self.out.push(stmt),
                Stmt::Try(try_) if !try_.handlers.is_empty() => {
                    self.in_handled_try += 1;
                    for s in &try_.body {
                        deep(|| self.visit_stmt(s));
                    }
                    self.in_handled_try -= 1;
                    for handler in &try_.handlers {
                        let ast::ExceptHandler::ExceptHandler(handler) = handler;
                        for s in &handler.body {
                            deep(|| self.visit_stmt(s));
                        }
                    }
                    for s in try_.orelse.iter().chain(&try_.finalbody) {
                        deep(|| self.visit_stmt(s));
                    }
                }
                _ => deep(|| ruff_python_ast::statement_visitor::walk_stmt(self, stmt)),
            }
        }
    }
    let mut exits = Exits {
        out: Vec::new(),
        in_handled_try: 0,
    };
    for stmt in stmts {
        ruff_python_ast::statement_visitor::StatementVisitor::visit_stmt(&mut exits, stmt);
    }
    exits.out
}

/// `return`, `break` or `continue` among `stmts` (a `try/finally` would change those paths).
fn jumps(stmts: &[&Stmt]) -> bool {
    stmts.iter().any(|stmt| {
        find(std::slice::from_ref(*stmt), &|_| false, &|s| {
            matches!(s, Stmt::Return(_) | Stmt::Break(_) | Stmt::Continue(_))
        })
    })
}

/// Whether a statement can raise (or be interrupted by an exception thrown into a generator).
/// Plain assignments of names and literals, `pass`, `global` and definitions cannot; a `try`
/// that re-enables the collector in one of its handlers has dealt with its own exceptions.
fn can_raise(checker: &Checker, stmt: &Stmt) -> bool {
    fn trivial(expr: &Expr) -> bool {
        match expr {
            Expr::Name(_)
            | Expr::NumberLiteral(_)
            | Expr::StringLiteral(_)
            | Expr::BytesLiteral(_)
            | Expr::BooleanLiteral(_)
            | Expr::NoneLiteral(_)
            | Expr::EllipsisLiteral(_) => true,
            Expr::Tuple(tuple) => tuple.iter().all(trivial),
            _ => false,
        }
    }
    match stmt {
        Stmt::Pass(_)
        | Stmt::Global(_)
        | Stmt::Nonlocal(_)
        | Stmt::FunctionDef(_)
        | Stmt::ClassDef(_) => false,
        Stmt::Expr(ast::StmtExpr { value, .. }) => !value.is_string_literal_expr(),
        Stmt::Assign(assign) => !(assign.targets.iter().all(trivial) && trivial(&assign.value)),
        Stmt::AnnAssign(assign) => {
            !(trivial(&assign.target) && assign.value.as_deref().is_none_or(trivial))
        }
        Stmt::Try(try_) => {
            let handled = try_.handlers.iter().any(|handler| {
                let ast::ExceptHandler::ExceptHandler(handler) = handler;
                contains_call(checker, &handler.body, "gc.enable")
            });
            if handled {
                try_.orelse
                    .iter()
                    .chain(&try_.finalbody)
                    .any(|s| can_raise(checker, s))
            } else {
                true
            }
        }
        _ => true,
    }
}
