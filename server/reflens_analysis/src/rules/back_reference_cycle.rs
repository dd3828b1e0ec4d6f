use std::collections::HashSet;

use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange};

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::{Diagnostic, Edit, Fix};
use crate::helpers::{
    MethodKind, deep, first_parameter, instantiated_at_module_level, is_long_lived_class,
    method_kind, name_of, walk_statements,
};
use crate::registry::Rule;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// A parent that stores a child and, in the same method, gives the child a strong reference
    /// back to itself:
    ///
    /// - `self.children.append(child)` (or `.add`, `.insert`, `self.items[key] = child`)
    ///   together with `child.parent = self`;
    /// - a child built with the parent as an argument, `self.children.append(Child(self))`,
    ///   where the class `Child` of the same file stores that argument in its `__init__`
    ///   (`self.parent = parent`);
    /// - the same pair written from the child's side: `self.parent = parent` together with
    ///   `parent.children.append(self)`.
    ///
    /// Only children kept in a collection count: a parent with a single helper
    /// (`self.parser = Parser(self)`, `self.column = column; column.identity = self`) forms a
    /// small, fixed cycle per parent, the ordinary composition pattern, not a tree that grows.
    /// Parents instantiated at module level (a logging manager, an app registry) live for
    /// ever anyway and are skipped.
    ///
    /// Not reported: back links that are already weak (`weakref.ref(self)`,
    /// `weakref.proxy(self)`), parents whose container is a `weakref.WeakSet` or
    /// `WeakValueDictionary`, and classes that break the cycle themselves: when any code of the
    /// file sets the back link to `None` or deletes it (`child.parent = None`, `del
    /// self.parent`, as `close()`, `unlink()` or `remove_child()` methods do) or removes children
    /// from the container (`del self.children[name]`, `self.children.remove(child)`), the author
    /// manages the cycle on purpose. Enums and metaclasses, whose instances live for ever, are
    /// skipped.
    ///
    /// ## Why it keeps memory alive
    /// Parent and child refer to each other, so neither reference count ever drops to zero:
    /// only the cyclic garbage collector can free them. With `gc.disable()` (common in
    /// latency-sensitive services) they are never freed; otherwise they live until a collection
    /// of the generation they reached, which for a large tree (a DOM, an AST, a scene graph, a
    /// widget hierarchy) can be long after the last user let go, and a `__del__` anywhere in the
    /// cycle delays its finalisation further. Everything the nodes refer to (buffers, file
    /// handles, cached results) stays alive with them.
    ///
    /// ## Example
    /// ```python
    /// class Node:
    ///     def __init__(self, name):
    ///         self.name = name
    ///         self.parent = None
    ///         self.children = []
    ///
    ///     def add(self, child):
    ///         self.children.append(child)
    ///         child.parent = self
    /// ```
    ///
    /// ## Fix
    /// Make the back link weak, so that dropping the parent frees the whole tree by reference
    /// counting alone:
    ///
    /// ```python
    /// import weakref
    ///
    /// class Node:
    ///     def add(self, child):
    ///         self.children.append(child)
    ///         child.parent = weakref.proxy(self)
    /// ```
    ///
    /// `weakref.ref(self)` is the explicit alternative: readers then write `child.parent()`
    /// and must handle `None`. Or give the class a `close()`/`unlink()` method that sets
    /// `child.parent = None` for the whole tree, and call it.
    ///
    /// ## Fix safety
    /// Offered for `child.parent = self` when the class has no `__slots__` (a proxy needs
    /// `__weakref__`). Unsafe: `weakref.proxy` is transparent for attribute access and calls,
    /// but `child.parent is parent` becomes false, `type(child.parent)` changes, pickling and
    /// copying the child fail, and a child that outlives its parent (one kept after the tree
    /// is dropped) raises `ReferenceError` when it touches `parent`. No fix is offered for the
    /// constructor and child-side forms, where the link is stored in another method or may be
    /// `None`.
    pub struct BackReferenceCycle {
        code: "RL202",
        name: "back-reference-cycle",
        summary: "A child that keeps a strong reference back to the parent that holds it",
        fix: Sometimes,
    }
}

