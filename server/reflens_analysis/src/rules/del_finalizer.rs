use ruff_python_ast::statement_visitor::{self, StatementVisitor};
use ruff_python_ast::token::TokenKind;
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, ExprContext, Stmt};
use ruff_text_size::{Ranged, TextRange, TextSize};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::{Diagnostic, Edit, Fix};
use crate::helpers::{
    MethodKind, Words, any_within, body_without_docstring, deep, first_parameter, is_name,
    method_kind,
};
use crate::registry::Rule;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// A class that defines `__del__` with a `def` in its body (also inside an `if` or `try` of the
    /// class body, and also in classes nested in functions or other classes).
    ///
    /// Not flagged, because no cleanup depends on `__del__` running:
    /// - `__del__ = ...` assignments, and functions named `__del__` outside a class body;
    /// - stubs: a body of only `pass`, `...`, a docstring or `raise NotImplementedError` (Protocol and
    ///   ABC declarations, overrides that switch off a base class's `__del__`);
    /// - bodies that only report or forget: `warnings.warn(...)`/`warn_explicit(...)` (however
    ///   spelled, including the `_warn=warnings.warn` parameter idiom), logging calls, `print`,
    ///   `assert`, setting the instance's own attributes to constants (`self._closed = True`,
    ///   `self.info = None`) or deleting them, and locals computed without side effects, possibly
    ///   behind `if`/`try`;
    /// - `self.detach()`: an `io.TextIOWrapper` subclass letting go of the stream it wraps so that
    ///   the base class's finalizer does not close it (the opposite of a cleanup).
    ///
    /// The `ResourceWarning`-only `__del__` is the idiom CPython uses to report an object that was
    /// never closed: it frees nothing, reports a leak rather than causing one, and cannot be rewritten
    /// to `weakref.finalize` (the warning names the object, which the callback must not hold). In the
    /// standard library, though, nearly every `__del__` that warns also closes the resource afterwards
    /// (asyncio transports and event loops, `subprocess.Popen`, `tempfile.SpooledTemporaryFile`,
    /// `_pyio.FileIO`); those are flagged, because the cleanup is what depends on `__del__` running.
    /// Dropping references (`self.info = None`) needs no finalizer either: the instance is being freed.
    ///
    /// ## Why it keeps memory alive
    /// Since Python 3.4 (PEP 442) the cyclic garbage collector frees reference cycles that contain
    /// objects with `__del__`; before that such cycles were never freed and ended up in `gc.garbage`,
    /// which is where `__del__`'s reputation comes from. What is still true:
    ///
    /// - `__del__` runs whenever the instance happens to be freed: for an instance in a reference
    ///   cycle only when the cyclic collector runs (never, if `gc` is disabled), and for an instance
    ///   still alive at interpreter shutdown possibly never, or after the module globals it uses have
    ///   been cleared. The socket, file or process it cleans up stays open until then.
    /// - Anything `__del__` stores `self` into (a list, a global, a callback) resurrects the instance:
    ///   it stays alive, with everything it refers to, and `__del__` does not run again for it.
    /// - Exceptions raised in `__del__` are printed as "Exception ignored in" and swallowed, so a
    ///   failing cleanup leaks its resource silently.
    ///
    /// `weakref.finalize(obj, func, *args)` registers a callback that holds no reference to `obj`:
    /// it cannot resurrect it, runs at most once, runs at interpreter exit by default for instances
    /// still alive, and can be called explicitly (from `close()`) or inspected (`.alive`).
    ///
    /// ## Example
    /// ```python
    /// import socket
    ///
    /// class Conn:
    ///     def __init__(self, host):
    ///         self.sock = socket.create_connection(host)
    ///         self.buf = []
    ///
    ///     def __del__(self):
    ///         self.sock.close()
    /// ```
    ///
    /// ## Fix
    /// Move the cleanup to a static method that receives the attributes it needs, and register it
    /// with `weakref.finalize` at the end of `__init__`. The callback must not refer to `self` (a
    /// finalizer that holds the instance keeps it alive for ever), so every `self.<attr>` in the body
    /// becomes a parameter:
    ///
    /// ```python
    /// import socket
    /// import weakref
    ///
    /// class Conn:
    ///     def __init__(self, host):
    ///         self.sock = socket.create_connection(host)
    ///         self.buf = []
    ///         self._finalizer = weakref.finalize(self, Conn._finalize, self.sock)
    ///
    ///     @staticmethod
    ///     def _finalize(sock):
    ///         sock.close()
    /// ```
    ///
    /// `close()` can then call `self._finalizer()` to clean up early, exactly once. When the class has
    /// `__slots__` including `'__weakref__'`, the finalizer is registered without being stored (the
    /// `weakref` module keeps it alive until it runs). Parameters are renamed (`_sock`) when the body
    /// already uses the attribute's name.
    ///
    /// ## Fix safety
    /// Always unsafe. The cleanup now also runs at interpreter exit for instances still alive
    /// (`__del__` might not have run then at all). It receives the attribute values the instance had
    /// at the end of `__init__`: the fix is offered only when nothing in the file assigns those
    /// attributes elsewhere, but code in other modules might. If `__init__` raises, nothing is
    /// registered (whereas `__del__` also ran for half-initialised instances). Base classes and
    /// subclasses in other modules are not checked: a base class's own `__del__` runs again once this
    /// override is gone, a subclass that calls `super().__del__()` breaks, and a subclass whose
    /// `__init__` does not call `super().__init__()` gets no finalizer. A captured value that refers
    /// back to the instance (a bound method, a parent holding its child) would keep it alive for ever:
    /// the fix is withheld when the class ties a captured attribute to `self` or stores an
    /// `__init__` parameter in it (unless the parameter is annotated with a plain value type such as
    /// `str`, `int` or `Path`), but a value created from outside data cannot be fully checked.
    ///
    /// The fix is offered only when: the class has exactly one synchronous `__init__` of its own, not
    /// written on one line and without `return`; `__del__` is defined once, unconditionally, without
    /// decorators, takes only `self`, and uses `self` only to read attributes (no bare `self`, no
    /// assignment or `del` of its attributes, no calls of its methods or reads of its properties, no
    /// `super()`), with no `global`/`nonlocal`, `yield` or `await`; every attribute it reads is
    /// assigned at the top level of `__init__` and nowhere else in the file; nothing in the file calls
    /// this `__del__` explicitly; no base class in the file defines `__del__`, and no subclass in the
    /// file defines `__del__` or skips `super().__init__()`; the class is not nested in another class,
    /// and its instances can be weak-referenced (no `__slots__` without `'__weakref__'`, no
    /// `int`/`bool`/`tuple`/`bytes` or named-tuple base). Otherwise a note names what is in the way.
    pub struct DelFinalizer {
        code: "RL201",
        name: "del-finalizer",
        summary: "`__del__` cleans up at an unpredictable time, can resurrect `self` and swallows errors; use `weakref.finalize`",
        fix: Sometimes,
    }
}

/// Words one of which a file needs for this rule to run on it (see `triggers`).
pub(crate) const TRIGGERS: Triggers = Triggers::AnyOf(&["__del__"]);

pub(crate) fn check(checker: &mut Checker) {
    let mut finder = ClassFinder::default();
    finder.visit_body(checker.suite);
    let mut facts: Option<ModuleFacts> = None;
    let mut found = Vec::new();
    for (class, nested_in_class) in finder.found {
        let mut dels = Vec::new();
        del_defs(&class.body, &mut dels);
        let count = dels.len();
        for (def, conditional) in dels {
            if runs_no_cleanup(checker, def) {
                continue;
            }
            let facts = facts.get_or_insert_with(|| ModuleFacts::collect(checker));
            let site = Site {
                class,
                def,
                nested_in_class,
                conditional,
                del_count: count,
            };
            found.push(diagnostic(checker, facts, &site));
        }
    }
    for diagnostic in found {
        checker.report(diagnostic);
    }
}

/// One `def __del__` and where it sits.
struct Site<'a> {
    class: &'a ast::StmtClassDef,
    def: &'a ast::StmtFunctionDef,
    nested_in_class: bool,
    conditional: bool,
    del_count: usize,
}

fn diagnostic(checker: &Checker, facts: &ModuleFacts, site: &Site) -> Diagnostic {
    let self_name = first_parameter(site.def);
    let body = self_name.map(|name| DelBody::analyze(checker.source, site.def, name));
    let action = describe_action(checker, site.def, self_name.unwrap_or("self"));
    // Keep the message to one readable sentence; the rule's docs carry the full story.
    let message = match body.as_ref().and_then(|body| body.resurrects) {
        Some(target) => format!(
            "`{class}.__del__` {action} only when the garbage collector gets to it, and it resurrects the instance by storing `{self_name}` in `{target}`, where it then stays alive for good; `weakref.finalize` cannot resurrect",
            class = site.class.name,
            self_name = self_name.unwrap_or("self"),
            target = snippet(checker, target),
        ),
        None => format!(
            "`{class}.__del__` {action} only when the garbage collector gets to it (perhaps never at exit) and swallows its errors; `weakref.finalize` runs once, when the instance dies or at exit at the latest, and cannot resurrect it",
            class = site.class.name,
        ),
    };
    let diagnostic = Diagnostic::new(Rule::DelFinalizer, site.def.name.range(), message);
    let fix = match (self_name, body) {
        (Some(self_name), Some(body)) => finalize_fix(checker, facts, site, self_name, &body),
        _ => Err("No automatic fix: `__del__` takes no `self`.".to_owned()),
    };
    match fix {
        Ok(fix) => diagnostic.with_fix(fix),
        Err(note) => diagnostic.with_note(note),
    }
}

// ---- finding classes and their `__del__` -------------------------------------------------

/// Every class, and whether it is defined directly in another class's body.
#[derive(Default)]
struct ClassFinder<'a> {
    /// For each enclosing scope: true for a class, false for a function.
    scopes: Vec<bool>,
    found: Vec<(&'a ast::StmtClassDef, bool)>,
}

