use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::Ranged;
use rustc_hash::FxHashMap;

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::{Diagnostic, Edit, Fix};
use crate::registry::Rule;
use crate::triggers::Triggers;
use crate::workspace::WorkspaceFacts;

declare_rule! {
    /// ## What it finds
    /// A class with a literal `__slots__` that lacks `'__weakref__'`, whose instances are
    /// weak-referenced somewhere in the workspace: `weakref.ref(self)` in one of its methods,
    /// `weakref.proxy(Node(...))`, `weakref.finalize(node, ...)` or a `WeakSet`/`WeakValueDictionary`
    /// fed with a `Node` (a local bound to `Node(...)` or a parameter annotated `Node`).
    ///
    /// It stays quiet when the instances can be weak-referenced after all: when a base class
    /// without `__slots__` (or with `'__weakref__'` in them) already gives the instances a
    /// `__weakref__` slot, when a base class is unknown (defined outside the workspace), when
    /// `__slots__` is not a literal, when the workspace has a subclass of it that has a
    /// `__weakref__` slot (the weak references may be to instances of that subclass), and when
    /// another class of the same name has one. Subclasses of `int`, `bytes` and `tuple` cannot
    /// have a non-empty `__slots__` and are not reported.
    ///
    /// ## Why it keeps memory alive
    /// Without a `__weakref__` slot, `weakref.ref(obj)` raises `TypeError: cannot create weak
    /// reference to 'Node' object`. The code that wanted a weak reference (a cache, a registry,
    /// a parent pointer) either fails at run time or, once someone "fixes" the error, holds a
    /// strong reference instead: the cache or registry then keeps every instance it ever saw
    /// alive, and parent/child links become reference cycles that wait for the cyclic garbage
    /// collector.
    ///
    /// ## Example
    /// ```python
    /// import weakref
    ///
    /// class Node:
    ///     __slots__ = ("parent", "children")
    ///
    ///     def __init__(self, parent=None):
    ///         self.parent = parent
    ///         self.children = []
    ///
    ///     def add(self, child):
    ///         child.parent = weakref.ref(self)
    ///         self.children.append(child)
    /// ```
    ///
    /// ## Fix
    /// Add `'__weakref__'` to `__slots__`:
    ///
    /// ```python
    /// class Node:
    ///     __slots__ = ("parent", "children", "__weakref__")
    /// ```
    ///
    /// ## Fix safety
    /// Safe: it only adds a slot, so instances become weak-referenceable and everything else
    /// behaves as before. Each instance grows by one pointer (8 bytes on 64-bit builds), and code
    /// that inspects `Node.__slots__` sees one more name. The fix is offered only when no base
    /// class already provides `__weakref__` (adding it twice would be a `TypeError`).
    pub struct SlotsWithoutWeakref {
        code: "RL205",
        name: "slots-without-weakref",
        summary: "A class with `__slots__` but no `'__weakref__'` whose instances are weak-referenced",
        fix: Sometimes,
    }
}

/// How far base and subclass chains are followed.
const MAX_DEPTH: usize = 12;

/// Words one of which a file needs for this rule to run on it (see `triggers`).
pub(crate) const TRIGGERS: Triggers = Triggers::AnyOf(&["__slots__"]);

pub(crate) fn check(checker: &mut Checker) {
    let mut found = Vec::new();
    checker.walk_classes(&mut |class| {
        if let Some(finding) = check_class(checker, class) {
            found.push(finding);
        }
    });
    for (diagnostic, class, bases) in found {
        checker.report_if_workspace(diagnostic, move |workspace| {
            weakly_referenced_without_weakref(workspace, &class, &bases)
        });
    }
}

