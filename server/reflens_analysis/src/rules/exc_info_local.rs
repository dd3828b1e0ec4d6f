use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, ExceptHandler, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange};
use rustc_hash::FxHashSet;

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::{Diagnostic, Edit, Fix};
use crate::helpers::Words;
use crate::helpers::{any_within, deep, is_test_code, walk_statements};
use crate::registry::Rule;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// Inside a function, a local variable bound to something that refers back to the
    /// function's own frame, and not deleted (`del name`, or `name = None`) in a `finally` or
    /// before the function ends on every path:
    ///
    /// - in an `except` block of the function: `sys.exc_info()` (the whole tuple, or the names
    ///   an unpacking binds to its value and traceback), `sys.exc_info()[1]` and `[2]`,
    ///   `sys.exception()`, `e.__traceback__`, `inspect.trace()`, and a second name for the
    ///   caught exception (`err = e`, the classic "remember the last error" of a retry loop);
    /// - anywhere in the function: `inspect.stack()`, whose first record is the current frame.
    ///
    /// Not flagged, on purpose:
    /// - `sys.exc_info()[0]` (the type holds no frame), and `sys.exc_info()` called in a function
    ///   that merely runs while an exception is handled by a caller (a logging helper): the
    ///   traceback starts at the caller's frame, not at the helper's, so there is no cycle;
    /// - `sys.last_traceback` and tracebacks of exceptions the function did not catch itself
    ///   (`future.exception().__traceback__`): they do not contain the current frame, so the
    ///   local only keeps them while the function runs;
    /// - a local that is returned or yielded (the function hands the value over, on purpose);
    /// - a local that is also stored in an attribute or container (RL301 reports that store);
    /// - module-level and class-level code (those frames live as long as the program anyway),
    ///   and names declared `global` or `nonlocal`;
    /// - the `as` name of an `except` clause itself, which Python deletes at the end of the block.
    /// - test code (modules named `test_*`, `*_test`, `conftest` or in a `tests` package, and
    ///   files that define `test_*` functions or methods): a test function's
    ///   frame lives for one test, and tests inspect exceptions on purpose.
    ///
    /// ## Why it keeps memory alive
    /// A traceback refers to the frame of every function it passes through, starting with the
    /// one that handles the exception, and each frame refers to all of its local variables.
    /// Binding the traceback (or the exception, whose `__traceback__` is the traceback, or frame
    /// records from `inspect`) to a local of that same frame closes a reference cycle: the frame
    /// holds the local, the local holds the traceback, the traceback holds the frame. Reference
    /// counting can never free a cycle, so every local of every frame in the traceback (request
    /// bodies, buffers, database rows) stays alive until the cyclic garbage collector runs, and
    /// for ever if it is disabled. The Python documentation of `sys.exc_info()` and of `inspect`
    /// used to warn about exactly this, and CPython itself clears such locals in `finally` blocks
    /// (`socket.create_connection`, `asyncio`).
    ///
    /// ## Example
    /// ```python
    /// import sys
    ///
    /// def process(batch):
    ///     rows = load(batch)
    ///     try:
    ///         transform(rows)
    ///     except ValueError:
    ///         info = sys.exc_info()
    ///         report(info)
    /// ```
    ///
    /// ## Fix
    /// Delete the local in a `finally` once it is no longer needed, so the cycle is broken on
    /// every path:
    ///
    /// ```python
    /// import sys
    ///
    /// def process(batch):
    ///     rows = load(batch)
    ///     try:
    ///         transform(rows)
    ///     except ValueError:
    ///         info = sys.exc_info()
    ///         try:
    ///             report(info)
    ///         finally:
    ///             del info
    /// ```
    ///
    /// The fix wraps the statements that follow the binding in its block in `try`/`finally` and
    /// deletes the local there (or just adds `del name` when nothing follows). It is offered only
    /// when the local is read nowhere else in the function: not after the block (a retry loop's
    /// `raise last_error` after the loop), not in a nested function or lambda, and the function
    /// does not call `locals()` or `vars()`. Otherwise the diagnostic says where to clear it
    /// (`name = None` in a `finally` around the code that last uses it).
    ///
    /// ## Fix safety
    /// Safe: the statements run exactly as before, in the same order, and the deleted names are
    /// read nowhere after the `finally`. The only difference is that the local no longer exists
    /// once the block is done, which is the point.
    pub struct ExcInfoLocal {
        code: "RL302",
        name: "exc-info-local",
        summary: "`sys.exc_info()`, a traceback, the caught exception or `inspect` frame records bound to a local without `del` in `finally` form a reference cycle with the function's own frame",
        fix: Sometimes,
    }
}

