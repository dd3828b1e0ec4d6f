use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::Ranged;
use rustc_hash::FxHashSet;

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::{Diagnostic, Edit, Fix};
use crate::helpers::{deep, is_test_code, last_segment};
use crate::registry::Rule;
use crate::rules::stored_frame::Releases;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// A logging handler or filter that keeps the `LogRecord`s it sees:
    ///
    /// - in a subclass of `logging.Handler` or `logging.Filter` (any handler of `logging` or
    ///   `logging.handlers`, or a class of the same file derived from one), an `emit`, `handle`
    ///   or `filter` method that stores its record (alone, or in a tuple or list) in a container
    ///   of `self` or a module-level container: `self.records.append(record)`,
    ///   `self.by_name[record.name] = record`, `_RECORDS.append((time.time(), record))`;
    /// - a module-level function registered with `addFilter(...)` that stores its record in a
    ///   module-level container;
    /// - a `logging.handlers.BufferingHandler` subclass whose `shouldFlush` always returns
    ///   `False`: the base class's `emit` appends every record to `self.buffer`, which is then
    ///   emptied only when someone calls `flush()` or `close()` (unless the class itself calls
    ///   `self.flush()` or empties the buffer in another method).
    ///
    /// Not flagged, on purpose:
    /// - storing text: `self.format(record)`, `record.getMessage()`, `record.msg`;
    /// - methods that clear `record.exc_info` (as `QueueHandler.prepare` does) or rebind
    ///   `record` before storing it;
    /// - containers the file empties or trims somewhere outside `__init__` (`clear()`, `pop()`,
    ///   `del self.records[0]`, `self.records = []` in a `reset()`, as pytest's `caplog`
    ///   handler does): a bounded or flushed buffer, or a test capture that is reset;
    /// - `BufferingHandler`/`MemoryHandler` subclasses that keep the base class's flushing (the
    ///   buffer is emptied when `capacity` is reached, and `MemoryHandler` flushes at `ERROR`,
    ///   the level that usually carries `exc_info`), and containers of a bounded `deque`;
    /// - handing the record over: `self.queue.put(record)`, `super().emit(record)`;
    /// - test code (a module named `test_*`, `*_test`, `conftest` or inside a `tests`
    ///   package, or a file that defines `test_*` functions or methods), where capturing
    ///   records is the point and the handler lives for one test.
    ///
    /// ## Why it keeps memory alive
    /// A record logged with `exc_info` (`logger.exception(...)`, `exc_info=True`) holds the
    /// `(type, value, traceback)` tuple, and the traceback refers to every frame between the
    /// `raise` and the handler, each with all of its local variables: request bodies, query
    /// results, buffers. A handler is usually installed for the life of the process, so every
    /// record it keeps keeps those frames alive too, and a handler that appends every record
    /// grows without bound even without exceptions (`record.args` keeps the logged objects).
    ///
    /// ## Example
    /// ```python
    /// import logging
    ///
    /// class ErrorCollector(logging.Handler):
    ///     def __init__(self):
    ///         super().__init__(level=logging.ERROR)
    ///         self.records = []
    ///
    ///     def emit(self, record):
    ///         self.records.append(record)
    /// ```
    ///
    /// ## Fix
    /// Store the formatted text instead of the record (formatting includes the traceback text):
    ///
    /// ```python
    /// import logging
    ///
    /// class ErrorCollector(logging.Handler):
    ///     def __init__(self):
    ///         super().__init__(level=logging.ERROR)
    ///         self.records = []
    ///
    ///     def emit(self, record):
    ///         self.records.append(self.format(record))
    /// ```
    ///
    /// If the records themselves are needed, bound the container (`collections.deque(maxlen=…)`)
    /// and drop the traceback before storing a copy: `record = copy.copy(record)`,
    /// `record.exc_text = self.format(record)`, `record.exc_info = None`, `record.args = None`.
    /// The fix (handlers only) replaces the stored `record` with `self.format(record)`. Filters
    /// and filter functions, which have no `format`, and `shouldFlush` get no automatic fix.
    ///
    /// ## Fix safety
    /// Unsafe: the container then holds strings, not `LogRecord`s, so code that reads
    /// `record.levelno` or `record.name` from it must change, and `self.format` runs (with the
    /// handler's formatter) at emit time.
    pub struct HandlerKeepsRecords {
        code: "RL303",
        name: "handler-keeps-records",
        summary: "a logging handler or filter that keeps `LogRecord`s keeps the tracebacks in their `exc_info`, and with them every frame and local",
        fix: Sometimes,
    }
}

