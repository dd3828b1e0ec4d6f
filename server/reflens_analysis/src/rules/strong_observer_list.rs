use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::Ranged;

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::{Diagnostic, Edit, Fix};
use crate::helpers::{
    MethodKind, NewContainer, deep, first_parameter, is_long_lived_class, method_kind,
    new_container, walk_statements,
};
use crate::registry::Rule;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// A class that keeps its subscribers in a plain list, set or dict attribute named like
    /// one (`self._observers`, `_listeners`, `_subscribers`, `_callbacks`, `_watchers`,
    /// `_receivers`, `_hooks`, `_handlers`), grows it with a parameter of a public
    /// subscription method (`subscribe`, `add_listener`, `register_callback`, `on`, `watch`,
    /// `connect`, `attach`...), and offers no way to take a subscriber out again: nothing in
    /// the class removes from the container (`.remove`, `.discard`, `.pop`, `.clear`, `del`,
    /// rebinding it outside `__init__`) and it has no `unsubscribe`/`remove_*`/`disconnect`/
    /// `detach`/`unregister`/`off` method.
    ///
    /// And only when the file shows objects subscribing themselves through that method:
    /// some method of another object calls it with `self`, a bound method of `self`
    /// (`bus.subscribe(self.on_event)`) or a lambda using `self`. This is the variant chosen
    /// for precision: a subscription API without any removal that instances use to register
    /// themselves keeps every such instance alive as long as the subject; a registry of
    /// plain functions (`manager.add_handler(text_handler)`) or a short-lived subject does not
    /// leak anything, and without seeing the subscribers the rule cannot tell. Lists that only collect configuration
    /// (`add_handler` on a builder) are not matched because both the container name and the
    /// method name must say "subscription". Not reported: subscribers stored weakly
    /// (`weakref.WeakSet`, `weakref.ref(cb)`, `WeakMethod`, which is what
    /// `django.dispatch.Signal.connect` does by default: it stores a `weakref.ref`/`WeakMethod`
    /// of the receiver and also offers `disconnect`), a parameter rebound before it is stored,
    /// private methods, and enums and metaclasses.
    ///
    /// ## Why it keeps memory alive
    /// The subject refers to each subscriber, so a subscriber lives at least as long as the
    /// subject. An observer that registers a bound method (`bus.subscribe(self.on_event)`)
    /// keeps its whole instance alive through the method's `__self__`. When the subject is
    /// long-lived (an application-wide event bus, a model shared by views, a settings object)
    /// every view, session or request handler that ever subscribed stays in memory, and keeps
    /// receiving notifications after its owner thought it was gone. Without a removal method
    /// the subscribers cannot even clean up after themselves.
    ///
    /// ## Example
    /// ```python
    /// class EventBus:
    ///     def __init__(self):
    ///         self._observers = set()
    ///
    ///     def subscribe(self, observer):
    ///         self._observers.add(observer)
    ///
    ///     def publish(self, event):
    ///         for observer in self._observers:
    ///             observer.notify(event)
    /// ```
    ///
    /// ## Fix
    /// Hold subscriber objects weakly, so that a subscriber disappears from the bus when its
    /// last other reference goes:
    ///
    /// ```python
    /// import weakref
    ///
    /// class EventBus:
    ///     def __init__(self):
    ///         self._observers = weakref.WeakSet()
    /// ```
    ///
    /// For callbacks, store `weakref.WeakMethod(cb)` for bound methods (and call the result
    /// of calling it, checking for `None`), or add an `unsubscribe` method and make
    /// subscribers call it.
    ///
    /// ## Fix safety
    /// The `weakref.WeakSet` fix is offered only for a set initialised once, filled with
    /// `.add`, whose elements are used as objects (`observer.notify(...)`) and never called
    /// directly. It is unsafe: a subscriber that nothing else refers to (a temporary object
    /// created just to subscribe) now vanishes and stops receiving events, and elements must
    /// be weak-referenceable (not `__slots__` classes without `__weakref__`, not `int` or
    /// `str`). No fix is offered for callback lists: a `WeakSet` or `WeakMethod` would drop
    /// lambdas, plain closures and bound methods the caller does not keep, so the callbacks
    /// would silently stop firing.
    pub struct StrongObserverList {
        code: "RL203",
        name: "strong-observer-list",
        summary: "An observer or callback list that keeps its subscribers alive",
        fix: Sometimes,
    }
}

