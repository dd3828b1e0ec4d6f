use ruff_python_ast::statement_visitor::{self, StatementVisitor};
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, CmpOp, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::{Diagnostic, Edit, Fix};
use crate::helpers::{deep, first_parameter, root_name};
use crate::registry::Rule;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// The result of calling a weak reference used without a `None` check: an attribute, an
    /// item or a call on it (`self._parent().name`, `r()[0]`, `m()(event)`), or a name bound
    /// to it (`obj = r()`) used the same way when the function never checks that name
    /// (`if obj is None`, `if obj:`, `if not obj: return`, `assert obj`, `obj and obj.x`).
    ///
    /// Weak references are recognized by how they are made: names and attributes assigned
    /// from `weakref.ref(...)` or `weakref.WeakMethod(...)` (however imported) — locals (and
    /// closures over them), module globals, and `self.<attr>` when every assignment to that
    /// attribute in the class is a weak reference or `None`. `weakref.proxy` objects are not
    /// called and are not reported.
    ///
    /// Not reported: a call whose result the same function tests anywhere
    /// (`if self._parent() is not None: self._parent().x`; strictly, the second call could
    /// return `None` too, but only if the object dies between two lines, which code that holds
    /// the object elsewhere never sees); uses inside a `try:` that catches `AttributeError`,
    /// `TypeError`, `ReferenceError` or `Exception`; results returned or passed on without
    /// being used (the caller decides); a local weak reference to an object the same function
    /// holds and never `del`s (`r = weakref.ref(o)` with `o` a local or parameter, or
    /// `weakref.WeakMethod(o.method)`), which cannot die while the function runs (closures over
    /// it are still checked, since they may run later); and `self.<attr> = weakref.ref(x)` when
    /// the same method gives `self` to `x` to keep (`x.adapter = self`,
    /// `x.children.append(self)`): a deliberate back-pointer whose owner is alive whenever
    /// the object is reached through it.
    ///
    /// ## Why it keeps memory alive
    /// A weak reference exists so that its target can be freed: calling it returns the object
    /// while something else keeps it alive, and `None` afterwards. Code that assumes the object
    /// is still there fails with `AttributeError: 'NoneType' object has no attribute ...` when
    /// it is gone, typically only in production, under memory pressure or at shutdown. The
    /// usual "fix" for that crash is to make the reference strong again, which brings back the
    /// cycle or the leak the weak reference was there to prevent. Checking the result keeps the
    /// weak reference honest.
    ///
    /// ## Example
    /// ```python
    /// import weakref
    ///
    /// class Child:
    ///     def __init__(self, parent):
    ///         self._parent = weakref.ref(parent)
    ///
    ///     def describe(self):
    ///         print(self._parent().name)
    /// ```
    ///
    /// ## Fix
    /// Bind the result once and decide what to do when the object is gone:
    ///
    /// ```python
    ///     def describe(self):
    ///         parent = self._parent()
    ///         if parent is None:
    ///             return
    ///         print(parent.name)
    /// ```
    ///
    /// ## Fix safety
    /// The fix is unsafe: where the code used to raise `AttributeError` when the object was
    /// gone, it now returns `None` silently from the function. It is offered only for a simple
    /// statement at the top level of a function that returns no value (not a generator), when
    /// a fresh local name is available. For a name already bound to the result (`obj = r()`),
    /// and elsewhere, no fix is offered: what to do when the object is gone is the author's
    /// decision.
    pub struct UncheckedWeakref {
        code: "RL206",
        name: "unchecked-weakref",
        summary: "The result of calling a weak reference used without a `None` check",
        fix: Sometimes,
    }
}

const WEAK_FACTORIES: &[&str] = &[
    "weakref.ref",
    "weakref.WeakMethod",
    "weakref.ReferenceType",
    "_weakref.ref",
];

/// Words one of which a file needs for this rule to run on it (see `triggers`).
///
/// Every weak reference the rule follows comes from a call that resolves to one of
/// [`WEAK_FACTORIES`] (globals, locals, `self` attributes alike), and every segment of a
/// resolved name is spelled in the file (`import weakref as w`, `from _weakref import ref`):
/// so `weakref` (also in `_weakref`) occurs.
pub(crate) const TRIGGERS: Triggers = Triggers::AnyOf(&["weakref"]);

pub(crate) fn check(checker: &mut Checker) {
    // A name or attribute is a weak reference only once an assignment binds it to a weak
    // reference factory's result (`global_assignments`, `module_weak_globals`, `bindings`,
    // `class_weak_attrs` test no other statement): without one, no scope has a weak
    // reference to dereference.
    if !assigns_weak_reference(checker) {
        return;
    }
    let globals = module_weak_globals(checker);
    let mut found = Vec::new();
    let mut scan = Scan {
        checker,
        found: &mut found,
    };
    let ctx = Ctx {
        locals: globals,
        held: FxHashSet::default(),
        self_name: None,
        attrs: FxHashSet::default(),
    };
    scan.scope(checker.suite, &ctx, None);
    found.sort_by_key(|d: &Diagnostic| d.range.start());
    found.dedup_by_key(|d| d.range);
    for diagnostic in found {
        checker.report(diagnostic);
    }
}