impl<'a> StatementVisitor<'a> for ClassFinder<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::ClassDef(class) => {
                let in_class = self.scopes.last() == Some(&true);
                self.found.push((class, in_class));
                self.scopes.push(true);
                deep(|| statement_visitor::walk_stmt(self, stmt));
                self.scopes.pop();
            }
            Stmt::FunctionDef(_) => {
                self.scopes.push(false);
                deep(|| statement_visitor::walk_stmt(self, stmt));
                self.scopes.pop();
            }
            _ => deep(|| statement_visitor::walk_stmt(self, stmt)),
        }
    }
}

/// The statements of a class body, including those inside its `if`/`try`/`with`/loops, but
/// not inside its functions and nested classes.
fn class_level<'a>(body: &'a [Stmt], out: &mut Vec<(&'a Stmt, bool)>, nested: bool) {
    for stmt in body {
        out.push((stmt, nested));
        deep(|| match stmt {
            Stmt::If(if_) => {
                class_level(&if_.body, out, true);
                for clause in &if_.elif_else_clauses {
                    class_level(&clause.body, out, true);
                }
            }
            Stmt::Try(try_) => {
                class_level(&try_.body, out, true);
                for handler in &try_.handlers {
                    let ast::ExceptHandler::ExceptHandler(handler) = handler;
                    class_level(&handler.body, out, true);
                }
                class_level(&try_.orelse, out, true);
                class_level(&try_.finalbody, out, true);
            }
            Stmt::With(with) => class_level(&with.body, out, true),
            Stmt::For(for_) => {
                class_level(&for_.body, out, true);
                class_level(&for_.orelse, out, true);
            }
            Stmt::While(while_) => {
                class_level(&while_.body, out, true);
                class_level(&while_.orelse, out, true);
            }
            Stmt::Match(match_) => {
                for case in &match_.cases {
                    class_level(&case.body, out, true);
                }
            }
            _ => {}
        });
    }
}

/// The `def __del__` statements of a class body, and whether each is conditional.
fn del_defs<'a>(body: &'a [Stmt], out: &mut Vec<(&'a ast::StmtFunctionDef, bool)>) {
    let mut all = Vec::new();
    class_level(body, &mut all, false);
    for (stmt, conditional) in all {
        if let Stmt::FunctionDef(def) = stmt
            && def.name.as_str() == "__del__"
        {
            out.push((def, conditional));
        }
    }
}

// ---- bodies that run no cleanup ----------------------------------------------------------

/// Stubs (`...`, `pass`, docstring, `raise NotImplementedError`) and bodies that only report
/// (warnings, logging, `print`, `assert`) or reset the instance's own attributes.
fn runs_no_cleanup(checker: &Checker, def: &ast::StmtFunctionDef) -> bool {
    // `def __del__(self, _warn=warnings.warn)` and `_warnings=warnings`: CPython's idiom for
    // keeping the function reachable at interpreter shutdown.
    let mut inert = Inert {
        checker,
        self_name: first_parameter(def),
        warn_functions: Vec::new(),
        warn_modules: Vec::new(),
    };
    for param in def.parameters.iter_non_variadic_params() {
        let Some(default) = param.default.as_deref() else {
            continue;
        };
        match checker.semantic.qualified_name(default).as_deref() {
            Some("warnings.warn" | "warnings.warn_explicit") => {
                inert.warn_functions.push(param.parameter.name.as_str());
            }
            Some("warnings") => inert.warn_modules.push(param.parameter.name.as_str()),
            _ => {}
        }
    }
    inert.body(body_without_docstring(&def.body))
}

struct Inert<'c, 'a> {
    checker: &'c Checker<'a>,
    self_name: Option<&'a str>,
    warn_functions: Vec<&'a str>,
    warn_modules: Vec<&'a str>,
}

/// Builtins that only compute a value.
const PURE_BUILTINS: &[&str] = &[
    "builtins.list",
    "builtins.tuple",
    "builtins.len",
    "builtins.getattr",
    "builtins.hasattr",
    "builtins.isinstance",
    "builtins.id",
    "builtins.repr",
    "builtins.str",
    "builtins.type",
    "builtins.any",
    "builtins.all",
    "builtins.sorted",
    "builtins.set",
    "builtins.dict",
    "builtins.frozenset",
];

/// Methods that only ask about the state of an object.
const QUERY_METHODS: &[&str] = &[
    "values",
    "items",
    "keys",
    "get",
    "copy",
    "is_alive",
    "done",
    "cancelled",
    "is_closed",
    "is_closing",
    "is_running",
    "closed",
];

/// Methods that report (logging).
const LOGGING_METHODS: &[&str] = &[
    "debug",
    "info",
    "warning",
    "warn",
    "error",
    "exception",
    "critical",
    "log",
];

impl Inert<'_, '_> {
    fn body(&self, body: &[Stmt]) -> bool {
        body.iter().all(|stmt| deep(|| self.stmt(stmt)))
    }

    fn is_self_attribute(&self, expr: &Expr) -> bool {
        self.self_name
            .is_some_and(|self_name| is_self_attribute(expr, self_name))
    }

    fn stmt(&self, stmt: &Stmt) -> bool {
        match stmt {
            Stmt::Pass(_) => true,
            Stmt::Expr(expr) => {
                expr.value.is_ellipsis_literal_expr()
                    || expr.value.is_string_literal_expr()
                    || self.is_report(&expr.value)
                    || self.is_self_detach(&expr.value)
            }
            Stmt::Return(ret) => ret.value.as_deref().is_none_or(Expr::is_none_literal_expr),
            Stmt::Raise(raise) => raise.exc.as_deref().is_some_and(|exc| {
                let exc = ruff_python_ast::helpers::map_callable(exc);
                matches!(exc, Expr::Name(name) if name.id.as_str() == "NotImplementedError")
                    && !self.checker.semantic.is_module_level("NotImplementedError")
            }),
            Stmt::Assert(assert) => {
                self.pure(&assert.test) && assert.msg.as_deref().is_none_or(|msg| self.pure(msg))
            }
            // `self._closed = True`, `self.info = None`: the instance is going away anyway.
            // `threads = [...]`: a local computed without side effects.
            Stmt::Assign(assign) => assign.targets.iter().all(|target| {
                if self.is_self_attribute(target) {
                    is_literal(&assign.value)
                } else {
                    target.is_name_expr() && self.pure(&assign.value)
                }
            }),
            Stmt::AnnAssign(assign) => assign.value.as_deref().is_none_or(|value| {
                if self.is_self_attribute(&assign.target) {
                    is_literal(value)
                } else {
                    assign.target.is_name_expr() && self.pure(value)
                }
            }),
            Stmt::Delete(delete) => delete
                .targets
                .iter()
                .all(|target| self.is_self_attribute(target) || target.is_name_expr()),
            Stmt::If(if_) => {
                self.pure(&if_.test)
                    && self.body(&if_.body)
                    && if_.elif_else_clauses.iter().all(|clause| {
                        clause.test.as_ref().is_none_or(|test| self.pure(test))
                            && self.body(&clause.body)
                    })
            }
            Stmt::Try(try_) => {
                self.body(&try_.body)
                    && try_.handlers.iter().all(|handler| {
                        let ast::ExceptHandler::ExceptHandler(handler) = handler;
                        self.body(&handler.body)
                    })
                    && self.body(&try_.orelse)
                    && self.body(&try_.finalbody)
            }
            _ => false,
        }
    }

    /// `warnings.warn(...)` (however spelled), a logging call, or `print(...)`.
    fn is_report(&self, expr: &Expr) -> bool {
        let Expr::Call(call) = expr else { return false };
        let semantic = &self.checker.semantic;
        if semantic.resolves_to(
            &call.func,
            &["warnings.warn", "warnings.warn_explicit", "builtins.print"],
        ) || (is_name(&call.func, "print") && !semantic.is_module_level("print"))
        {
            return true;
        }
        match &*call.func {
            Expr::Name(name) => self.warn_functions.contains(&name.id.as_str()),
            Expr::Attribute(attr) => {
                let method = attr.attr.as_str();
                match &*attr.value {
                    Expr::Name(module) if self.warn_modules.contains(&module.id.as_str()) => {
                        matches!(method, "warn" | "warn_explicit")
                    }
                    // `logger.debug(...)`, `self._log.info(...)`, `util.debug(...)`; not
                    // `future.exception()` or the class's own `self.warning(...)`.
                    receiver => LOGGING_METHODS.contains(&method) && self.is_logger(receiver),
                }
            }
            _ => false,
        }
    }

    /// `self.detach()`: an `io` wrapper letting go of its stream so that the base class's own
    /// finalizer does not close it (the opposite of a cleanup).
    fn is_self_detach(&self, expr: &Expr) -> bool {
        let Expr::Call(call) = expr else { return false };
        call.arguments.is_empty()
            && matches!(&*call.func, Expr::Attribute(attr)
                if attr.attr.as_str() == "detach"
                    && self.self_name.is_some_and(|self_name| is_name(&attr.value, self_name)))
    }

    /// `logging`, `logger`, `self.log`, `_LOGGER`, `util` (multiprocessing's logging helpers).
    fn is_logger(&self, receiver: &Expr) -> bool {
        if self.checker.semantic.resolves_to(receiver, &["logging"]) {
            return true;
        }
        let name = match receiver {
            Expr::Name(name) => name.id.as_str(),
            Expr::Attribute(attr) => attr.attr.as_str(),
            _ => return false,
        };
        let name = name.trim_matches('_').to_ascii_lowercase();
        name == "util" || name == "logging" || name.ends_with("log") || name.ends_with("logger")
    }

