use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange};
use rustc_hash::FxHashSet;

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::{Diagnostic, Edit, Fix};
use crate::helpers::deep;
use crate::registry::Rule;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// An attribute of a `threading.local()` object (a module-level one, or one kept in a class
    /// or instance attribute: `_local.x`, `self._state.x`, `Ctx._state.x`) that a function sets
    /// from its own arguments, on every call, while nothing in the module ever clears it: no
    /// `del _local.x`, no `_local.x = None` (or another constant), no assignment in a `finally`
    /// block (the save-and-restore idiom), no `delattr`, no `_local.__dict__.clear()`, no new
    /// `threading.local()` in its place. It also finds a container in a thread-local that a
    /// function grows with its arguments (`_local.seen.add(key)`, `_local.log.append(entry)`,
    /// `_local.by_id[k] = obj`) while nothing ever clears, pops or replaces it (an assignment
    /// of a new container outside lazy initialisation, `setattr(_local, "x", [...])` included,
    /// counts as replacing it).
    ///
    /// Not reported: values that do not come from the function's arguments (a connection made
    /// from a module-level setting), and the lazy-initialisation idiom — a value created under a
    /// test of the thread-local (`if not hasattr(_local, "conn"):`, `if _local.conn is None:`)
    /// or in an `except AttributeError:` handler. Such a per-thread cache of a reusable object
    /// is what `threading.local` is for: it stays alive, but it does not change with each task.
    /// Nor is a plain setter (`def set_current(popen): _tls.current = popen`, a function named
    /// `set…` that only assigns its argument): its callers reset the value by passing `None`,
    /// often from other modules.
    ///
    /// ## Why it keeps memory alive
    /// A thread-local value lives as long as its thread. Web servers, executors and task queues
    /// run tasks on pooled threads that live as long as the process, so the value set by one
    /// request — the request itself, its user, its body, a transaction — stays alive after the
    /// request ends, until the next task on that thread overwrites it; on a thread that stays
    /// idle, for ever. A container in a thread-local grows with every task the thread runs. The
    /// stale value also leaks into the next task, which may read the previous request's data.
    ///
    /// ## Example
    /// ```python
    /// import threading
    ///
    /// _local = threading.local()
    ///
    /// def handle(request):
    ///     _local.request = request
    ///     return dispatch(request)
    /// ```
    ///
    /// ## Fix
    /// Clear the value when the task ends, on every path:
    /// ```python
    /// def handle(request):
    ///     _local.request = request
    ///     try:
    ///         return dispatch(request)
    ///     finally:
    ///         del _local.request
    /// ```
    /// The quick fix does this when the value is set by a statement of the function's own body
    /// (not inside a block) and work follows it in the function. When the function only sets the
    /// value for code that runs after it returns (a `process_request` hook), clear it where the
    /// task ends (the matching `process_response`/teardown hook); a `contextvars.ContextVar`
    /// with `token = var.set(value)` … `var.reset(token)` is the modern alternative.
    ///
    /// ## Fix safety
    /// Unsafe: code that reads the value after the function returns (another hook of the same
    /// request, a callback run later on the same thread) finds it gone and raises
    /// `AttributeError`; only the author knows where the task really ends.
    pub struct ThreadLocalNotCleared {
        code: "RL501",
        name: "thread-local-not-cleared",
        summary: "`threading.local()` attributes set and never cleared in pooled threads",
        fix: Sometimes,
    }
}

const LOCAL_CONSTRUCTORS: &[&str] = &["threading.local", "_threading_local.local"];