/// Words one of which a file needs for this rule to run on it (see `triggers`).
pub(crate) const TRIGGERS: Triggers = Triggers::Always;

pub(crate) fn check(checker: &mut Checker) {
    // Both walks are only needed once a candidate cycle is found (rare): done lazily.
    let module_breaks = std::cell::OnceCell::new();
    let mut found = Vec::new();
    checker.walk_classes(&mut |class| {
        let own_breaks = std::cell::OnceCell::new();
        // The class-level exclusions cost more than finding candidates (which are rare): they
        // are checked once a method of the class has one.
        let start = found.len();
        for stmt in &class.body {
            let Stmt::FunctionDef(def) = stmt else {
                continue;
            };
            let Some(this) = first_parameter(def) else {
                continue;
            };
            if !has_container_store(&def.body) || method_kind(checker, def) != MethodKind::Instance
            {
                continue;
            }
            check_method(
                checker,
                class,
                def,
                this,
                &module_breaks,
                &own_breaks,
                &mut found,
            );
        }
        if found.len() > start
            && (is_long_lived_class(checker, class)
                || has_weak_container(checker, class)
                || instantiated_at_module_level(checker, class))
        {
            found.truncate(start);
        }
    });
    for diagnostic in found {
        checker.report(diagnostic);
    }
}

/// Attribute names whose links some code of the file clears (`x.parent = None`, `del
/// x.parent`) and container attributes some code removes from (`del x.children[k]`,
/// `x.children.remove(c)`, `.pop`, `.discard`, `.clear`).
#[derive(Default)]
struct CycleBreaks {
    cleared_links: HashSet<String>,
    shrunk_containers: HashSet<String>,
}

impl CycleBreaks {
    fn collect(suite: &[Stmt]) -> Self {
        struct Collector(CycleBreaks);
        impl<'a> ruff_python_ast::visitor::Visitor<'a> for Collector {
            fn visit_stmt(&mut self, stmt: &'a Stmt) {
                match stmt {
                    // `self.parent = None` in `__init__` initialises the link: it breaks nothing.
                    Stmt::FunctionDef(def) if def.name.as_str() == "__init__" => return,
                    Stmt::Assign(assign) if assign.value.is_none_literal_expr() => {
                        for target in &assign.targets {
                            self.clear_target(target);
                        }
                    }
                    Stmt::Delete(delete) => {
                        for target in &delete.targets {
                            match target {
                                Expr::Attribute(attr) => {
                                    self.0.cleared_links.insert(attr.attr.to_string());
                                }
                                Expr::Subscript(sub) => {
                                    if let Expr::Attribute(attr) = &*sub.value {
                                        self.0.shrunk_containers.insert(attr.attr.to_string());
                                    }
                                }
                                _ => {}
                            }
                        }
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
                        "remove" | "pop" | "discard" | "clear" | "popitem"
                    )
                    && let Expr::Attribute(container) = &*method.value
                {
                    self.0.shrunk_containers.insert(container.attr.to_string());
                }
                deep(|| ruff_python_ast::visitor::walk_expr(self, expr));
            }
        }
        impl Collector {
            fn clear_target(&mut self, target: &Expr) {
                match target {
                    Expr::Attribute(attr) => {
                        self.0.cleared_links.insert(attr.attr.to_string());
                    }
                    Expr::Tuple(tuple) => tuple.iter().for_each(|t| self.clear_target(t)),
                    _ => {}
                }
            }
        }
        let mut collector = Collector(CycleBreaks::default());
        ruff_python_ast::visitor::Visitor::visit_body(&mut collector, suite);
        collector.0
    }
}

/// True if the class keeps its children in a weak container (`self.children = WeakSet()`).
fn has_weak_container(checker: &Checker, class: &ast::StmtClassDef) -> bool {
    let mut weak = false;
    for stmt in &class.body {
        if let Stmt::FunctionDef(def) = stmt {
            walk_statements(&def.body, &mut |stmt| {
                if let Stmt::Assign(assign) = stmt
                    && let Expr::Call(call) = &*assign.value
                    && checker.semantic.resolves_to(
                        &call.func,
                        &[
                            "weakref.WeakSet",
                            "weakref.WeakValueDictionary",
                            "weakref.WeakKeyDictionary",
                        ],
                    )
                {
                    weak = true;
                }
            });
        }
    }
    weak
}

/// `this.attr` → `attr`.
fn self_attr<'a>(expr: &'a Expr, this: &str) -> Option<&'a str> {
    match expr {
        Expr::Attribute(attr) if name_of(&attr.value) == Some(this) => Some(attr.attr.as_str()),
        _ => None,
    }
}