    /// No calls except to builtins that compute values and to query methods.
    fn pure(&self, expr: &Expr) -> bool {
        struct Impure<'c, 'a, 'i> {
            inert: &'i Inert<'c, 'a>,
            found: bool,
        }
        impl<'e> Visitor<'e> for Impure<'_, '_, '_> {
            fn visit_expr(&mut self, expr: &'e Expr) {
                if self.found {
                    return;
                }
                match expr {
                    Expr::Call(call) => {
                        let pure = self
                            .inert
                            .checker
                            .semantic
                            .resolves_to(&call.func, PURE_BUILTINS)
                            || matches!(&*call.func, Expr::Attribute(attr) if QUERY_METHODS.contains(&attr.attr.as_str()));
                        if !pure {
                            self.found = true;
                            return;
                        }
                    }
                    Expr::Await(_) | Expr::Yield(_) | Expr::YieldFrom(_) | Expr::Named(_) => {
                        self.found = true;
                        return;
                    }
                    _ => {}
                }
                deep(|| visitor::walk_expr(self, expr));
            }
        }
        let mut impure = Impure {
            inert: self,
            found: false,
        };
        impure.visit_expr(expr);
        !impure.found
    }
}

fn is_literal(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::NoneLiteral(_)
            | Expr::BooleanLiteral(_)
            | Expr::NumberLiteral(_)
            | Expr::StringLiteral(_)
            | Expr::BytesLiteral(_)
            | Expr::EllipsisLiteral(_)
    )
}

// ---- what the finalizer does (for the message) -------------------------------------------

/// "closes `self.sock`", "calls `self.close()`", ...: the first two things the body does.
fn describe_action(checker: &Checker, def: &ast::StmtFunctionDef, self_name: &str) -> String {
    let mut actions = Vec::new();
    let mut fallback = Vec::new();
    collect_actions(checker, &def.body, self_name, &mut actions, &mut fallback);
    if actions.is_empty() {
        actions = fallback;
    }
    let mut unique: Vec<String> = Vec::new();
    for action in actions {
        if !unique.contains(&action) {
            unique.push(action);
        }
    }
    let more = unique.len() > 2;
    unique.truncate(2);
    // "calls `a()` and calls `b()`" reads better as "calls `a()` and `b()`".
    if let [one, two] = unique.as_mut_slice()
        && one.starts_with("calls ")
        && two.starts_with("calls ")
    {
        *two = two["calls ".len()..].to_owned();
    }
    match (unique.as_slice(), more) {
        ([], _) => "runs its cleanup code".to_owned(),
        ([one], _) => one.clone(),
        ([one, two], false) => format!("{one} and {two}"),
        ([one, two, ..], true) => format!("{one}, {two} and more"),
        _ => unique.join(" and "),
    }
}

fn collect_actions(
    checker: &Checker,
    body: &[Stmt],
    self_name: &str,
    actions: &mut Vec<String>,
    fallback: &mut Vec<String>,
) {
    for stmt in body {
        deep(|| match stmt {
            Stmt::Expr(expr) => {
                let value = match &*expr.value {
                    Expr::Await(awaited) => &*awaited.value,
                    value => value,
                };
                if let Expr::Call(call) = value
                    && let Some(action) = call_action(checker, &call.func, self_name)
                {
                    actions.push(action);
                }
            }
            Stmt::Delete(delete) => {
                for target in &delete.targets {
                    if is_self_attribute(target, self_name) {
                        fallback.push(format!("deletes `{}`", checker.slice(target.range())));
                    }
                }
            }
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    if is_self_attribute(target, self_name) {
                        fallback.push(format!("resets `{}`", checker.slice(target.range())));
                    }
                }
            }
            Stmt::If(if_) => {
                collect_actions(checker, &if_.body, self_name, actions, fallback);
                for clause in &if_.elif_else_clauses {
                    collect_actions(checker, &clause.body, self_name, actions, fallback);
                }
            }
            Stmt::Try(try_) => {
                collect_actions(checker, &try_.body, self_name, actions, fallback);
                collect_actions(checker, &try_.orelse, self_name, actions, fallback);
                collect_actions(checker, &try_.finalbody, self_name, actions, fallback);
            }
            Stmt::With(with) => collect_actions(checker, &with.body, self_name, actions, fallback),
            Stmt::For(for_) => collect_actions(checker, &for_.body, self_name, actions, fallback),
            Stmt::While(while_) => {
                collect_actions(checker, &while_.body, self_name, actions, fallback)
            }
            _ => {}
        });
    }
}

fn is_self_attribute(expr: &Expr, self_name: &str) -> bool {
    matches!(expr, Expr::Attribute(attr) if is_name(&attr.value, self_name))
}

fn call_action(checker: &Checker, func: &Expr, self_name: &str) -> Option<String> {
    if !ruff_python_ast::helpers::is_dotted_name(func) {
        return None;
    }
    let text = checker.slice(func.range());
    if text.contains(['\n', '\r']) || text.len() > 50 {
        return None;
    }
    let last = text
        .rsplit('.')
        .next()
        .unwrap_or(text)
        .trim_start_matches('_');
    // Logging and warnings are not what the finalizer is for.
    if matches!(
        last,
        "warn"
            | "debug"
            | "info"
            | "warning"
            | "error"
            | "exception"
            | "critical"
            | "log"
            | "print"
    ) {
        return None;
    }
    if let Expr::Attribute(method) = func
        && let Expr::Attribute(owner) = &*method.value
        && is_name(&owner.value, self_name)
        && let Some(verb) = verb(method.attr.as_str())
    {
        return Some(format!("{verb} `{}`", checker.slice(owner.range())));
    }
    Some(format!("calls `{text}()`"))
}

fn verb(method: &str) -> Option<&'static str> {
    Some(match method {
        "close" => "closes",
        "release" => "releases",
        "shutdown" => "shuts down",
        "terminate" => "terminates",
        "kill" => "kills",
        "unlink" => "unlinks",
        "cleanup" => "cleans up",
        "disconnect" => "disconnects",
        "stop" => "stops",
        "join" => "joins",
        "detach" => "detaches",
        "cancel" => "cancels",
        "flush" => "flushes",
        "delete" => "deletes",
        "dispose" => "disposes of",
        "destroy" => "destroys",
        "free" => "frees",
        "unregister" => "unregisters",
        _ => return None,
    })
}

// ---- the `__del__` body: how it uses `self` ----------------------------------------------

struct DelBody<'a> {
    source: &'a str,
    self_name: &'a str,
    /// Every `self.<attr>` read, in source order.
    reads: Vec<(&'a str, TextRange)>,
    /// Every `self.<attr>(...)` call: the attribute and the callee's range.
    calls: Vec<(&'a str, TextRange)>,
    /// What makes the body impossible to move out of the instance, by position.
    blockers: Vec<(TextSize, Blocker)>,
    /// Where the body stores `self` (`_active` in `_active.append(self)`).
    resurrects: Option<TextRange>,
    parents: Vec<&'a Expr>,
    statements: Vec<&'a Stmt>,
}

enum Blocker {
    Reason(String),
    /// A bare use of `self`, in the given expression or statement.
    BareSelf(TextRange),
}

impl<'a> DelBody<'a> {
    fn analyze(source: &'a str, def: &'a ast::StmtFunctionDef, self_name: &'a str) -> Self {
        let mut body = DelBody {
            source,
            self_name,
            reads: Vec::new(),
            calls: Vec::new(),
            blockers: Vec::new(),
            resurrects: None,
            parents: Vec::new(),
            statements: Vec::new(),
        };
        body.visit_body(&def.body);
        body.blockers.sort_by_key(|(at, _)| *at);
        body
    }

    fn multiline(&self, range: TextRange) -> bool {
        self.source[range].contains(['\n', '\r'])
    }

    fn block(&mut self, at: TextSize, reason: String) {
        self.blockers.push((at, Blocker::Reason(reason)));
    }

    fn binds_self(&self, parameters: Option<&ast::Parameters>) -> bool {
        parameters.is_some_and(|parameters| {
            parameters
                .iter()
                .any(|param| param.name().as_str() == self.self_name)
        })
    }
}

/// Methods on which a container stores its argument.
const STORING_METHODS: &[&str] = &[
    "append",
    "add",
    "insert",
    "appendleft",
    "put",
    "put_nowait",
    "setdefault",
];

impl<'a> Visitor<'a> for DelBody<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Global(_) => {
                self.block(stmt.start(), "`__del__` declares `global` names".to_owned())
            }
            Stmt::Nonlocal(_) => self.block(
                stmt.start(),
                "`__del__` declares `nonlocal` names".to_owned(),
            ),
            Stmt::FunctionDef(def) if self.binds_self(Some(&def.parameters)) => self.block(
                stmt.start(),
                format!(
                    "a function nested in `__del__` has its own `{}` parameter",
                    self.self_name
                ),
            ),
            Stmt::For(for_) if for_.is_async => {
                self.block(stmt.start(), "`__del__` uses `async for`".to_owned())
            }
            Stmt::With(with) if with.is_async => {
                self.block(stmt.start(), "`__del__` uses `async with`".to_owned())
            }
            Stmt::Assign(assign) if is_name(&assign.value, self.self_name) => {
                if let Some(target) = assign
                    .targets
                    .iter()
                    .find(|target| matches!(target, Expr::Attribute(_) | Expr::Subscript(_)))
                {
                    self.resurrects.get_or_insert(target.range());
                }
            }
            _ => {}
        }
        self.statements.push(stmt);
        deep(|| visitor::walk_stmt(self, stmt));
        self.statements.pop();
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Attribute(attr) if is_name(&attr.value, self.self_name) => {
                let name = attr.attr.as_str();
                match attr.ctx {
                    ExprContext::Store => self.block(
                        expr.start(),
                        format!("`__del__` assigns `{}.{name}`", self.self_name),
                    ),
                    ExprContext::Del => self.block(
                        expr.start(),
                        format!("`__del__` deletes `{}.{name}`", self.self_name),
                    ),
                    _ => self.reads.push((name, expr.range())),
                }
                // The value is `self` itself, as the receiver: not a bare use.
                return;
            }
            Expr::Call(call) => {
                if let Expr::Attribute(attr) = &*call.func
                    && is_name(&attr.value, self.self_name)
                {
                    self.calls.push((attr.attr.as_str(), call.func.range()));
                }
                if is_name(&call.func, "super") {
                    self.block(
                        expr.start(),
                        "`__del__` calls `super()`, which needs the instance".to_owned(),
                    );
                }
            }
            Expr::Name(name) if name.id.as_str() == self.self_name => {
                let parent = self.parents.last().copied();
                // The largest short, one-line expression around it, for the note.
                let mut context = None;
                for ancestor in self.parents.iter().rev() {
                    let range = ancestor.range();
                    if range.len() > TextSize::new(60) || self.multiline(range) {
                        break;
                    }
                    context = Some(range);
                }
                if let Some(Expr::Call(call)) = parent
                    && let Expr::Attribute(method) = &*call.func
                    && STORING_METHODS.contains(&method.attr.as_str())
                    && call
                        .arguments
                        .args
                        .iter()
                        .any(|arg| std::ptr::eq(arg, expr))
                {
                    self.resurrects.get_or_insert(method.value.range());
                }
                self.blockers.push((
                    expr.start(),
                    Blocker::BareSelf(context.unwrap_or(expr.range())),
                ));
                return;
            }
            Expr::Name(name) if name.id.as_str() == "__class__" => {
                self.block(
                    expr.start(),
                    "`__del__` uses `__class__`, which needs the instance's class cell".to_owned(),
                );
            }
            Expr::Yield(_) | Expr::YieldFrom(_) => {
                self.block(expr.start(), "`__del__` contains `yield`".to_owned());
            }
            Expr::Await(_) => self.block(expr.start(), "`__del__` contains `await`".to_owned()),
            Expr::Lambda(lambda) if self.binds_self(lambda.parameters.as_deref()) => self.block(
                expr.start(),
                format!(
                    "a lambda in `__del__` has its own `{}` parameter",
                    self.self_name
                ),
            ),
            _ => {}
        }
        self.parents.push(expr);
        deep(|| visitor::walk_expr(self, expr));
        self.parents.pop();
    }
}