fn is_weak_factory(checker: &Checker, expr: &Expr) -> bool {
    matches!(expr, Expr::Call(call)
        if !call.arguments.args.is_empty()
            // The qualified name of `x.attr` ends with `attr`.
            && match &*call.func {
                Expr::Name(_) => true,
                Expr::Attribute(attr) => {
                    matches!(attr.attr.as_str(), "ref" | "WeakMethod" | "ReferenceType")
                }
                _ => false,
            }
            && checker.semantic.resolves_to(&call.func, WEAK_FACTORIES))
}

/// Whether an assignment or annotated assignment anywhere in the file (functions and classes
/// included) binds the result of a weak reference factory.
fn assigns_weak_reference(checker: &Checker) -> bool {
    struct Find<'c, 'a> {
        checker: &'c Checker<'a>,
        found: bool,
    }
    impl<'a> StatementVisitor<'a> for Find<'_, '_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            if self.found {
                return;
            }
            let value = match stmt {
                Stmt::Assign(assign) => Some(&*assign.value),
                Stmt::AnnAssign(assign) => assign.value.as_deref(),
                _ => None,
            };
            if value.is_some_and(|value| is_weak_factory(self.checker, value)) {
                self.found = true;
                return;
            }
            deep(|| statement_visitor::walk_stmt(self, stmt));
        }
    }
    let mut find = Find {
        checker,
        found: false,
    };
    find.visit_body(checker.suite);
    find.found
}

/// Whether an assignment or annotated assignment of `body` (not in nested functions and
/// classes) binds the result of a weak reference factory.
fn binds_weak_reference(checker: &Checker, body: &[Stmt]) -> bool {
    let mut found = false;
    crate::helpers::walk_statements(body, &mut |stmt| {
        let value = match stmt {
            Stmt::Assign(assign) => Some(&*assign.value),
            Stmt::AnnAssign(assign) => assign.value.as_deref(),
            _ => None,
        };
        found |= !found && value.is_some_and(|value| is_weak_factory(checker, value));
    });
    found
}

/// Assignments to declared globals inside functions: (name, is a weak reference or `None`,
/// is a weak reference).
fn global_assignments(checker: &Checker) -> FxHashMap<String, (bool, bool)> {
    struct Globals<'c, 'a> {
        checker: &'c Checker<'a>,
        declared: Vec<FxHashSet<String>>,
        out: FxHashMap<String, (bool, bool)>,
    }
    impl<'a> StatementVisitor<'a> for Globals<'_, '_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(def) => {
                    let mut declared = FxHashSet::default();
                    for s in &def.body {
                        if let Stmt::Global(global) = s {
                            declared.extend(global.names.iter().map(ToString::to_string));
                        }
                    }
                    self.declared.push(declared);
                    for s in &def.body {
                        deep(|| self.visit_stmt(s));
                    }
                    self.declared.pop();
                    return;
                }
                Stmt::Assign(assign) => {
                    for target in &assign.targets {
                        if let Expr::Name(name) = target
                            && self
                                .declared
                                .last()
                                .is_some_and(|d| d.contains(name.id.as_str()))
                        {
                            let weak = assign.targets.len() == 1
                                && is_weak_factory(self.checker, &assign.value);
                            let ok = weak || assign.value.is_none_literal_expr();
                            let entry =
                                self.out.entry(name.id.to_string()).or_insert((true, false));
                            entry.0 &= ok;
                            entry.1 |= weak;
                        }
                    }
                }
                _ => {}
            }
            deep(|| statement_visitor::walk_stmt(self, stmt));
        }
    }
    let mut globals = Globals {
        checker,
        declared: Vec::new(),
        out: FxHashMap::default(),
    };
    globals.visit_body(checker.suite);
    globals.out
}

/// Module globals bound only to weak references (or `None`), at module level or in functions
/// that declare them `global`.
fn module_weak_globals(checker: &Checker) -> FxHashSet<String> {
    let mut out = FxHashSet::default();
    let in_functions = global_assignments(checker);
    for (name, (all_ok, any_weak)) in &in_functions {
        let bindings = checker.semantic.module_bindings(name);
        let module_ok = bindings.iter().all(|binding| match binding {
            Stmt::Assign(a) => is_weak_factory(checker, &a.value) || a.value.is_none_literal_expr(),
            Stmt::AnnAssign(a) => a
                .value
                .as_deref()
                .is_none_or(|v| is_weak_factory(checker, v) || v.is_none_literal_expr()),
            _ => false,
        });
        if *all_ok && *any_weak && module_ok {
            out.insert(name.clone());
        }
    }
    for stmt in checker.suite {
        let (target, value) = match stmt {
            Stmt::Assign(assign) if assign.targets.len() == 1 => {
                (&assign.targets[0], Some(&*assign.value))
            }
            Stmt::AnnAssign(assign) => (&*assign.target, assign.value.as_deref()),
            _ => continue,
        };
        let (Expr::Name(name), Some(value)) = (target, value) else {
            continue;
        };
        if !is_weak_factory(checker, value) {
            continue;
        }
        let all_weak = checker
            .semantic
            .module_bindings(name.id.as_str())
            .iter()
            .all(|binding| match binding {
                Stmt::Assign(a) => {
                    is_weak_factory(checker, &a.value) || a.value.is_none_literal_expr()
                }
                Stmt::AnnAssign(a) => a
                    .value
                    .as_deref()
                    .is_none_or(|v| is_weak_factory(checker, v) || v.is_none_literal_expr()),
                _ => false,
            });
        let functions_ok = in_functions
            .get(name.id.as_str())
            .is_none_or(|(all_ok, _)| *all_ok);
        if all_weak && functions_ok {
            out.insert(name.id.to_string());
        }
    }
    out
}