/// A finding for `class` if the workspace's facts agree: with the class's name and the names
/// of its bases that only the workspace can tell about.
fn check_class(
    checker: &Checker,
    class: &ast::StmtClassDef,
) -> Option<(Diagnostic, String, Vec<String>)> {
    let name = class.name.as_str();
    let (target, value) = slots_assignment(class)?;
    let slots = crate::workspace::literal_strings(value)?;
    if slots.iter().any(|slot| slot == "__weakref__") {
        return None;
    }
    // Every base must be known to lack `__weakref__`: some are known here.
    let mut named_bases = Vec::new();
    for base in class.bases() {
        match local_base(checker, base) {
            LocalBase::Known(Weakref::Lacks) => {}
            LocalBase::Known(_) => return None,
            LocalBase::Named(name) => named_bases.push(name.to_owned()),
        }
    }
    let message = format!(
        "`{name}` defines `__slots__` without `'__weakref__'`, yet its instances are weak-referenced: `weakref.ref()` on one raises `TypeError`, and the usual workaround (a strong reference in a cache or registry) keeps every `{name}` alive"
    );
    let diagnostic = Diagnostic::new(Rule::SlotsWithoutWeakref, target.range(), message);
    let diagnostic = match fix(checker, value) {
        Some(fix) => diagnostic.with_fix(fix),
        None => diagnostic.with_note(
            "No automatic fix: `__slots__` is not written as a tuple, list, set or string literal.",
        ),
    };
    Some((diagnostic, name.to_owned(), named_bases))
}

/// The workspace's part of the test: instances of a class of this name are weak-referenced,
/// its bases (by name) all lack `__weakref__`, and no other class of this name, nor a subclass,
/// has it (the weak references may be to one of those).
fn weakly_referenced_without_weakref(
    workspace: &WorkspaceFacts,
    name: &str,
    named_bases: &[String],
) -> bool {
    workspace.is_weakly_referenced(name)
        && named_bases.iter().all(|base| {
            named_base_weakref(workspace, base, 0, &mut FxHashMap::default()) == Weakref::Lacks
        })
        && !workspace.classes_named(name).iter().any(|other| {
            other
                .slots
                .as_ref()
                .is_none_or(|s| s.iter().any(|n| n == "__weakref__"))
        })
        && !has_weakref_subclass(workspace, name, 0)
}