const LOGGING_BASES: &[&str] = &[
    "logging.Handler",
    "logging.StreamHandler",
    "logging.FileHandler",
    "logging.NullHandler",
    "logging.Filter",
    "logging.Filterer",
    "logging.handlers.BufferingHandler",
    "logging.handlers.MemoryHandler",
    "logging.handlers.WatchedFileHandler",
    "logging.handlers.RotatingFileHandler",
    "logging.handlers.TimedRotatingFileHandler",
    "logging.handlers.SocketHandler",
    "logging.handlers.DatagramHandler",
    "logging.handlers.SysLogHandler",
    "logging.handlers.SMTPHandler",
    "logging.handlers.HTTPHandler",
    "logging.handlers.QueueHandler",
    "logging.handlers.NTEventLogHandler",
];

const BUFFERING: &[&str] = &[
    "logging.handlers.BufferingHandler",
    "logging.handlers.MemoryHandler",
];

#[derive(Default, Clone, Copy)]
struct ClassKind {
    logging: bool,
    filter_only: bool,
    buffering: bool,
    memory: bool,
}

fn class_kind(checker: &Checker, class: &ast::StmtClassDef, depth: usize) -> ClassKind {
    let mut kind = ClassKind::default();
    let mut any_handler = false;
    for base in class.bases() {
        if let Some(q) = checker.semantic.qualified_name(base)
            && LOGGING_BASES.contains(&q.as_str())
        {
            kind.logging = true;
            if q == "logging.Filter" || q == "logging.Filterer" {
                kind.filter_only = true;
            } else {
                any_handler = true;
            }
            if BUFFERING.contains(&q.as_str()) {
                kind.buffering = true;
            }
            if q == "logging.handlers.MemoryHandler" {
                kind.memory = true;
            }
            continue;
        }
        if depth < 8
            && let Expr::Name(name) = base
            && let [Stmt::ClassDef(parent)] = checker.semantic.module_bindings(name.id.as_str())
        {
            let inner = deep(|| class_kind(checker, parent, depth + 1));
            if inner.logging {
                kind.logging = true;
                kind.buffering |= inner.buffering;
                kind.memory |= inner.memory;
                if inner.filter_only {
                    kind.filter_only = true;
                } else {
                    any_handler = true;
                }
            }
        }
    }
    if any_handler {
        kind.filter_only = false;
    }
    kind
}

/// Words one of which a file needs for this rule to run on it (see `triggers`).
pub(crate) const TRIGGERS: Triggers = Triggers::AnyOf(&["logging"]);