const CONTAINER_WORDS: &[&str] = &[
    "observer",
    "listener",
    "subscriber",
    "subscription",
    "callback",
    "watcher",
    "receiver",
    "hook",
    "handler",
];

const METHOD_WORDS: &[&str] = &[
    "subscribe",
    "listen",
    "observ",
    "watch",
    "connect",
    "register",
    "callback",
    "hook",
    "handler",
    "attach",
    "receiver",
];

const REMOVAL_WORDS: &[&str] = &[
    "unsubscribe",
    "remove",
    "disconnect",
    "detach",
    "unregister",
    "unwatch",
    "discard",
    "clear",
    "reset",
    "cancel",
];

/// Calls `f` with `name.to_ascii_lowercase()`, copied on the stack when short (these tests
/// run on every method name).
fn with_lowercase<R>(name: &str, f: impl FnOnce(&str) -> R) -> R {
    let mut buffer = [0u8; 64];
    match buffer.get_mut(..name.len()) {
        Some(lower) => {
            lower.copy_from_slice(name.as_bytes());
            lower.make_ascii_lowercase();
            // Lowercasing ASCII bytes keeps UTF-8 valid.
            f(std::str::from_utf8(lower).unwrap_or_default())
        }
        None => f(&name.to_ascii_lowercase()),
    }
}

/// Which bytes start one of `words`.
const fn first_bytes(words: &[&str]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < words.len() {
        table[words[i].as_bytes()[0] as usize] = true;
        i += 1;
    }
    table
}

const CONTAINER_FIRST: [bool; 256] = first_bytes(CONTAINER_WORDS);
const METHOD_FIRST: [bool; 256] = first_bytes(METHOD_WORDS);
const REMOVAL_FIRST: [bool; 256] = first_bytes(REMOVAL_WORDS);

/// Whether `lower` contains one of `words` (all lowercase ASCII; `first` is
/// [`first_bytes`] of them): the same answer as `words.iter().any(|w| lower.contains(w))`,
/// without setting up a substring search per word (these tests run on every method name of
/// the file).
fn contains_any(lower: &str, words: &[&str], first: &[bool; 256]) -> bool {
    let bytes = lower.as_bytes();
    (0..bytes.len()).any(|start| {
        first[usize::from(bytes[start])] && {
            let rest = &bytes[start..];
            words.iter().any(|word| rest.starts_with(word.as_bytes()))
        }
    })
}

fn is_subscription_container(name: &str) -> bool {
    with_lowercase(name, |lower| {
        contains_any(lower, CONTAINER_WORDS, &CONTAINER_FIRST)
    })
}

fn is_subscription_method(name: &str) -> bool {
    if name.starts_with('_') {
        return false;
    }
    with_lowercase(name, |lower| {
        if lower.starts_with("un") || lower.starts_with("remove") || lower.starts_with("dis") {
            return false;
        }
        matches!(lower, "on" | "add" | "bind") || contains_any(lower, METHOD_WORDS, &METHOD_FIRST)
    })
}

fn is_removal_method(name: &str) -> bool {
    with_lowercase(name.trim_start_matches('_'), |lower| {
        lower == "off" || contains_any(lower, REMOVAL_WORDS, &REMOVAL_FIRST)
    })
}

/// `this.attr` → `attr`.
fn self_attr<'a>(expr: &'a Expr, this: &str) -> Option<&'a str> {
    match expr {
        Expr::Attribute(attr) if matches!(&*attr.value, Expr::Name(n) if n.id.as_str() == this) => {
            Some(attr.attr.as_str())
        }
        _ => None,
    }
}