/// How a thread-local object is reached.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Holder<'a> {
    /// A module-level name.
    Global(&'a str),
    /// A class or instance attribute, reached as `<name>.<attr>`.
    Attribute(&'a str),
}

/// Words one of which a file needs for this rule to run on it (see `triggers`).
///
/// Every finding is about an object made by a call that resolves to one of
/// [`LOCAL_CONSTRUCTORS`], and every segment of a resolved name is spelled in the file
/// (`import threading as t`, `from _threading_local import local`): so both `threading` (also
/// in `_threading_local`) and `local` occur. The framework waits for the rarer word; `check`
/// looks for the other.
pub(crate) const TRIGGERS: Triggers = Triggers::AnyOf(&["threading"]);

pub(crate) fn check(checker: &mut Checker) {
    if !checker.source.contains("local") {
        return;
    }
    let holders = find_holders(checker);
    if holders.is_empty() {
        return;
    }
    let mut scan = Scan {
        checker,
        holders: &holders,
        functions: Vec::new(),
        derived: Vec::new(),
        guards: 0,
        in_finally: 0,
        in_handler: 0,
        sets: Vec::new(),
        cleared: FxHashSet::default(),
        cleared_all: FxHashSet::default(),
        replaced: FxHashSet::default(),
    };
    scan.visit_body(checker.suite);
    let Scan {
        sets,
        cleared,
        cleared_all,
        replaced,
        ..
    } = scan;
    let mut reported: FxHashSet<(Holder, &str)> = FxHashSet::default();
    let mut diagnostics = Vec::new();
    for set in &sets {
        if cleared_all.contains(&set.holder)
            || cleared.contains(&(set.holder.clone(), set.attr.to_owned()))
            || (set.kind == SetKind::Grow
                && replaced.contains(&(set.holder.clone(), set.attr.to_owned())))
            || !reported.insert((set.holder.clone(), set.attr))
        {
            continue;
        }
        diagnostics.push(diagnostic(checker, set));
    }
    for diagnostic in diagnostics {
        checker.report(diagnostic);
    }
}

/// `x = threading.local()` at module level, `x = threading.local()` in a class body,
/// `self.x = threading.local()` in a method.
fn find_holders<'a>(checker: &Checker<'a>) -> FxHashSet<Holder<'a>> {
    struct Finder<'c, 'a> {
        checker: &'c Checker<'a>,
        depth: usize,
        in_class: bool,
        holders: FxHashSet<Holder<'a>>,
    }
    impl<'a> Visitor<'a> for Finder<'_, 'a> {
        // Statements only: expressions hold no statements (and can nest thousands deep).
        fn visit_expr(&mut self, _: &'a Expr) {}

        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            let (targets, value): (&'a [Expr], Option<&'a Expr>) = match stmt {
                Stmt::Assign(assign) => (&assign.targets, Some(&*assign.value)),
                Stmt::AnnAssign(assign) => (
                    std::slice::from_ref(&*assign.target),
                    assign.value.as_deref(),
                ),
                _ => (&[], None),
            };
            if let Some(Expr::Call(call)) = value
                && call.arguments.is_empty()
                // The qualified name of `x.attr` ends with `attr`.
                && match &*call.func {
                    Expr::Name(_) => true,
                    Expr::Attribute(attr) => attr.attr.as_str() == "local",
                    _ => false,
                }
                && self
                    .checker
                    .semantic
                    .resolves_to(&call.func, LOCAL_CONSTRUCTORS)
            {
                for target in targets {
                    match target {
                        Expr::Name(name) if self.depth == 0 && !self.in_class => {
                            self.holders.insert(Holder::Global(name.id.as_str()));
                        }
                        Expr::Name(name) if self.in_class => {
                            self.holders.insert(Holder::Attribute(name.id.as_str()));
                        }
                        Expr::Attribute(attr) if attr.value.is_name_expr() && self.depth > 0 => {
                            self.holders.insert(Holder::Attribute(attr.attr.as_str()));
                        }
                        _ => {}
                    }
                }
            }
            match stmt {
                Stmt::FunctionDef(_) => {
                    let in_class = std::mem::replace(&mut self.in_class, false);
                    self.depth += 1;
                    deep(|| visitor::walk_stmt(self, stmt));
                    self.depth -= 1;
                    self.in_class = in_class;
                }
                Stmt::ClassDef(_) => {
                    let in_class = std::mem::replace(&mut self.in_class, true);
                    deep(|| visitor::walk_stmt(self, stmt));
                    self.in_class = in_class;
                }
                _ => deep(|| visitor::walk_stmt(self, stmt)),
            }
        }
    }
    let mut finder = Finder {
        checker,
        depth: 0,
        in_class: false,
        holders: FxHashSet::default(),
    };
    finder.visit_body(checker.suite);
    finder.holders
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetKind {
    /// `_local.x = value`
    Assign,
    /// `_local.x.append(value)`, `_local.x[k] = value`
    Grow,
}