/// What is a weak reference in a scope.
#[derive(Clone, Default)]
struct Ctx {
    /// Names (locals, closures, globals) bound to weak references.
    locals: FxHashSet<String>,
    /// Local weak references to objects this function holds: weak in nested functions.
    held: FxHashSet<String>,
    /// The method's `self`, when `attrs` applies.
    self_name: Option<String>,
    /// Attributes of `self` that hold weak references.
    attrs: FxHashSet<String>,
}

impl Ctx {
    fn key(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Name(name) if self.locals.contains(name.id.as_str()) => Some(name.id.to_string()),
            Expr::Attribute(attr) => match (&*attr.value, &self.self_name) {
                (Expr::Name(value), Some(self_name))
                    if value.id.as_str() == self_name
                        && self.attrs.contains(attr.attr.as_str()) =>
                {
                    Some(format!("{self_name}.{}", attr.attr))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// The weak reference `expr` dereferences, if it is `<weak>()`.
    fn deref<'e>(&self, expr: &'e Expr) -> Option<(String, &'e ast::ExprCall)> {
        match expr {
            Expr::Call(call) if call.arguments.is_empty() => {
                self.key(&call.func).map(|key| (key, call))
            }
            _ => None,
        }
    }
}

struct Scan<'c, 'a> {
    checker: &'c Checker<'a>,
    found: &'c mut Vec<Diagnostic>,
}

/// Nested function and class definitions of a body (not crossing other definitions).
fn nested_definitions(body: &[Stmt]) -> Vec<&Stmt> {
    struct Defs<'a>(Vec<&'a Stmt>);
    impl<'a> StatementVisitor<'a> for Defs<'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(_) | Stmt::ClassDef(_) => self.0.push(stmt),
                _ => deep(|| statement_visitor::walk_stmt(self, stmt)),
            }
        }
    }
    let mut defs = Defs(Vec::new());
    defs.visit_body(body);
    defs.0
}

/// Names a function binds itself (parameters, assignment targets, loop variables, imports),
/// split into those bound to weak references and the others; and its `global` names.
fn bindings(
    checker: &Checker,
    def: &ast::StmtFunctionDef,
) -> (
    FxHashSet<String>,
    FxHashSet<String>,
    FxHashSet<String>,
    FxHashSet<String>,
) {
    struct Bind<'c, 'a> {
        checker: &'c Checker<'a>,
        weak: FxHashSet<String>,
        other: FxHashSet<String>,
        globals: FxHashSet<String>,
        /// `r = weakref.ref(o)`: (r, o).
        referents: Vec<(String, String)>,
        deleted: FxHashSet<String>,
    }
    impl Bind<'_, '_> {
        fn target(&mut self, target: &Expr, weak: bool) {
            match target {
                Expr::Name(name) if weak => {
                    self.weak.insert(name.id.to_string());
                }
                Expr::Name(name) => {
                    self.other.insert(name.id.to_string());
                }
                Expr::Tuple(t) => t.iter().for_each(|e| self.target(e, false)),
                Expr::List(l) => l.iter().for_each(|e| self.target(e, false)),
                Expr::Starred(s) => self.target(&s.value, false),
                _ => {}
            }
        }
    }
    impl<'a> Visitor<'a> for Bind<'_, '_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(def) => {
                    self.other.insert(def.name.to_string());
                    return;
                }
                Stmt::ClassDef(class) => {
                    self.other.insert(class.name.to_string());
                    return;
                }
                Stmt::Assign(assign) => {
                    let weak =
                        assign.targets.len() == 1 && is_weak_factory(self.checker, &assign.value);
                    if weak
                        && let (Expr::Name(target), Expr::Call(call)) =
                            (&assign.targets[0], &*assign.value)
                        && let Some(referent) = call.arguments.args.first().and_then(|arg| {
                            // `WeakMethod(o.method)` refers to `o`; `ref(o.attr)` to whatever
                            // `o.attr` is now.
                            if arg.is_name_expr()
                                || self
                                    .checker
                                    .semantic
                                    .resolves_to(&call.func, &["weakref.WeakMethod"])
                            {
                                root_of(arg)
                            } else {
                                None
                            }
                        })
                    {
                        self.referents
                            .push((target.id.to_string(), referent.to_owned()));
                    }
                    for target in &assign.targets {
                        self.target(target, weak);
                    }
                }
                Stmt::Delete(delete) => {
                    for target in &delete.targets {
                        if let Expr::Name(name) = target {
                            self.deleted.insert(name.id.to_string());
                        }
                    }
                }
                Stmt::AnnAssign(assign) => {
                    let weak = assign
                        .value
                        .as_deref()
                        .is_some_and(|v| is_weak_factory(self.checker, v));
                    self.target(&assign.target, weak);
                }
                Stmt::AugAssign(assign) => self.target(&assign.target, false),
                Stmt::For(for_) => self.target(&for_.target, false),
                Stmt::With(with) => {
                    for item in &with.items {
                        if let Some(vars) = &item.optional_vars {
                            self.target(vars, false);
                        }
                    }
                }
                Stmt::Import(import) => {
                    for alias in &import.names {
                        let bound = alias.asname.as_ref().unwrap_or(&alias.name);
                        let root = bound.as_str().split('.').next().unwrap_or_default();
                        self.other.insert(root.to_owned());
                    }
                }
                Stmt::ImportFrom(import) => {
                    for alias in &import.names {
                        let bound = alias.asname.as_ref().unwrap_or(&alias.name);
                        self.other.insert(bound.to_string());
                    }
                }
                Stmt::Global(global) => {
                    for name in &global.names {
                        self.globals.insert(name.to_string());
                    }
                }
                Stmt::Try(try_) => {
                    for handler in &try_.handlers {
                        let ast::ExceptHandler::ExceptHandler(handler) = handler;
                        if let Some(name) = &handler.name {
                            self.other.insert(name.to_string());
                        }
                    }
                }
                _ => {}
            }
            deep(|| visitor::walk_stmt(self, stmt));
        }
        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::Named(named) => self.target(&named.target, false),
                Expr::Lambda(_) => return,
                _ => {}
            }
            deep(|| visitor::walk_expr(self, expr));
        }
    }
    let mut bind = Bind {
        checker,
        weak: FxHashSet::default(),
        other: FxHashSet::default(),
        globals: FxHashSet::default(),
        referents: Vec::new(),
        deleted: FxHashSet::default(),
    };
    for parameter in def.parameters.iter() {
        bind.other.insert(parameter.name().to_string());
    }
    for stmt in &def.body {
        bind.visit_stmt(stmt);
    }
    // A weak reference to an object this function itself holds (a local or parameter that it
    // never deletes) cannot die while the function runs.
    let mut held = FxHashSet::default();
    for (weak, referent) in &bind.referents {
        if bind.other.contains(referent)
            && !bind.deleted.contains(referent)
            && bind.weak.remove(weak)
        {
            held.insert(weak.clone());
        }
    }
    (bind.weak, bind.other, bind.globals, held)
}