/// Words one of which a file needs for this rule to run on it (see `triggers`).
///
/// A binding is found (`Collector::classify`) only inside an `except` block, which the parser
/// builds only at an `except` keyword, or for a call that resolves to `inspect.stack`, whose
/// last segment the file spells (in the call, or in the import that binds its name).
pub(crate) const TRIGGERS: Triggers = Triggers::AnyOf(&["except", "stack"]);

pub(crate) fn check(checker: &mut Checker) {
    // Test code captures frames and exceptions on purpose, for one test.
    if is_test_code(checker) {
        return;
    }
    // The same words, within a function: its text holds one if it binds anything.
    static WORDS: Words = Words::new(&["except", "stack"]);
    let words = WORDS.positions(checker.source);
    let mut found = Vec::new();
    checker.walk_functions(&mut |def| {
        if any_within(&words, def.range()) {
            analyze_function(checker, def, &mut found);
        }
    });
    for diagnostic in found {
        checker.report(diagnostic);
    }
}

/// What a leaky local holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    ExcInfo,
    Exception,
    Traceback,
    /// Names unpacked from `sys.exc_info()`.
    Unpacked,
    Frames,
}

/// One level of the statement path from the function body down to a binding.
#[derive(Clone, Copy)]
struct Level<'a> {
    block: &'a [Stmt],
    index: usize,
    /// The `finally` block of the `try` whose body, handler or `else` this block is.
    finally: Option<&'a [Stmt]>,
}

struct Binding<'a> {
    stmt: &'a Stmt,
    target: &'a Expr,
    /// The names that hold frames, with their ranges.
    names: Vec<(&'a str, TextRange)>,
    what: What,
    path: Vec<Level<'a>>,
}

struct Collector<'a, 'c> {
    checker: &'c Checker<'a>,
    path: Vec<Level<'a>>,
    /// `as` names of the enclosing `except` clauses.
    handler_names: Vec<&'a str>,
    in_handler: usize,
    bindings: Vec<Binding<'a>>,
}