/// The container attribute an expression reaches through subscripts and `.get`/`.setdefault`
/// calls: `self._handlers[event]`, `self._handlers.setdefault(event, [])` → `_handlers`.
fn container_of<'a>(expr: &'a Expr, this: &str) -> Option<&'a str> {
    if let Some(attr) = self_attr(expr, this) {
        return Some(attr);
    }
    match expr {
        Expr::Subscript(sub) => container_of(&sub.value, this),
        Expr::Call(call) => match &*call.func {
            Expr::Attribute(method)
                if matches!(method.attr.as_str(), "setdefault" | "get" | "__getitem__") =>
            {
                container_of(&method.value, this)
            }
            _ => None,
        },
        _ => None,
    }
}

/// True if `value` is the parameter `param`, or a tuple/list holding it.
fn holds_param(value: &Expr, param: &str) -> bool {
    match value {
        Expr::Name(name) => name.id.as_str() == param,
        Expr::Tuple(tuple) => tuple.iter().any(|elt| holds_param(elt, param)),
        Expr::List(list) => list.iter().any(|elt| holds_param(elt, param)),
        _ => false,
    }
}

/// A store of a parameter into a container attribute: `self.X.append(p)`, `.add(p)`,
/// `.insert(i, p)`, `.appendleft(p)`, `self.X[k] = p`, `self.X[k].append(p)`,
/// `self.X.setdefault(k, []).append(p)`, also with `(p, extra)` tuples.
struct Store<'a> {
    container: &'a str,
    param: &'a str,
    method: &'a str,
    range: ruff_text_size::TextRange,
}

fn stores_in<'a>(def: &'a ast::StmtFunctionDef, this: &str) -> Vec<Store<'a>> {
    // A parameter rebound before it is stored (`receiver = weakref.ref(receiver)`) is not
    // the caller's object any more.
    let mut rebound: Vec<&str> = Vec::new();
    // Stores into a subscription container, of any value: (container, value, method, range).
    let mut candidates = Vec::new();
    walk_statements(&def.body, &mut |stmt| {
        if let Stmt::Assign(assign) = stmt {
            for target in &assign.targets {
                if let Expr::Name(name) = target {
                    rebound.push(name.id.as_str());
                }
            }
        }
        let (container, value, method) = match stmt {
            Stmt::Expr(ast::StmtExpr { value, .. }) => {
                let Expr::Call(call) = &**value else { return };
                let Expr::Attribute(method) = &*call.func else {
                    return;
                };
                let args = &call.arguments.args;
                let value = match (method.attr.as_str(), args.len()) {
                    ("append" | "add" | "appendleft", 1) => &args[0],
                    ("insert", 2) => &args[1],
                    _ => return,
                };
                let Some(container) = container_of(&method.value, this) else {
                    return;
                };
                (container, value, method.attr.as_str())
            }
            Stmt::Assign(assign) => {
                let [Expr::Subscript(sub)] = assign.targets.as_slice() else {
                    return;
                };
                let Some(container) = container_of(&sub.value, this) else {
                    return;
                };
                (container, &*assign.value, "[]")
            }
            _ => return,
        };
        if !is_subscription_container(container) {
            return;
        }
        candidates.push((container, value, method, stmt.range()));
    });
    if candidates.is_empty() {
        return Vec::new();
    }
    let params: Vec<&str> = def
        .parameters
        .iter_non_variadic_params()
        .skip(1)
        .map(|p| p.parameter.name.as_str())
        .collect();
    candidates
        .into_iter()
        .filter_map(|(container, value, method, range)| {
            let param = params
                .iter()
                .find(|param| holds_param(value, param) && !rebound.contains(param))?;
            Some(Store {
                container,
                param,
                method,
                range,
            })
        })
        .collect()
}