struct Set<'a> {
    holder: Holder<'a>,
    attr: &'a str,
    /// `_local.x` in the statement.
    target: TextRange,
    kind: SetKind,
    /// The argument the value comes from.
    argument: &'a str,
    function: &'a ast::StmtFunctionDef,
    /// The assignment statement, when it is a statement of the function's own body.
    top_level: Option<&'a Stmt>,
}

struct Scan<'c, 'a> {
    checker: &'c Checker<'a>,
    holders: &'c FxHashSet<Holder<'a>>,
    /// Enclosing functions with their parameter names (not `self`/`cls`).
    functions: Vec<(&'a ast::StmtFunctionDef, Vec<&'a str>)>,
    /// Per enclosing function, locals read from a thread-local (`conn = getattr(_local, ...)`).
    derived: Vec<Vec<&'a str>>,
    /// Depth of `if`/`while` tests that look at a thread-local (lazy initialisation).
    guards: usize,
    in_finally: usize,
    /// Depth of `except` handlers.
    in_handler: usize,
    sets: Vec<Set<'a>>,
    cleared: FxHashSet<(Holder<'a>, String)>,
    cleared_all: FxHashSet<Holder<'a>>,
    /// Attributes assigned outside lazy initialisation: a container there is replaced from
    /// time to time, so it does not grow for ever.
    replaced: FxHashSet<(Holder<'a>, String)>,
}

impl<'a> Scan<'_, 'a> {
    /// The thread-local an expression refers to.
    fn holder(&self, expr: &'a Expr) -> Option<Holder<'a>> {
        let holder = match expr {
            Expr::Name(name) => Holder::Global(name.id.as_str()),
            Expr::Attribute(attr) if attr.value.is_name_expr() => {
                Holder::Attribute(attr.attr.as_str())
            }
            _ => return None,
        };
        self.holders.contains(&holder).then_some(holder)
    }

    /// `_local.x` → (holder, `x`).
    fn slot(&self, expr: &'a Expr) -> Option<(Holder<'a>, &'a str)> {
        let Expr::Attribute(attr) = expr else {
            return None;
        };
        if attr.attr.as_str() == "__dict__" {
            return None;
        }
        Some((self.holder(&attr.value)?, attr.attr.as_str()))
    }

    fn mentions_holder(&self, expr: &'a Expr) -> bool {
        let derived = self.derived.last();
        crate::helpers::any_over_expr(expr, |e: &Expr| {
            (matches!(e, Expr::Name(_) | Expr::Attribute(_)) && self.holder_ref(e))
                || matches!(e, Expr::Name(n) if derived.is_some_and(|d| d.contains(&n.id.as_str())))
        })
    }

    fn holder_ref(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Name(name) => self.holders.contains(&Holder::Global(name.id.as_str())),
            Expr::Attribute(attr) => {
                attr.value.is_name_expr()
                    && self
                        .holders
                        .contains(&Holder::Attribute(attr.attr.as_str()))
            }
            _ => false,
        }
    }

    /// The enclosing function's argument that `value` is computed from.
    fn argument_in(&self, value: &'a Expr) -> Option<&'a str> {
        let (_, parameters) = self.functions.last()?;
        let mut found = None;
        crate::helpers::any_over_expr(
            value,
            |e: &Expr| matches!(e, Expr::Name(n) if parameters.contains(&n.id.as_str())),
        )
        .then(|| {
            // Find the first parameter mentioned, for the message.
            let mut names = Vec::new();
            collect_names(value, &mut names);
            found = names.into_iter().find(|n| parameters.contains(n));
        });
        found
    }

    /// `x = f(arg)`, `for x in arg:`: `x` comes from the arguments too.
    fn derive_from_arguments(&mut self, target: &'a Expr, value: &'a Expr) {
        if self.argument_in(value).is_none() {
            return;
        }
        let mut names = Vec::new();
        collect_names(target, &mut names);
        if let Some((_, parameters)) = self.functions.last_mut() {
            for name in names {
                if !parameters.contains(&name) {
                    parameters.push(name);
                }
            }
        }
    }

    fn record(
        &mut self,
        slot: (Holder<'a>, &'a str),
        target: TextRange,
        kind: SetKind,
        value: &'a Expr,
        stmt: Option<&'a Stmt>,
    ) {
        if self.guards > 0 || self.in_handler > 0 || self.in_finally > 0 {
            return;
        }
        let Some(argument) = self.argument_in(value) else {
            return;
        };
        let Some((function, parameters)) = self.functions.last() else {
            return;
        };
        // A plain setter (`def set_current(popen): _tls.current = popen`): its callers decide
        // the value's lifetime and reset it by passing `None` (`set_current(None)` in a
        // `finally`), possibly from other modules.
        if kind == SetKind::Assign
            && matches!(value, Expr::Name(n) if parameters.contains(&n.id.as_str()))
            && is_setter(function)
        {
            return;
        }
        let top_level = stmt.filter(|stmt| function.body.iter().any(|s| std::ptr::eq(s, *stmt)));
        self.sets.push(Set {
            holder: slot.0,
            attr: slot.1,
            target,
            kind,
            argument,
            function,
            top_level,
        });
    }

    fn assign(&mut self, target: &'a Expr, value: &'a Expr, stmt: &'a Stmt) {
        // `_local.x = ...`
        if let Some(slot) = self.slot(target) {
            if self.functions.is_empty() {
                return;
            }
            if self.guards == 0 && self.in_handler == 0 {
                self.replaced.insert((slot.0.clone(), slot.1.to_owned()));
            }
            if is_constant(value) || self.in_finally > 0 {
                self.cleared.insert((slot.0, slot.1.to_owned()));
            } else if value_is_empty_container(value) && self.guards == 0 && self.in_handler == 0 {
                // `_local.items = []` starts afresh: a reset for a container.
                self.cleared.insert((slot.0.clone(), slot.1.to_owned()));
                self.record(slot, target.range(), SetKind::Assign, value, Some(stmt));
            } else {
                self.record(slot, target.range(), SetKind::Assign, value, Some(stmt));
            }
            return;
        }
        // `_local.x[k] = ...`
        if let Expr::Subscript(subscript) = target
            && let Some(slot) = self.slot(&subscript.value)
        {
            self.record(slot, subscript.value.range(), SetKind::Grow, value, None);
            return;
        }
        // A new thread-local in place of the old one.
        if let Some((function, _)) = self.functions.last()
            && function.name.as_str() != "__init__"
            && let Some(holder) = self.holder(target)
        {
            self.cleared_all.insert(holder);
        }
    }
}

fn func_expr(call: &ast::ExprCall) -> &Expr {
    &call.func
}

fn collect_names<'a>(expr: &'a Expr, out: &mut Vec<&'a str>) {
    struct Names<'o, 'a>(&'o mut Vec<&'a str>);
    impl<'a> Visitor<'a> for Names<'_, 'a> {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Name(name) = expr {
                self.0.push(name.id.as_str());
            }
            deep(|| visitor::walk_expr(self, expr));
        }
    }
    Names(out).visit_expr(expr);
}