/// Where a statement stores a value in a collection attribute of a name: calls `f(owner, value,
/// attr)`. `owner.attr[k] = v`, `owner.attr.append(v)` / `.add` / `.insert(i, v)` /
/// `.appendleft` / `.setdefault(k, v)`. A plain `owner.attr = v` is not one: a parent with one
/// helper object (`self.parser = Parser(self)`) makes a small, fixed cycle per parent, not a
/// tree that grows.
fn stored_values<'a>(stmt: &'a Stmt, mut f: impl FnMut(&'a str, &'a Expr, &'a str)) {
    match stmt {
        Stmt::Assign(assign) => {
            for target in &assign.targets {
                if let Expr::Subscript(sub) = target
                    && let Expr::Attribute(attr) = &*sub.value
                    && let Expr::Name(owner) = &*attr.value
                {
                    f(owner.id.as_str(), &assign.value, attr.attr.as_str());
                }
            }
        }
        Stmt::Expr(ast::StmtExpr { value, .. }) => {
            if let Expr::Call(call) = &**value
                && let Expr::Attribute(method) = &*call.func
                && let Expr::Attribute(attr) = &*method.value
                && let Expr::Name(owner) = &*attr.value
                && call.arguments.keywords.is_empty()
            {
                let args = &call.arguments.args;
                let value = match (method.attr.as_str(), args.len()) {
                    ("append" | "add" | "appendleft", 1) => args.first(),
                    ("insert" | "setdefault", 2) => args.get(1),
                    _ => None,
                };
                if let Some(value) = value {
                    f(owner.id.as_str(), value, attr.attr.as_str());
                }
            }
        }
        _ => {}
    }
}

/// Whether a statement of `body` (outside nested functions and classes) stores into a
/// collection attribute: every finding needs one (see [`stored_values`]).
fn has_container_store(body: &[Stmt]) -> bool {
    let mut any = false;
    walk_statements(body, &mut |stmt| {
        if !any && matches!(stmt, Stmt::Assign(_) | Stmt::Expr(_)) {
            stored_values(stmt, |_, _, _| any = true);
        }
    });
    any
}

/// The attribute a class of this module stores its constructor argument in: for
/// `Child(parent_arg)` with `Child.__init__(self, parent): self.parent = parent`, `parent`.
fn constructor_link<'a>(
    checker: &Checker<'a>,
    call: &ast::ExprCall,
    this: &str,
) -> Option<(&'a str, &'a ast::StmtClassDef)> {
    let class_name = name_of(&call.func)?;
    // `this` must be passed (checked again below): a cheap test before any lookup.
    if !call
        .arguments
        .args
        .iter()
        .chain(call.arguments.keywords.iter().map(|k| &k.value))
        .any(|arg| name_of(arg) == Some(this))
    {
        return None;
    }
    let [Stmt::ClassDef(class)] = checker.semantic.module_bindings(class_name) else {
        return None;
    };
    let init = class.body.iter().find_map(|stmt| match stmt {
        Stmt::FunctionDef(def) if def.name.as_str() == "__init__" => Some(def),
        _ => None,
    })?;
    let init_self = first_parameter(init)?;
    let params: Vec<&str> = init
        .parameters
        .posonlyargs
        .iter()
        .chain(&init.parameters.args)
        .map(|p| p.parameter.name.as_str())
        .collect();
    // Which parameter receives `this`?
    let mut param = None;
    for (index, arg) in call.arguments.args.iter().enumerate() {
        if name_of(arg) == Some(this) {
            param = params.get(index + 1).copied();
        }
    }
    for keyword in &call.arguments.keywords {
        if name_of(&keyword.value) == Some(this)
            && let Some(arg) = &keyword.arg
        {
            param = Some(arg.as_str());
        }
    }
    let param = param?;
    let mut link = None;
    walk_statements(&init.body, &mut |stmt| {
        if let Stmt::Assign(assign) = stmt
            && name_of(&assign.value) == Some(param)
        {
            for target in &assign.targets {
                if let Some(attr) = self_attr(target, init_self) {
                    link = Some(attr);
                }
            }
        }
    });
    link.map(|attr| (attr, class))
}