/// Whether anything in the class body takes elements out of `self.<container>`.
fn removes_from(class: &ast::StmtClassDef, container: &str) -> bool {
    struct Finder<'c> {
        container: &'c str,
        in_init: bool,
        found: bool,
    }
    impl Finder<'_> {
        fn mentions(&self, expr: &Expr) -> bool {
            crate::helpers::any_over_expr(
                expr,
                |e: &Expr| matches!(e, Expr::Attribute(attr) if attr.attr.as_str() == self.container),
            )
        }
    }
    impl<'a> ruff_python_ast::visitor::Visitor<'a> for Finder<'_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(def) => {
                    let was = self.in_init;
                    self.in_init = def.name.as_str() == "__init__";
                    deep(|| ruff_python_ast::visitor::walk_stmt(self, stmt));
                    self.in_init = was;
                    return;
                }
                Stmt::Delete(delete) if delete.targets.iter().any(|t| self.mentions(t)) => {
                    self.found = true;
                }
                Stmt::Assign(assign) if !self.in_init => {
                    for target in &assign.targets {
                        let rebinding = match target {
                            Expr::Attribute(attr) => attr.attr.as_str() == self.container,
                            Expr::Subscript(sub) => {
                                sub.slice.is_slice_expr()
                                    && matches!(&*sub.value, Expr::Attribute(attr) if attr.attr.as_str() == self.container)
                            }
                            _ => false,
                        };
                        if rebinding {
                            self.found = true;
                        }
                    }
                }
                Stmt::AugAssign(aug)
                    if self.mentions(&aug.target) && !matches!(aug.op, ast::Operator::Add) =>
                {
                    self.found = true;
                }
                _ => {}
            }
            deep(|| ruff_python_ast::visitor::walk_stmt(self, stmt));
        }
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Call(call) = expr
                && let Expr::Attribute(method) = &*call.func
                && matches!(
                    method.attr.as_str(),
                    "remove"
                        | "discard"
                        | "pop"
                        | "popitem"
                        | "clear"
                        | "difference_update"
                        | "intersection_update"
                        | "popleft"
                )
                && self.mentions(&method.value)
            {
                self.found = true;
            }
            deep(|| ruff_python_ast::visitor::walk_expr(self, expr));
        }
    }
    let mut finder = Finder {
        container,
        in_init: false,
        found: false,
    };
    ruff_python_ast::visitor::Visitor::visit_body(&mut finder, &class.body);
    finder.found
}

/// Names of methods that some method of the file calls on another object with its own
/// instance or one of its bound methods: `bus.subscribe(self)`, `model.add_listener(self.on_change)`,
/// `runner.on("done", lambda job: self.record(job))`.
fn self_subscribed_methods<'a>(checker: &Checker<'a>) -> Vec<&'a str> {
    struct Calls<'s, 'a> {
        this: &'s str,
        out: Vec<&'a str>,
    }
    impl<'a> ruff_python_ast::visitor::Visitor<'a> for Calls<'_, 'a> {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Call(call) = expr
                && let Expr::Attribute(method) = &*call.func
                && !matches!(&*method.value, Expr::Name(n) if n.id.as_str() == self.this)
            {
                let this = self.this;
                let holds_self = call
                    .arguments
                    .args
                    .iter()
                    .chain(call.arguments.keywords.iter().map(|k| &k.value))
                    .any(|arg| match arg {
                        Expr::Name(n) => n.id.as_str() == this,
                        Expr::Attribute(attr) => {
                            matches!(&*attr.value, Expr::Name(n) if n.id.as_str() == this)
                        }
                        Expr::Lambda(lambda) => crate::helpers::any_over_expr(
                            &lambda.body,
                            |e: &Expr| matches!(e, Expr::Name(n) if n.id.as_str() == this),
                        ),
                        _ => false,
                    });
                if holds_self {
                    self.out.push(method.attr.as_str());
                }
            }
            deep(|| ruff_python_ast::visitor::walk_expr(self, expr));
        }
    }
    let mut out = Vec::new();
    checker.walk_classes(&mut |class| {
        for stmt in &class.body {
            if let Stmt::FunctionDef(def) = stmt
                && let Some(this) = first_parameter(def)
            {
                let mut calls = Calls {
                    this,
                    out: Vec::new(),
                };
                ruff_python_ast::visitor::Visitor::visit_body(&mut calls, &def.body);
                out.extend(calls.out);
            }
        }
    });
    out
}