/// A setter: a function named `set…` whose body only assigns attributes (and declares
/// globals).
fn is_setter(function: &ast::StmtFunctionDef) -> bool {
    function
        .name
        .as_str()
        .trim_start_matches('_')
        .to_ascii_lowercase()
        .starts_with("set")
        && crate::helpers::body_without_docstring(&function.body)
            .iter()
            .all(|stmt| match stmt {
                Stmt::Assign(assign) => assign.targets.iter().all(Expr::is_attribute_expr),
                Stmt::Global(_) | Stmt::Pass(_) => true,
                _ => false,
            })
}

fn is_constant(expr: &Expr) -> bool {
    match expr {
        Expr::NoneLiteral(_)
        | Expr::BooleanLiteral(_)
        | Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::BytesLiteral(_) => true,
        Expr::UnaryOp(unary) => is_constant(&unary.operand),
        Expr::Tuple(tuple) => tuple.iter().all(is_constant),
        _ => false,
    }
}

fn value_is_empty_container(expr: &Expr) -> bool {
    match expr {
        Expr::List(list) => list.is_empty(),
        Expr::Dict(dict) => dict.is_empty(),
        Expr::Call(call) => {
            call.arguments.is_empty()
                && matches!(&*call.func, Expr::Name(n) if matches!(n.id.as_str(), "list" | "dict" | "set" | "deque" | "OrderedDict"))
        }
        _ => false,
    }
}