// ---- facts about the whole module --------------------------------------------------------

/// Where an attribute is assigned, deleted or read.
#[derive(Clone, Copy)]
struct Place<'a> {
    range: TextRange,
    /// The innermost function it is in.
    function: Option<&'a str>,
    /// The class whose method it is in (or whose body it is in), as an index into `classes`.
    class: Option<usize>,
    /// The receiver is the `self` of the method it is in (`self.x`, not `other.x`).
    on_self: bool,
}

struct AttrStore<'a> {
    place: Place<'a>,
    delete: bool,
}

/// An explicit use of `__del__` (`super().__del__()`, `Conn.__del__(obj)`, `close = __del__`).
struct DelRef<'a> {
    range: TextRange,
    /// `Conn` in `Conn.__del__`, `super()` in `super().__del__`; `None` for other receivers.
    receiver: Option<&'a str>,
    /// A bare `__del__` name: in a class body it is that class's own `__del__`.
    bare: bool,
    /// The innermost class it is in (index into `classes`).
    class: Option<usize>,
}

struct ClassInfo<'a> {
    range: TextRange,
    name: &'a str,
    bases: Vec<&'a str>,
    node: &'a ast::StmtClassDef,
}

#[derive(Default)]
struct ModuleFacts<'a> {
    /// Every `x.__del__` and `__del__` read: explicit calls that a removed `__del__` would break.
    del_refs: Vec<DelRef<'a>>,
    classes: Vec<ClassInfo<'a>>,
    /// Assignments and deletions of attributes (`x.attr = ...`, `setattr(x, "attr", ...)`), by name.
    stores: FxHashMap<&'a str, Vec<AttrStore<'a>>>,
    /// `setattr`/`delattr` with a computed name, `__dict__`, `__setattr__`, `vars()`.
    dynamic: Vec<Place<'a>>,
    /// Every use of an attribute whose name starts with `_finalize`, by name (to pick names
    /// for the new members, `_finalize`, `_finalizer`, `_finalize_2`, ...).
    attr_uses: Vec<(&'a str, Place<'a>)>,
}

impl<'a> ModuleFacts<'a> {
    fn collect(checker: &Checker<'a>) -> Self {
        let mut visitor = FactsVisitor {
            checker,
            dynamic_words: ["setattr", "delattr", "vars"]
                .iter()
                .any(|word| checker.source.contains(word)),
            facts: ModuleFacts::default(),
            scopes: Vec::new(),
            words: fact_word_positions(checker),
        };
        visitor.visit_body(checker.suite);
        visitor.facts
    }

    fn class_index(&self, class: &ast::StmtClassDef) -> Option<usize> {
        self.classes
            .iter()
            .position(|info| info.range == class.range)
    }

    /// Whether code at `place` may touch the attributes of `class`'s instances: code in the
    /// class or a subclass of it here, and code whose receiver is not a method's own `self`.
    fn concerns(&self, place: &Place, class: &ast::StmtClassDef) -> bool {
        let Some(index) = place.class else {
            return true;
        };
        let Some(info) = self.classes.get(index) else {
            return true;
        };
        info.range == class.range || info.bases.contains(&class.name.as_str()) || !place.on_self
    }
}

enum Scope<'a> {
    Class(usize),
    Function {
        name: &'a str,
        self_name: Option<&'a str>,
    },
}

struct FactsVisitor<'a, 'c> {
    checker: &'c Checker<'a>,
    /// Whether the file spells `setattr`, `delattr` or `vars`: a call can resolve to one of
    /// them only then (every segment of a resolved name is spelled in the file).
    dynamic_words: bool,
    facts: ModuleFacts<'a>,
    scopes: Vec<Scope<'a>>,
    /// See [`fact_word_positions`].
    words: Option<Vec<TextSize>>,
}

/// Where the file spells a word of an expression that gives a fact, when the text tells:
/// `__del__`, the dynamic attributes, `_finalize`, the names of `setattr`, `delattr` and
/// `vars` (resolved through imports: spelled unless an import renames them), and `for`, which
/// every comprehension spells (its target may store an attribute, `[... for self.x in y]`).
/// Attributes stored by statements are the targets themselves, which are always visited.
/// `None` when the file is not ASCII (identifiers are NFKC-normalised).
fn fact_word_positions(checker: &Checker) -> Option<Vec<TextSize>> {
    static WORDS: Words = Words::new(&[
        "__del__",
        "__dict__",
        "__setattr__",
        "__delattr__",
        "_finalize",
        "setattr",
        "delattr",
        "vars",
        "for",
    ]);
    (checker.source.is_ascii()
        && !checker
            .semantic
            .imports_renamed(|last| matches!(last, "setattr" | "delattr" | "vars")))
    .then(|| WORDS.positions(checker.source))
}

impl<'a> FactsVisitor<'a, '_> {
    fn place(&self, range: TextRange, receiver: Option<&Expr>) -> Place<'a> {
        let function = self.scopes.iter().rev().find_map(|scope| match scope {
            Scope::Function { name, .. } => Some(*name),
            Scope::Class(_) => None,
        });
        let class = self.scopes.iter().rev().find_map(|scope| match scope {
            Scope::Class(index) => Some(*index),
            Scope::Function { .. } => None,
        });
        // `self.x` in a method (not in a function nested in it).
        let on_self = match self.scopes.as_slice() {
            [
                ..,
                Scope::Class(_),
                Scope::Function {
                    self_name: Some(self_name),
                    ..
                },
            ] => receiver.is_some_and(|receiver| is_name(receiver, self_name)),
            _ => false,
        };
        Place {
            range,
            function,
            class,
            on_self,
        }
    }
}

impl<'a> Visitor<'a> for FactsVisitor<'a, '_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(def) => {
                let in_class = matches!(self.scopes.last(), Some(Scope::Class(_)));
                let is_method = in_class && method_kind(self.checker, def) == MethodKind::Instance;
                self.scopes.push(Scope::Function {
                    name: def.name.as_str(),
                    self_name: if is_method {
                        first_parameter(def)
                    } else {
                        None
                    },
                });
                deep(|| visitor::walk_stmt(self, stmt));
                self.scopes.pop();
            }
            Stmt::ClassDef(class) => {
                self.facts.classes.push(ClassInfo {
                    range: class.range,
                    name: class.name.as_str(),
                    bases: class
                        .bases()
                        .iter()
                        .filter_map(crate::helpers::name_of)
                        .collect(),
                    node: class,
                });
                self.scopes.push(Scope::Class(self.facts.classes.len() - 1));
                deep(|| visitor::walk_stmt(self, stmt));
                self.scopes.pop();
            }
            _ => deep(|| visitor::walk_stmt(self, stmt)),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        // An expression that spells no fact word gives no fact, unless it is (or holds) an
        // assignment target.
        if let Some(words) = &self.words
            && !matches!(
                expr,
                Expr::Attribute(_) | Expr::Tuple(_) | Expr::List(_) | Expr::Starred(_)
            )
            && !any_within(words, expr.range())
        {
            return;
        }
        match expr {
            Expr::Attribute(attr) => {
                let name = attr.attr.as_str();
                // Only the names the fix may pick for its members are looked up in
                // `attr_uses` (see `free_name`): the others are not kept.
                if name.starts_with("_finalize") {
                    let place = self.place(expr.range(), Some(&attr.value));
                    self.facts.attr_uses.push((name, place));
                }
                match attr.ctx {
                    ExprContext::Store | ExprContext::Del => {
                        let place = self.place(expr.range(), Some(&attr.value));
                        self.facts.stores.entry(name).or_default().push(AttrStore {
                            place,
                            delete: attr.ctx == ExprContext::Del,
                        });
                    }
                    _ => {
                        if name == "__del__" {
                            let place = self.place(expr.range(), Some(&attr.value));
                            let receiver = match &*attr.value {
                                Expr::Name(name) => Some(name.id.as_str()),
                                Expr::Call(call) if is_name(&call.func, "super") => Some("super()"),
                                _ => None,
                            };
                            self.facts.del_refs.push(DelRef {
                                range: expr.range(),
                                receiver,
                                bare: false,
                                class: place.class,
                            });
                        }
                        if matches!(name, "__dict__" | "__setattr__" | "__delattr__") {
                            let place = self.place(expr.range(), Some(&attr.value));
                            self.facts.dynamic.push(place);
                        }
                    }
                }
            }
            Expr::Name(name) if name.id.as_str() == "__del__" && name.ctx == ExprContext::Load => {
                let place = self.place(expr.range(), None);
                self.facts.del_refs.push(DelRef {
                    range: expr.range(),
                    receiver: None,
                    bare: true,
                    class: place.class,
                });
            }
            Expr::Call(call)
                if self.dynamic_words
                    // The qualified name of `x.attr` ends with `attr`.
                    && match &*call.func {
                        Expr::Name(_) => true,
                        Expr::Attribute(attr) => {
                            matches!(attr.attr.as_str(), "setattr" | "delattr" | "vars")
                        }
                        _ => false,
                    } =>
            {
                let qualified = self.checker.semantic.qualified_name(&call.func);
                if let Some(which @ ("builtins.setattr" | "builtins.delattr" | "builtins.vars")) =
                    qualified.as_deref()
                {
                    let place = self.place(expr.range(), call.arguments.args.first());
                    match call.arguments.args.get(1) {
                        Some(Expr::StringLiteral(literal)) if which != "builtins.vars" => {
                            self.facts
                                .stores
                                .entry(literal.value.to_str())
                                .or_default()
                                .push(AttrStore {
                                    place,
                                    delete: which == "builtins.delattr",
                                });
                        }
                        _ => self.facts.dynamic.push(place),
                    }
                }
            }
            _ => {}
        }
        deep(|| visitor::walk_expr(self, expr));
    }
}