pub(crate) fn check(checker: &mut Checker) {
    if is_test_code(checker) {
        return;
    }
    let releases = Releases::collect(checker.suite);
    let mut found = Vec::new();
    checker.walk_classes(&mut |class| {
        let kind = class_kind(checker, class, 0);
        if !kind.logging {
            return;
        }
        // Bounded deques declared anywhere in the class.
        let bounded = bounded_containers(checker, class);
        // Attribute containers are released by the class itself.
        let class_releases = Releases::collect(&class.body);
        for stmt in &class.body {
            let Stmt::FunctionDef(def) = stmt else {
                continue;
            };
            match def.name.as_str() {
                "emit" | "handle" | "filter" => {
                    let Some(record) = second_parameter(def) else {
                        continue;
                    };
                    let handler_fix =
                        !kind.filter_only && crate::helpers::first_parameter(def) == Some("self");
                    for store in stores(checker, def, record, true) {
                        let Some(container) = last_segment(store.container) else {
                            continue;
                        };
                        let released = if matches!(store.container, Expr::Attribute(_)) {
                            class_releases.containers.contains(container)
                        } else {
                            releases.containers.contains(container)
                        };
                        if released
                            || bounded.contains(container)
                            || (kind.buffering && container == "buffer")
                        {
                            continue;
                        }
                        found.push(diagnostic(
                            checker,
                            &format!("`{}.{}`", class.name, def.name),
                            &store,
                            record,
                            handler_fix,
                        ));
                    }
                }
                "shouldFlush"
                    if kind.buffering
                        && !kind.memory
                        && always_false(def)
                        && !clears_buffer_outside_flush(class)
                        && !class_flushes(class) =>
                {
                    found.push(
                            Diagnostic::new(
                                Rule::HandlerKeepsRecords,
                                def.name.range(),
                                format!(
                                    "`{}.shouldFlush` never returns `True`, so `self.buffer` keeps every `LogRecord` (and the traceback in its `exc_info`, with every frame and local) until someone calls `flush()`",
                                    class.name
                                ),
                            )
                            .with_note(
                                "No automatic fix: flush when the buffer reaches a capacity (`len(self.buffer) >= self.capacity`), or store formatted text.",
                            ),
                        );
                }
                _ => {}
            }
        }
    });
    // Filter functions registered with `addFilter`.
    let mut registered: FxHashSet<&str> = FxHashSet::default();
    collect_add_filter(checker.suite, &mut registered);
    for stmt in checker.suite {
        let Stmt::FunctionDef(def) = stmt else {
            continue;
        };
        if !registered.contains(def.name.as_str()) {
            continue;
        }
        let Some(record) = def
            .parameters
            .posonlyargs
            .iter()
            .chain(&def.parameters.args)
            .next()
            .map(|p| p.parameter.name.as_str())
        else {
            continue;
        };
        for store in stores(checker, def, record, false) {
            let Some(container) = last_segment(store.container) else {
                continue;
            };
            if releases.containers.contains(container) {
                continue;
            }
            found.push(diagnostic(
                checker,
                &format!("filter function `{}`", def.name),
                &store,
                record,
                false,
            ));
        }
    }
    for diagnostic in found {
        checker.report(diagnostic);
    }
}

fn second_parameter(def: &ast::StmtFunctionDef) -> Option<&str> {
    def.parameters
        .posonlyargs
        .iter()
        .chain(&def.parameters.args)
        .nth(1)
        .map(|p| p.parameter.name.as_str())
}

/// `return False` as the whole body (after a docstring).
fn always_false(def: &ast::StmtFunctionDef) -> bool {
    let body = crate::helpers::body_without_docstring(&def.body);
    matches!(body, [Stmt::Return(ast::StmtReturn { value: Some(value), .. })]
        if matches!(&**value, Expr::BooleanLiteral(b) if !b.value))
}

/// Whether a method other than `flush`/`close` (which only run when someone flushes, and
/// `shouldFlush` never asks) empties `self.buffer`.
fn clears_buffer_outside_flush(class: &ast::StmtClassDef) -> bool {
    class.body.iter().any(|stmt| match stmt {
        Stmt::FunctionDef(def) if !matches!(def.name.as_str(), "flush" | "close") => {
            let one = std::slice::from_ref(stmt);
            Releases::collect(one).containers.contains("buffer") && def.name.as_str() != "__init__"
        }
        _ => false,
    })
}

/// Whether the class calls `self.flush()` itself somewhere (a timer, a size check).
fn class_flushes(class: &ast::StmtClassDef) -> bool {
    struct V(bool);
    impl<'a> Visitor<'a> for V {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Call(call) = expr
                && let Expr::Attribute(attr) = &*call.func
                && attr.attr.as_str() == "flush"
            {
                self.0 = true;
            }
            deep(|| visitor::walk_expr(self, expr));
        }
    }
    let mut v = V(false);
    for stmt in &class.body {
        if let Stmt::FunctionDef(def) = stmt
            && def.name.as_str() != "shouldFlush"
        {
            v.visit_body(&def.body);
        }
    }
    v.0
}