/// Words one of which a file needs for this rule to run on it (see `triggers`).
///
/// No word: the container's name may spell its word in any case (`_Observers`, `HOOKS`), and
/// the triggers are matched case-sensitively. `check` first looks, cheaply, for a public
/// subscription method that stores one of its parameters in such a container.
pub(crate) const TRIGGERS: Triggers = Triggers::Always;

pub(crate) fn check(checker: &mut Checker) {
    // Found when a class first has a subscription method that stores its parameter.
    let mut subscribed: Option<Vec<&str>> = None;
    let mut found = Vec::new();
    checker.walk_classes(&mut |class| {
        let mut has_removal_method = None;
        let mut long_lived = None;
        let mut reported: Vec<&str> = Vec::new();
        for stmt in &class.body {
            let Stmt::FunctionDef(def) = stmt else {
                continue;
            };
            if !is_subscription_method(def.name.as_str()) {
                continue;
            }
            let Some(this) = first_parameter(def) else {
                continue;
            };
            let stores = stores_in(def, this);
            if stores.is_empty() {
                continue;
            }
            if *has_removal_method.get_or_insert_with(|| {
                class.body.iter().any(|stmt| {
                    matches!(stmt, Stmt::FunctionDef(def) if is_removal_method(def.name.as_str()))
                })
            }) {
                return;
            }
            if !subscribed
                .get_or_insert_with(|| self_subscribed_methods(checker))
                .contains(&def.name.as_str())
                || method_kind(checker, def) != MethodKind::Instance
            {
                continue;
            }
            if *long_lived.get_or_insert_with(|| is_long_lived_class(checker, class)) {
                return;
            }
            for store in stores {
                if reported.contains(&store.container) {
                    continue;
                }
                let Some(inits) = initialisations(checker, class, store.container) else {
                    continue;
                };
                if removes_from(class, store.container) {
                    continue;
                }
                reported.push(store.container);
                found.push(diagnostic(checker, class, def, &store, &inits));
            }
        }
    });
    for diagnostic in found {
        checker.report(diagnostic);
    }
}

/// The expressions that initialise `self.<container>` in the class's methods, if every one of
/// them is a new plain container (a weak container or anything unknown returns `None`).
fn initialisations<'a>(
    checker: &Checker,
    class: &'a ast::StmtClassDef,
    container: &str,
) -> Option<Vec<(&'a Expr, NewContainer<'a>)>> {
    let mut inits = Vec::new();
    let mut unknown = false;
    for stmt in &class.body {
        let Stmt::FunctionDef(def) = stmt else {
            continue;
        };
        let Some(this) = first_parameter(def) else {
            continue;
        };
        walk_statements(&def.body, &mut |stmt| {
            let (targets, value): (&[Expr], &Expr) = match stmt {
                Stmt::Assign(assign) => (&assign.targets, &assign.value),
                Stmt::AnnAssign(ast::StmtAnnAssign {
                    target,
                    value: Some(value),
                    ..
                }) => (std::slice::from_ref(&**target), &**value),
                _ => return,
            };
            if targets
                .iter()
                .any(|t| self_attr(t, this) == Some(container))
            {
                match new_container(checker, value) {
                    Some(kind) => inits.push((value, kind)),
                    None => unknown = true,
                }
            }
        });
    }
    (!unknown && !inits.is_empty()).then_some(inits)
}