// ---- the fix -----------------------------------------------------------------------------

fn finalize_fix(
    checker: &Checker,
    facts: &ModuleFacts,
    site: &Site,
    self_name: &str,
    body: &DelBody,
) -> Result<Fix, String> {
    let class = site.class;
    let def = site.def;
    let class_name = class.name.as_str();
    let line = |offset: TextSize| checker.line_index.line_index(offset).get();

    if site.nested_in_class {
        return Err(format!(
            "No automatic fix: `{class_name}` is nested in another class, so its `__init__` cannot name it to register a finalizer."
        ));
    }
    if site.del_count > 1 {
        return Err(format!(
            "No automatic fix: `{class_name}` defines `__del__` more than once."
        ));
    }
    if site.conditional {
        return Err("No automatic fix: `__del__` is defined conditionally (inside a block of the class body).".to_owned());
    }
    if def.is_async {
        return Err("No automatic fix: `__del__` is `async`.".to_owned());
    }
    if !def.decorator_list.is_empty() {
        return Err("No automatic fix: `__del__` is decorated.".to_owned());
    }
    let only_self = def.parameters.len() == 1
        && def
            .parameters
            .posonlyargs
            .iter()
            .chain(&def.parameters.args)
            .next()
            .is_some_and(|param| param.default.is_none());
    if !only_self {
        let extra: Vec<String> = def
            .parameters
            .iter()
            .map(|param| format!("`{}`", param.name()))
            .filter(|name| *name != format!("`{self_name}`"))
            .collect();
        return Err(format!(
            "No automatic fix: `__del__` takes parameters besides `{self_name}` ({}).",
            extra.join(", ")
        ));
    }
    if !checker.starts_line(def) {
        return Err("No automatic fix: `__del__` does not start its line.".to_owned());
    }
    if let Some(reference) = facts
        .del_refs
        .iter()
        .find(|reference| del_ref_concerns(facts, reference, class))
    {
        return Err(format!(
            "No automatic fix: `{}` on line {} uses `__del__` explicitly, which would break once it is gone.",
            snippet(checker, reference.range),
            line(reference.range.start())
        ));
    }

    // The class's own statements.
    let mut members = Vec::new();
    class_level(&class.body, &mut members, false);
    let methods: FxHashSet<&str> = members
        .iter()
        .filter_map(|(stmt, _)| match stmt {
            Stmt::FunctionDef(def) => Some(def.name.as_str()),
            _ => None,
        })
        .collect();

    // Related classes in this module.
    for info in &facts.classes {
        if info.range == class.range {
            continue;
        }
        if info.bases.contains(&class_name) {
            let defines = |name: &str| {
                info.node.body.iter().find_map(|stmt| match stmt {
                    Stmt::FunctionDef(def) if def.name.as_str() == name => Some(def),
                    _ => None,
                })
            };
            if defines("__del__").is_some() {
                return Err(format!(
                    "No automatic fix: subclass `{}` defines its own `__del__`, and the finalizer would run for its instances as well.",
                    info.name
                ));
            }
            if let Some(sub_init) = defines("__init__")
                && !calls_base_init(sub_init, class_name)
            {
                return Err(format!(
                    "No automatic fix: subclass `{}` has an `__init__` that does not call `super().__init__()`, so its instances would get no finalizer.",
                    info.name
                ));
            }
        }
        if info.name != class_name && class.bases().iter().any(|base| is_name(base, info.name)) {
            let base_del = info.node.body.iter().any(
                |stmt| matches!(stmt, Stmt::FunctionDef(def) if def.name.as_str() == "__del__"),
            );
            if base_del {
                return Err(format!(
                    "No automatic fix: base class `{}` defines `__del__` too, which would run for `{class_name}` once this override is gone.",
                    info.name
                ));
            }
        }
    }

    // Instances must be weak-referenceable.
    let slots = slots_with_weakref(&members);
    if let Some(false) = slots {
        return Err(format!(
            "No automatic fix: `{class_name}` defines `__slots__` without `'__weakref__'`, so its instances cannot be weak-referenced (and have no `__dict__` to store the finalizer in)."
        ));
    }
    if let Some(decorator) = class
        .decorator_list
        .iter()
        .find(|decorator| makes_slots(decorator))
    {
        return Err(format!(
            "No automatic fix: `{}` turns `{class_name}` into a class with `__slots__`, whose instances may not be weak-referenceable.",
            snippet(checker, decorator.expression.range())
        ));
    }
    if let Some(base) = class
        .bases()
        .iter()
        .find(|base| is_unweakrefable_base(checker, base))
    {
        return Err(format!(
            "No automatic fix: `{class_name}` derives from `{}`, whose subclasses' instances cannot be weak-referenced.",
            snippet(checker, base.range())
        ));
    }

    // `__init__`: one, unconditional, synchronous, multi-line, no `return`.
    let inits: Vec<(&ast::StmtFunctionDef, bool)> = members
        .iter()
        .filter_map(|(stmt, nested)| match stmt {
            Stmt::FunctionDef(def) if def.name.as_str() == "__init__" => Some((def, *nested)),
            _ => None,
        })
        .collect();
    let init = match inits.as_slice() {
        [] => {
            return Err(format!(
                "No automatic fix: `{class_name}` has no `__init__` of its own to register a finalizer in."
            ));
        }
        [(init, false)] => *init,
        [(_, true)] => {
            return Err("No automatic fix: `__init__` is defined conditionally.".to_owned());
        }
        _ => {
            return Err(format!(
                "No automatic fix: `{class_name}` defines `__init__` more than once."
            ));
        }
    };
    if init.is_async || method_kind(checker, init) != MethodKind::Instance {
        return Err("No automatic fix: `__init__` is not a plain instance method.".to_owned());
    }
    let Some(init_self) = first_parameter(init) else {
        return Err("No automatic fix: `__init__` takes no `self`.".to_owned());
    };
    let (Some(first), Some(last)) = (init.body.first(), init.body.last()) else {
        return Err("No automatic fix: `__init__` has no body.".to_owned());
    };
    if !checker.starts_line(first) {
        return Err("No automatic fix: `__init__` is written on one line.".to_owned());
    }
    if let Some(ret) = first_return(&init.body) {
        return Err(format!(
            "No automatic fix: `__init__` returns early on line {}, which would skip registering the finalizer.",
            line(ret.start())
        ));
    }
    if checker.semantic.is_module_level("staticmethod") {
        return Err("No automatic fix: the module re-binds `staticmethod`.".to_owned());
    }

    let Some(this_class) = facts.class_index(class) else {
        return Err("No automatic fix: internal error (class not indexed).".to_owned());
    };
    // A plain `self.<attr>` statement of this class's `__init__` itself.
    let in_init = |place: &Place| {
        place.function == Some("__init__")
            && place.on_self
            && place.class == Some(this_class)
            && init.range.contains_range(place.range)
    };

    // The body uses `self` only to read attributes.
    if let Some((_, reason)) = body.blockers.first() {
        return Err(format!(
            "No automatic fix: {}.",
            describe_blocker(checker, reason, self_name)
        ));
    }
    let assigned = init_assigned(init, init_self);
    for (attr, callee) in &body.calls {
        if methods.contains(attr) {
            return Err(format!(
                "No automatic fix: `__del__` calls `{}()`, a method of `{class_name}`, which needs the instance.",
                snippet(checker, *callee)
            ));
        }
        if !assigned.contains(attr) {
            return Err(format!(
                "No automatic fix: `__del__` calls `{}()`, which is not an attribute assigned in `__init__` (a method of a base class?) and may need the instance.",
                snippet(checker, *callee)
            ));
        }
    }
    let mut attrs: Vec<&str> = Vec::new();
    for (attr, _) in &body.reads {
        if !attrs.contains(attr) {
            attrs.push(attr);
        }
    }
    for attr in &attrs {
        if methods.contains(attr) {
            return Err(format!(
                "No automatic fix: `__del__` reads `{self_name}.{attr}`, a method or property of `{class_name}`, which needs the instance."
            ));
        }
        if !assigned.contains(attr) {
            let conditional = facts
                .stores
                .get(attr)
                .is_some_and(|stores| stores.iter().any(|store| in_init(&store.place)));
            return Err(if conditional {
                format!(
                    "No automatic fix: `{self_name}.{attr}` is assigned only inside a block of `__init__`, so it may not exist when the finalizer is registered."
                )
            } else {
                format!(
                    "No automatic fix: `{self_name}.{attr}` is not assigned in `__init__`, so the finalizer could not be given its value there."
                )
            });
        }
    }

    // Attributes the finalizer captures must keep their `__init__` value.
    for attr in &attrs {
        let Some(stores) = facts.stores.get(attr) else {
            continue;
        };
        for store in stores {
            if (in_init(&store.place) && !store.delete)
                || def.range.contains_range(store.place.range)
                || !facts.concerns(&store.place, class)
            {
                continue;
            }
            let range = store.place.range;
            let place = match store.place.function {
                Some(function) => format!("in `{function}()` (line {})", line(range.start())),
                None => format!("on line {}", line(range.start())),
            };
            let what = if store.delete { "deleted" } else { "assigned" };
            return Err(format!(
                "No automatic fix: `{}` is {what} {place}, and a finalizer registered in `__init__` would only see the value `{init_self}.{attr}` had there.",
                snippet(checker, range)
            ));
        }
    }
    if !attrs.is_empty()
        && let Some(place) = facts.dynamic.iter().find(|place| {
            place.class.is_some_and(|index| {
                index == this_class || facts.classes[index].bases.contains(&class_name)
            }) && !in_init(place)
                && !def.range.contains_range(place.range)
        })
    {
        let function = place
            .function
            .map(|f| format!(" in `{f}()`"))
            .unwrap_or_default();
        return Err(format!(
            "No automatic fix: `{class_name}` sets attributes dynamically (`{}`{function}, line {}), so the attributes the finalizer captures may change after `__init__`.",
            snippet(checker, place.range),
            line(place.range.start())
        ));
    }
    if let Some((stmt, attr, method)) = self_escape(checker, class, def, &methods, &attrs) {
        return Err(format!(
            "No automatic fix: `{}` in `{method}()` ties `self.{attr}` to the instance, so a finalizer holding it would keep the instance alive for ever.",
            snippet(checker, stmt)
        ));
    }

    if let Some((stmt, param)) = parameter_alias(init, init_self, &attrs) {
        return Err(format!(
            "No automatic fix: `{}` in `__init__` keeps the parameter `{param}`, which may refer back to the instance (an owner or parent that holds it), and a finalizer holding it would then keep the instance alive for ever.",
            snippet(checker, stmt)
        ));
    }

    // Names for the new members and parameters.
    let mut taken: FxHashSet<&str> = facts
        .attr_uses
        .iter()
        .filter(|(_, place)| facts.concerns(place, class))
        .map(|(name, _)| *name)
        .collect();
    for (stmt, _) in &members {
        collect_bound_names(stmt, &mut taken);
    }
    let function_name = free_name("_finalize", &taken);
    let handle_name = free_name("_finalizer", &taken);
    let used_in_body = names_in(checker, TextRange::new(def.parameters.end(), def.end()));
    let mut parameters: Vec<String> = Vec::new();
    for attr in &attrs {
        let parameter = parameter_name(attr, &used_in_body, &parameters, self_name);
        parameters.push(parameter);
    }

    // Spelling of `weakref.finalize`, and the names `__init__` will use.
    let (finalize, import) = checker.import_edit("weakref", "finalize");
    let init_locals = bound_in_function(init);
    for root in [finalize.split('.').next().unwrap_or_default(), class_name] {
        if init_locals.contains(root) {
            return Err(format!(
                "No automatic fix: `__init__` has a local `{root}`, which the registration would need to refer to the module-level one."
            ));
        }
    }

    let eol = checker.line_ending();
    let mut edits = Vec::new();

    // `def __del__(self)` -> `@staticmethod` / `def _finalize(sock, buf)`.
    let def_indent = checker.indentation(def.start());
    edits.push(Edit::replacement(
        format!("@staticmethod{eol}{def_indent}def {function_name}"),
        TextRange::new(def.start(), def.name.end()),
    ));
    edits.push(Edit::replacement(
        format!("({})", parameters.join(", ")),
        def.parameters.range(),
    ));
    for (attr, range) in &body.reads {
        let index = attrs.iter().position(|a| a == attr).unwrap_or_default();
        edits.push(Edit::replacement(parameters[index].clone(), *range));
    }

    // Register it as the last statement of `__init__`.
    let init_indent = checker.indentation(first.start());
    let arguments: String = attrs
        .iter()
        .map(|attr| format!(", {init_self}.{attr}"))
        .collect();
    let call = format!("{finalize}({init_self}, {class_name}.{function_name}{arguments})");
    let statement = if slots.is_some() {
        call
    } else {
        format!("{init_self}.{handle_name} = {call}")
    };
    let at = checker.full_line_end(last.end());
    let prefix = if at == checker.line_end(last.end()) {
        eol
    } else {
        ""
    };
    edits.push(Edit::insertion(
        format!("{prefix}{init_indent}{statement}{eol}"),
        at,
    ));
    edits.extend(import);

    Ok(Fix::unsafe_(
        format!(
            "Replace `__del__` with a static `{function_name}` registered with `{finalize}` in `__init__`"
        ),
        edits,
    ))
}