/// The `__slots__ = ...` statement of a class body: its target and value.
fn slots_assignment(class: &ast::StmtClassDef) -> Option<(&Expr, &Expr)> {
    // The last assignment wins, as at run time.
    class.body.iter().rev().find_map(|stmt| match stmt {
        Stmt::Assign(assign) => match assign.targets.as_slice() {
            [target @ Expr::Name(name)] if name.id.as_str() == "__slots__" => {
                Some((target, &*assign.value))
            }
            _ => None,
        },
        Stmt::AnnAssign(assign) => match (&*assign.target, assign.value.as_deref()) {
            (target @ Expr::Name(name), Some(value)) if name.id.as_str() == "__slots__" => {
                Some((target, value))
            }
            _ => None,
        },
        _ => None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Weakref {
    /// The base gives its subclasses' instances a `__weakref__` slot.
    Provides,
    /// Known not to.
    Lacks,
    /// Unknown (defined outside the workspace, computed), or a base (`tuple`, `int`) whose
    /// subclasses cannot have a `__weakref__` slot at all.
    Unknown,
}

/// What this module tells about a base class.
enum LocalBase<'a> {
    Known(Weakref),
    /// A class by name, for the workspace's facts to tell.
    Named(&'a str),
}

fn local_base<'a>(checker: &Checker<'a>, base: &'a Expr) -> LocalBase<'a> {
    // `Generic[T]`, `Protocol[T]`.
    let base = match base {
        Expr::Subscript(subscript) => &*subscript.value,
        _ => base,
    };
    if let Some(qualified) = checker.semantic.qualified_name(base)
        && let Some(known) = known_base(&qualified)
    {
        return LocalBase::Known(known);
    }
    match base {
        Expr::Name(name) => LocalBase::Named(name.id.as_str()),
        Expr::Attribute(attr) => LocalBase::Named(attr.attr.as_str()),
        _ => LocalBase::Known(Weakref::Unknown),
    }
}

/// Bases whose instances have no `__weakref__` (and whose subclasses may add one).
fn known_base(qualified: &str) -> Option<Weakref> {
    match qualified {
        "builtins.object"
        | "object"
        | "builtins.dict"
        | "builtins.list"
        | "builtins.set"
        | "typing.Generic"
        | "typing.Protocol"
        | "typing_extensions.Protocol"
        | "abc.ABC" => Some(Weakref::Lacks),
        _ if qualified.starts_with("collections.abc.") => Some(Weakref::Lacks),
        _ => None,
    }
}

/// A base class by name: what the workspace's classes of that name say (all must lack it).
/// `memo` keeps the verdicts already reached: classes sharing a name (`class A(A)` redefined
/// in a test module) would otherwise make the walk exponential in `MAX_DEPTH`.
fn named_base_weakref<'w>(
    workspace: &'w WorkspaceFacts,
    name: &'w str,
    depth: usize,
    memo: &mut FxHashMap<(&'w str, usize), Weakref>,
) -> Weakref {
    if let Some(known) = known_base(name) {
        return known;
    }
    if depth > MAX_DEPTH {
        return Weakref::Unknown;
    }
    if let Some(verdict) = memo.get(&(name, depth)) {
        return *verdict;
    }
    let verdict = named_base_weakref_uncached(workspace, name, depth, memo);
    memo.insert((name, depth), verdict);
    verdict
}

fn named_base_weakref_uncached<'w>(
    workspace: &'w WorkspaceFacts,
    name: &'w str,
    depth: usize,
    memo: &mut FxHashMap<(&'w str, usize), Weakref>,
) -> Weakref {
    let short = name.rsplit('.').next().unwrap_or(name);
    let classes = workspace.classes_named(short);
    if classes.is_empty() {
        return Weakref::Unknown;
    }
    let mut verdict = Weakref::Lacks;
    for class in classes {
        let here = match &class.slots {
            // No (literal) `__slots__`: instances have `__dict__` and `__weakref__`.
            None => Weakref::Provides,
            Some(slots) if slots.iter().any(|s| s == "__weakref__") => Weakref::Provides,
            Some(_) => class
                .bases
                .iter()
                .map(|base| named_base_weakref(workspace, base, depth + 1, memo))
                .find(|verdict| *verdict != Weakref::Lacks)
                .unwrap_or(Weakref::Lacks),
        };
        if here != Weakref::Lacks {
            verdict = here;
        }
    }
    verdict
}

/// Whether a class of the workspace derives from `name` (at any depth) and has `__weakref__`.
fn has_weakref_subclass(workspace: &WorkspaceFacts, name: &str, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    workspace.all_classes().any(|class| {
        class
            .bases
            .iter()
            .any(|base| base.rsplit('.').next() == Some(name))
            && class.name != name
            && (class
                .slots
                .as_ref()
                .is_none_or(|slots| slots.iter().any(|s| s == "__weakref__"))
                || has_weakref_subclass(workspace, &class.name, depth + 1))
    })
}

/// Adds `'__weakref__'` to the literal.
fn fix(checker: &Checker, value: &Expr) -> Option<Fix> {
    let elements: Vec<&Expr> = match value {
        Expr::Tuple(tuple) => tuple.iter().collect(),
        Expr::List(list) => list.iter().collect(),
        Expr::Set(set) => set.iter().collect(),
        Expr::StringLiteral(_) => vec![value],
        _ => return None,
    };
    let quote = elements
        .first()
        .map(|first| checker.slice(first.range()))
        .and_then(|text| {
            text.trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .chars()
                .next()
        })
        .filter(|c| *c == '\'' || *c == '"')
        .unwrap_or('"');
    let slot = format!("{quote}__weakref__{quote}");
    let edit = match (value, elements.last()) {
        // `__slots__ = "a"` → `("a", "__weakref__")`.
        (Expr::StringLiteral(_), _) => Edit::replacement(
            format!("({}, {slot})", checker.slice(value.range())),
            value.range(),
        ),
        // Empty `()` / `[]`.
        (Expr::Tuple(tuple), None) if tuple.parenthesized => {
            Edit::replacement(format!("({slot},)"), value.range())
        }
        (Expr::List(_), None) => Edit::replacement(format!("[{slot}]"), value.range()),
        (_, None) => return None,
        (_, Some(last)) => Edit::insertion(format!(", {slot}"), last.end()),
    };
    Some(Fix::safe("Add `'__weakref__'` to `__slots__`", vec![edit]))
}