impl<'a> Collector<'a, '_> {
    fn walk_block(&mut self, block: &'a [Stmt], finally: Option<&'a [Stmt]>) {
        for (index, stmt) in block.iter().enumerate() {
            self.path.push(Level {
                block,
                index,
                finally,
            });
            deep(|| self.visit(stmt));
            self.path.pop();
        }
    }

    fn visit(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Assign(assign) if assign.targets.len() == 1 => {
                self.binding(stmt, &assign.targets[0], &assign.value);
            }
            Stmt::AnnAssign(assign) => {
                if let Some(value) = &assign.value {
                    self.binding(stmt, &assign.target, value);
                }
            }
            Stmt::If(if_) => {
                self.walk_block(&if_.body, None);
                for clause in &if_.elif_else_clauses {
                    self.walk_block(&clause.body, None);
                }
            }
            Stmt::For(for_) => {
                self.walk_block(&for_.body, None);
                self.walk_block(&for_.orelse, None);
            }
            Stmt::While(while_) => {
                self.walk_block(&while_.body, None);
                self.walk_block(&while_.orelse, None);
            }
            Stmt::With(with) => self.walk_block(&with.body, None),
            Stmt::Match(match_) => {
                for case in &match_.cases {
                    self.walk_block(&case.body, None);
                }
            }
            Stmt::Try(try_) => {
                let finally = Some(&try_.finalbody[..]).filter(|f| !f.is_empty());
                self.walk_block(&try_.body, finally);
                for handler in &try_.handlers {
                    let ExceptHandler::ExceptHandler(handler) = handler;
                    let name = handler.name.as_ref().map(|n| n.as_str());
                    if let Some(name) = name {
                        self.handler_names.push(name);
                    }
                    self.in_handler += 1;
                    self.walk_block(&handler.body, finally);
                    self.in_handler -= 1;
                    if name.is_some() {
                        self.handler_names.pop();
                    }
                }
                self.walk_block(&try_.orelse, finally);
                self.walk_block(&try_.finalbody, None);
            }
            _ => {}
        }
    }

    fn binding(&mut self, stmt: &'a Stmt, target: &'a Expr, value: &'a Expr) {
        let Some(what) = self.classify(value) else {
            return;
        };
        let names: Vec<(&str, TextRange)> = match (target, what) {
            (Expr::Name(name), _) => vec![(name.id.as_str(), name.range())],
            (
                Expr::Tuple(ast::ExprTuple { elts, .. }) | Expr::List(ast::ExprList { elts, .. }),
                What::ExcInfo,
            ) if elts.len() == 3 => elts[1..]
                .iter()
                .filter_map(|elt| match elt {
                    Expr::Name(name) => Some((name.id.as_str(), name.range())),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        if names.is_empty() {
            return;
        }
        self.bindings.push(Binding {
            stmt,
            target,
            names,
            what,
            path: self.path.clone(),
        });
    }
}

/// Unpacking `sys.exc_info()` binds the value and the traceback.
fn refine(target: &Expr, what: What, names: &[(&str, TextRange)]) -> What {
    {
        match (target, what) {
            (Expr::Tuple(_) | Expr::List(_), What::ExcInfo) if names.len() > 1 => What::Unpacked,
            (
                Expr::Tuple(ast::ExprTuple { elts, .. }) | Expr::List(ast::ExprList { elts, .. }),
                What::ExcInfo,
            ) => {
                if matches!(&elts[2], Expr::Name(n) if n.id.as_str() == names[0].0) {
                    What::Traceback
                } else {
                    What::Exception
                }
            }
            _ => what,
        }
    }
}

impl<'a> Collector<'a, '_> {
    fn classify(&self, value: &Expr) -> Option<What> {
        let in_handler = self.in_handler > 0;
        let semantic = &self.checker.semantic;
        match value {
            // A qualified name ends with the attribute it is read from: no need to resolve
            // other attributes (most calls are method calls).
            Expr::Call(call)
                if matches!(&*call.func, Expr::Attribute(attr) if !matches!(
                    attr.attr.as_str(),
                    "exc_info" | "exception" | "trace" | "stack"
                )) =>
            {
                None
            }
            Expr::Call(call) if call.arguments.is_empty() => {
                match semantic.qualified_name(&call.func).as_deref() {
                    Some("sys.exc_info") if in_handler => Some(What::ExcInfo),
                    Some("sys.exception") if in_handler => Some(What::Exception),
                    Some("inspect.trace") if in_handler => Some(What::Frames),
                    Some("inspect.stack") => Some(What::Frames),
                    _ => None,
                }
            }
            Expr::Call(call) => match semantic.qualified_name(&call.func).as_deref() {
                // `inspect.stack(context)`.
                Some("inspect.stack") => Some(What::Frames),
                Some("inspect.trace") if in_handler => Some(What::Frames),
                _ => None,
            },
            Expr::Subscript(subscript) if in_handler => {
                let Expr::Call(call) = &*subscript.value else {
                    return None;
                };
                if !call.arguments.is_empty()
                    || !semantic.resolves_to(&call.func, &["sys.exc_info"])
                {
                    return None;
                }
                match int_literal(&subscript.slice) {
                    Some(1 | -2) => Some(What::Exception),
                    Some(2 | -1) => Some(What::Traceback),
                    _ => None,
                }
            }
            Expr::Attribute(attr) if attr.attr.as_str() == "__traceback__" => match &*attr.value {
                Expr::Name(name) if self.handler_names.contains(&name.id.as_str()) => {
                    Some(What::Traceback)
                }
                _ => None,
            },
            Expr::Name(name) if self.handler_names.contains(&name.id.as_str()) => {
                Some(What::Exception)
            }
            _ => None,
        }
    }
}

fn int_literal(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::NumberLiteral(ast::ExprNumberLiteral {
            value: ast::Number::Int(int),
            ..
        }) => int.as_i64(),
        Expr::UnaryOp(ast::ExprUnaryOp {
            op: ast::UnaryOp::USub,
            operand,
            ..
        }) => deep(|| int_literal(operand)).map(|v| -v),
        _ => None,
    }
}

fn analyze_function<'a>(
    checker: &Checker<'a>,
    def: &'a ast::StmtFunctionDef,
    found: &mut Vec<Diagnostic>,
) {
    let mut collector = Collector {
        checker,
        path: Vec::new(),
        handler_names: Vec::new(),
        in_handler: 0,
        bindings: Vec::new(),
    };
    collector.walk_block(&def.body, None);
    if collector.bindings.is_empty() {
        return;
    }
    let uses = Uses::collect(&def.body);
    for binding in collector.bindings {
        let names: Vec<(&str, TextRange)> = binding
            .names
            .iter()
            .copied()
            .filter(|(name, _)| !uses.declared.contains(name))
            .filter(|(name, _)| !released(&binding.path, &[name]))
            .collect();
        if names.is_empty() {
            continue;
        }
        let what = refine(binding.target, binding.what, &names);
        let plain: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
        if plain
            .iter()
            .any(|n| uses.handed_over.contains(n) || uses.stored.contains(n))
        {
            continue;
        }
        found.push(diagnostic(checker, def, &binding, what, &names, &uses));
    }
}