/// Attributes of `self` that hold weak references in every method of the class that sets them.
fn class_weak_attrs(checker: &Checker, class: &ast::StmtClassDef) -> FxHashSet<String> {
    // An attribute is weak only once a method assigns it a weak reference factory's result.
    if !class.body.iter().any(|stmt| {
        matches!(stmt, Stmt::FunctionDef(def)
            if first_parameter(def).is_some() && binds_weak_reference(checker, &def.body))
    }) {
        return FxHashSet::default();
    }
    struct Attrs<'c, 'a> {
        checker: &'c Checker<'a>,
        self_name: String,
        weak: FxHashSet<String>,
        other: FxHashSet<String>,
        /// `self.attr = weakref.ref(x)`: (attr, x).
        referents: Vec<(String, String)>,
        /// Names that are given `self` to keep.
        owners: FxHashSet<String>,
    }
    impl Attrs<'_, '_> {
        fn target(&mut self, target: &Expr, value: Option<&Expr>) {
            // `owner.attr = self`, `owner.items[k] = self`: `owner` holds this object.
            if value.is_some_and(|v| matches!(v, Expr::Name(n) if n.id.as_str() == self.self_name))
                && let Some(root) = root_name(target)
                && root != self.self_name
            {
                self.owners.insert(root.to_owned());
            }
            if let Expr::Attribute(attr) = target
                && matches!(&*attr.value, Expr::Name(n) if n.id.as_str() == self.self_name)
            {
                let name = attr.attr.to_string();
                match value {
                    Some(v) if is_weak_factory(self.checker, v) => {
                        if let Expr::Call(call) = v
                            && let Some(Expr::Name(referent)) = call.arguments.args.first()
                        {
                            self.referents.push((name.clone(), referent.id.to_string()));
                        }
                        self.weak.insert(name);
                    }
                    Some(Expr::NoneLiteral(_)) => {}
                    _ => {
                        self.other.insert(name);
                    }
                }
            }
        }
    }
    impl<'a> StatementVisitor<'a> for Attrs<'_, '_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(_) | Stmt::ClassDef(_) => return,
                Stmt::Assign(assign) => {
                    let single = assign.targets.len() == 1;
                    for target in &assign.targets {
                        match target {
                            Expr::Tuple(_) | Expr::List(_) => {
                                let mut names = Vec::new();
                                collect_elements(target, &mut names);
                                for element in names {
                                    self.target(element, None);
                                }
                            }
                            _ => self.target(target, single.then_some(&*assign.value)),
                        }
                    }
                }
                Stmt::AnnAssign(assign) => self.target(&assign.target, assign.value.as_deref()),
                Stmt::AugAssign(assign) => self.target(&assign.target, None),
                // `owner.children.append(self)`: `owner` holds this object.
                Stmt::Expr(ast::StmtExpr { value, .. }) => {
                    if let Expr::Call(call) = &**value
                        && let Expr::Attribute(method) = &*call.func
                        && matches!(
                            method.attr.as_str(),
                            "append" | "add" | "insert" | "setdefault" | "appendleft"
                        )
                        && call
                            .arguments
                            .args
                            .iter()
                            .any(|a| matches!(a, Expr::Name(n) if n.id.as_str() == self.self_name))
                        && let Some(root) = root_name(&method.value)
                        && root != self.self_name
                    {
                        self.owners.insert(root.to_owned());
                    }
                }
                _ => {}
            }
            deep(|| statement_visitor::walk_stmt(self, stmt));
        }
    }
    fn collect_elements<'e>(expr: &'e Expr, out: &mut Vec<&'e Expr>) {
        match expr {
            Expr::Tuple(t) => t.iter().for_each(|e| collect_elements(e, out)),
            Expr::List(l) => l.iter().for_each(|e| collect_elements(e, out)),
            Expr::Starred(s) => collect_elements(&s.value, out),
            _ => out.push(expr),
        }
    }
    let mut weak = FxHashSet::default();
    let mut other = FxHashSet::default();
    for stmt in &class.body {
        match stmt {
            Stmt::FunctionDef(def) => {
                let Some(self_name) = first_parameter(def) else {
                    continue;
                };
                let mut attrs = Attrs {
                    checker,
                    self_name: self_name.to_owned(),
                    weak: FxHashSet::default(),
                    other: FxHashSet::default(),
                    referents: Vec::new(),
                    owners: FxHashSet::default(),
                };
                attrs.visit_body(&def.body);
                // The referent keeps this object (it is reached through the referent, so the
                // referent is alive whenever its methods run): a deliberate back-pointer.
                for (attr, referent) in &attrs.referents {
                    if attrs.owners.contains(referent) {
                        attrs.other.insert(attr.clone());
                    }
                }
                weak.extend(attrs.weak);
                other.extend(attrs.other);
            }
            // A class-level default other than `None` (a callable) makes the attribute unclear.
            Stmt::Assign(assign) if !assign.value.is_none_literal_expr() => {
                for target in &assign.targets {
                    if let Expr::Name(name) = target {
                        other.insert(name.id.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    weak.retain(|name| !other.contains(name));
    weak
}

impl<'a> Scan<'_, 'a> {
    fn scope(&mut self, body: &'a [Stmt], ctx: &Ctx, function: Option<&'a ast::StmtFunctionDef>) {
        if !ctx.locals.is_empty() || !ctx.attrs.is_empty() {
            self.uses(body, ctx, function);
        }
        for def in nested_definitions(body) {
            match def {
                Stmt::FunctionDef(def) => {
                    let inner = self.function_ctx(def, ctx, None);
                    deep(|| self.scope(&def.body, &inner, Some(def)));
                }
                Stmt::ClassDef(class) => {
                    let attrs = class_weak_attrs(self.checker, class);
                    // A class body does not form a closure: only globals are visible in it.
                    self.class_body(&class.body, ctx, &attrs);
                }
                _ => {}
            }
        }
    }

    fn class_body(&mut self, body: &'a [Stmt], ctx: &Ctx, attrs: &FxHashSet<String>) {
        for stmt in body {
            match stmt {
                Stmt::FunctionDef(def) => {
                    let inner = self.function_ctx(def, ctx, Some(attrs));
                    deep(|| self.scope(&def.body, &inner, Some(def)));
                }
                Stmt::ClassDef(class) => {
                    let attrs = class_weak_attrs(self.checker, class);
                    deep(|| self.class_body(&class.body, ctx, &attrs));
                }
                _ => {
                    for def in nested_definitions(std::slice::from_ref(stmt)) {
                        deep(|| self.scope(std::slice::from_ref(def), ctx, None));
                    }
                }
            }
        }
    }

    fn function_ctx(
        &self,
        def: &ast::StmtFunctionDef,
        outer: &Ctx,
        attrs: Option<&FxHashSet<String>>,
    ) -> Ctx {
        // Nothing weak around and nothing weak bound here (`bindings` finds weak references
        // only in assignments of the function's own body): nothing weak in the function. Its
        // `self` matters only with weak attributes, so it is left out.
        if outer.locals.is_empty()
            && outer.held.is_empty()
            && outer.attrs.is_empty()
            && attrs.is_none_or(FxHashSet::is_empty)
            && !binds_weak_reference(self.checker, &def.body)
        {
            return Ctx::default();
        }
        let (weak, other, globals, held) = bindings(self.checker, def);
        let visible = |name: &&String| {
            globals.contains(*name)
                || (!weak.contains(*name) && !other.contains(*name) && !held.contains(*name))
        };
        // Weak references to objects the enclosing function held are weak again in a nested
        // function, which may run after the enclosing one has returned.
        let mut locals: FxHashSet<String> = outer
            .locals
            .iter()
            .chain(&outer.held)
            .filter(visible)
            .cloned()
            .collect();
        locals.extend(weak.into_iter().filter(|name| !other.contains(name)));
        let held: FxHashSet<String> = held
            .into_iter()
            .filter(|name| !other.contains(name))
            .collect();
        match attrs {
            Some(attrs) => Ctx {
                locals,
                held,
                self_name: first_parameter(def).map(str::to_owned),
                attrs: attrs.clone(),
            },
            None => {
                let self_shadowed = outer
                    .self_name
                    .as_ref()
                    .is_some_and(|name| other.contains(name));
                Ctx {
                    locals,
                    held,
                    self_name: if self_shadowed {
                        None
                    } else {
                        outer.self_name.clone()
                    },
                    attrs: if self_shadowed {
                        FxHashSet::default()
                    } else {
                        outer.attrs.clone()
                    },
                }
            }
        }
    }

    fn uses(&mut self, body: &'a [Stmt], ctx: &Ctx, function: Option<&'a ast::StmtFunctionDef>) {
        let mut uses = Uses {
            ctx,
            tested_keys: FxHashSet::default(),
            tested_names: FxHashSet::default(),
            direct: Vec::new(),
            bound: Vec::new(),
            name_uses: Vec::new(),
            rebound: FxHashMap::default(),
            guarded_try: 0,
        };
        for stmt in body {
            uses.visit_stmt(stmt);
        }
        let checker = self.checker;
        for (key, call, what) in &uses.direct {
            if uses.tested_keys.contains(key) {
                continue;
            }
            let message = format!(
                "`{key}()` returns `None` once the object it refers to has been freed, but {what} without a check"
            );
            let diagnostic = Diagnostic::new(Rule::UncheckedWeakref, call.range(), message);
            let diagnostic = match self.fix(body, function, key, call) {
                Ok(fix) => diagnostic.with_fix(fix),
                Err(note) => diagnostic.with_note(note),
            };
            self.found.push(diagnostic);
        }
        for (name, key, call) in &uses.bound {
            if uses.tested_names.contains(name) || uses.rebound.get(name).is_some_and(|n| *n > 1) {
                continue;
            }
            let Some((_, use_range, _)) = uses
                .name_uses
                .iter()
                .find(|(n, range, _)| n == name && range.start() > call.end())
            else {
                continue;
            };
            let line = checker.line_index.line_index(use_range.start()).get();
            let message = format!(
                "`{name} = {key}()` is `None` once the object it refers to has been freed, but `{name}` is used at line {line} without a check"
            );
            self.found.push(
                Diagnostic::new(Rule::UncheckedWeakref, call.range(), message)
                    .with_related(*use_range, "used here")
                    .with_note(format!(
                        "No automatic fix: decide what should happen when the object is gone (`if {name} is None: return`)."
                    )),
            );
        }
    }

    /// Binds the result to a fresh name, returns early when it is `None`, and uses the name.
    fn fix(
        &self,
        body: &'a [Stmt],
        function: Option<&'a ast::StmtFunctionDef>,
        key: &str,
        call: &ast::ExprCall,
    ) -> Result<Fix, String> {
        let checker = self.checker;
        let no_fix = || {
            Err(format!(
                "No automatic fix: bind the result (`obj = {key}()`) and decide what should happen when it is `None`."
            ))
        };
        let Some(def) = function else {
            return no_fix();
        };
        // The statement of the function's own body that contains the call.
        let Some(stmt) = body.iter().find(|s| s.range().contains_range(call.range())) else {
            return no_fix();
        };
        if !matches!(
            stmt,
            Stmt::Expr(_) | Stmt::Assign(_) | Stmt::AugAssign(_) | Stmt::AnnAssign(_)
        ) || !checker.starts_line(stmt)
        {
            return no_fix();
        }
        if returns_value_or_yields(&def.body) {
            return no_fix();
        }
        let base = key
            .rsplit('.')
            .next()
            .unwrap_or(key)
            .trim_start_matches('_')
            .trim_end_matches("ref")
            .trim_end_matches('_');
        let base = if base.is_empty()
            || !base.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || base.starts_with(|c: char| c.is_ascii_digit())
        {
            "obj"
        } else {
            base
        };
        let Some(base) = [base, "obj"]
            .into_iter()
            .find(|name| !is_keyword(name) && !mentions_name(def, name))
        else {
            return no_fix();
        };
        // Every `<key>()` in the statement becomes the name.
        let mut calls = Vec::new();
        collect_derefs(stmt, checker.slice(&*call.func), checker, &mut calls);
        let eol = checker.line_ending();
        let indentation = checker.indentation(stmt.start());
        let unit = checker.indent_unit();
        let func = checker.slice(&*call.func);
        let mut edits = vec![Edit::insertion(
            format!(
                "{base} = {func}(){eol}{indentation}if {base} is None:{eol}{indentation}{unit}return{eol}{indentation}"
            ),
            stmt.start(),
        )];
        for range in calls {
            edits.push(Edit::replacement(base, range));
        }
        Ok(Fix::unsafe_(
            format!("Bind `{func}()` to `{base}` and return early when it is `None`"),
            edits,
        ))
    }
}

fn is_keyword(name: &str) -> bool {
    matches!(
        name,
        "False"
            | "None"
            | "True"
            | "and"
            | "as"
            | "assert"
            | "async"
            | "await"
            | "break"
            | "class"
            | "continue"
            | "def"
            | "del"
            | "elif"
            | "else"
            | "except"
            | "finally"
            | "for"
            | "from"
            | "global"
            | "if"
            | "import"
            | "in"
            | "is"
            | "lambda"
            | "nonlocal"
            | "not"
            | "or"
            | "pass"
            | "raise"
            | "return"
            | "try"
            | "while"
            | "with"
            | "yield"
            | "self"
            | "cls"
    )
}

/// Whether any name in the function (parameters included) is `name`.
fn mentions_name(def: &ast::StmtFunctionDef, name: &str) -> bool {
    struct Mentions<'n> {
        name: &'n str,
        found: bool,
    }
    impl<'a> Visitor<'a> for Mentions<'_> {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Name(n) = expr
                && n.id.as_str() == self.name
            {
                self.found = true;
            }
            deep(|| visitor::walk_expr(self, expr));
        }
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            if let Stmt::FunctionDef(def) = stmt
                && def.name.as_str() == self.name
            {
                self.found = true;
            }
            deep(|| visitor::walk_stmt(self, stmt));
        }
    }
    let mut mentions = Mentions { name, found: false };
    for parameter in def.parameters.iter() {
        if parameter.name().as_str() == name {
            return true;
        }
    }
    for stmt in &def.body {
        mentions.visit_stmt(stmt);
    }
    mentions.found || name == def.name.as_str()
}