fn diagnostic(
    checker: &Checker,
    class: &ast::StmtClassDef,
    def: &ast::StmtFunctionDef,
    store: &Store,
    inits: &[(&Expr, NewContainer)],
) -> Diagnostic {
    let message = format!(
        "`{this}.{container}` keeps every `{param}` passed to `{class}.{method}` alive as long as the `{class}` lives: `{class}` has no way to remove one",
        container = store.container,
        this = first_parameter(def).unwrap_or("self"),
        param = store.param,
        class = class.name,
        method = def.name,
    );
    let diagnostic = Diagnostic::new(Rule::StrongObserverList, store.range, message);
    match weakset_fix(checker, class, store, inits) {
        Ok(fix) => diagnostic.with_fix(fix),
        Err(note) => diagnostic.with_note(note),
    }
}

fn weakset_fix(
    checker: &Checker,
    class: &ast::StmtClassDef,
    store: &Store,
    inits: &[(&Expr, NewContainer)],
) -> Result<Fix, String> {
    let callbacks = "No automatic fix: the subscribers may be callbacks (lambdas, closures, bound methods) that a weak container would drop at once; add an `unsubscribe` method, or store `weakref.WeakMethod(cb)` for bound methods.";
    let lower = store.container.to_ascii_lowercase();
    if ["callback", "hook", "handler"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return Err(callbacks.to_owned());
    }
    let [(init, NewContainer::Set)] = inits else {
        return Err(
            "No automatic fix: a weak container keeps no order or duplicates (`weakref.WeakSet`) or needs keys (`weakref.WeakValueDictionary`); add an `unsubscribe` method, or make the container a `weakref.WeakSet`."
                .to_owned(),
        );
    };
    if store.method != "add" || !matches!(init, Expr::Call(call) if call.arguments.is_empty()) {
        return Err(callbacks.to_owned());
    }
    if !elements_used_as_objects(class, store.container) {
        return Err(callbacks.to_owned());
    }
    let (weakset, import) = checker.import_edit("weakref", "WeakSet");
    let mut edits = vec![Edit::replacement(format!("{weakset}()"), init.range())];
    edits.extend(import);
    Ok(Fix::unsafe_(
        format!("Hold the subscribers in a `{weakset}`"),
        edits,
    ))
}

/// True if every loop over `self.<container>` uses its element as an object
/// (`observer.notify(...)`) and none calls it directly, and there is at least one such loop.
fn elements_used_as_objects(class: &ast::StmtClassDef, container: &str) -> bool {
    struct Loops<'c> {
        container: &'c str,
        as_object: bool,
        called: bool,
    }
    impl<'a> ruff_python_ast::visitor::Visitor<'a> for Loops<'_> {
        // Statements only: expressions hold no statements (and can nest thousands deep).
        fn visit_expr(&mut self, _: &'a Expr) {}

        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            if let Stmt::For(for_) = stmt
                && let Expr::Name(var) = &*for_.target
                && crate::helpers::any_over_expr(
                    &for_.iter,
                    |e: &Expr| matches!(e, Expr::Attribute(attr) if attr.attr.as_str() == self.container),
                )
            {
                let var = var.id.as_str();
                let called = crate::helpers::any_over_body(
                    &for_.body,
                    |e: &Expr| matches!(e, Expr::Call(call) if matches!(&*call.func, Expr::Name(n) if n.id.as_str() == var)),
                );
                let as_object = crate::helpers::any_over_body(
                    &for_.body,
                    |e: &Expr| matches!(e, Expr::Call(call) if matches!(&*call.func, Expr::Attribute(attr) if matches!(&*attr.value, Expr::Name(n) if n.id.as_str() == var))),
                );
                self.called |= called;
                self.as_object |= as_object;
            }
            deep(|| ruff_python_ast::visitor::walk_stmt(self, stmt));
        }
    }
    let mut loops = Loops {
        container,
        as_object: false,
        called: false,
    };
    ruff_python_ast::visitor::Visitor::visit_body(&mut loops, &class.body);
    loops.as_object && !loops.called
}