fn diagnostic(
    checker: &Checker,
    def: &ast::StmtFunctionDef,
    binding: &Binding,
    what: What,
    names: &[(&str, TextRange)],
    uses: &Uses,
) -> Diagnostic {
    let listed = names
        .iter()
        .map(|(n, _)| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(" and ");
    let holds = match what {
        What::ExcInfo => "holds `sys.exc_info()`, whose traceback refers",
        What::Traceback => "holds the traceback of the handled exception, which refers",
        What::Exception => "holds the caught exception, whose `__traceback__` refers",
        What::Unpacked => "hold the handled exception and its traceback, which refer",
        What::Frames => "holds frame records that include",
    };
    let verb = if names.len() > 1 { "hold" } else { "holds" };
    let holds = if names.len() > 1 {
        holds.replacen("holds", verb, 1)
    } else {
        holds.to_owned()
    };
    let message = format!(
        "local {listed} of `{func}` {holds} to the frame of `{func}` itself: a reference cycle that keeps every local of every frame in the traceback alive until the cyclic garbage collector runs",
        func = def.name,
    );
    let message = if what == What::Frames {
        message
            .replace("to the frame of", "the frame of")
            .replace("in the traceback", "on the stack")
    } else {
        message
    };
    let diagnostic = Diagnostic::new(Rule::ExcInfoLocal, names[0].1, message);
    match del_fix(checker, binding, names, uses) {
        Ok(fix) => diagnostic.with_fix(fix),
        Err(reason) => diagnostic.with_note(reason),
    }
}

fn del_fix(
    checker: &Checker,
    binding: &Binding,
    names: &[(&str, TextRange)],
    uses: &Uses,
) -> Result<Fix, String> {
    let plain: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
    let listed = plain.join(", ");
    let manual = format!(
        "No automatic fix: {what}; set `{first} = None` (or `del {listed}`) in a `finally` around the code that last uses it.",
        what = "{}",
        first = plain[0],
    );
    let reason = |why: &str| manual.replace("{}", why);
    if uses.calls_locals {
        return Err(reason("the function calls `locals()` or `vars()`"));
    }
    if plain.iter().any(|n| uses.in_nested.contains(n)) {
        return Err(reason(&format!(
            "`{}` is used by a nested function",
            plain[0]
        )));
    }
    let Some(level) = binding.path.last() else {
        return Err(reason("the binding is not in a block"));
    };
    let rest = &level.block[level.index + 1..];
    // Every read must be in the rest of the block.
    let rest_range = rest
        .first()
        .zip(rest.last())
        .map(|(first, last)| TextRange::new(first.start(), last.end()));
    for (name, range) in &uses.reads {
        if plain.contains(name) && rest_range.is_none_or(|r| !r.contains_range(*range)) {
            return Err(reason(&format!(
                "`{name}` is used after the block that binds it"
            )));
        }
    }
    if rest.iter().any(|stmt| deletes(stmt, &plain)) {
        return Err(reason(&format!(
            "`{}` is already deleted on some paths",
            plain[0]
        )));
    }
    let stmt = binding.stmt;
    if !checker.starts_line(stmt) || checker.followed_on_line(stmt) {
        return Err(reason("the binding shares its line with other code"));
    }
    let indentation = checker.indentation(stmt.start());
    let eol = checker.line_ending();
    let unit = checker.indent_unit();
    let message = format!("Delete `{listed}` in a `finally`");
    let Some(first) = rest.first() else {
        let line = format!("{indentation}del {listed}{eol}");
        let at = checker.full_line_end(stmt.end());
        let edit = if at == stmt.end() {
            // The binding ends the file without a line break.
            Edit::insertion(format!("{eol}{indentation}del {listed}"), at)
        } else {
            Edit::insertion(line, at)
        };
        return Ok(Fix::safe(message, vec![edit]));
    };
    if rest.iter().any(|s| !checker.starts_line(s))
        || checker.indentation(first.start()) != indentation
    {
        return Err(reason(
            "the statements after it do not start their own lines",
        ));
    }
    let last = rest.last().unwrap_or(first);
    let range = checker.full_lines(TextRange::new(first.start(), last.end()));
    let mut text = format!("{indentation}try:{eol}");
    text.push_str(&checker.indent_lines(range, unit));
    if !text.ends_with(['\n', '\r']) {
        text.push_str(eol);
    }
    text.push_str(&format!(
        "{indentation}finally:{eol}{indentation}{unit}del {listed}{eol}"
    ));
    Ok(Fix::safe(message, vec![Edit::replacement(text, range)]))
}

/// Whether the path releases the names on every path after the binding.
fn released(path: &[Level], names: &[&str]) -> bool {
    let mut exited = false;
    for level in path.iter().rev() {
        if level
            .finally
            .is_some_and(|body| body.iter().any(|s| releases_in(s, names)))
        {
            return true;
        }
        if exited {
            continue;
        }
        match block_releases(&level.block[level.index + 1..], names) {
            Some(true) => return true,
            Some(false) => exited = true,
            None => {}
        }
    }
    false
}

/// Runs through a block: `Some(true)` if it releases the names before anything can leave it,
/// `Some(false)` if something can leave it first, `None` if it falls through.
fn block_releases(block: &[Stmt], names: &[&str]) -> Option<bool> {
    for stmt in block {
        if releases(stmt, names) {
            return Some(true);
        }
        if let Stmt::Try(try_) = stmt
            && let Some(result) = block_releases(&try_.body, names)
        {
            return Some(result);
        }
        if can_exit(stmt, 0) {
            return Some(false);
        }
    }
    None
}

/// `del name`, `name = None`, or a `try` whose `finally` does one of those.
fn releases(stmt: &Stmt, names: &[&str]) -> bool {
    match stmt {
        Stmt::Delete(_) | Stmt::Assign(_) => releases_in(stmt, names),
        Stmt::Try(try_) => try_.finalbody.iter().any(|s| releases_in(s, names)),
        _ => false,
    }
}

/// Whether `del name` or `name = None` occurs anywhere in `stmt` (not in nested scopes).
fn releases_in(stmt: &Stmt, names: &[&str]) -> bool {
    let mut found = false;
    walk_statements(std::slice::from_ref(stmt), &mut |s| match s {
        Stmt::Delete(del)
            if del
                .targets
                .iter()
                .any(|t| matches!(t, Expr::Name(n) if names.contains(&n.id.as_str()))) =>
        {
            found = true;
        }
        Stmt::Assign(assign)
            if assign.value.is_none_literal_expr()
                && assign.targets.iter().any(|t| target_binds(t, names)) =>
        {
            found = true;
        }
        _ => {}
    });
    found
}

fn target_binds(target: &Expr, names: &[&str]) -> bool {
    match target {
        Expr::Name(n) => names.contains(&n.id.as_str()),
        Expr::Tuple(t) => t.iter().any(|e| deep(|| target_binds(e, names))),
        _ => false,
    }
}

fn deletes(stmt: &Stmt, names: &[&str]) -> bool {
    let mut found = false;
    walk_statements(std::slice::from_ref(stmt), &mut |s| {
        if let Stmt::Delete(del) = s
            && del
                .targets
                .iter()
                .any(|t| matches!(t, Expr::Name(n) if names.contains(&n.id.as_str())))
        {
            found = true;
        }
    });
    found
}

/// Whether control can leave the statement other than by falling through: `return`,
/// `raise`, or `break`/`continue` of an enclosing loop.
fn can_exit(stmt: &Stmt, loops: usize) -> bool {
    match stmt {
        Stmt::Return(_) | Stmt::Raise(_) => true,
        Stmt::Break(_) | Stmt::Continue(_) => loops == 0,
        Stmt::FunctionDef(_) | Stmt::ClassDef(_) => false,
        Stmt::For(for_) => {
            for_.body.iter().any(|s| deep(|| can_exit(s, loops + 1)))
                || for_.orelse.iter().any(|s| can_exit(s, loops))
        }
        Stmt::While(while_) => {
            while_.body.iter().any(|s| deep(|| can_exit(s, loops + 1)))
                || while_.orelse.iter().any(|s| can_exit(s, loops))
        }
        Stmt::If(if_) => {
            if_.body.iter().any(|s| deep(|| can_exit(s, loops)))
                || if_
                    .elif_else_clauses
                    .iter()
                    .any(|c| c.body.iter().any(|s| deep(|| can_exit(s, loops))))
        }
        Stmt::With(with) => with.body.iter().any(|s| deep(|| can_exit(s, loops))),
        Stmt::Match(match_) => match_
            .cases
            .iter()
            .any(|c| c.body.iter().any(|s| deep(|| can_exit(s, loops)))),
        Stmt::Try(try_) => {
            try_.body
                .iter()
                .chain(try_.orelse.iter())
                .chain(try_.finalbody.iter())
                .any(|s| deep(|| can_exit(s, loops)))
                || try_.handlers.iter().any(|h| {
                    let ExceptHandler::ExceptHandler(h) = h;
                    h.body.iter().any(|s| deep(|| can_exit(s, loops)))
                })
        }
        _ => false,
    }
}

/// How the names of a function are used.
#[derive(Default)]
struct Uses<'a> {
    /// Every read of a name, with its range (nested functions included).
    reads: Vec<(&'a str, TextRange)>,
    /// Names read inside nested functions and lambdas.
    in_nested: FxHashSet<&'a str>,
    /// Names declared `global` or `nonlocal`.
    declared: FxHashSet<&'a str>,
    /// Names returned or yielded (directly or in a tuple/list).
    handed_over: FxHashSet<&'a str>,
    /// Names stored in an attribute, a subscript or a container (RL301's business).
    stored: FxHashSet<&'a str>,
    calls_locals: bool,
}

impl<'a> Uses<'a> {
    fn collect(body: &'a [Stmt]) -> Self {
        let mut visitor = UsesVisitor {
            uses: Uses::default(),
            nested: 0,
        };
        visitor.visit_body(body);
        visitor.uses
    }
}

struct UsesVisitor<'a> {
    uses: Uses<'a>,
    nested: usize,
}