fn returns_value_or_yields(body: &[Stmt]) -> bool {
    struct Returns(bool);
    impl<'a> Visitor<'a> for Returns {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(_) | Stmt::ClassDef(_) => {}
                Stmt::Return(ret) if ret.value.is_some() => self.0 = true,
                _ => deep(|| visitor::walk_stmt(self, stmt)),
            }
        }
        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::Lambda(_) => {}
                Expr::Yield(_) | Expr::YieldFrom(_) => self.0 = true,
                _ => deep(|| visitor::walk_expr(self, expr)),
            }
        }
    }
    let mut returns = Returns(false);
    for stmt in body {
        returns.visit_stmt(stmt);
    }
    returns.0
}

/// The ranges of every `<func>()` call in `stmt` whose callee is written `func`.
fn collect_derefs(stmt: &Stmt, func: &str, checker: &Checker, out: &mut Vec<TextRange>) {
    struct Calls<'f, 'c, 'a> {
        func: &'f str,
        checker: &'c Checker<'a>,
        out: &'f mut Vec<TextRange>,
    }
    impl<'a> Visitor<'a> for Calls<'_, '_, '_> {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Call(call) = expr
                && call.arguments.is_empty()
                && self.checker.slice(&*call.func) == self.func
            {
                self.out.push(call.range());
                return;
            }
            if matches!(expr, Expr::Lambda(_)) {
                return;
            }
            deep(|| visitor::walk_expr(self, expr));
        }
    }
    let mut calls = Calls { func, checker, out };
    calls.visit_stmt(stmt);
}