/// Container attributes bound to a `deque(maxlen=...)` anywhere in the class.
fn bounded_containers<'a>(checker: &Checker, class: &'a ast::StmtClassDef) -> FxHashSet<&'a str> {
    let mut out = FxHashSet::default();
    let bodies = class.body.iter().flat_map(|stmt| match stmt {
        Stmt::FunctionDef(def) => def.body.iter().collect::<Vec<_>>(),
        _ => vec![stmt],
    });
    for stmt in bodies {
        crate::helpers::walk_statements(std::slice::from_ref(stmt), &mut |s| {
            if let Stmt::Assign(assign) = s
                && let Expr::Call(call) = &*assign.value
                && checker
                    .semantic
                    .resolves_to(&call.func, &["collections.deque"])
                && call.arguments.find_argument_value("maxlen", 1).is_some()
            {
                for target in &assign.targets {
                    if let Some(name) = last_segment(target) {
                        out.insert(name);
                    }
                }
            }
        });
    }
    out
}

fn collect_add_filter<'a>(suite: &'a [Stmt], out: &mut FxHashSet<&'a str>) {
    struct V<'a, 'o>(&'o mut FxHashSet<&'a str>);
    impl<'a> Visitor<'a> for V<'a, '_> {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Call(call) = expr
                && let Expr::Attribute(attr) = &*call.func
                && attr.attr.as_str() == "addFilter"
                && let [Expr::Name(name)] = &call.arguments.args[..]
            {
                self.0.insert(name.id.as_str());
            }
            deep(|| visitor::walk_expr(self, expr));
        }
    }
    V(out).visit_body(suite);
}

/// The container under `x.setdefault(k, [])` and `x[k]`: `x`.
fn base_container(expr: &Expr) -> &Expr {
    match expr {
        Expr::Call(call) => match &*call.func {
            Expr::Attribute(attr) if matches!(attr.attr.as_str(), "setdefault" | "get") => {
                deep(|| base_container(&attr.value))
            }
            _ => expr,
        },
        Expr::Subscript(sub) => deep(|| base_container(&sub.value)),
        _ => expr,
    }
}

struct Store<'a> {
    /// The container (`self.records`, `_RECORDS`).
    container: &'a Expr,
    /// The `record` name inside the stored value.
    record: &'a ast::ExprName,
    how: &'static str,
}