impl<'a> Visitor<'a> for Scan<'_, 'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(def) => {
                for decorator in &def.decorator_list {
                    self.visit_decorator(decorator);
                }
                let parameters: Vec<&str> = def
                    .parameters
                    .iter()
                    .map(|p| p.name().as_str())
                    .filter(|name| !matches!(*name, "self" | "cls"))
                    .collect();
                let (guards, finally, handler) = (self.guards, self.in_finally, self.in_handler);
                self.guards = 0;
                self.in_finally = 0;
                self.in_handler = 0;
                self.functions.push((def, parameters));
                self.derived.push(Vec::new());
                for stmt in &def.body {
                    self.visit_stmt(stmt);
                }
                self.derived.pop();
                self.functions.pop();
                (self.guards, self.in_finally, self.in_handler) = (guards, finally, handler);
                return;
            }
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    self.assign(target, &assign.value, stmt);
                    if let Expr::Name(name) = target
                        && self.mentions_holder(&assign.value)
                        && let Some(derived) = self.derived.last_mut()
                    {
                        derived.push(name.id.as_str());
                    }
                    self.derive_from_arguments(target, &assign.value);
                }
            }
            Stmt::AnnAssign(assign) => {
                if let Some(value) = &assign.value {
                    self.assign(&assign.target, value, stmt);
                }
            }
            Stmt::For(for_) => {
                self.derive_from_arguments(&for_.target, &for_.iter);
            }
            Stmt::With(with) => {
                for item in &with.items {
                    if let Some(vars) = &item.optional_vars {
                        self.derive_from_arguments(vars, &item.context_expr);
                    }
                }
            }
            Stmt::AugAssign(aug) => {
                // `_local.total += amount`: replaces a number; `_local.items += [x]` grows.
                if let Some(slot) = self.slot(&aug.target)
                    && matches!(&*aug.value, Expr::List(_) | Expr::ListComp(_))
                {
                    self.record(slot, aug.target.range(), SetKind::Grow, &aug.value, None);
                }
            }
            Stmt::Delete(delete) => {
                for target in &delete.targets {
                    if let Some(slot) = self.slot(target) {
                        self.cleared.insert((slot.0, slot.1.to_owned()));
                    } else if let Expr::Subscript(subscript) = target
                        && let Some(slot) = self.slot(&subscript.value)
                    {
                        self.cleared.insert((slot.0, slot.1.to_owned()));
                    } else if let Some(holder) = self.holder(target) {
                        self.cleared_all.insert(holder);
                    }
                }
            }
            Stmt::If(if_) => {
                self.visit_expr(&if_.test);
                let guarded = self.mentions_holder(&if_.test);
                self.guards += usize::from(guarded);
                self.visit_body(&if_.body);
                for clause in &if_.elif_else_clauses {
                    if let Some(test) = &clause.test {
                        self.visit_expr(test);
                    }
                    self.visit_body(&clause.body);
                }
                self.guards -= usize::from(guarded);
                return;
            }
            Stmt::While(while_) => {
                self.visit_expr(&while_.test);
                let guarded = self.mentions_holder(&while_.test);
                self.guards += usize::from(guarded);
                self.visit_body(&while_.body);
                self.visit_body(&while_.orelse);
                self.guards -= usize::from(guarded);
                return;
            }
            Stmt::Try(try_) => {
                self.visit_body(&try_.body);
                self.in_handler += 1;
                for handler in &try_.handlers {
                    let ast::ExceptHandler::ExceptHandler(handler) = handler;
                    self.visit_body(&handler.body);
                }
                self.in_handler -= 1;
                self.visit_body(&try_.orelse);
                self.in_finally += 1;
                self.visit_body(&try_.finalbody);
                self.in_finally -= 1;
                return;
            }
            _ => {}
        }
        deep(|| visitor::walk_stmt(self, stmt));
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Call(call) = expr {
            // `_local.__dict__.clear()`, `vars(_local).clear()`, `_local.x.clear()`,
            // `_local.x.pop()`, `_local.x.append(value)`.
            if let Expr::Attribute(method) = &*call.func {
                let receiver = &*method.value;
                let dict_of = match receiver {
                    Expr::Attribute(attr) if attr.attr.as_str() == "__dict__" => {
                        self.holder(&attr.value)
                    }
                    Expr::Call(inner)
                        if self
                            .checker
                            .semantic
                            .resolves_to(&inner.func, &["builtins.vars"]) =>
                    {
                        inner.arguments.args.first().and_then(|a| self.holder(a))
                    }
                    _ => None,
                };
                let name = method.attr.as_str();
                if let Some(holder) = dict_of {
                    if matches!(name, "clear" | "pop" | "popitem" | "update") {
                        self.cleared_all.insert(holder);
                    }
                } else if let Some(slot) = self.slot(receiver) {
                    match name {
                        "clear" | "pop" | "popitem" | "popleft" | "remove" | "discard" => {
                            self.cleared.insert((slot.0, slot.1.to_owned()));
                        }
                        "append" | "add" | "appendleft" | "extend" | "insert" | "setdefault"
                        | "update" => {
                            if let Some(value) = call.arguments.args.last() {
                                self.record(slot, receiver.range(), SetKind::Grow, value, None);
                            }
                        }
                        _ => {}
                    }
                }
            }
            // `delattr(_local, "x")`, `setattr(_local, "x", None)`.
            if let Expr::Name(func) = &*call.func
                && self
                    .checker
                    .semantic
                    .resolves_to(func_expr(call), &["builtins.delattr", "builtins.setattr"])
                && let Some(first) = call.arguments.args.first()
                && let Some(holder) = self.holder(first)
            {
                match call.arguments.args.get(1) {
                    Some(Expr::StringLiteral(attr)) => {
                        let name = attr.value.to_str();
                        if func.id.as_str() == "setattr" && self.guards == 0 && self.in_handler == 0
                        {
                            self.replaced.insert((holder.clone(), name.to_owned()));
                        }
                        let deletes = func.id.as_str() == "delattr"
                            || call.arguments.args.get(2).is_some_and(is_constant);
                        if deletes {
                            self.cleared.insert((holder, name.to_owned()));
                        }
                    }
                    _ => {
                        self.cleared_all.insert(holder);
                    }
                }
            }
        }
        deep(|| visitor::walk_expr(self, expr));
    }
}