/// Collects dereferences and checks in one scope (not in nested definitions).
struct Uses<'c> {
    ctx: &'c Ctx,
    /// Weak references whose call result is tested somewhere in the scope.
    tested_keys: FxHashSet<String>,
    /// Names tested somewhere in the scope.
    tested_names: FxHashSet<String>,
    /// `<weak>().x`, `<weak>()[k]`, `<weak>()(...)`: (key, call, how it is used).
    direct: Vec<(String, ast::ExprCall, &'static str)>,
    /// `name = <weak>()`.
    bound: Vec<(String, String, ast::ExprCall)>,
    /// `name.x`, `name[k]`, `name(...)`.
    name_uses: Vec<(String, TextRange, &'static str)>,
    /// How many times each name is bound.
    rebound: FxHashMap<String, usize>,
    /// Depth of `try:` bodies whose handlers catch the error a `None` would cause.
    guarded_try: usize,
}

impl Uses<'_> {
    fn test(&mut self, expr: &Expr) {
        if let Some((key, _)) = self.ctx.deref(expr) {
            self.tested_keys.insert(key);
            return;
        }
        match expr {
            Expr::Name(name) => {
                self.tested_names.insert(name.id.to_string());
            }
            Expr::BoolOp(op) => op.values.iter().for_each(|v| self.test(v)),
            Expr::UnaryOp(op) if op.op == ast::UnaryOp::Not => self.test(&op.operand),
            Expr::Named(named) => {
                self.test(&named.target);
                self.test(&named.value);
            }
            Expr::Compare(compare) => {
                self.test(&compare.left);
                compare.comparators.iter().for_each(|c| self.test(c));
            }
            Expr::Call(call) if matches!(&*call.func, Expr::Name(n) if matches!(n.id.as_str(), "isinstance" | "callable" | "bool")) => {
                if let Some(first) = call.arguments.args.first() {
                    self.test(first);
                }
            }
            _ => {}
        }
    }

    fn used(&mut self, target: &Expr, what: &'static str) {
        if self.guarded_try > 0 {
            return;
        }
        if let Some((key, call)) = self.ctx.deref(target) {
            self.direct.push((key, call.clone(), what));
        } else if let Expr::Name(name) = target {
            self.name_uses.push((name.id.to_string(), name.range, what));
        }
    }
}