fn describe_blocker(checker: &Checker, blocker: &Blocker, self_name: &str) -> String {
    match blocker {
        Blocker::Reason(reason) => reason.clone(),
        Blocker::BareSelf(context) if checker.slice(*context) != self_name => format!(
            "`__del__` uses `{self_name}` itself (in `{}`), and a finalizer must not hold the instance",
            snippet(checker, *context)
        ),
        Blocker::BareSelf(context) => format!(
            "`__del__` uses `{self_name}` itself (on line {}), and a finalizer must not hold the instance",
            checker.line_index.line_index(context.start())
        ),
    }
}

/// Whether an explicit use of `__del__` may refer to `class`'s: anything inside the class or a
/// subclass of it, `Class.__del__`, and any use whose receiver is unknown; not `self.__del__`
/// and `super().__del__` in unrelated classes, nor `Other.__del__` for another class here.
fn del_ref_concerns(facts: &ModuleFacts, reference: &DelRef, class: &ast::StmtClassDef) -> bool {
    let name = class.name.as_str();
    if reference.receiver == Some(name) {
        return true;
    }
    let other_class =
        |receiver: &str| receiver != name && facts.classes.iter().any(|c| c.name == receiver);
    let inside = reference.class.and_then(|index| facts.classes.get(index));
    if reference.bare {
        // A bare name is the class's own `__del__` in its body, and a global elsewhere.
        return inside.is_some_and(|inside| inside.range == class.range);
    }
    match inside {
        Some(inside) if inside.range == class.range || inside.bases.contains(&name) => true,
        Some(_) => !reference.receiver.is_some_and(|receiver| {
            matches!(receiver, "self" | "cls" | "super()") || other_class(receiver)
        }),
        None => !reference.receiver.is_some_and(other_class),
    }
}

/// `Some(true)`: `__slots__` includes `'__weakref__'`; `Some(false)`: it does not (or is not
/// a literal); `None`: no `__slots__`.
fn slots_with_weakref(members: &[(&Stmt, bool)]) -> Option<bool> {
    let mut found = None;
    for (stmt, _) in members {
        let value = match stmt {
            Stmt::Assign(assign)
                if assign
                    .targets
                    .iter()
                    .any(|target| is_name(target, "__slots__")) =>
            {
                Some(&*assign.value)
            }
            Stmt::AnnAssign(assign) if is_name(&assign.target, "__slots__") => {
                assign.value.as_deref()
            }
            _ => continue,
        };
        let has_weakref = value.is_some_and(|value| {
            let elements: &[Expr] = match value {
                Expr::Tuple(tuple) => &tuple.elts,
                Expr::List(list) => &list.elts,
                Expr::Set(set) => &set.elts,
                other => std::slice::from_ref(other),
            };
            elements
                .iter()
                .any(|element| matches!(element, Expr::StringLiteral(s) if s.value.to_str() == "__weakref__"))
        });
        found = Some(found.unwrap_or(true) && has_weakref);
    }
    found
}

/// `@dataclass(slots=True)` and the like (unless they also ask for `weakref_slot=True`).
fn makes_slots(decorator: &ast::Decorator) -> bool {
    let Expr::Call(call) = &decorator.expression else {
        return false;
    };
    let truthy = |name: &str| {
        call.arguments.find_keyword(name).is_some_and(|keyword| {
            !matches!(
                keyword.value,
                Expr::BooleanLiteral(ast::ExprBooleanLiteral { value: false, .. })
            )
        })
    };
    truthy("slots") && !truthy("weakref_slot")
}

/// `int`, `bool`, `tuple`, `bytes` and named tuples: their subclasses have no `__weakref__`.
fn is_unweakrefable_base(checker: &Checker, base: &Expr) -> bool {
    const TUPLES: &[&str] = &[
        "typing.NamedTuple",
        "typing_extensions.NamedTuple",
        "collections.namedtuple",
    ];
    match base {
        Expr::Name(name) => {
            let id = name.id.as_str();
            if matches!(id, "int" | "bool" | "tuple" | "bytes")
                && !checker.semantic.is_module_level(id)
            {
                return true;
            }
            if checker.semantic.resolves_to(base, TUPLES) {
                return true;
            }
            // `Point = namedtuple(...)` in this module.
            checker.semantic.module_bindings(id).iter().any(|stmt| {
                matches!(stmt, Stmt::Assign(assign)
                    if matches!(&*assign.value, Expr::Call(call) if checker.semantic.resolves_to(&call.func, TUPLES)))
            })
        }
        Expr::Call(call) => checker.semantic.resolves_to(&call.func, TUPLES),
        other => checker.semantic.resolves_to(other, TUPLES),
    }
}