/// Where `record` (or a tuple/list holding it) is stored in a long-lived container.
fn stores<'a>(
    checker: &Checker,
    def: &'a ast::StmtFunctionDef,
    record: &str,
    method: bool,
) -> Vec<Store<'a>> {
    struct V<'a, 'r, 'c> {
        checker: &'c Checker<'c>,
        record: &'r str,
        method: bool,
        self_name: Option<&'a str>,
        globals: FxHashSet<&'a str>,
        out: Vec<Store<'a>>,
        cleared: bool,
    }
    impl<'a> V<'a, '_, '_> {
        fn long_lived(&self, container: &Expr) -> bool {
            match base_container(container) {
                Expr::Attribute(attr) => {
                    self.method
                        && matches!(&*attr.value, Expr::Name(n) if Some(n.id.as_str()) == self.self_name)
                }
                Expr::Name(name) => {
                    self.globals.contains(name.id.as_str())
                        || self.checker.semantic.is_module_level(name.id.as_str())
                }
                _ => false,
            }
        }
        fn held(&self, value: &'a Expr) -> Option<&'a ast::ExprName> {
            match value {
                Expr::Name(name) if name.id.as_str() == self.record => Some(name),
                Expr::Tuple(t) => t.iter().find_map(|e| deep(|| self.held(e))),
                Expr::List(l) => l.iter().find_map(|e| deep(|| self.held(e))),
                _ => None,
            }
        }
    }
    impl<'a> Visitor<'a> for V<'a, '_, '_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(_) | Stmt::ClassDef(_) => return,
                Stmt::Global(global) => {
                    self.globals.extend(global.names.iter().map(|n| n.as_str()));
                }
                Stmt::Assign(assign) => {
                    for target in &assign.targets {
                        match target {
                            // `record.exc_info = None`: the traceback is dropped.
                            Expr::Attribute(attr)
                                if matches!(&*attr.value, Expr::Name(n) if n.id.as_str() == self.record)
                                    && attr.attr.as_str() == "exc_info" =>
                            {
                                self.cleared = true;
                            }
                            // `record = ...`: something else is stored.
                            Expr::Name(n) if n.id.as_str() == self.record => self.cleared = true,
                            Expr::Subscript(sub) if self.long_lived(&sub.value) => {
                                if let Some(record) = self.held(&assign.value) {
                                    self.out.push(Store {
                                        container: base_container(&sub.value),
                                        record,
                                        how: "item",
                                    });
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Stmt::Delete(del)
                    if del.targets.iter().any(
                        |t| matches!(t, Expr::Attribute(a) if a.attr.as_str() == "exc_info"),
                    ) =>
                {
                    self.cleared = true;
                }
                _ => {}
            }
            deep(|| visitor::walk_stmt(self, stmt));
        }
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Lambda(_) = expr {
                return;
            }
            if let Expr::Call(call) = expr
                && let Expr::Attribute(attr) = &*call.func
                && matches!(
                    attr.attr.as_str(),
                    "append" | "appendleft" | "insert" | "add" | "extend" | "setdefault"
                )
                && self.long_lived(&attr.value)
            {
                let args: Vec<&Expr> = match attr.attr.as_str() {
                    "insert" | "setdefault" => call.arguments.args.iter().skip(1).collect(),
                    _ => call.arguments.args.iter().collect(),
                };
                let held = args
                    .into_iter()
                    .find_map(|arg| match (attr.attr.as_str(), arg) {
                        // `extend` takes an iterable: `[record]`.
                        ("extend", Expr::List(_) | Expr::Tuple(_)) => self.held(arg),
                        ("extend", _) => None,
                        _ => self.held(arg),
                    });
                if let Some(record) = held {
                    self.out.push(Store {
                        container: base_container(&attr.value),
                        record,
                        how: "call",
                    });
                }
            }
            deep(|| visitor::walk_expr(self, expr));
        }
    }
    let self_name = crate::helpers::first_parameter(def);
    let mut v = V {
        checker,
        record,
        method,
        self_name,
        globals: FxHashSet::default(),
        out: Vec::new(),
        cleared: false,
    };
    v.visit_body(&def.body);
    if v.cleared { Vec::new() } else { v.out }
}

fn diagnostic(
    checker: &Checker,
    owner: &str,
    store: &Store,
    record: &str,
    handler_fix: bool,
) -> Diagnostic {
    let container = checker.slice(store.container);
    let message = format!(
        "{owner} stores the `LogRecord`s it sees in `{container}`, which keeps each record's `exc_info` traceback (every frame and local between the `raise` and the logging call) and its `args` alive for as long as the handler lives"
    );
    let _ = store.how;
    let diagnostic = Diagnostic::new(Rule::HandlerKeepsRecords, store.record.range(), message);
    if handler_fix {
        diagnostic.with_fix(Fix::unsafe_(
            "Store the formatted text (`self.format(record)`) instead of the record",
            vec![Edit::replacement(
                format!("self.format({record})"),
                store.record.range(),
            )],
        ))
    } else {
        diagnostic.with_note(
            "No automatic fix: a filter has no formatter; store `record.getMessage()` (and the traceback text from `logging.Formatter().formatException(record.exc_info)`) instead of the record, or bound the container.",
        )
    }
}