fn check_method(
    checker: &Checker,
    class: &ast::StmtClassDef,
    def: &ast::StmtFunctionDef,
    this: &str,
    module_breaks: &std::cell::OnceCell<CycleBreaks>,
    own_breaks: &std::cell::OnceCell<CycleBreaks>,
    found: &mut Vec<Diagnostic>,
) {
    // Locals stored into `this`, by name, with the container attribute.
    let mut stored_names: Vec<(&str, &str)> = Vec::new();
    // Locals bound to `Child(this)`, with the link attribute and the call.
    let mut constructed: Vec<(&str, &str, &ast::ExprCall)> = Vec::new();
    // `local.attr = this`.
    let mut links: Vec<(&str, &str, &Stmt)> = Vec::new();
    // `this.attr = Child(this)` and friends: (container attr, link attr, call).
    let mut direct: Vec<(&str, &str, &ast::ExprCall)> = Vec::new();
    // Child side: `this.attr = param` and `param.container.append(this)`.
    let params: Vec<&str> = def
        .parameters
        .iter_non_variadic_params()
        .skip(1)
        .map(|p| p.parameter.name.as_str())
        .collect();
    let mut own_links: Vec<(&str, &str, &Stmt)> = Vec::new();
    let mut joined: Vec<(&str, &str)> = Vec::new();

    // Only container stores (`parent.children.append(self)`, `parent.children[k] = self`):
    // `parent.child = self` is the parent-side form, reported from the parent.
    walk_statements(&def.body, &mut |stmt| {
        let plain = matches!(stmt, Stmt::Assign(assign)
            if assign.targets.iter().any(|t| matches!(t, Expr::Attribute(_))));
        stored_values(stmt, |owner, value, container| {
            if owner == this {
                match value {
                    Expr::Name(name) if name.id.as_str() != this => {
                        stored_names.push((name.id.as_str(), container));
                    }
                    Expr::Call(call) => {
                        if let Some((link, _)) = constructor_link(checker, call, this) {
                            direct.push((container, link, call));
                        }
                    }
                    _ => {}
                }
            }
            if !plain && params.contains(&owner) && name_of(value) == Some(this) {
                joined.push((owner, container));
            }
        });
        if let Stmt::Assign(assign) = stmt {
            if name_of(&assign.value) == Some(this) {
                for target in &assign.targets {
                    if let Expr::Attribute(attr) = target
                        && let Some(local) = name_of(&attr.value)
                        && local != this
                    {
                        links.push((local, attr.attr.as_str(), stmt));
                    }
                }
            }
            if let Expr::Call(call) = &*assign.value
                && let [Expr::Name(local)] = assign.targets.as_slice()
                && let Some((link, _)) = constructor_link(checker, call, this)
            {
                constructed.push((local.id.as_str(), link, call));
            }
            if let Some(param) = name_of(&assign.value)
                && params.contains(&param)
            {
                for target in &assign.targets {
                    if let Some(attr) = self_attr(target, this) {
                        own_links.push((param, attr, stmt));
                    }
                }
            }
        }
    });

    // Removing children from the container counts in the class itself; clearing the link
    // counts in the class, in the child's class, or (when the child's class is unknown)
    // anywhere in the file.
    let module_breaks = || module_breaks.get_or_init(|| CycleBreaks::collect(checker.suite));
    let own_breaks = || own_breaks.get_or_init(|| CycleBreaks::collect(&class.body));
    let broken = |link: &str, container: &str| {
        own_breaks().cleared_links.contains(link)
            || own_breaks().shrunk_containers.contains(container)
    };

    // `child.parent = self` with `self.children.append(child)`.
    for (local, link, stmt) in &links {
        let Some((_, container)) = stored_names.iter().find(|(name, _)| name == local) else {
            continue;
        };
        if broken(link, container) || module_breaks().cleared_links.contains(*link) {
            continue;
        }
        let message = format!(
            "`{local}.{link} = {this}` and `{this}.{container}` form a reference cycle between `{class}` and its children: only the cyclic garbage collector can free them",
            class = class.name,
        );
        let Stmt::Assign(assign) = stmt else { continue };
        let mut diagnostic = Diagnostic::new(Rule::BackReferenceCycle, stmt.range(), message);
        diagnostic = match proxy_fix(checker, class, &assign.value) {
            Ok(fix) => diagnostic.with_fix(fix),
            Err(note) => diagnostic.with_note(note),
        };
        found.push(diagnostic);
    }

    // `child = Child(self)` stored, or `self.child = Child(self)`.
    let mut report_constructor = |container: &str, link: &str, call: &ast::ExprCall| {
        let child_breaks = constructor_link(checker, call, this)
            .map(|(_, child)| CycleBreaks::collect(&child.body));
        if broken(link, container) || child_breaks.is_some_and(|b| b.cleared_links.contains(link)) {
            return;
        }
        let child = checker.slice(&*call.func);
        let message = format!(
            "`{child}` built here stores `{this}` in its `{link}` while `{this}.{container}` holds the `{child}`: a reference cycle that only the cyclic garbage collector can free",
        );
        found.push(
            Diagnostic::new(Rule::BackReferenceCycle, call.range(), message).with_note(format!(
                "No automatic fix: the link is stored by `{child}.__init__`; store `weakref.proxy(...)` or `weakref.ref(...)` of the parent there, or break the cycle in a `close()` method."
            )),
        );
    };
    for (container, link, call) in &direct {
        report_constructor(container, link, call);
    }
    for (local, link, call) in &constructed {
        if let Some((_, container)) = stored_names.iter().find(|(name, _)| name == local) {
            report_constructor(container, link, call);
        }
    }

    // Child side: `self.parent = parent` with `parent.children.append(self)`.
    for (param, link, stmt) in &own_links {
        let Some((_, container)) = joined.iter().find(|(p, _)| p == param) else {
            continue;
        };
        if broken(link, container) {
            continue;
        }
        let message = format!(
            "`{this}.{link} = {param}` and `{param}.{container}` holding `{this}` form a reference cycle between `{class}` and its parent: only the cyclic garbage collector can free them",
            class = class.name,
        );
        found.push(
            Diagnostic::new(Rule::BackReferenceCycle, stmt.range(), message).with_note(
                "No automatic fix: the parent may be `None` or shared; store `weakref.proxy(...)` or `weakref.ref(...)` of it, or break the cycle in a `close()` method.",
            ),
        );
    }
}

fn defines_slots(class: &ast::StmtClassDef) -> bool {
    class.body.iter().any(|stmt| match stmt {
        Stmt::Assign(assign) => assign
            .targets
            .iter()
            .any(|t| matches!(t, Expr::Name(n) if n.id.as_str() == "__slots__")),
        Stmt::AnnAssign(assign) => {
            matches!(&*assign.target, Expr::Name(n) if n.id.as_str() == "__slots__")
        }
        _ => false,
    })
}

fn proxy_fix(checker: &Checker, class: &ast::StmtClassDef, value: &Expr) -> Result<Fix, String> {
    if defines_slots(class) {
        return Err(format!(
            "No automatic fix: `{}` defines `__slots__`; add `'__weakref__'` to them before storing a weak reference to it.",
            class.name
        ));
    }
    let (proxy, import) = checker.import_edit("weakref", "proxy");
    let this = checker.slice(value);
    let mut edits = vec![Edit::replacement(
        format!("{proxy}({this})"),
        TextRange::new(value.start(), value.end()),
    )];
    edits.extend(import);
    Ok(Fix::unsafe_(
        format!("Store `{proxy}({this})` as the back link"),
        edits,
    ))
}