/// Attributes assigned by plain statements at the top level of `__init__`.
fn init_assigned<'a>(init: &'a ast::StmtFunctionDef, init_self: &str) -> FxHashSet<&'a str> {
    fn targets<'a>(target: &'a Expr, init_self: &str, out: &mut FxHashSet<&'a str>) {
        match target {
            Expr::Attribute(attr) if is_name(&attr.value, init_self) => {
                out.insert(attr.attr.as_str());
            }
            Expr::Tuple(tuple) => tuple.iter().for_each(|elt| targets(elt, init_self, out)),
            Expr::List(list) => list.iter().for_each(|elt| targets(elt, init_self, out)),
            Expr::Starred(starred) => targets(&starred.value, init_self, out),
            _ => {}
        }
    }
    let mut out = FxHashSet::default();
    for stmt in &init.body {
        match stmt {
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    targets(target, init_self, &mut out);
                }
            }
            Stmt::AnnAssign(assign) if assign.value.is_some() => {
                targets(&assign.target, init_self, &mut out)
            }
            _ => {}
        }
    }
    out
}

/// A statement of a method that mentions a captured attribute and also lets `self` escape
/// (`self.child = Child(self)`, `self.handlers.append(self.on_event)`): the attribute's value
/// may then refer back to the instance.
fn self_escape<'a>(
    checker: &Checker<'a>,
    class: &'a ast::StmtClassDef,
    del: &ast::StmtFunctionDef,
    methods: &FxHashSet<&str>,
    captured: &[&str],
) -> Option<(TextRange, &'a str, &'a str)> {
    if captured.is_empty() {
        return None;
    }
    let mut members = Vec::new();
    class_level(&class.body, &mut members, false);
    for (stmt, _) in members {
        let Stmt::FunctionDef(method) = stmt else {
            continue;
        };
        if std::ptr::eq(method, del) || method_kind(checker, method) != MethodKind::Instance {
            continue;
        }
        let Some(self_name) = first_parameter(method) else {
            continue;
        };
        let mut scan = EscapeScan {
            self_name,
            methods,
            captured,
            found: None,
        };
        scan.visit_body(&method.body);
        if let Some((range, attr)) = scan.found {
            return Some((range, attr, method.name.as_str()));
        }
    }
    None
}

struct EscapeScan<'a, 'c> {
    self_name: &'a str,
    methods: &'c FxHashSet<&'c str>,
    captured: &'c [&'c str],
    found: Option<(TextRange, &'a str)>,
}

impl<'a> StatementVisitor<'a> for EscapeScan<'a, '_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if self.found.is_some() {
            return;
        }
        match stmt {
            Stmt::If(_)
            | Stmt::For(_)
            | Stmt::While(_)
            | Stmt::With(_)
            | Stmt::Try(_)
            | Stmt::Match(_)
            | Stmt::FunctionDef(_)
            | Stmt::ClassDef(_) => deep(|| statement_visitor::walk_stmt(self, stmt)),
            _ => {
                let mut exprs = EscapeExprs {
                    self_name: self.self_name,
                    methods: self.methods,
                    captured: self.captured,
                    mention: None,
                    escapes: false,
                    scopes: 0,
                };
                visitor::walk_stmt(&mut exprs, stmt);
                if let (Some(attr), true) = (exprs.mention, exprs.escapes) {
                    self.found = Some((stmt.range(), attr));
                }
            }
        }
    }
}

struct EscapeExprs<'a, 'c> {
    self_name: &'a str,
    methods: &'c FxHashSet<&'c str>,
    captured: &'c [&'c str],
    mention: Option<&'a str>,
    escapes: bool,
    /// Depth inside lambdas and generator expressions, which capture `self`.
    scopes: u32,
}

impl<'a> Visitor<'a> for EscapeExprs<'a, '_> {
    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Attribute(attr) if is_name(&attr.value, self.self_name) => {
                let name = attr.attr.as_str();
                if self.captured.contains(&name) {
                    self.mention.get_or_insert(name);
                }
                if self.methods.contains(name) || self.scopes > 0 {
                    self.escapes = true;
                }
                return;
            }
            Expr::Call(call) => {
                // `self.method()` calls the method; only its result flows on.
                if let Expr::Attribute(attr) = &*call.func
                    && is_name(&attr.value, self.self_name)
                    && self.scopes == 0
                {
                    let name = attr.attr.as_str();
                    if self.captured.contains(&name) {
                        self.mention.get_or_insert(name);
                    }
                    deep(|| visitor::walk_arguments(self, &call.arguments));
                    return;
                }
            }
            Expr::Name(name) if name.id.as_str() == self.self_name => {
                self.escapes = true;
                return;
            }
            Expr::Lambda(_) | Expr::Generator(_) => {
                self.scopes += 1;
                deep(|| visitor::walk_expr(self, expr));
                self.scopes -= 1;
                return;
            }
            _ => {}
        }
        deep(|| visitor::walk_expr(self, expr));
    }
}

/// Whether `__init__` calls `super().__init__(...)` or `Base.__init__(self, ...)`.
fn calls_base_init(init: &ast::StmtFunctionDef, base: &str) -> bool {
    struct Finder<'b> {
        base: &'b str,
        found: bool,
    }
    impl<'e> Visitor<'e> for Finder<'_> {
        fn visit_expr(&mut self, expr: &'e Expr) {
            if self.found {
                return;
            }
            if let Expr::Call(call) = expr
                && let Expr::Attribute(attr) = &*call.func
                && attr.attr.as_str() == "__init__"
            {
                let receiver = &*attr.value;
                let is_super =
                    matches!(receiver, Expr::Call(inner) if is_name(&inner.func, "super"));
                if is_super || is_name(receiver, self.base) {
                    self.found = true;
                    return;
                }
            }
            deep(|| visitor::walk_expr(self, expr));
        }
    }
    let mut finder = Finder { base, found: false };
    finder.visit_body(&init.body);
    finder.found
}

/// The first `return` of a function body (not of functions nested in it).
fn first_return(body: &[Stmt]) -> Option<&Stmt> {
    body.iter().find_map(|stmt| {
        deep(|| match stmt {
            Stmt::Return(_) => Some(stmt),
            Stmt::If(if_) => first_return(&if_.body).or_else(|| {
                if_.elif_else_clauses
                    .iter()
                    .find_map(|clause| first_return(&clause.body))
            }),
            Stmt::For(for_) => first_return(&for_.body).or_else(|| first_return(&for_.orelse)),
            Stmt::While(while_) => {
                first_return(&while_.body).or_else(|| first_return(&while_.orelse))
            }
            Stmt::With(with) => first_return(&with.body),
            Stmt::Try(try_) => first_return(&try_.body)
                .or_else(|| {
                    try_.handlers.iter().find_map(|handler| {
                        let ast::ExceptHandler::ExceptHandler(handler) = handler;
                        first_return(&handler.body)
                    })
                })
                .or_else(|| first_return(&try_.orelse))
                .or_else(|| first_return(&try_.finalbody)),
            Stmt::Match(match_) => match_
                .cases
                .iter()
                .find_map(|case| first_return(&case.body)),
            _ => None,
        })
    })
}

/// An assignment in `__init__` that stores one of its parameters (or something reached from
/// one) in a captured attribute: `self.parent = parent`, `self.tk = master.tk`. Such a value
/// may hold the instance (its owner will), and the finalizer would keep it alive. Parameters
/// annotated with a plain value type (`str`, `int`, `Path`, ...) are fine.
fn parameter_alias<'a>(
    init: &'a ast::StmtFunctionDef,
    init_self: &str,
    captured: &[&str],
) -> Option<(TextRange, &'a str)> {
    let params: Vec<&ast::Parameter> = init
        .parameters
        .iter_non_variadic_params()
        .map(|param| &param.parameter)
        .chain(init.parameters.vararg.as_deref())
        .chain(init.parameters.kwarg.as_deref())
        .filter(|param| param.name.as_str() != init_self)
        .collect();
    let aliased = |value: &'a Expr| -> Option<&'a str> {
        let mut roots = Vec::new();
        alias_roots(value, &mut roots);
        roots.into_iter().find_map(|root| {
            let param = params.iter().find(|param| param.name.as_str() == root)?;
            let plain = param.annotation.as_deref().is_some_and(is_value_annotation);
            (!plain).then_some(param.name.as_str())
        })
    };
    let mut statements = Vec::new();
    collect_statements(&init.body, &mut statements);
    for stmt in statements {
        let (targets, value): (&[Expr], &Expr) = match stmt {
            Stmt::Assign(assign) => (&assign.targets, &assign.value),
            Stmt::AnnAssign(assign) => match assign.value.as_deref() {
                Some(value) => (std::slice::from_ref(&*assign.target), value),
                None => continue,
            },
            _ => continue,
        };
        for target in targets {
            let pairs: Vec<(&Expr, &Expr)> = match (target, value) {
                (Expr::Tuple(names), Expr::Tuple(values)) if names.len() == values.len() => {
                    names.iter().zip(values.iter()).collect()
                }
                (Expr::Tuple(names), _) => names.iter().map(|name| (name, value)).collect(),
                _ => vec![(target, value)],
            };
            for (target, value) in pairs {
                let Expr::Attribute(attr) = target else {
                    continue;
                };
                if !is_name(&attr.value, init_self) || !captured.contains(&attr.attr.as_str()) {
                    continue;
                }
                if let Some(param) = aliased(value) {
                    return Some((stmt.range(), param));
                }
            }
        }
    }
    None
}

/// The names a value is an alias of: `x`, `x.y`, `x[0]`, `x or y`, `x if c else y`.
fn alias_roots<'a>(expr: &'a Expr, out: &mut Vec<&'a str>) {
    deep(|| match expr {
        Expr::Name(name) => out.push(name.id.as_str()),
        Expr::Attribute(attr) => alias_roots(&attr.value, out),
        Expr::Subscript(subscript) => alias_roots(&subscript.value, out),
        Expr::BoolOp(bool_op) => bool_op
            .values
            .iter()
            .for_each(|value| alias_roots(value, out)),
        Expr::If(if_) => {
            alias_roots(&if_.body, out);
            alias_roots(&if_.orelse, out);
        }
        Expr::Named(named) => alias_roots(&named.value, out),
        _ => {}
    });
}