/// `o` in `weakref.ref(o)` and `weakref.WeakMethod(o.method)`.
fn root_of(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Name(n) => Some(n.id.as_str()),
        Expr::Attribute(attr) => match &*attr.value {
            Expr::Name(n) => Some(n.id.as_str()),
            _ => None,
        },
        _ => None,
    }
}

fn target_names(expr: &Expr, out: &mut Vec<String>) {
    match expr {
        Expr::Name(name) => out.push(name.id.to_string()),
        Expr::Tuple(t) => t.iter().for_each(|e| target_names(e, out)),
        Expr::List(l) => l.iter().for_each(|e| target_names(e, out)),
        Expr::Starred(s) => target_names(&s.value, out),
        _ => {}
    }
}

/// Handlers that catch what using `None` raises.
fn catches_none_errors(handlers: &[ast::ExceptHandler]) -> bool {
    handlers.iter().any(|handler| {
        let ast::ExceptHandler::ExceptHandler(handler) = handler;
        let Some(type_) = &handler.type_ else {
            return true;
        };
        let names: Vec<&Expr> = match &**type_ {
            Expr::Tuple(t) => t.iter().collect(),
            other => vec![other],
        };
        names.iter().any(|name| {
            let last = match name {
                Expr::Name(n) => n.id.as_str(),
                Expr::Attribute(a) => a.attr.as_str(),
                _ => "",
            };
            matches!(
                last,
                "AttributeError" | "TypeError" | "ReferenceError" | "Exception" | "BaseException"
            )
        })
    })
}