fn diagnostic(checker: &Checker, set: &Set) -> Diagnostic {
    let local = match &set.holder {
        Holder::Global(name) => (*name).to_owned(),
        Holder::Attribute(name) => checker
            .slice(set.target)
            .rsplit_once('.')
            .map_or_else(|| (*name).to_owned(), |(base, _)| base.to_owned()),
    };
    let function = set.function.name.as_str();
    let message = match set.kind {
        SetKind::Assign => format!(
            "thread-local `{local}.{attr}` is set from `{argument}` on every call of `{function}` and never cleared: each pooled thread keeps the last value (and all it refers to) alive after the task ends",
            attr = set.attr,
            argument = set.argument,
        ),
        SetKind::Grow => format!(
            "thread-local container `{local}.{attr}` grows with `{argument}` on every call of `{function}` and is never cleared: each thread keeps everything added to it for as long as it lives",
            attr = set.attr,
            argument = set.argument,
        ),
    };
    let diagnostic = Diagnostic::new(Rule::ThreadLocalNotCleared, set.target, message);
    match reset_fix(checker, set, &local) {
        Ok(fix) => diagnostic.with_fix(fix),
        Err(reason) => diagnostic.with_note(reason),
    }
}

/// Wraps the rest of the function in `try:` … `finally: del <local>.<attr>`.
fn reset_fix(checker: &Checker, set: &Set, local: &str) -> Result<Fix, String> {
    let no_fix = || {
        format!(
            "No automatic fix: clear `{local}.{}` where the task ends (`try`/`finally: del {local}.{}` around the work, or the request's teardown hook).",
            set.attr, set.attr
        )
    };
    let Some(stmt) = set.top_level else {
        return Err(no_fix());
    };
    if set.kind != SetKind::Assign || set.function.is_async {
        return Err(no_fix());
    }
    // A function that starts something (`begin`, `set_current`, `process_request`, `__enter__`)
    // sets the value for code that runs after it returns: the task does not end there.
    let name = set
        .function
        .name
        .as_str()
        .trim_start_matches('_')
        .to_ascii_lowercase();
    if [
        "set",
        "begin",
        "start",
        "push",
        "enter",
        "process_request",
        "activate",
        "bind",
        "install",
        "open",
        "init",
        "setup",
        "set_up",
        "register",
        "attach",
        "use",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
    {
        return Err(no_fix());
    }
    let body = &set.function.body;
    let Some(index) = body.iter().position(|s| std::ptr::eq(s, stmt)) else {
        return Err(no_fix());
    };
    let rest = &body[index + 1..];
    let (Some(first), Some(last)) = (rest.first(), rest.last()) else {
        return Err(no_fix());
    };
    // Only when work follows (a call), and the lines are the function's own.
    let has_call = rest.iter().any(|s| {
        crate::helpers::any_over_body(std::slice::from_ref(s), |e: &Expr| e.is_call_expr())
    });
    if !has_call
        || !checker.starts_line(stmt)
        || checker.followed_on_line(stmt)
        || !checker.starts_line(first)
        || checker.followed_on_line(last)
        || contains_yield(rest)
    {
        return Err(no_fix());
    }
    let indent = checker.indentation(first.start());
    let unit = checker.indent_unit();
    let eol = checker.line_ending();
    let range = checker.full_lines(TextRange::new(first.start(), last.end()));
    let mut text = format!("{indent}try:{eol}");
    let mut body_text = checker.indent_lines(range, unit);
    if !body_text.ends_with(['\n', '\r']) {
        body_text.push_str(eol);
    }
    text.push_str(&body_text);
    text.push_str(&format!(
        "{indent}finally:{eol}{indent}{unit}del {local}.{attr}{eol}",
        attr = set.attr
    ));
    Ok(Fix::unsafe_(
        format!(
            "Clear `{local}.{}` when `{}` ends",
            set.attr, set.function.name
        ),
        vec![Edit::replacement(text, range)],
    ))
}

fn contains_yield(body: &[Stmt]) -> bool {
    body.iter().any(|s| {
        crate::helpers::any_over_body(std::slice::from_ref(s), |e: &Expr| {
            matches!(e, Expr::Yield(_) | Expr::YieldFrom(_))
        })
    })
}