/// `str`, `int | None`, `Optional[pathlib.Path]`, ...: values that cannot hold the instance.
fn is_value_annotation(annotation: &Expr) -> bool {
    deep(|| match annotation {
        Expr::Name(name) => matches!(
            name.id.as_str(),
            "str"
                | "int"
                | "float"
                | "bool"
                | "bytes"
                | "complex"
                | "Path"
                | "PurePath"
                | "PathLike"
                | "None"
        ),
        Expr::Attribute(attr) => matches!(attr.attr.as_str(), "Path" | "PurePath" | "PathLike"),
        Expr::NoneLiteral(_) => true,
        Expr::StringLiteral(literal) => matches!(
            literal.value.to_str().trim(),
            "str" | "int" | "float" | "bool" | "bytes" | "Path"
        ),
        Expr::BinOp(bin_op) => {
            is_value_annotation(&bin_op.left) && is_value_annotation(&bin_op.right)
        }
        Expr::Subscript(subscript) => {
            let generic = match &*subscript.value {
                Expr::Name(name) => name.id.as_str(),
                Expr::Attribute(attr) => attr.attr.as_str(),
                _ => return false,
            };
            match (generic, &*subscript.slice) {
                ("Optional", inner) => is_value_annotation(inner),
                ("Union", Expr::Tuple(tuple)) => tuple.iter().all(is_value_annotation),
                _ => false,
            }
        }
        _ => false,
    })
}

/// Every statement of a function body, nested blocks included (not nested functions).
fn collect_statements<'a>(body: &'a [Stmt], out: &mut Vec<&'a Stmt>) {
    for stmt in body {
        out.push(stmt);
        deep(|| match stmt {
            Stmt::If(if_) => {
                collect_statements(&if_.body, out);
                for clause in &if_.elif_else_clauses {
                    collect_statements(&clause.body, out);
                }
            }
            Stmt::For(for_) => {
                collect_statements(&for_.body, out);
                collect_statements(&for_.orelse, out);
            }
            Stmt::While(while_) => {
                collect_statements(&while_.body, out);
                collect_statements(&while_.orelse, out);
            }
            Stmt::With(with) => collect_statements(&with.body, out),
            Stmt::Try(try_) => {
                collect_statements(&try_.body, out);
                for handler in &try_.handlers {
                    let ast::ExceptHandler::ExceptHandler(handler) = handler;
                    collect_statements(&handler.body, out);
                }
                collect_statements(&try_.orelse, out);
                collect_statements(&try_.finalbody, out);
            }
            Stmt::Match(match_) => {
                for case in &match_.cases {
                    collect_statements(&case.body, out);
                }
            }
            _ => {}
        });
    }
}

/// Names a class body binds (methods, class attributes), added to `taken`.
fn collect_bound_names<'a>(stmt: &'a Stmt, taken: &mut FxHashSet<&'a str>) {
    fn target<'a>(expr: &'a Expr, taken: &mut FxHashSet<&'a str>) {
        match expr {
            Expr::Name(name) => {
                taken.insert(name.id.as_str());
            }
            Expr::Tuple(tuple) => tuple.iter().for_each(|elt| target(elt, taken)),
            Expr::List(list) => list.iter().for_each(|elt| target(elt, taken)),
            Expr::Starred(starred) => target(&starred.value, taken),
            _ => {}
        }
    }
    match stmt {
        Stmt::FunctionDef(def) => {
            taken.insert(def.name.as_str());
        }
        Stmt::ClassDef(class) => {
            taken.insert(class.name.as_str());
        }
        Stmt::Assign(assign) => assign.targets.iter().for_each(|t| target(t, taken)),
        Stmt::AnnAssign(assign) => target(&assign.target, taken),
        Stmt::AugAssign(assign) => target(&assign.target, taken),
        Stmt::Import(import) => {
            for alias in &import.names {
                let bound = alias.asname.as_ref().unwrap_or(&alias.name).as_str();
                taken.insert(bound.split('.').next().unwrap_or(bound));
            }
        }
        Stmt::ImportFrom(import) => {
            for alias in &import.names {
                taken.insert(alias.asname.as_ref().unwrap_or(&alias.name).as_str());
            }
        }
        _ => {}
    }
}

/// `base`, or `base_2`, `base_3`, ... whichever is not taken.
fn free_name(base: &str, taken: &FxHashSet<&str>) -> String {
    if !taken.contains(base) {
        return base.to_owned();
    }
    (2..)
        .map(|n| format!("{base}_{n}"))
        .find(|name| !taken.contains(name.as_str()))
        .unwrap_or_else(|| base.to_owned())
}

const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// The parameter that stands for `self.<attr>`: the attribute's name (without the `__` of a
/// private name), prefixed with `_` or suffixed if it would clash with a name in the body.
fn parameter_name(
    attr: &str,
    used: &FxHashSet<&str>,
    chosen: &[String],
    self_name: &str,
) -> String {
    let base = if attr.starts_with("__") && !attr.ends_with("__") {
        attr.trim_start_matches('_')
    } else {
        attr
    };
    let base = if base.is_empty() { "value" } else { base };
    let clashes = |name: &str| {
        used.contains(name)
            || chosen.iter().any(|c| c == name)
            || KEYWORDS.contains(&name)
            || name == self_name
    };
    if !clashes(base) {
        return base.to_owned();
    }
    if !base.starts_with('_') {
        let prefixed = format!("_{base}");
        if !clashes(&prefixed) {
            return prefixed;
        }
    }
    (2..)
        .map(|n| format!("{base}_{n}"))
        .find(|name| !clashes(name))
        .unwrap_or_else(|| base.to_owned())
}

/// Every identifier in `range` that is not an attribute name (soft keywords included, since
/// `type` and `match` are also names).
fn names_in<'a>(checker: &Checker<'a>, range: TextRange) -> FxHashSet<&'a str> {
    let tokens: &[ruff_python_ast::token::Token] = checker.tokens;
    let start = tokens.partition_point(|token| token.start() < range.start());
    let end = tokens.partition_point(|token| token.end() <= range.end());
    let mut names = FxHashSet::default();
    let mut previous = TokenKind::Newline;
    for token in tokens.get(start..end).unwrap_or_default() {
        let kind = token.kind();
        if (kind == TokenKind::Name || kind.is_soft_keyword()) && previous != TokenKind::Dot {
            names.insert(checker.slice(token.range()));
        }
        if !kind.is_trivia() {
            previous = kind;
        }
    }
    names
}

/// Names a function binds locally: parameters, assignment targets, imports, nested defs.
fn bound_in_function(def: &ast::StmtFunctionDef) -> FxHashSet<&str> {
    struct Bound<'a>(FxHashSet<&'a str>);
    impl<'a> Visitor<'a> for Bound<'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            collect_bound_names(stmt, &mut self.0);
            deep(|| visitor::walk_stmt(self, stmt));
        }
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Name(name) = expr
                && name.ctx != ExprContext::Load
            {
                self.0.insert(name.id.as_str());
            }
            deep(|| visitor::walk_expr(self, expr));
        }
    }
    let mut bound = Bound(FxHashSet::default());
    for param in def.parameters.iter() {
        bound.0.insert(param.name().as_str());
    }
    bound.visit_body(&def.body);
    bound.0
}

/// Source text for a note: the code itself when short, else its first line shortened.
fn snippet(checker: &Checker, range: TextRange) -> String {
    let text = checker.slice(range);
    let first = text.lines().next().unwrap_or_default().trim_end();
    if first.len() == text.len() && first.chars().count() <= 60 {
        return first.to_owned();
    }
    let short: String = first.chars().take(50).collect();
    format!("{}…", short.trim_end())
}

#[cfg(test)]
mod tests {
    use crate::registry::Rule;
    use crate::settings::Settings;

    fn fixed(source: &str) -> String {
        let settings = Settings::with_rules([Rule::DelFinalizer].into_iter().collect());
        let diagnostics = crate::analyze(source, &settings);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
        let fix = diagnostics[0]
            .fix
            .as_ref()
            .unwrap_or_else(|| panic!("no fix: {:?}", diagnostics[0].note));
        fix.apply(source)
    }

    #[test]
    fn no_trailing_newline_and_tabs() {
        let source = "import weakref\nclass C:\n\tdef __del__(self):\n\t\tself.f.close()\n\tdef __init__(self):\n\t\tself.f = open('x')";
        assert_eq!(
            fixed(source),
            "import weakref\nclass C:\n\t@staticmethod\n\tdef _finalize(f):\n\t\tf.close()\n\tdef __init__(self):\n\t\tself.f = open('x')\n\t\tself._finalizer = weakref.finalize(self, C._finalize, self.f)\n"
        );
    }

    #[test]
    fn parameters_avoid_names_used_in_the_body() {
        let source = "\
from weakref import finalize as fin


class C:
    def __init__(this):
        this.type = 1
        this.x = open('x')

    def __del__(this):
        x = type(this.type)
        cb = lambda: this.x.close()
        print(f\"{this.x!r} {x}\")
        cb()
";
        assert_eq!(
            fixed(source),
            "\
from weakref import finalize as fin


class C:
    def __init__(this):
        this.type = 1
        this.x = open('x')
        this._finalizer = fin(this, C._finalize, this.type, this.x)

    @staticmethod
    def _finalize(_type, _x):
        x = type(_type)
        cb = lambda: _x.close()
        print(f\"{_x!r} {x}\")
        cb()
"
        );
    }

    #[test]
    fn value_annotations() {
        use super::is_value_annotation;
        let parse = |text: &str| {
            ruff_python_parser::parse_expression(text)
                .unwrap()
                .into_expr()
        };
        for good in [
            "str",
            "int | None",
            "Optional[pathlib.Path]",
            "Union[str, bytes]",
            "'str'",
        ] {
            assert!(is_value_annotation(&parse(good)), "{good}");
        }
        for bad in ["Widget", "list[str]", "Optional[Owner]", "Any"] {
            assert!(!is_value_annotation(&parse(bad)), "{bad}");
        }
    }
}