impl<'a> Visitor<'a> for Uses<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(_) | Stmt::ClassDef(_) => return,
            Stmt::If(if_) => {
                self.test(&if_.test);
                for clause in &if_.elif_else_clauses {
                    if let Some(test) = &clause.test {
                        self.test(test);
                    }
                }
            }
            Stmt::While(while_) => self.test(&while_.test),
            Stmt::Assert(assert) => self.test(&assert.test),
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    if let Expr::Name(name) = target {
                        *self.rebound.entry(name.id.to_string()).or_default() += 1;
                    }
                }
                if let [Expr::Name(name)] = assign.targets.as_slice()
                    && let Some((key, call)) = self.ctx.deref(&assign.value)
                    && self.guarded_try == 0
                {
                    self.bound.push((name.id.to_string(), key, call.clone()));
                }
            }
            Stmt::AugAssign(assign) => {
                if let Expr::Name(name) = &*assign.target {
                    *self.rebound.entry(name.id.to_string()).or_default() += 2;
                }
            }
            Stmt::For(for_) => {
                let mut names = Vec::new();
                target_names(&for_.target, &mut names);
                for name in names {
                    *self.rebound.entry(name).or_default() += 2;
                }
            }
            Stmt::Try(try_) if catches_none_errors(&try_.handlers) => {
                self.guarded_try += 1;
                for s in &try_.body {
                    deep(|| self.visit_stmt(s));
                }
                self.guarded_try -= 1;
                for handler in &try_.handlers {
                    let ast::ExceptHandler::ExceptHandler(handler) = handler;
                    for s in &handler.body {
                        deep(|| self.visit_stmt(s));
                    }
                }
                for s in try_.orelse.iter().chain(&try_.finalbody) {
                    deep(|| self.visit_stmt(s));
                }
                return;
            }
            _ => {}
        }
        deep(|| visitor::walk_stmt(self, stmt));
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Attribute(attr) => self.used(&attr.value, "its attribute is read"),
            Expr::Subscript(subscript) => self.used(&subscript.value, "it is indexed"),
            Expr::If(if_exp) => self.test(&if_exp.test),
            Expr::BoolOp(op) => {
                // `a and a.x`: all but the last operand are tested.
                for value in &op.values[..op.values.len().saturating_sub(1)] {
                    self.test(value);
                }
            }
            Expr::Compare(compare) => {
                let with_none = compare.comparators.iter().any(Expr::is_none_literal_expr)
                    || compare.left.is_none_literal_expr()
                    || compare
                        .ops
                        .iter()
                        .any(|op| matches!(op, CmpOp::Is | CmpOp::IsNot));
                if with_none {
                    self.test(expr);
                }
            }
            Expr::UnaryOp(op) if op.op == ast::UnaryOp::Not => self.test(&op.operand),
            Expr::Named(named) => {
                if let Expr::Name(name) = &*named.target {
                    *self.rebound.entry(name.id.to_string()).or_default() += 1;
                    if let Some((key, call)) = self.ctx.deref(&named.value) {
                        self.bound.push((name.id.to_string(), key, call.clone()));
                    }
                }
            }
            Expr::Call(call) => {
                if matches!(&*call.func, Expr::Name(n) if matches!(n.id.as_str(), "isinstance" | "callable" | "bool"))
                {
                    self.test(expr);
                }
                self.used(&call.func, "it is called");
            }
            _ => {}
        }
        deep(|| visitor::walk_expr(self, expr));
    }
}