fn direct_names<'a>(expr: &'a Expr, out: &mut FxHashSet<&'a str>) {
    match expr {
        Expr::Name(name) => {
            out.insert(name.id.as_str());
        }
        Expr::Tuple(t) => t.iter().for_each(|e| deep(|| direct_names(e, out))),
        Expr::List(l) => l.iter().for_each(|e| deep(|| direct_names(e, out))),
        Expr::Starred(s) => deep(|| direct_names(&s.value, out)),
        _ => {}
    }
}

const GROWTH: &[&str] = &[
    "append",
    "add",
    "appendleft",
    "extend",
    "insert",
    "setdefault",
    "update",
];

impl<'a> Visitor<'a> for UsesVisitor<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(_) | Stmt::ClassDef(_) => {
                self.nested += 1;
                deep(|| visitor::walk_stmt(self, stmt));
                self.nested -= 1;
                return;
            }
            Stmt::Global(global) if self.nested == 0 => {
                self.uses
                    .declared
                    .extend(global.names.iter().map(|n| n.as_str()));
            }
            Stmt::Nonlocal(nonlocal) if self.nested == 0 => {
                self.uses
                    .declared
                    .extend(nonlocal.names.iter().map(|n| n.as_str()));
            }
            Stmt::Return(ret) if self.nested == 0 => {
                if let Some(value) = &ret.value {
                    direct_names(value, &mut self.uses.handed_over);
                }
            }
            Stmt::Assign(assign)
                if assign
                    .targets
                    .iter()
                    .any(|t| matches!(t, Expr::Attribute(_) | Expr::Subscript(_))) =>
            {
                direct_names(&assign.value, &mut self.uses.stored);
            }
            _ => {}
        }
        deep(|| visitor::walk_stmt(self, stmt));
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(name) if name.ctx.is_load() => {
                self.uses.reads.push((name.id.as_str(), name.range()));
                if self.nested > 0 {
                    self.uses.in_nested.insert(name.id.as_str());
                }
            }
            Expr::Lambda(_) => {
                self.nested += 1;
                deep(|| visitor::walk_expr(self, expr));
                self.nested -= 1;
                return;
            }
            Expr::Yield(ast::ExprYield {
                value: Some(value), ..
            }) if self.nested == 0 => direct_names(value, &mut self.uses.handed_over),
            Expr::Call(call) => {
                if let Expr::Attribute(attr) = &*call.func
                    && GROWTH.contains(&attr.attr.as_str())
                {
                    for arg in &call.arguments.args {
                        direct_names(arg, &mut self.uses.stored);
                    }
                }
                if let Expr::Name(name) = &*call.func
                    && matches!(name.id.as_str(), "locals" | "vars")
                {
                    self.uses.calls_locals = true;
                }
            }
            _ => {}
        }
        deep(|| visitor::walk_expr(self, expr));
    }
}
