use std::cell::OnceCell;
use std::ptr;

use ruff_python_ast::statement_visitor::{self, StatementVisitor};
use ruff_python_ast::token::{Token, TokenKind};
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, CmpOp, Expr, ExprContext, Operator, Stmt, UnaryOp};
use ruff_text_size::{Ranged, TextRange, TextSize};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::{Diagnostic, Edit, Fix};
use crate::helpers::{
    MethodKind, NewContainer, deep, first_parameter, is_long_lived_class, method_kind,
    name_after_dot, new_container, parens_before, skip_balanced, skip_closing, token_at,
};
use crate::registry::Rule;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// `self` added, from `__init__`, `__post_init__` or any other instance method, to a
    /// container that lives at module level or on the class:
    /// `_REGISTRY.append(self)`, `.add(self)`, `.insert(i, self)`, `.appendleft(self)`,
    /// `.extend([self])`, `_BY_NAME[key] = self`, `_BY_NAME.setdefault(key, self)`,
    /// `_META[self] = value` (a key keeps its object alive just as a value does),
    /// `_BY_KIND[kind].append(self)` on a `defaultdict(list)`, and the same with `self` inside a
    /// tuple or list (`_REGISTRY.append((name, self))`).
    ///
    /// The container is either a module-level name bound to a list, dict, set, `OrderedDict`,
    /// `defaultdict` or `deque` (a display, a comprehension or a constructor, however it is
    /// imported), or an attribute defined in the class body (`instances = []`,
    /// `instances: ClassVar[list] = []`) reached as `Cls.instances`, `self.instances`,
    /// `type(self).instances` or `self.__class__.instances`, from the class or a subclass.
    ///
    /// Deliberately not flagged:
    /// - Registries with a lifecycle: the module also takes entries out of the same container
    ///   somewhere (`.remove()`, `.discard()`, `.pop()`, `.popitem()`, `.popleft()`, `.clear()`,
    ///   `del C[key]`, `C[i] = None`, `C[:] = ...`, `C -= ...`, or a function that rebinds it
    ///   through `global`; for a class attribute, also through any object reflens cannot
    ///   identify, such as `self.Helper.instances.pop()`). Whether every path gets there is beyond a static check; a registry that is
    ///   emptied on purpose is a design choice, not an oversight. Removals inside `__del__` do
    ///   not count: `__del__` never runs while the registry itself keeps the instance alive.
    /// - Weak containers (`weakref.WeakSet`, `WeakValueDictionary`, `WeakKeyDictionary`), and
    ///   names that are bound anywhere at module level to anything else (imported from another
    ///   module, the result of a call reflens does not know).
    /// - `deque(maxlen=n)`: it keeps only the last `n` entries.
    /// - Local containers, parameters and instance attributes (`self.children.append(child)`,
    ///   or `self.items` when the class also assigns `self.items = ...`), and `self` added to an
    ///   object received from elsewhere (`parent.children.append(self)` is a back-reference).
    /// - `cls` registered in `__init_subclass__` or a class method, and instances of enums and
    ///   metaclasses: classes live as long as the program anyway.
    /// - Slots rather than registries: `self` stored by index in a list (`_CURRENT[0] = self`)
    ///   or under a key fixed by the code (`_DEFAULT["main"] = self`, `_INSTANCES[cls] = self`
    ///   for singletons): the next instance replaces the previous one.
    /// - Classes instantiated only at module level in this module (named constants such as
    ///   `REACHABLE = Status(True)`): the registry holds a fixed set of objects.
    /// - Classes instantiated somewhere in the module as a statement of its own
    ///   (`Command("help")`, the result dropped): the registry is meant to own them.
    /// - `self` put back into a registry from `__del__`: deliberate resurrection (pools, tests).
    /// - Metaclass methods whose first parameter is `cls` (`def __init__(cls, name, bases, ns)`),
    ///   even when the metaclass's base is imported.
    ///
    /// ## Why it keeps memory alive
    /// A module lives until the interpreter exits, and so does a class (its methods and its
    /// class attributes with it). A list, set or dict held there keeps a strong reference to
    /// every instance put into it, so no instance is ever freed: every object created stays
    /// alive with everything it refers to (buffers, sockets, caches, parents, callbacks), and
    /// memory grows with the number of objects ever created instead of the number in use.
    ///
    /// ## Example
    /// ```python
    /// _SESSIONS = []
    ///
    /// class Session:
    ///     def __init__(self, user):
    ///         self.user = user
    ///         self.buffer = bytearray(1 << 20)
    ///         _SESSIONS.append(self)
    ///
    /// def active_sessions():
    ///     return [s for s in _SESSIONS if s.user]
    /// ```
    ///
    /// ## Fix
    /// Keep the registry, but let it hold its entries weakly: an instance leaves it as soon as
    /// nothing else uses it. A list or set of instances becomes a `weakref.WeakSet` (and
    /// `.append(self)` becomes `.add(self)`), a dict with instances as values a
    /// `weakref.WeakValueDictionary`, a dict with instances as keys a
    /// `weakref.WeakKeyDictionary`. If instances must really stay registered until some point,
    /// remove them explicitly there (`close()`, `__exit__`).
    ///
    /// ```python
    /// import weakref
    ///
    /// _SESSIONS = weakref.WeakSet()
    ///
    /// class Session:
    ///     def __init__(self, user):
    ///         self.user = user
    ///         self.buffer = bytearray(1 << 20)
    ///         _SESSIONS.add(self)
    /// ```
    ///
    /// ## Fix safety
    /// Always unsafe. Entries now disappear when nothing else refers to the instance, which is
    /// the point, but code that relied on the registry to keep objects alive (fire-and-forget
    /// objects found later through the registry) loses them. A list also loses its order and
    /// its duplicates, and code in other modules that imports the container is not checked.
    ///
    /// The fix is offered only when every use of the container in the module works on the
    /// weak container: iteration, `len()`, `in`, truth tests, `list()`/`sorted()`/`tuple()`,
    /// `.add()`, `.remove()`/`.discard()`, `.clear()`, `.copy()`; for dicts also item access,
    /// `.get()`, `.pop()`, `.setdefault()`, `.items()`/`.keys()`/`.values()`. Otherwise a note
    /// names the first uses that stand in the way: indexing or sorting a list, `.insert()`,
    /// passing or returning the container itself, rebinding it, reaching a class attribute
    /// through an object reflens cannot identify, instances created only to be dropped
    /// (`Plugin("x")` on its own: the registry is their only owner), storing values that
    /// cannot be weak-referenced (numbers, strings, tuples such as `(name, self)`), a
    /// `defaultdict` of lists, a class whose `__slots__` lacks `'__weakref__'`, or (for a
    /// `WeakSet` or `WeakKeyDictionary`) instances that are unhashable because the class
    /// defines `__eq__` without `__hash__` or is a non-frozen dataclass.
    pub struct InstanceRegistry {
        code: "RL103",
        name: "instance-registry",
        summary: "`self` added to a module- or class-level list, set or dict keeps every instance alive for the life of the program",
        fix: Sometimes,
    }
}

/// Words one of which a file needs for this rule to run on it (see `triggers`).
pub(crate) const TRIGGERS: Triggers = Triggers::Always;

pub(crate) fn check(checker: &mut Checker) {
    // Instances only exist with a class.
    let Some(analysis) = Analysis::new(checker) else {
        return;
    };
    let diagnostics = analysis.run();
    for diagnostic in diagnostics {
        checker.report(diagnostic);
    }
}

// ---- containers ----------------------------------------------------------------------------

/// The strong containers the rule knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Set,
    Dict,
    OrderedDict,
    /// With the kind of container its factory makes, when known.
    DefaultDict(Option<Inner>),
    Deque,
}

/// What a `defaultdict` factory or a `setdefault` default makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inner {
    List,
    Set,
    Deque,
}

impl Inner {
    fn noun(self) -> &'static str {
        match self {
            Inner::List => "list",
            Inner::Set => "set",
            Inner::Deque => "deque",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Sequence,
    Set,
    Mapping,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::List => "list",
            Kind::Set => "set",
            Kind::Dict => "dict",
            Kind::OrderedDict => "OrderedDict",
            Kind::DefaultDict(_) => "defaultdict",
            Kind::Deque => "deque",
        }
    }

    fn family(self) -> Family {
        match self {
            Kind::List | Kind::Deque => Family::Sequence,
            Kind::Set => Family::Set,
            Kind::Dict | Kind::OrderedDict | Kind::DefaultDict(_) => Family::Mapping,
        }
    }
}

/// The weak container a fix turns a strong one into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Weak {
    Set,
    ValueDictionary,
    KeyDictionary,
}

impl Weak {
    fn member(self) -> &'static str {
        match self {
            Weak::Set => "WeakSet",
            Weak::ValueDictionary => "WeakValueDictionary",
            Weak::KeyDictionary => "WeakKeyDictionary",
        }
    }
}

#[derive(Clone, Copy)]
enum Owner<'a> {
    Module,
    Class(&'a ast::StmtClassDef),
}

struct Container<'a> {
    /// The module-level name, or the attribute name for a class-level container.
    name: &'a str,
    owner: Owner<'a>,
    kind: Kind,
    /// The statement that defines it (the first binding).
    definition: &'a Stmt,
    value: &'a Expr,
    annotation: Option<&'a Expr>,
}

impl Container<'_> {
    /// `_SESSIONS` or `Node.instances`.
    fn display(&self) -> String {
        match self.owner {
            Owner::Module => self.name.to_owned(),
            Owner::Class(class) => format!("{}.{}", class.name, self.name),
        }
    }

    fn place(&self) -> &'static str {
        match self.owner {
            Owner::Module => "module-level",
            Owner::Class(_) => "class-level",
        }
    }
}

/// The container a value builds: displays, comprehensions and known constructors.
fn container_kind(checker: &Checker, value: &Expr) -> Option<Kind> {
    Some(match new_container(checker, value)? {
        NewContainer::List => Kind::List,
        NewContainer::Set => Kind::Set,
        NewContainer::Dict => Kind::Dict,
        NewContainer::OrderedDict => Kind::OrderedDict,
        NewContainer::DefaultDict { factory } => {
            Kind::DefaultDict(factory.and_then(|factory| factory_kind(checker, factory)))
        }
        NewContainer::Deque => Kind::Deque,
        NewContainer::Counter | NewContainer::ByteArray => return None,
    })
}

/// What a `defaultdict` factory makes: `list`, `set`, `deque`, `lambda: []`.
fn factory_kind(checker: &Checker, factory: &Expr) -> Option<Inner> {
    if let Expr::Lambda(lambda) = factory {
        return inner_of(container_kind(checker, &lambda.body)?);
    }
    match checker.semantic.qualified_name(factory)?.as_str() {
        "builtins.list" => Some(Inner::List),
        "builtins.set" => Some(Inner::Set),
        "collections.deque" => Some(Inner::Deque),
        _ => None,
    }
}

fn inner_of(kind: Kind) -> Option<Inner> {
    match kind {
        Kind::List => Some(Inner::List),
        Kind::Set => Some(Inner::Set),
        Kind::Deque => Some(Inner::Deque),
        _ => None,
    }
}

/// `(value, annotation)` of a definition statement binding `name` (as a plain name).
fn bound_value<'a>(stmt: &'a Stmt, name: &str) -> Option<(&'a Expr, Option<&'a Expr>)> {
    match stmt {
        Stmt::Assign(assign) if assign.targets.iter().any(|t| is_name(t, name)) => {
            Some((&assign.value, None))
        }
        Stmt::AnnAssign(assign) if is_name(&assign.target, name) => assign
            .value
            .as_deref()
            .map(|value| (value, Some(&*assign.annotation))),
        _ => None,
    }
}

fn is_name(expr: &Expr, name: &str) -> bool {
    matches!(expr, Expr::Name(n) if n.id.as_str() == name)
}

/// Module-level names bound, everywhere at module level, to strong containers.
fn module_containers<'a>(checker: &Checker<'a>) -> Vec<Container<'a>> {
    let mut names: Vec<&'a str> = Vec::new();
    collect_assigned_names(checker.suite, &mut names);
    let mut seen = FxHashSet::default();
    let mut out = Vec::new();
    for name in names {
        // `__all__`, `__slots__` and the like hold names, never instances.
        if !seen.insert(name) || (name.starts_with("__") && name.ends_with("__")) {
            continue;
        }
        let bindings = checker.semantic.module_bindings(name);
        let mut definition: Option<(&'a Stmt, &'a Expr, Option<&'a Expr>, Kind)> = None;
        let mut ok = true;
        for &stmt in bindings {
            match stmt {
                // A bare annotation binds nothing; `+=` keeps the object.
                Stmt::AnnAssign(assign) if assign.value.is_none() => {}
                Stmt::AugAssign(_) => {}
                _ => match bound_value(stmt, name) {
                    Some((value, annotation)) => match container_kind(checker, value) {
                        Some(kind) => {
                            if definition.is_none() {
                                definition = Some((stmt, value, annotation, kind));
                            } else if definition.is_some_and(|d| d.3.family() != kind.family()) {
                                ok = false;
                            }
                        }
                        None => ok = false,
                    },
                    None => ok = false,
                },
            }
        }
        if let (true, Some((definition, value, annotation, kind))) = (ok, definition) {
            out.push(Container {
                name,
                owner: Owner::Module,
                kind,
                definition,
                value,
                annotation,
            });
        }
    }
    out
}

// ---- cheap pre-check -------------------------------------------------------------------------

/// Whether some method can store `self` into a container at all. Only a store made inside an
/// instance method is flagged, that is by code inside a function defined in a class body
/// (possibly under an `if` or `try` there), whose stored object is (or holds) that method's
/// first parameter. Every store is a reference to a container (its module-level name, or its
/// attribute name for a class-level one) written as `C.append(...)`-like calls, `C[k] = ...`,
/// `C[k]: T = ...`, `C[k].append(...)`, `C.get(k).append(...)` or `C += [...]` (see
/// `Analysis::classify`), with the object later on the same logical line. So when no container
/// name is spelled in that shape, followed on its line by the first parameter of some method,
/// in the text of a class body statement that can hold a method, the walk could only find
/// references that are not flagged stores, and nothing is reported.
///
/// Class-level containers are only looked for by shape here (a name bound in a class body to a
/// container): a superset of `class_containers`. A statement with a name spelled beyond ASCII
/// is always walked: identifiers are compared after NFKC normalization, so a container's name
/// may be spelled differently there.
fn may_store_self(checker: &Checker, module: &[Container], classes: &[&ast::StmtClassDef]) -> bool {
    if classes.is_empty() {
        return false;
    }
    let mut names: Vec<&str> = module.iter().map(|c| c.name).collect();
    let mut receivers: Vec<&str> = Vec::new();
    for class in classes {
        for stmt in &class.body {
            if can_hold_method(stmt) {
                collect_receivers(stmt, &mut receivers);
            }
            let (targets, value): (&[Expr], &Expr) = match stmt {
                Stmt::Assign(assign) => (&assign.targets, &assign.value),
                Stmt::AnnAssign(assign) => match &assign.value {
                    Some(value) => (std::slice::from_ref(&*assign.target), value),
                    None => continue,
                },
                _ => continue,
            };
            if !targets.iter().any(Expr::is_name_expr) || container_kind(checker, value).is_none() {
                continue;
            }
            for target in targets {
                if let Expr::Name(name) = target {
                    names.push(name.id.as_str());
                }
            }
        }
    }
    if names.is_empty() || receivers.is_empty() {
        return false;
    }
    names.sort_unstable();
    names.dedup();
    // With many names, one look-up per name token (below) costs less than a substring search
    // per name.
    let many: Option<FxHashSet<&str>> = (names.len() > 8).then(|| names.iter().copied().collect());
    let tokens: &[Token] = checker.tokens;
    // A quick first filter on a name token: its length and first byte.
    let mut lengths = 0u64;
    let mut first_bytes = [false; 256];
    for name in &names {
        lengths |= 1u64 << name.len().min(63);
        first_bytes[usize::from(name.as_bytes().first().copied().unwrap_or(0))] = true;
    }
    // The names spelled somewhere in the class, when its text is ASCII (every statement's then
    // is): the others cannot be in its statements.
    let mut in_class: Vec<&str> = Vec::new();
    classes.iter().any(|class| {
        let class_text = checker.slice(class.range());
        let class_ascii = many.is_none() && class_text.is_ascii();
        if class_ascii {
            in_class.clear();
            in_class.extend(names.iter().filter(|name| class_text.contains(**name)));
            if in_class.is_empty() {
                return false;
            }
        }
        class.body.iter().any(|stmt| {
            if !can_hold_method(stmt) {
                return false;
            }
            let range = stmt.range();
            let text = checker.slice(range);
            if class_ascii {
                let names = &in_class;
                // No name beyond ASCII here: find each container name's spellings in the text
                // (a fast substring search), then read the tokens there. The same tokens as
                // the loop below: a name token's text is found where the token starts.
                return names.iter().any(|name| {
                    text.contains(name)
                        && text.match_indices(name).any(|(offset, _)| {
                            let at = range.start() + TextSize::try_from(offset).unwrap_or_default();
                            token_at(tokens, at).is_some_and(|i| {
                                let token = &tokens[i];
                                token.range().len()
                                    == TextSize::try_from(name.len()).unwrap_or_default()
                                    && (token.kind() == TokenKind::Name
                                        || token.kind().is_soft_keyword())
                                    && may_be_store(checker, tokens, i, &receivers)
                            })
                        })
                });
            }
            let first = tokens.partition_point(|token| token.start() < range.start());
            let mut non_ascii = false;
            let found = tokens[first..]
                .iter()
                .enumerate()
                .take_while(|(_, token)| token.start() < range.end())
                .any(|(i, token)| {
                    if token.kind() != TokenKind::Name && !token.kind().is_soft_keyword() {
                        return false;
                    }
                    let text = checker.slice(token.range());
                    if !text.is_ascii() {
                        // NFKC may turn it into a container's name.
                        non_ascii = true;
                        return false;
                    }
                    lengths & (1u64 << text.len().min(63)) != 0
                        && text
                            .as_bytes()
                            .first()
                            .is_some_and(|&byte| first_bytes[usize::from(byte)])
                        && match &many {
                            Some(set) => set.contains(text),
                            None => names.contains(&text),
                        }
                        && may_be_store(checker, tokens, first + i, &receivers)
                });
            found || non_ascii
        })
    })
}

/// Class body statements that can define a method.
fn can_hold_method(stmt: &Stmt) -> bool {
    matches!(
        stmt,
        Stmt::FunctionDef(_)
            | Stmt::If(_)
            | Stmt::Try(_)
            | Stmt::With(_)
            | Stmt::For(_)
            | Stmt::While(_)
            | Stmt::Match(_)
    )
}

/// The first parameters of the functions `stmt` defines in the class body it belongs to
/// (itself, or under compound statements).
fn collect_receivers<'a>(stmt: &'a Stmt, out: &mut Vec<&'a str>) {
    struct Defs<'a, 'o> {
        out: &'o mut Vec<&'a str>,
    }
    impl<'a> StatementVisitor<'a> for Defs<'a, '_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(def) => {
                    if let Some(receiver) = first_parameter(def)
                        && !self.out.contains(&receiver)
                    {
                        self.out.push(receiver);
                    }
                }
                Stmt::ClassDef(_) => {}
                _ => deep(|| statement_visitor::walk_stmt(self, stmt)),
            }
        }
    }
    Defs { out }.visit_stmt(stmt);
}

/// Methods that store what they are given (directly, or in a container inside the container).
const STORING_METHODS: &[&str] = &[
    "append",
    "appendleft",
    "add",
    "insert",
    "extend",
    "update",
    "setdefault",
];

/// Whether the name token at `index` is written in the shape of a store (`C.m(`, `C[...] =`, `C[...]: ...`, `C[...].m(`, `C.get(...).m(`, `C +=`, `C |=`, with
/// `m` a storing method and parentheses around `C` allowed) and followed on its logical line by
/// one of `receivers`. Anything unexpected counts as a store: this only needs to be true
/// whenever the walk can find one.
fn may_be_store(checker: &Checker, tokens: &[Token], index: usize, receivers: &[&str]) -> bool {
    let rest = &tokens[index + 1..];
    store_shape(checker, &tokens[..index], rest) && receiver_on_line(checker, rest, receivers)
}

fn store_shape(checker: &Checker, before: &[Token], mut rest: &[Token]) -> bool {
    // Parentheses opened right before the name may close right after it: `(C).append(x)`.
    let (mut open, preceding) = parens_before(before);
    let line_start = preceding.is_none_or(|kind| {
        matches!(
            kind,
            TokenKind::Newline
                | TokenKind::Indent
                | TokenKind::Dedent
                | TokenKind::Semi
                | TokenKind::Colon
        )
    });
    skip_closing(&mut rest, &mut open);
    let Some(next) = rest.first() else {
        return true;
    };
    match next.kind() {
        TokenKind::PlusEqual | TokenKind::VbarEqual => true,
        TokenKind::Dot => {
            rest = &rest[1..];
            match name_after_dot(checker.source, &mut rest) {
                None => true,
                Some("get") => {
                    // `C.get(k).append(x)`.
                    skip_balanced(&mut rest, TokenKind::Lpar, TokenKind::Rpar)
                        && nested_store(checker, &mut rest)
                }
                Some(method) => STORING_METHODS.contains(&method),
            }
        }
        TokenKind::Lsqb => {
            if !skip_balanced(&mut rest, TokenKind::Lsqb, TokenKind::Rsqb) {
                return true;
            }
            skip_closing(&mut rest, &mut open);
            match rest.first().map(Token::kind) {
                None | Some(TokenKind::Equal) => true,
                // `C[k]: T = v` is a statement of its own.
                Some(TokenKind::Colon) => line_start,
                Some(_) => nested_store(checker, &mut rest),
            }
        }
        _ => false,
    }
}

/// Whether one of `receivers` is spelled as a token before the end of the logical line.
fn receiver_on_line(checker: &Checker, rest: &[Token], receivers: &[&str]) -> bool {
    rest.iter()
        .take_while(|token| token.kind() != TokenKind::Newline)
        .any(|token| {
            (token.kind() == TokenKind::Name || token.kind().is_soft_keyword())
                && receivers.contains(&checker.slice(token.range()))
        })
}

/// After `C[...]` or `C.get(...)` (and any closing parentheses): `.m(` with a storing method.
/// Whatever cannot be read counts as a store.
fn nested_store(checker: &Checker, rest: &mut &[Token]) -> bool {
    while rest
        .first()
        .is_some_and(|token| token.kind().is_trivia() || token.kind() == TokenKind::Rpar)
    {
        *rest = &rest[1..];
    }
    match rest.first().map(Token::kind) {
        None => true,
        Some(TokenKind::Dot) => {
            *rest = &rest[1..];
            name_after_dot(checker.source, rest)
                .is_none_or(|method| STORING_METHODS.contains(&method))
        }
        Some(_) => false,
    }
}

/// Names assigned by `=`/annotated `=` at module level (in compound statements too).
fn collect_assigned_names<'a>(body: &'a [Stmt], out: &mut Vec<&'a str>) {
    for stmt in body {
        match stmt {
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    if let Expr::Name(name) = target {
                        out.push(name.id.as_str());
                    }
                }
            }
            Stmt::AnnAssign(assign) => {
                if let (Expr::Name(name), Some(_)) = (&*assign.target, &assign.value) {
                    out.push(name.id.as_str());
                }
            }
            Stmt::If(if_) => {
                collect_assigned_names(&if_.body, out);
                for clause in &if_.elif_else_clauses {
                    collect_assigned_names(&clause.body, out);
                }
            }
            Stmt::Try(try_) => {
                collect_assigned_names(&try_.body, out);
                for handler in &try_.handlers {
                    let ast::ExceptHandler::ExceptHandler(handler) = handler;
                    collect_assigned_names(&handler.body, out);
                }
                collect_assigned_names(&try_.orelse, out);
                collect_assigned_names(&try_.finalbody, out);
            }
            Stmt::With(with) => collect_assigned_names(&with.body, out),
            Stmt::For(for_) => {
                collect_assigned_names(&for_.body, out);
                collect_assigned_names(&for_.orelse, out);
            }
            Stmt::While(while_) => {
                collect_assigned_names(&while_.body, out);
                collect_assigned_names(&while_.orelse, out);
            }
            _ => {}
        }
    }
}

/// Facts about one class of the module.
struct ClassInfo<'a> {
    class: &'a ast::StmtClassDef,
    /// Names bound in the class body (attributes, methods).
    body_names: FxHashSet<&'a str>,
    /// Attributes assigned through `self` in a method: instance attributes.
    instance_attrs: FxHashSet<&'a str>,
}

fn class_info<'a>(checker: &Checker<'a>, class: &'a ast::StmtClassDef) -> ClassInfo<'a> {
    let mut body_names = FxHashSet::default();
    for stmt in &class.body {
        let mut binder = Binder::default();
        binder.visit_stmt(stmt);
        body_names.extend(binder.assigned);
    }
    let mut instance_attrs = FxHashSet::default();
    for stmt in &class.body {
        let Stmt::FunctionDef(def) = stmt else {
            continue;
        };
        let Some(receiver) = first_parameter(def) else {
            continue;
        };
        if method_kind(checker, def) != MethodKind::Instance {
            continue;
        }
        let mut finder = SelfAttrStores {
            receiver,
            attrs: &mut instance_attrs,
        };
        StatementVisitor::visit_body(&mut finder, &def.body);
    }
    ClassInfo {
        class,
        body_names,
        instance_attrs,
    }
}

/// Collects `receiver.attr` assignment targets (`self.x = ...`, `self.x += ...`, `for self.x in`).
struct SelfAttrStores<'a, 'b> {
    receiver: &'b str,
    attrs: &'b mut FxHashSet<&'a str>,
}

// Attribute stores only happen as assignment targets, so a statement walk is enough (and
// much cheaper than visiting every expression of every method).
impl<'a> StatementVisitor<'a> for SelfAttrStores<'a, '_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Assign(assign) => assign.targets.iter().for_each(|t| self.target(t)),
            Stmt::AugAssign(assign) => self.target(&assign.target),
            Stmt::AnnAssign(assign) => self.target(&assign.target),
            Stmt::For(for_) => self.target(&for_.target),
            Stmt::With(with) => with
                .items
                .iter()
                .filter_map(|item| item.optional_vars.as_deref())
                .for_each(|vars| self.target(vars)),
            _ => {}
        }
        deep(|| statement_visitor::walk_stmt(self, stmt));
    }
}

impl<'a> SelfAttrStores<'a, '_> {
    fn target(&mut self, target: &'a Expr) {
        match target {
            Expr::Attribute(attr) if is_name(&attr.value, self.receiver) => {
                self.attrs.insert(attr.attr.as_str());
            }
            Expr::Tuple(tuple) => tuple.iter().for_each(|elt| self.target(elt)),
            Expr::List(list) => list.iter().for_each(|elt| self.target(elt)),
            Expr::Starred(starred) => self.target(&starred.value),
            _ => {}
        }
    }
}

/// Class-level containers: `instances = []` in the class body, not shadowed per instance.
fn class_containers<'a>(checker: &Checker<'a>, info: &ClassInfo<'a>) -> Vec<Container<'a>> {
    let class = info.class;
    if is_long_lived_class(checker, class) {
        return Vec::new();
    }
    let plain = class.decorator_list.is_empty()
        && class.keywords().is_empty()
        && class.bases().iter().all(|base| {
            checker.semantic.resolves_to(base, &["builtins.object"]) || is_name(base, "object")
        });
    let mut out: Vec<Container<'a>> = Vec::new();
    let mut rejected: FxHashSet<&str> = FxHashSet::default();
    for stmt in &class.body {
        let (targets, value, annotation): (Vec<&'a Expr>, &'a Expr, Option<&'a Expr>) = match stmt {
            Stmt::Assign(assign) => (assign.targets.iter().collect(), &assign.value, None),
            Stmt::AnnAssign(assign) => match &assign.value {
                Some(value) => (vec![&*assign.target], value, Some(&*assign.annotation)),
                None => continue,
            },
            _ => continue,
        };
        for target in targets {
            let Expr::Name(name) = target else { continue };
            let name = name.id.as_str();
            let kind = container_kind(checker, value);
            // An annotated attribute of a dataclass, attrs class, pydantic model, ... is a
            // per-instance field unless it says `ClassVar`.
            let class_level = annotation.is_none_or(|a| plain || is_class_var(checker, a));
            match kind {
                Some(kind) if class_level && !info.instance_attrs.contains(name) => {
                    if out.iter().any(|c| c.name == name) {
                        // Bound twice in the body: which one a fix should change is unclear.
                        rejected.insert(name);
                        continue;
                    }
                    out.push(Container {
                        name,
                        owner: Owner::Class(class),
                        kind,
                        definition: stmt,
                        value,
                        annotation,
                    });
                }
                _ => {
                    rejected.insert(name);
                }
            }
        }
    }
    // Bound to something else elsewhere in the body (a method of that name, a second
    // assignment to something unknown): not a plain container.
    for stmt in &class.body {
        if let Stmt::FunctionDef(def) = stmt {
            rejected.insert(def.name.as_str());
        }
        if let Stmt::ClassDef(def) = stmt {
            rejected.insert(def.name.as_str());
        }
    }
    out.retain(|c| !rejected.contains(c.name));
    out
}

fn is_class_var(checker: &Checker, annotation: &Expr) -> bool {
    match annotation {
        Expr::Subscript(sub) => {
            is_name(&sub.value, "ClassVar")
                || checker.semantic.resolves_to(
                    &sub.value,
                    &["typing.ClassVar", "typing_extensions.ClassVar"],
                )
        }
        Expr::Name(_) | Expr::Attribute(_) => {
            is_name(annotation, "ClassVar")
                || checker.semantic.resolves_to(
                    annotation,
                    &["typing.ClassVar", "typing_extensions.ClassVar"],
                )
        }
        Expr::StringLiteral(string) => {
            let text = string.value.to_str().trim_start();
            text.starts_with("ClassVar") || text.starts_with("typing.ClassVar")
        }
        _ => false,
    }
}

// ---- scopes ----------------------------------------------------------------------------------

/// The names a function body binds locally and the names it declares `global`/`nonlocal`.
#[derive(Default)]
struct Binder<'a> {
    assigned: FxHashSet<&'a str>,
    globals: FxHashSet<&'a str>,
    nonlocals: FxHashSet<&'a str>,
}

impl<'a> Binder<'a> {
    fn bind_target(&mut self, target: &'a Expr) {
        match target {
            Expr::Name(name) => {
                self.assigned.insert(name.id.as_str());
            }
            Expr::Tuple(tuple) => tuple.iter().for_each(|elt| self.bind_target(elt)),
            Expr::List(list) => list.iter().for_each(|elt| self.bind_target(elt)),
            Expr::Starred(starred) => self.bind_target(&starred.value),
            _ => {}
        }
    }
}

impl<'a> StatementVisitor<'a> for Binder<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(def) => {
                self.assigned.insert(def.name.as_str());
            }
            Stmt::ClassDef(def) => {
                self.assigned.insert(def.name.as_str());
            }
            Stmt::Global(global) => self.globals.extend(global.names.iter().map(|n| n.as_str())),
            Stmt::Nonlocal(nonlocal) => self
                .nonlocals
                .extend(nonlocal.names.iter().map(|n| n.as_str())),
            Stmt::Assign(assign) => assign.targets.iter().for_each(|t| self.bind_target(t)),
            Stmt::AnnAssign(assign) => self.bind_target(&assign.target),
            Stmt::AugAssign(assign) => self.bind_target(&assign.target),
            Stmt::Delete(delete) => delete.targets.iter().for_each(|t| self.bind_target(t)),
            Stmt::Import(_) | Stmt::ImportFrom(_) => {
                let names: Vec<&'a str> = match stmt {
                    Stmt::Import(import) => import
                        .names
                        .iter()
                        .map(|alias| match &alias.asname {
                            Some(asname) => asname.as_str(),
                            None => alias.name.as_str().split('.').next().unwrap_or_default(),
                        })
                        .collect(),
                    Stmt::ImportFrom(import) => import
                        .names
                        .iter()
                        .map(|alias| alias.asname.as_ref().unwrap_or(&alias.name).as_str())
                        .collect(),
                    _ => Vec::new(),
                };
                self.assigned.extend(names);
            }
            _ => {
                if let Stmt::For(for_) = stmt {
                    self.bind_target(&for_.target);
                }
                if let Stmt::With(with) = stmt {
                    for item in &with.items {
                        if let Some(vars) = &item.optional_vars {
                            self.bind_target(vars);
                        }
                    }
                }
                if let Stmt::Try(try_) = stmt {
                    for handler in &try_.handlers {
                        let ast::ExceptHandler::ExceptHandler(handler) = handler;
                        if let Some(name) = &handler.name {
                            self.assigned.insert(name.as_str());
                        }
                    }
                }
                deep(|| statement_visitor::walk_stmt(self, stmt));
            }
        }
    }
}

/// First-parameter names that say a method belongs to a metaclass.
const METACLASS_RECEIVERS: &[&str] = &["cls", "mcs", "mcls", "metacls", "klass"];

#[derive(Clone, Copy)]
enum Role<'a> {
    /// An instance method of the class, with its `self`.
    Instance(&'a ast::StmtClassDef, &'a ast::StmtFunctionDef, &'a str),
    /// A class method, with its `cls`.
    ClassMethod(&'a ast::StmtClassDef, &'a str),
    Other,
}

enum Frame<'a> {
    Class(&'a ast::StmtClassDef),
    Function {
        role: Role<'a>,
        /// Names local to the function (parameters and assignments without `global`).
        locals: FxHashSet<&'a str>,
        globals: FxHashSet<&'a str>,
        is_del: bool,
    },
}

#[derive(Clone, Copy)]
enum Node<'a> {
    Stmt(&'a Stmt),
    Expr(&'a Expr),
}

/// The live `self` where an expression is evaluated.
#[derive(Clone, Copy)]
struct SelfCtx<'a> {
    class: &'a ast::StmtClassDef,
    method: &'a ast::StmtFunctionDef,
    name: &'a str,
}

/// One reference to a container.
struct Event<'a> {
    container: usize,
    expr: &'a Expr,
    /// From the enclosing statement (first) to the reference's parent (last).
    parents: Vec<Node<'a>>,
    self_ctx: Option<SelfCtx<'a>>,
    in_function: bool,
    in_del: bool,
    /// `obj.instances` where reflens cannot tell what `obj` is: maybe this container.
    unknown: bool,
}

struct Walk<'a, 'c> {
    checker: &'c Checker<'a>,
    module: &'c FxHashMap<&'a str, usize>,
    class_attrs: &'c FxHashMap<(TextSize, &'a str), usize>,
    /// Class-level containers by attribute name.
    attr_names: &'c FxHashMap<&'a str, Vec<usize>>,
    classes: &'c FxHashMap<TextSize, ClassInfo<'a>>,
    frames: Vec<Frame<'a>>,
    parents: Vec<Node<'a>>,
    events: Vec<Event<'a>>,
}

#[derive(PartialEq, Eq)]
enum Lookup {
    /// Bound in the function frame at this index.
    Local(usize),
    Module,
}

impl<'a> Walk<'a, '_> {
    fn lookup(&self, name: &str) -> Lookup {
        for (index, frame) in self.frames.iter().enumerate().rev() {
            if let Frame::Function {
                locals, globals, ..
            } = frame
            {
                if globals.contains(name) {
                    return Lookup::Module;
                }
                if locals.contains(name) {
                    return Lookup::Local(index);
                }
            }
        }
        Lookup::Module
    }

    /// The innermost method role in scope and the index of its frame.
    fn role(&self) -> Option<(usize, Role<'a>)> {
        self.frames
            .iter()
            .enumerate()
            .rev()
            .find_map(|(index, frame)| match frame {
                Frame::Function { role, .. } if !matches!(role, Role::Other) => {
                    Some((index, *role))
                }
                _ => None,
            })
    }

    fn self_ctx(&self) -> Option<SelfCtx<'a>> {
        let (index, Role::Instance(class, method, name)) = self.role()? else {
            return None;
        };
        (self.lookup(name) == Lookup::Local(index)).then_some(SelfCtx {
            class,
            method,
            name,
        })
    }

    /// The class `expr` stands for when it is `self` (or `type(self)`, `self.__class__`),
    /// `cls` in a class method, or a class's own name.
    fn class_of(&self, expr: &Expr) -> Option<(&'a ast::StmtClassDef, bool)> {
        match expr {
            Expr::Name(name) => {
                let id = name.id.as_str();
                if let Some((index, role)) = self.role() {
                    match role {
                        Role::Instance(class, _, receiver) if receiver == id => {
                            return (self.lookup(id) == Lookup::Local(index))
                                .then_some((class, true));
                        }
                        Role::ClassMethod(class, receiver) if receiver == id => {
                            return (self.lookup(id) == Lookup::Local(index))
                                .then_some((class, false));
                        }
                        _ => {}
                    }
                }
                for frame in self.frames.iter().rev() {
                    if let Frame::Class(class) = frame
                        && class.name.as_str() == id
                    {
                        return Some((class, false));
                    }
                }
                if self.lookup(id) != Lookup::Module {
                    return None;
                }
                module_class(self.checker, id).map(|class| (class, false))
            }
            Expr::Call(call)
                if call.arguments.args.len() == 1
                    && call.arguments.keywords.is_empty()
                    && self
                        .checker
                        .semantic
                        .resolves_to(&call.func, &["builtins.type"]) =>
            {
                let self_ctx = self.self_ctx()?;
                is_name(&call.arguments.args[0], self_ctx.name).then_some((self_ctx.class, true))
            }
            Expr::Attribute(attr) if attr.attr.as_str() == "__class__" => {
                let self_ctx = self.self_ctx()?;
                is_name(&attr.value, self_ctx.name).then_some((self_ctx.class, true))
            }
            _ => None,
        }
    }

    /// The class-level container `attr` names when looked up from `class` (the class itself
    /// or a base defined in this module).
    fn owner_container(
        &self,
        class: &'a ast::StmtClassDef,
        attr: &str,
        via_instance: bool,
        depth: usize,
    ) -> Option<usize> {
        if depth > 16 {
            return None;
        }
        let info = self.classes.get(&class.start())?;
        if via_instance && info.instance_attrs.contains(attr) {
            return None;
        }
        if let Some(&index) = self.class_attrs.get(&(class.start(), attr)) {
            return Some(index);
        }
        if info.body_names.contains(attr) {
            return None;
        }
        class.bases().iter().find_map(|base| {
            let Expr::Name(name) = base else { return None };
            let base = module_class(self.checker, name.id.as_str())?;
            self.owner_container(base, attr, via_instance, depth + 1)
        })
    }

    fn container_of(&self, expr: &Expr) -> Option<usize> {
        match expr {
            Expr::Name(name) => {
                let id = name.id.as_str();
                let index = *self.module.get(id)?;
                if self.lookup(id) != Lookup::Module {
                    return None;
                }
                // Inside a class body, the class's own binding of the name shadows the module's.
                if let Some(Frame::Class(class)) = self.frames.last()
                    && self
                        .classes
                        .get(&class.start())
                        .is_some_and(|info| info.body_names.contains(id))
                {
                    return None;
                }
                Some(index)
            }
            Expr::Attribute(attr) => {
                let name = attr.attr.as_str();
                if !self.attr_names.contains_key(name) {
                    return None;
                }
                let (class, via_instance) = self.class_of(&attr.value)?;
                // `self.x` also sees instance attributes of the class the method belongs to.
                if via_instance
                    && let Some(ctx) = self.self_ctx()
                    && self
                        .classes
                        .get(&ctx.class.start())
                        .is_some_and(|info| info.instance_attrs.contains(name))
                {
                    return None;
                }
                self.owner_container(class, name, via_instance, 0)
            }
            _ => None,
        }
    }

    /// Enters a function (`body` is `None` for a lambda, which binds only its parameters).
    fn push_function(
        &mut self,
        parameters: Option<&'a ast::Parameters>,
        body: Option<&'a [Stmt]>,
        role: Role<'a>,
        is_del: bool,
    ) {
        let mut binder = Binder::default();
        if let Some(body) = body {
            binder.visit_body(body);
        }
        let mut locals: FxHashSet<&'a str> = binder.assigned;
        if let Some(parameters) = parameters {
            for parameter in parameters.iter() {
                locals.insert(parameter.name().as_str());
            }
        }
        for global in binder.globals.iter().chain(&binder.nonlocals) {
            locals.remove(global);
        }
        self.frames.push(Frame::Function {
            role,
            locals,
            globals: binder.globals,
            is_del,
        });
    }

    fn in_function(&self) -> bool {
        self.frames
            .iter()
            .any(|frame| matches!(frame, Frame::Function { .. }))
    }

    fn in_del(&self) -> bool {
        self.frames
            .iter()
            .any(|frame| matches!(frame, Frame::Function { is_del: true, .. }))
    }
}

/// True if `class` derives from `base` through classes defined at module level.
fn derives_from(
    checker: &Checker,
    class: &ast::StmtClassDef,
    base: &ast::StmtClassDef,
    depth: usize,
) -> bool {
    depth < 16
        && class.bases().iter().any(|expr| {
            let Expr::Name(name) = expr else { return false };
            module_class(checker, name.id.as_str()).is_some_and(|parent| {
                ptr::eq(parent, base) || derives_from(checker, parent, base, depth + 1)
            })
        })
}

/// The class bound to `name` at module level, if that is its only binding.
fn module_class<'a>(checker: &Checker<'a>, name: &str) -> Option<&'a ast::StmtClassDef> {
    match checker.semantic.module_bindings(name) {
        [Stmt::ClassDef(class)] => Some(class),
        _ => None,
    }
}

impl<'a> Visitor<'a> for Walk<'a, '_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        self.parents.push(Node::Stmt(stmt));
        match stmt {
            Stmt::FunctionDef(def) => {
                for decorator in &def.decorator_list {
                    self.visit_decorator(decorator);
                }
                visitor::walk_parameters(self, &def.parameters);
                if let Some(returns) = &def.returns {
                    self.visit_annotation(returns);
                }
                let role = match self.frames.last() {
                    Some(Frame::Class(class)) => {
                        let receiver = first_parameter(def);
                        let mut binder = Binder::default();
                        binder.visit_body(&def.body);
                        match (method_kind(self.checker, def), receiver) {
                            // A method that rebinds `self` is not worth following.
                            (_, Some(receiver)) if binder.assigned.contains(receiver) => {
                                Role::Other
                            }
                            // `def __init__(cls, name, bases, ns)`: a metaclass (whose base reflens
                            // may not see); its instances are classes, which live on anyway.
                            (MethodKind::Instance, Some(receiver))
                                if METACLASS_RECEIVERS.contains(&receiver) =>
                            {
                                Role::Other
                            }
                            (MethodKind::Instance, Some(receiver)) => {
                                Role::Instance(class, def, receiver)
                            }
                            (MethodKind::Class, Some(receiver)) => {
                                Role::ClassMethod(class, receiver)
                            }
                            _ => Role::Other,
                        }
                    }
                    _ => Role::Other,
                };
                let is_del = def.name.as_str() == "__del__";
                self.push_function(Some(&def.parameters), Some(&def.body), role, is_del);
                self.visit_body(&def.body);
                self.frames.pop();
            }
            Stmt::ClassDef(class) => {
                for decorator in &class.decorator_list {
                    self.visit_decorator(decorator);
                }
                if let Some(arguments) = &class.arguments {
                    self.visit_arguments(arguments);
                }
                self.frames.push(Frame::Class(class));
                self.visit_body(&class.body);
                self.frames.pop();
            }
            _ => deep(|| visitor::walk_stmt(self, stmt)),
        }
        self.parents.pop();
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        let from = || {
            self.parents
                .iter()
                .rposition(|node| matches!(node, Node::Stmt(_)))
                .unwrap_or(0)
        };
        if let Some(container) = self.container_of(expr) {
            self.events.push(Event {
                container,
                expr,
                parents: self.parents[from()..].to_vec(),
                self_ctx: self.self_ctx(),
                in_function: self.in_function(),
                in_del: self.in_del(),
                unknown: false,
            });
            return;
        }
        if let Expr::Attribute(attr) = expr
            && let Some(containers) = self.attr_names.get(attr.attr.as_str())
            && self.class_of(&attr.value).is_none()
        {
            for &container in containers {
                self.events.push(Event {
                    container,
                    expr,
                    parents: self.parents[from()..].to_vec(),
                    self_ctx: self.self_ctx(),
                    in_function: self.in_function(),
                    in_del: self.in_del(),
                    unknown: true,
                });
            }
        }
        self.parents.push(Node::Expr(expr));
        match expr {
            Expr::Lambda(lambda) => {
                if let Some(parameters) = &lambda.parameters {
                    for default in parameters
                        .iter_non_variadic_params()
                        .filter_map(|p| p.default.as_deref())
                    {
                        self.visit_expr(default);
                    }
                }
                self.push_function(lambda.parameters.as_deref(), None, Role::Other, false);
                self.visit_expr(&lambda.body);
                self.frames.pop();
            }
            _ => deep(|| visitor::walk_expr(self, expr)),
        }
        self.parents.pop();
    }
}

// ---- classifying references ------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// An element of a list, set or deque.
    Element,
    /// A value of a dict.
    Value,
    /// A key of a dict.
    Key,
    /// An element of a list or set stored in a dict (`defaultdict(list)`, `setdefault(k, [])`).
    Nested(Option<Inner>),
}

struct Store<'a> {
    form: Form,
    /// The element or value stored, or the key for `Form::Key`.
    object: &'a Expr,
    /// For `Form::Key`: the value stored under `self`.
    key_value: Option<&'a Expr>,
    /// For `Form::Value`: the key it is stored under.
    key: Option<&'a Expr>,
    /// `self` as found in `object`, and what wraps it (`"tuple"`, `"list"`).
    self_ref: Option<(&'a Expr, Option<&'static str>)>,
    /// How a `WeakSet` would do this store, if it must be rewritten (`.append` → `.add`).
    rewrite: Option<Edit>,
    /// Why a `WeakSet` cannot do this store (`.insert(i, self)` keeps a position).
    unsupported: Option<&'static str>,
    /// The statement or call that stores (for notes).
    site: TextRange,
    event: usize,
}

struct Blocker {
    site: TextRange,
    why: String,
}

enum Outcome<'a> {
    Fine,
    Removal,
    Stores(Vec<Store<'a>>),
    Blocked(Blocker),
}

const REMOVALS: &[&str] = &[
    "remove",
    "discard",
    "pop",
    "popitem",
    "popleft",
    "clear",
    "difference_update",
    "intersection_update",
];

/// Builtins that only iterate over, count or test their first argument.
const ITERATING_BUILTINS: &[&str] = &[
    "list",
    "tuple",
    "sorted",
    "len",
    "set",
    "frozenset",
    "bool",
    "iter",
    "any",
    "all",
    "min",
    "max",
    "sum",
    "enumerate",
];

struct Analysis<'a, 'c> {
    checker: &'c Checker<'a>,
    containers: Vec<Container<'a>>,
    events: Vec<Event<'a>>,
    /// Walked only when a store gets far enough to need it (see [`Self::instantiations`]).
    instantiations: OnceCell<Instantiations<'a>>,
}

impl<'a, 'c> Analysis<'a, 'c> {
    /// `None` when cheap checks prove that nothing can be flagged.
    fn new(checker: &'c Checker<'a>) -> Option<Self> {
        let mut all_classes: Vec<&'a ast::StmtClassDef> = Vec::new();
        checker.walk_classes(&mut |class| all_classes.push(class));
        if all_classes.is_empty() {
            return None;
        }
        let mut containers = module_containers(checker);
        if !may_store_self(checker, &containers, &all_classes) {
            return None;
        }
        let mut classes: FxHashMap<TextSize, ClassInfo<'a>> = FxHashMap::default();
        for class in all_classes {
            let info = class_info(checker, class);
            containers.extend(class_containers(checker, &info));
            classes.insert(class.start(), info);
        }
        // A subclass that assigns `self.x = ...` makes `x` per instance for its instances.
        containers.retain(|container| match container.owner {
            Owner::Module => true,
            Owner::Class(owner) => !classes.values().any(|info| {
                !ptr::eq(info.class, owner)
                    && info.instance_attrs.contains(container.name)
                    && derives_from(checker, info.class, owner, 0)
            }),
        });
        let mut module = FxHashMap::default();
        let mut class_attrs = FxHashMap::default();
        let mut attr_names: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
        for (index, container) in containers.iter().enumerate() {
            match container.owner {
                Owner::Module => {
                    module.insert(container.name, index);
                }
                Owner::Class(class) => {
                    class_attrs.insert((class.start(), container.name), index);
                    attr_names.entry(container.name).or_default().push(index);
                }
            }
        }
        let events = if containers.is_empty() {
            Vec::new()
        } else {
            let mut walk = Walk {
                checker,
                module: &module,
                class_attrs: &class_attrs,
                attr_names: &attr_names,
                classes: &classes,
                frames: Vec::new(),
                parents: Vec::new(),
                events: Vec::new(),
            };
            walk.visit_body(checker.suite);
            walk.events
        };
        Some(Self {
            checker,
            containers,
            events,
            instantiations: OnceCell::new(),
        })
    }

    fn instantiations(&self) -> &Instantiations<'a> {
        self.instantiations.get_or_init(|| {
            let mut instantiations = Instantiations::default();
            instantiations.visit_body(self.checker.suite);
            instantiations
        })
    }

    fn run(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let mut by_container: Vec<Vec<usize>> = vec![Vec::new(); self.containers.len()];
        for (e, event) in self.events.iter().enumerate() {
            by_container[event.container].push(e);
        }
        for (container, events) in self.containers.iter().zip(by_container) {
            let mut stores = Vec::new();
            let mut managed = false;
            for &e in &events {
                match self.classify(e, container, Weak::Set) {
                    Outcome::Removal if !self.events[e].in_del => managed = true,
                    // What an unknown `obj.instances` stores is not known to be this container.
                    Outcome::Stores(found) if !self.events[e].unknown => stores.extend(found),
                    _ => {}
                }
            }
            if managed {
                continue;
            }
            let flagged: Vec<&Store> = stores
                .iter()
                .filter(|store| self.is_flagged(store))
                .collect();
            if flagged.is_empty() {
                continue;
            }
            let fix = self.fix(container, &events, &stores);
            for store in flagged {
                out.push(self.diagnostic(container, store, &fix));
            }
        }
        out
    }

    fn is_flagged(&self, store: &Store) -> bool {
        let event = &self.events[store.event];
        let Some(ctx) = event.self_ctx else {
            return false;
        };
        if store.self_ref.is_none() || is_long_lived_class(self.checker, ctx.class) {
            return false;
        }
        // `__del__` putting `self` back into a registry resurrects it on purpose (a pool, a
        // test of the garbage collector): not an instance that is kept by accident.
        if ctx.method.name.as_str() == "__del__" {
            return false;
        }
        if self.only_module_level_instances(ctx.class) {
            return false;
        }
        // `Command("help")` on a line of its own: the code creates instances for the registry
        // to own (plugins, commands, handlers); keeping them is the design.
        if self
            .instantiations()
            .discarded
            .contains_key(ctx.class.name.as_str())
        {
            return false;
        }
        // One entry per constant or per class (`_INSTANCES[cls] = self`, `_BY_NAME["default"] = self`):
        // a singleton or "current" slot that the next instance replaces, bounded by the code.
        if store.form == Form::Value && store.key.is_some_and(|key| self.is_bounded_key(key, ctx)) {
            return false;
        }
        !matches!(store.form, Form::Nested(None))
    }

    /// Keys that can only take a few values fixed by the code: literals and classes.
    fn is_bounded_key(&self, key: &Expr, ctx: SelfCtx) -> bool {
        match key {
            Expr::StringLiteral(_)
            | Expr::BytesLiteral(_)
            | Expr::NumberLiteral(_)
            | Expr::BooleanLiteral(_)
            | Expr::NoneLiteral(_)
            | Expr::EllipsisLiteral(_) => true,
            Expr::Tuple(tuple) => tuple.iter().all(|elt| self.is_bounded_key(elt, ctx)),
            Expr::Name(name) => {
                let id = name.id.as_str();
                matches!(id, "cls" | "klass" | "kls" | "class_")
                    || module_class(self.checker, id).is_some()
            }
            Expr::Call(call) => {
                self.checker
                    .semantic
                    .resolves_to(&call.func, &["builtins.type"])
                    && call.arguments.args.len() == 1
                    && is_name(&call.arguments.args[0], ctx.name)
            }
            Expr::Attribute(attr) => {
                attr.attr.as_str() == "__class__" && is_name(&attr.value, ctx.name)
            }
            _ => false,
        }
    }

    /// A class instantiated at module level (named constants such as
    /// `REACHABLE = Status(True)`) and never inside a function of this module: its registry
    /// holds a fixed set of objects, bounded by the code.
    fn only_module_level_instances(&self, class: &ast::StmtClassDef) -> bool {
        let mut names: Vec<&str> = vec![class.name.as_str()];
        for sub in self.checker.suite.iter().filter_map(|stmt| match stmt {
            Stmt::ClassDef(sub) => Some(sub),
            _ => None,
        }) {
            if sub
                .bases()
                .iter()
                .any(|base| is_name(base, class.name.as_str()))
            {
                names.push(sub.name.as_str());
            }
        }
        names
            .iter()
            .any(|name| self.instantiations().module_level.contains(name))
            && !names
                .iter()
                .any(|name| self.instantiations().in_functions.contains(name))
    }

    fn diagnostic(
        &self,
        container: &Container,
        store: &Store,
        fix: &Result<Fix, String>,
    ) -> Diagnostic {
        let ctx = self.events[store.event]
            .self_ctx
            .expect("flagged stores have a self");
        let (self_ref, wrapper) = store.self_ref.expect("flagged stores have a self");
        let class = ctx.class.name.as_str();
        let method = ctx.method.name.as_str();
        let inside = wrapper
            .map(|w| format!(" (inside a {w})"))
            .unwrap_or_default();
        let where_ = format!(
            "{} {} `{}`",
            container.place(),
            container.kind.noun(),
            container.display()
        );
        let action = match store.form {
            Form::Element => format!("adds `{}`{inside} to {where_}", ctx.name),
            Form::Value => format!("stores `{}`{inside} in {where_}", ctx.name),
            Form::Key => format!("uses `{}`{inside} as a key of {where_}", ctx.name),
            Form::Nested(inner) => format!(
                "adds `{}`{inside} to a {} inside {where_}",
                ctx.name,
                inner.map_or("container", Inner::noun)
            ),
        };
        let who = if matches!(method, "__init__" | "__post_init__" | "__new__") {
            format!("every `{class}` ever created")
        } else {
            format!("every `{class}` whose `{method}()` runs")
        };
        let lifetime = match container.owner {
            Owner::Module => "for as long as the module does",
            Owner::Class(_) => "for as long as the class does",
        };
        let message = format!(
            "`{class}.{method}` {action}: {who} stays alive (with everything it refers to) {lifetime}"
        );
        let diagnostic = Diagnostic::new(Rule::InstanceRegistry, self_ref.range(), message)
            .with_related(
                container.definition.range(),
                format!("`{}` is defined here", container.display()),
            );
        match fix {
            Ok(fix) => diagnostic.with_fix(fix.clone()),
            Err(note) => diagnostic.with_note(note.clone()),
        }
    }

    // ---- one reference ----

    fn classify(&self, e: usize, container: &Container<'a>, target: Weak) -> Outcome<'a> {
        let event = &self.events[e];
        let r = event.expr;
        let n = event.parents.len();
        let what = container.kind.noun();
        let Some(&parent) = event.parents.last() else {
            return Outcome::Fine;
        };
        match parent {
            Node::Expr(parent_expr @ Expr::Attribute(attr)) if ptr::eq(&*attr.value, r) => {
                let method = attr.attr.as_str();
                match call_of(&event.parents, n - 1, parent_expr) {
                    Some(call) => self.method_call(e, container, target, attr, call, n - 2),
                    None if REMOVALS.contains(&method) => Outcome::Removal,
                    None => self.blocked(
                        attr.range(),
                        format!("hands out the bound method `.{method}` of the {what}"),
                    ),
                }
            }
            Node::Expr(Expr::Subscript(sub)) if ptr::eq(&*sub.value, r) => {
                self.subscript(e, container, target, sub, n - 1)
            }
            Node::Expr(Expr::Call(call)) => {
                let first = call
                    .arguments
                    .args
                    .first()
                    .is_some_and(|arg| ptr::eq(arg, r));
                if first && self.is_iterating_builtin(&call.func) {
                    Outcome::Fine
                } else {
                    let callee = self.checker.slice(call.func.range());
                    self.blocked(
                        call.range(),
                        format!("passes the {what} itself to `{}`", short(callee)),
                    )
                }
            }
            Node::Expr(Expr::Compare(compare)) => {
                let membership =
                    compare
                        .comparators
                        .iter()
                        .zip(compare.ops.iter())
                        .any(|(comparator, op)| {
                            ptr::eq(comparator, r) && matches!(op, CmpOp::In | CmpOp::NotIn)
                        });
                if membership {
                    Outcome::Fine
                } else {
                    self.blocked(compare.range(), format!("compares the {what} itself"))
                }
            }
            Node::Expr(Expr::UnaryOp(unary)) if unary.op == UnaryOp::Not => Outcome::Fine,
            Node::Expr(Expr::BoolOp(_)) if truth_context(&event.parents, n - 1) => Outcome::Fine,
            Node::Expr(Expr::If(if_)) if ptr::eq(&*if_.test, r) => Outcome::Fine,
            Node::Expr(Expr::Starred(_)) => Outcome::Fine,
            Node::Expr(Expr::ListComp(ast::ExprListComp { generators, .. }))
            | Node::Expr(Expr::SetComp(ast::ExprSetComp { generators, .. }))
            | Node::Expr(Expr::DictComp(ast::ExprDictComp { generators, .. }))
            | Node::Expr(Expr::Generator(ast::ExprGenerator { generators, .. }))
                if generators
                    .iter()
                    .any(|g| ptr::eq(&g.iter, r) || g.ifs.iter().any(|i| ptr::eq(i, r))) =>
            {
                Outcome::Fine
            }
            Node::Expr(Expr::BinOp(binop)) => self.blocked(
                binop.range(),
                format!("combines the {what} with `{}`", binop.op.as_str()),
            ),
            Node::Expr(other) => {
                self.blocked(other.range(), format!("uses the {what} itself as a value"))
            }
            Node::Stmt(stmt) => self.statement(e, container, stmt),
        }
    }

    fn statement(&self, e: usize, container: &Container<'a>, stmt: &'a Stmt) -> Outcome<'a> {
        let event = &self.events[e];
        let r = event.expr;
        let what = container.kind.noun();
        let shown = container.display();
        match stmt {
            Stmt::For(for_) if ptr::eq(&*for_.iter, r) => Outcome::Fine,
            Stmt::If(_) | Stmt::While(_) | Stmt::Assert(_) | Stmt::Expr(_) => Outcome::Fine,
            Stmt::Assign(ast::StmtAssign { targets, .. })
                if targets.iter().any(|t| ptr::eq(t, r)) =>
            {
                self.rebinding(event, container, stmt)
            }
            Stmt::AnnAssign(assign) if ptr::eq(&*assign.target, r) => {
                if assign.value.is_none() {
                    Outcome::Fine
                } else {
                    self.rebinding(event, container, stmt)
                }
            }
            Stmt::AugAssign(assign) if ptr::eq(&*assign.target, r) => match assign.op {
                Operator::Sub | Operator::BitAnd => Outcome::Removal,
                Operator::Add | Operator::BitOr => match &*assign.value {
                    Expr::List(_) | Expr::Tuple(_) | Expr::Set(_)
                        if container.kind.family() != Family::Mapping =>
                    {
                        let elements = display_elements(&assign.value);
                        let mut stores: Vec<Store<'a>> = elements
                            .iter()
                            .map(|element| {
                                self.store(e, Form::Element, element, None, stmt.range())
                            })
                            .collect();
                        if assign.op == Operator::Add {
                            for store in &mut stores {
                                store.unsupported =
                                    Some("extends it with `+=`, which a WeakSet cannot do");
                            }
                        }
                        Outcome::Stores(stores)
                    }
                    _ => self.blocked(
                        stmt.range(),
                        format!("extends the {what} with `{}`", assign.op.as_str()),
                    ),
                },
                _ => self.blocked(
                    stmt.range(),
                    format!("updates `{shown}` with `{}=`", assign.op.as_str()),
                ),
            },
            Stmt::Delete(_) => Outcome::Removal,
            Stmt::Return(_) => self.blocked(stmt.range(), format!("returns the {what} itself")),
            Stmt::Assign(_) | Stmt::AnnAssign(_) => self.blocked(
                stmt.range(),
                format!("binds another name to the {what}, which may rely on it being a {what}"),
            ),
            _ => self.blocked(stmt.range(), format!("uses the {what} itself as a value")),
        }
    }

    /// `C = ...`: the definition, a reset inside a function, or a second definition.
    fn rebinding(
        &self,
        event: &Event<'a>,
        container: &Container<'a>,
        stmt: &'a Stmt,
    ) -> Outcome<'a> {
        if ptr::eq(stmt, container.definition) {
            return Outcome::Fine;
        }
        if event.in_function {
            // `global C; C = []` in a function empties the registry: a lifecycle.
            return Outcome::Removal;
        }
        self.blocked(stmt.range(), format!("rebinds `{}`", container.display()))
    }

    fn method_call(
        &self,
        e: usize,
        container: &Container<'a>,
        target: Weak,
        attr: &'a ast::ExprAttribute,
        call: &'a ast::ExprCall,
        call_index: usize,
    ) -> Outcome<'a> {
        let event = &self.events[e];
        let method = attr.attr.as_str();
        let family = container.kind.family();
        let args = &call.arguments;
        if REMOVALS.contains(&method) {
            return Outcome::Removal;
        }
        if family == Family::Mapping
            && matches!(method, "setdefault" | "get")
            && let Some((inner_attr, inner_call)) = method_above(&event.parents, call_index)
        {
            let inner = if method == "setdefault" {
                args.find_argument_value("default", 1)
                    .and_then(|default| container_kind(self.checker, default))
                    .and_then(inner_of)
            } else {
                None
            };
            return self.nested(e, inner, inner_attr, inner_call);
        }
        let site = call.range();
        match (family, method) {
            (Family::Sequence, "append" | "appendleft") | (Family::Set, "add") => {
                let Some(value) = single_positional(args) else {
                    return self.blocked(
                        site,
                        format!("calls `.{method}()` in a way reflens cannot follow"),
                    );
                };
                let mut store = self.store(e, Form::Element, value, None, site);
                if method != "add" {
                    store.rewrite = Some(Edit::replacement("add", attr.attr.range()));
                }
                Outcome::Stores(vec![store])
            }
            (Family::Sequence, "insert") => {
                match (args.args.get(1), args.args.len(), args.keywords.is_empty()) {
                    (Some(value), 2, true) => {
                        let mut store = self.store(e, Form::Element, value, None, site);
                        store.unsupported =
                            Some("inserts at a position, which a WeakSet cannot do");
                        Outcome::Stores(vec![store])
                    }
                    _ => self.blocked(
                        site,
                        "calls `.insert()` in a way reflens cannot follow".to_owned(),
                    ),
                }
            }
            (Family::Sequence, "extend") | (Family::Set, "update") => {
                let Some(value) = single_positional(args) else {
                    return self.blocked(
                        site,
                        format!("calls `.{method}()` in a way reflens cannot follow"),
                    );
                };
                if !matches!(value, Expr::List(_) | Expr::Tuple(_) | Expr::Set(_)) {
                    return self.blocked(
                        site,
                        format!(
                            "adds the items of `{}`, which may not be weak-referenceable",
                            short(self.checker.slice(value.range()))
                        ),
                    );
                }
                let elements = display_elements(value);
                let mut stores: Vec<Store<'a>> = elements
                    .iter()
                    .map(|element| self.store(e, Form::Element, element, None, site))
                    .collect();
                if method == "extend" {
                    if let [store] = stores.as_mut_slice() {
                        let text = format!("add({})", self.checker.slice(store.object.range()));
                        store.rewrite = Some(Edit::replacement(
                            text,
                            TextRange::new(attr.attr.start(), call.end()),
                        ));
                    } else if let Some(first) = stores.first_mut() {
                        first.rewrite = Some(Edit::replacement("update", attr.attr.range()));
                    }
                }
                Outcome::Stores(stores)
            }
            (Family::Mapping, "setdefault") => {
                let (Some(key), Some(value)) = (
                    args.find_argument_value("key", 0),
                    args.find_argument_value("default", 1),
                ) else {
                    return Outcome::Fine;
                };
                Outcome::Stores(vec![self.keyed_store(e, key, value, site)])
            }
            (Family::Mapping, "update") => {
                let mut stores = Vec::new();
                match args.args.as_ref() {
                    [] => {}
                    [Expr::Dict(dict)] => {
                        for item in dict.iter() {
                            match &item.key {
                                Some(key) => {
                                    stores.push(self.keyed_store(e, key, &item.value, site))
                                }
                                None => {
                                    return self.blocked(
                                        site,
                                        "merges another mapping into the dict".to_owned(),
                                    );
                                }
                            }
                        }
                    }
                    _ => {
                        return self
                            .blocked(site, "merges another mapping into the dict".to_owned());
                    }
                }
                for keyword in &args.keywords {
                    if keyword.arg.is_none() {
                        return self
                            .blocked(site, "merges another mapping into the dict".to_owned());
                    }
                    stores.push(self.store(e, Form::Value, &keyword.value, None, site));
                }
                Outcome::Stores(stores)
            }
            _ if compatible_method(family, target, method) => Outcome::Fine,
            _ => self.blocked(
                site,
                format!(
                    "calls `.{method}()`, which a {} does not have",
                    target_noun(family, target)
                ),
            ),
        }
    }

    fn subscript(
        &self,
        e: usize,
        container: &Container<'a>,
        target: Weak,
        sub: &'a ast::ExprSubscript,
        sub_index: usize,
    ) -> Outcome<'a> {
        let event = &self.events[e];
        let family = container.kind.family();
        let what = container.kind.noun();
        let weak = target_noun(family, target);
        let is_slice = matches!(*sub.slice, Expr::Slice(_));
        match sub.ctx {
            ExprContext::Del => Outcome::Removal,
            ExprContext::Store if is_slice => Outcome::Removal,
            ExprContext::Store => {
                if family != Family::Mapping {
                    // `C[i] = None` replaces an entry, dropping the instance that was there (and
                    // `_CURRENT[0] = self` is a slot, not a registry): a lifecycle of its own.
                    return Outcome::Removal;
                }
                let stmt = if sub_index == 1 {
                    event.parents.first()
                } else {
                    None
                };
                match stmt {
                    Some(Node::Stmt(stmt @ Stmt::Assign(assign))) => {
                        Outcome::Stores(vec![self.keyed_store(
                            e,
                            &sub.slice,
                            &assign.value,
                            stmt.range(),
                        )])
                    }
                    Some(Node::Stmt(stmt @ Stmt::AnnAssign(assign))) if assign.value.is_some() => {
                        let value = assign.value.as_deref().expect("checked");
                        Outcome::Stores(vec![self.keyed_store(e, &sub.slice, value, stmt.range())])
                    }
                    _ => self.blocked(
                        sub.range(),
                        "stores into the dict in a way reflens cannot follow".to_owned(),
                    ),
                }
            }
            _ => {
                if let Some((inner_attr, inner_call)) = method_above(&event.parents, sub_index) {
                    let inner = match container.kind {
                        Kind::DefaultDict(inner) => inner,
                        _ => None,
                    };
                    return self.nested(e, inner, inner_attr, inner_call);
                }
                // `C[k] += x` is a read and a store.
                if let (1, Some(Node::Stmt(stmt @ Stmt::AugAssign(_)))) =
                    (sub_index, event.parents.first())
                {
                    return self.blocked(
                        stmt.range(),
                        format!("updates an entry of the {what} in place"),
                    );
                }
                if family == Family::Mapping {
                    Outcome::Fine
                } else if is_slice {
                    self.blocked(
                        sub.range(),
                        format!("slices the {what}, which a {weak} cannot do"),
                    )
                } else {
                    self.blocked(
                        sub.range(),
                        format!("indexes the {what}, which a {weak} cannot do"),
                    )
                }
            }
        }
    }

    /// `C[k].append(x)`, `C.setdefault(k, []).add(x)`: a container inside the container.
    fn nested(
        &self,
        e: usize,
        inner: Option<Inner>,
        attr: &'a ast::ExprAttribute,
        call: &'a ast::ExprCall,
    ) -> Outcome<'a> {
        let method = attr.attr.as_str();
        if REMOVALS.contains(&method) {
            return Outcome::Removal;
        }
        let site = call.range();
        let args = &call.arguments;
        let values: Vec<&'a Expr> = match method {
            "append" | "appendleft" | "add" => single_positional(args).into_iter().collect(),
            "insert" => args.args.get(1).into_iter().collect(),
            "extend" | "update" => match single_positional(args) {
                Some(value @ (Expr::List(_) | Expr::Tuple(_) | Expr::Set(_))) => {
                    display_elements(value)
                }
                _ => Vec::new(),
            },
            // A method called on an entry (`C[k].close()`) only reads the container.
            _ => return Outcome::Fine,
        };
        Outcome::Stores(
            values
                .into_iter()
                .map(|value| self.store(e, Form::Nested(inner), value, None, site))
                .collect(),
        )
    }

    /// `C[key] = value` or `C.setdefault(key, value)`: `self` as a key or as a value.
    fn keyed_store(&self, e: usize, key: &'a Expr, value: &'a Expr, site: TextRange) -> Store<'a> {
        let key_store = self.store(e, Form::Key, key, Some(value), site);
        if key_store.self_ref.is_some() {
            return key_store;
        }
        let mut store = self.store(e, Form::Value, value, None, site);
        store.key = Some(key);
        store
    }

    fn store(
        &self,
        e: usize,
        form: Form,
        object: &'a Expr,
        key_value: Option<&'a Expr>,
        site: TextRange,
    ) -> Store<'a> {
        let self_name = self.events[e].self_ctx.map(|ctx| ctx.name);
        let self_ref = self_name.and_then(|name| find_self(object, name));
        Store {
            form,
            object,
            key_value,
            self_ref,
            rewrite: None,
            unsupported: None,
            key: None,
            site,
            event: e,
        }
    }

    fn blocked(&self, site: TextRange, why: String) -> Outcome<'a> {
        Outcome::Blocked(Blocker { site, why })
    }

    fn is_iterating_builtin(&self, func: &Expr) -> bool {
        match func {
            Expr::Name(name) => {
                let id = name.id.as_str();
                ITERATING_BUILTINS.contains(&id) && !self.checker.semantic.is_module_level(id)
            }
            _ => false,
        }
    }

    // ---- the fix ----

    fn fix(
        &self,
        container: &Container<'a>,
        events: &[usize],
        stores: &[Store<'a>],
    ) -> Result<Fix, String> {
        let family = container.kind.family();
        let shown = container.display();
        let mut structural: Vec<String> = Vec::new();
        let mut blockers: Vec<(TextSize, String)> = Vec::new();

        let value_self = stores
            .iter()
            .find(|s| s.form == Form::Value && self.is_exact_self(s));
        let key_self = stores
            .iter()
            .find(|s| s.form == Form::Key && self.is_exact_self(s));
        let target = match family {
            Family::Sequence | Family::Set => Weak::Set,
            Family::Mapping => match (value_self, key_self) {
                (Some(value), Some(key)) => {
                    structural.push(format!(
                        "`{shown}` holds instances both as values (line {}) and as keys (line {}), and no weak dictionary does both",
                        self.line(value.site.start()),
                        self.line(key.site.start())
                    ));
                    Weak::ValueDictionary
                }
                (None, Some(_)) => Weak::KeyDictionary,
                _ => Weak::ValueDictionary,
            },
        };
        let weak = target.member();

        if let Some(nested) = stores.iter().find(|s| matches!(s.form, Form::Nested(_))) {
            let inner = match nested.form {
                Form::Nested(Some(inner)) => inner.noun(),
                _ => "container",
            };
            structural.push(format!(
                "{} keeps a {inner} of instances per key, which no weak container does",
                self.at(nested.site)
            ));
        } else if let Kind::DefaultDict(_) = container.kind {
            structural.push(format!(
                "`{shown}` is a defaultdict, and a {weak} cannot create missing entries"
            ));
        }

        // Every store must put exactly `self` where the weak container holds weak references.
        for store in stores {
            if matches!(store.form, Form::Nested(_)) {
                continue;
            }
            let (object, role) = match (target, store.form) {
                (Weak::Set, _)
                | (Weak::ValueDictionary, Form::Value)
                | (Weak::KeyDictionary, Form::Key) => (store.object, "stores"),
                (Weak::ValueDictionary, Form::Key) => continue, // reported as both keys and values
                (Weak::KeyDictionary, _) => (store.object, "uses as a key"),
                (Weak::ValueDictionary, _) => (store.object, "stores"),
            };
            if !self.is_exact_self(store)
                || (target == Weak::KeyDictionary && store.form != Form::Key)
            {
                blockers.push((
                    store.site.start(),
                    format!(
                        "{} {}",
                        self.at(store.site),
                        not_weakrefable(self.checker, object, store.self_ref, role)
                    ),
                ));
                continue;
            }
            if let Some(why) = store.unsupported {
                blockers.push((store.site.start(), format!("{} {why}", self.at(store.site))));
                continue;
            }
            if target == Weak::KeyDictionary {
                let name = self.events[store.event]
                    .self_ctx
                    .map(|c| c.name)
                    .unwrap_or("self");
                if store.key_value.is_some_and(|value| mentions(value, name)) {
                    blockers.push((
                        store.site.start(),
                        format!(
                            "{} stores a value that refers to `{name}`, so a {weak} would still keep it alive",
                            self.at(store.site)
                        ),
                    ));
                }
            }
        }

        // Every other use must work on the weak container.
        for &e in events {
            if self.events[e].unknown {
                let expr = self.events[e].expr;
                blockers.push((
                    expr.start(),
                    format!(
                        "{} may reach `{shown}` in a way reflens cannot follow",
                        self.at(expr.range())
                    ),
                ));
                continue;
            }
            if let Outcome::Blocked(blocker) = self.classify(e, container, target) {
                blockers.push((
                    blocker.site.start(),
                    format!("{} {}", self.at(blocker.site), blocker.why),
                ));
            }
        }

        // The instances must be weak-referenceable (and hashable, for a set or keys).
        let mut seen: FxHashSet<TextSize> = FxHashSet::default();
        for store in stores {
            let Some(ctx) = self.events[store.event].self_ctx else {
                continue;
            };
            if !seen.insert(ctx.class.start()) {
                continue;
            }
            if let Some(reason) = self.not_weakrefable_class(ctx.class, 0) {
                structural.push(reason);
            }
            // `Plugin("x")` on a line of its own: the registry is the only owner, and the
            // object would vanish from a weak one at once.
            if let Some(&site) = self.instantiations().discarded.get(ctx.class.name.as_str()) {
                structural.push(format!(
                    "{} drops the new `{}` at once, so only the registry keeps it alive",
                    self.at(site),
                    ctx.class.name
                ));
            }
            if matches!(target, Weak::Set | Weak::KeyDictionary)
                && let Some(reason) = self.unhashable_class(ctx.class, weak, 0)
            {
                structural.push(reason);
            }
        }

        let mut edits = Vec::new();
        let (spelling, import) = self.checker.import_edit("weakref", weak);
        match self.definition_edits(container, &spelling) {
            Ok(definition) => edits.extend(definition),
            Err(reason) => structural.push(reason),
        }

        if !structural.is_empty() || !blockers.is_empty() {
            blockers.sort_by_key(|(at, _)| *at);
            let mut reasons: Vec<String> = structural;
            reasons.extend(blockers.into_iter().map(|(_, why)| why));
            reasons.dedup();
            let total = reasons.len();
            let mut note = format!("No automatic fix: {}", reasons[..total.min(2)].join("; "));
            if total > 2 {
                note.push_str(&format!(" (and {} more)", total - 2));
            }
            note.push('.');
            return Err(note);
        }

        edits.extend(stores.iter().filter_map(|s| s.rewrite.clone()));
        edits.extend(import);
        Ok(Fix::unsafe_(
            format!("Make `{shown}` a `{spelling}`, which does not keep its entries alive"),
            edits,
        ))
    }

    /// Replaces the container's value (and a container annotation) with the weak container.
    fn definition_edits(
        &self,
        container: &Container<'a>,
        spelling: &str,
    ) -> Result<Vec<Edit>, String> {
        let shown = container.display();
        let line = self.line(container.definition.start());
        if let Stmt::Assign(assign) = container.definition
            && assign.targets.len() != 1
        {
            return Err(format!(
                "`{shown}` is bound together with other names (line {line})"
            ));
        }
        let empty = match container.value {
            Expr::List(list) => list.elts.is_empty(),
            Expr::Dict(dict) => dict.items.is_empty(),
            // A defaultdict's argument is its factory, not contents (and it is reported above).
            Expr::Call(_) if matches!(container.kind, Kind::DefaultDict(_)) => true,
            Expr::Call(call) => call.arguments.is_empty(),
            _ => false,
        };
        if !empty {
            return Err(format!(
                "`{shown}` starts out with contents (line {line}) that a weak container would not keep"
            ));
        }
        let mut edits = vec![Edit::replacement(
            format!("{spelling}()"),
            container.value.range(),
        )];
        if let Some(annotation) = container.annotation {
            match self.annotation_edit(annotation, spelling, 0) {
                Some(edit) => edits.extend(edit),
                None => {
                    return Err(format!(
                        "the annotation `{}` of `{shown}` (line {line}) would no longer match",
                        short(self.checker.slice(annotation.range()))
                    ));
                }
            }
        }
        Ok(edits)
    }

    /// `list[Session]` → `weakref.WeakSet[Session]`, `ClassVar[dict]` → `ClassVar[weakref.WeakValueDictionary]`;
    /// abstract annotations (`MutableMapping[str, Session]`) stay. `None` if unknown.
    fn annotation_edit(
        &self,
        annotation: &Expr,
        spelling: &str,
        depth: usize,
    ) -> Option<Option<Edit>> {
        if depth > 2 {
            return None;
        }
        let (head, replace) = match annotation {
            Expr::Subscript(sub) => (&*sub.value, sub.value.range()),
            Expr::Name(_) | Expr::Attribute(_) => (annotation, annotation.range()),
            _ => return None,
        };
        if let Expr::Subscript(sub) = annotation
            && is_class_var(self.checker, annotation)
        {
            return self.annotation_edit(&sub.slice, spelling, depth + 1);
        }
        if is_name(head, "ClassVar") {
            return Some(None); // bare `ClassVar`
        }
        let qualified = self.checker.semantic.qualified_name(head)?;
        let concrete = [
            "builtins.list",
            "builtins.set",
            "builtins.dict",
            "typing.List",
            "typing.Set",
            "typing.Dict",
            "typing.Deque",
            "typing.OrderedDict",
            "typing.DefaultDict",
            "collections.deque",
            "collections.OrderedDict",
            "collections.defaultdict",
        ];
        let abstract_ = [
            "typing.MutableSet",
            "typing.AbstractSet",
            "typing.MutableMapping",
            "typing.Mapping",
            "typing.Iterable",
            "typing.Collection",
            "typing.Sized",
            "typing.Container",
            "collections.abc.MutableSet",
            "collections.abc.Set",
            "collections.abc.MutableMapping",
            "collections.abc.Mapping",
            "collections.abc.Iterable",
            "collections.abc.Collection",
            "collections.abc.Sized",
            "collections.abc.Container",
        ];
        if concrete.contains(&qualified.as_str()) {
            Some(Some(Edit::replacement(spelling, replace)))
        } else if abstract_.contains(&qualified.as_str()) {
            Some(None)
        } else {
            None
        }
    }

    fn is_exact_self(&self, store: &Store) -> bool {
        matches!(store.self_ref, Some((found, None)) if ptr::eq(found, store.object))
    }

    /// Why instances of `class` cannot be weak-referenced, if they cannot (or may not).
    fn not_weakrefable_class(&self, class: &'a ast::StmtClassDef, depth: usize) -> Option<String> {
        let name = class.name.as_str();
        for base in class.bases() {
            if let Some(qualified) = self.checker.semantic.qualified_name(base)
                && matches!(
                    qualified.as_str(),
                    "builtins.tuple"
                        | "builtins.int"
                        | "builtins.str"
                        | "builtins.bytes"
                        | "typing.NamedTuple"
                )
            {
                return Some(format!(
                    "`{name}` derives from `{}`, whose instances cannot be weak-referenced",
                    qualified.trim_start_matches("builtins.")
                ));
            }
        }
        let slots = class.body.iter().find_map(|stmt| match stmt {
            Stmt::Assign(assign) if assign.targets.iter().any(|t| is_name(t, "__slots__")) => {
                Some(&*assign.value)
            }
            Stmt::AnnAssign(assign) if is_name(&assign.target, "__slots__") => {
                assign.value.as_deref()
            }
            _ => None,
        })?;
        let has_weakref = crate::helpers::any_over_expr(
            slots,
            |expr| matches!(expr, Expr::StringLiteral(s) if s.value.to_str() == "__weakref__"),
        );
        if has_weakref || depth > 8 {
            return None;
        }
        // A base without `__slots__` (defined here) gives instances a `__weakref__` slot.
        let base_gives_weakref = class.bases().iter().any(|base| {
            let Expr::Name(base) = base else { return false };
            module_class(self.checker, base.id.as_str())
                .is_some_and(|base| self.not_weakrefable_class(base, depth + 1).is_none())
        });
        (!base_gives_weakref).then(|| {
            format!("`{name}` defines `__slots__` without `'__weakref__'`, so its instances cannot be weak-referenced")
        })
    }

    /// Why instances of `class` are unhashable, if they are.
    fn unhashable_class(
        &self,
        class: &'a ast::StmtClassDef,
        weak: &str,
        depth: usize,
    ) -> Option<String> {
        let name = class.name.as_str();
        let mut defines_eq = false;
        for stmt in &class.body {
            match stmt {
                Stmt::FunctionDef(def) if def.name.as_str() == "__hash__" => return None,
                Stmt::FunctionDef(def) if def.name.as_str() == "__eq__" => defines_eq = true,
                Stmt::Assign(assign) if assign.targets.iter().any(|t| is_name(t, "__hash__")) => {
                    if matches!(*assign.value, Expr::NoneLiteral(_)) {
                        return Some(format!(
                            "`{name}` sets `__hash__ = None`, so a {weak} cannot hold its instances"
                        ));
                    }
                    return None;
                }
                _ => {}
            }
        }
        if defines_eq {
            return Some(format!(
                "`{name}` defines `__eq__` without `__hash__`, so its instances are unhashable and a {weak} cannot hold them"
            ));
        }
        for decorator in &class.decorator_list {
            let callee = ruff_python_ast::helpers::map_callable(&decorator.expression);
            let Some(qualified) = self.checker.semantic.qualified_name(callee) else {
                continue;
            };
            let (eq_default, frozen_default) = match qualified.as_str() {
                "dataclasses.dataclass" => (true, false),
                "attr.s" | "attr.attrs" | "attr.define" | "attr.mutable" | "attrs.define"
                | "attrs.mutable" => (true, false),
                "attr.frozen" | "attrs.frozen" => (true, true),
                _ => continue,
            };
            let keyword = |name: &str| -> Option<bool> {
                let Expr::Call(call) = &decorator.expression else {
                    return None;
                };
                match &call.arguments.find_keyword(name)?.value {
                    Expr::BooleanLiteral(b) => Some(b.value),
                    _ => Some(true), // unknown: assume the safe answer below
                }
            };
            let eq = keyword("eq").unwrap_or(eq_default);
            let frozen = keyword("frozen").unwrap_or(frozen_default);
            let unsafe_hash = keyword("unsafe_hash")
                .or_else(|| keyword("hash"))
                .unwrap_or(false);
            if eq && !frozen && !unsafe_hash {
                return Some(format!(
                    "`{name}` is a dataclass that compares by value and is not frozen, so its instances are unhashable and a {weak} cannot hold them"
                ));
            }
        }
        if depth > 8 {
            return None;
        }
        for base in class.bases() {
            if self
                .checker
                .semantic
                .resolves_to(base, &["builtins.list", "builtins.dict", "builtins.set"])
            {
                return Some(format!(
                    "`{name}` derives from `{}`, so its instances are unhashable and a {weak} cannot hold them",
                    self.checker.slice(base.range())
                ));
            }
            if let Expr::Name(base) = base
                && let Some(base) = module_class(self.checker, base.id.as_str())
                && let Some(reason) = self.unhashable_class(base, weak, depth + 1)
            {
                return Some(reason);
            }
        }
        None
    }

    fn line(&self, offset: TextSize) -> usize {
        self.checker.line_index.line_index(offset).get()
    }

    /// "`_SESSIONS[0]` (line 40)".
    fn at(&self, site: TextRange) -> String {
        format!(
            "`{}` (line {})",
            short(self.checker.slice(site)),
            self.line(site.start())
        )
    }
}

/// Which names are called (or used as decorators) at module level and inside functions.
/// `cls(...)` in a method counts as a call of its class inside a function.
#[derive(Default)]
struct Instantiations<'a> {
    module_level: FxHashSet<&'a str>,
    in_functions: FxHashSet<&'a str>,
    /// Nesting: functions (and lambdas) entered, and the class each method belongs to.
    functions: usize,
    receivers: Vec<(&'a str, &'a str)>,
    /// `Name(...)` as a statement of its own: the new object is dropped at once (first one).
    discarded: FxHashMap<&'a str, TextRange>,
}

impl<'a> Instantiations<'a> {
    fn called(&mut self, name: &'a str) {
        let name = self
            .receivers
            .iter()
            .rev()
            .find(|(receiver, _)| *receiver == name)
            .map_or(name, |(_, class)| *class);
        if self.functions > 0 {
            self.in_functions.insert(name);
        } else {
            self.module_level.insert(name);
        }
    }
}

impl<'a> Visitor<'a> for Instantiations<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if let Stmt::Expr(ast::StmtExpr { value, .. }) = stmt
            && let Expr::Call(call) = &**value
            && let Expr::Name(name) = &*call.func
        {
            self.discarded
                .entry(name.id.as_str())
                .or_insert(stmt.range());
        }
        match stmt {
            Stmt::FunctionDef(def) => {
                // Decorators and defaults run where the function is defined.
                for decorator in &def.decorator_list {
                    if let Expr::Name(name) = &decorator.expression {
                        self.called(name.id.as_str());
                    }
                    self.visit_decorator(decorator);
                }
                visitor::walk_parameters(self, &def.parameters);
                self.functions += 1;
                self.visit_body(&def.body);
                self.functions -= 1;
            }
            Stmt::ClassDef(class) => {
                let pushed = class
                    .body
                    .iter()
                    .filter_map(|stmt| match stmt {
                        Stmt::FunctionDef(def) => first_parameter(def),
                        _ => None,
                    })
                    .filter(|receiver| *receiver == "cls")
                    .take(1)
                    .count();
                if pushed == 1 {
                    self.receivers.push(("cls", class.name.as_str()));
                }
                deep(|| visitor::walk_stmt(self, stmt));
                if pushed == 1 {
                    self.receivers.pop();
                }
            }
            _ => deep(|| visitor::walk_stmt(self, stmt)),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Call(call) => {
                if let Expr::Name(name) = &*call.func {
                    self.called(name.id.as_str());
                }
                deep(|| visitor::walk_expr(self, expr));
            }
            Expr::Lambda(_) => {
                self.functions += 1;
                deep(|| visitor::walk_expr(self, expr));
                self.functions -= 1;
            }
            _ => deep(|| visitor::walk_expr(self, expr)),
        }
    }
}

/// The call `parents[index]` (an attribute) is the callee of, if any.
fn call_of<'a>(
    parents: &[Node<'a>],
    index: usize,
    attribute: &'a Expr,
) -> Option<&'a ast::ExprCall> {
    let call_index = index.checked_sub(1)?;
    match parents.get(call_index)? {
        Node::Expr(Expr::Call(call)) if ptr::eq(&*call.func, attribute) => Some(call),
        _ => None,
    }
}

/// `parents[index].m(...)`: the method attribute and call above the node at `index`.
fn method_above<'a>(
    parents: &[Node<'a>],
    index: usize,
) -> Option<(&'a ast::ExprAttribute, &'a ast::ExprCall)> {
    let node = match parents.get(index)? {
        Node::Expr(expr) => *expr,
        Node::Stmt(_) => return None,
    };
    let attr_index = index.checked_sub(1)?;
    let Node::Expr(attr_expr @ Expr::Attribute(attr)) = parents.get(attr_index)? else {
        return None;
    };
    if !ptr::eq(&*attr.value, node) {
        return None;
    }
    let call = call_of(parents, attr_index, attr_expr)?;
    Some((attr, call))
}

/// True if the `BoolOp` at `parents[index]` is only tested for truth.
fn truth_context(parents: &[Node], index: usize) -> bool {
    let mut i = index;
    loop {
        let Some(up) = i.checked_sub(1) else {
            return false;
        };
        match parents.get(up) {
            Some(Node::Expr(Expr::BoolOp(_))) => i = up,
            Some(Node::Expr(Expr::UnaryOp(unary))) => return unary.op == UnaryOp::Not,
            Some(Node::Expr(Expr::If(if_))) => {
                return matches!(parents.get(i), Some(Node::Expr(e)) if ptr::eq(*e, &*if_.test));
            }
            Some(Node::Stmt(Stmt::If(_) | Stmt::While(_) | Stmt::Assert(_))) => return true,
            _ => return false,
        }
    }
}

fn single_positional(args: &ast::Arguments) -> Option<&Expr> {
    match (args.args.as_ref(), args.keywords.is_empty()) {
        ([value], true) if !value.is_starred_expr() => Some(value),
        _ => None,
    }
}

fn display_elements(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::List(list) => list.elts.iter().collect(),
        Expr::Tuple(tuple) => tuple.elts.iter().collect(),
        Expr::Set(set) => set.elts.iter().collect(),
        _ => Vec::new(),
    }
}

/// `self` itself, or `self` inside a tuple or list display (`(name, self)`).
fn find_self<'a>(expr: &'a Expr, name: &str) -> Option<(&'a Expr, Option<&'static str>)> {
    fn inside<'a>(expr: &'a Expr, name: &str, depth: usize) -> Option<&'a Expr> {
        if depth > 3 {
            return None;
        }
        match expr {
            Expr::Name(n) if n.id.as_str() == name => Some(expr),
            Expr::Tuple(tuple) => tuple
                .elts
                .iter()
                .find_map(|elt| inside(elt, name, depth + 1)),
            Expr::List(list) => list
                .elts
                .iter()
                .find_map(|elt| inside(elt, name, depth + 1)),
            _ => None,
        }
    }
    match expr {
        Expr::Name(n) if n.id.as_str() == name => Some((expr, None)),
        Expr::Tuple(_) => inside(expr, name, 0).map(|found| (found, Some("tuple"))),
        Expr::List(_) => inside(expr, name, 0).map(|found| (found, Some("list"))),
        _ => None,
    }
}

/// True if `name` occurs anywhere in `expr`.
fn mentions(expr: &Expr, name: &str) -> bool {
    struct Finder<'n> {
        name: &'n str,
        found: bool,
    }
    impl<'a> Visitor<'a> for Finder<'_> {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if self.found {
                return;
            }
            if is_name(expr, self.name) {
                self.found = true;
                return;
            }
            deep(|| visitor::walk_expr(self, expr));
        }
    }
    let mut finder = Finder { name, found: false };
    finder.visit_expr(expr);
    finder.found
}

/// Why a stored object (not exactly `self`) blocks a weak container.
fn not_weakrefable(
    checker: &Checker,
    object: &Expr,
    self_ref: Option<(&Expr, Option<&'static str>)>,
    role: &str,
) -> String {
    let shown = short(checker.slice(object.range()));
    if let Some((_, Some(wrapper))) = self_ref {
        return format!(
            "{role} a {wrapper} holding `self`, and a {wrapper} cannot be weak-referenced"
        );
    }
    let literal = match object {
        Expr::NumberLiteral(_) => Some("numbers"),
        Expr::StringLiteral(_) | Expr::FString(_) => Some("strings"),
        Expr::BytesLiteral(_) => Some("bytes"),
        Expr::BooleanLiteral(_) | Expr::NoneLiteral(_) => Some("`True`, `False` and `None`"),
        Expr::Tuple(_) => Some("tuples"),
        Expr::List(_)
        | Expr::Dict(_)
        | Expr::Set(_)
        | Expr::ListComp(_)
        | Expr::DictComp(_)
        | Expr::SetComp(_) => Some("lists, dicts and sets"),
        _ => None,
    };
    match literal {
        Some(kind) => format!("{role} `{shown}`, and {kind} cannot be weak-referenced"),
        None => format!("{role} `{shown}`, not `self`, which may not be weak-referenceable"),
    }
}

fn target_noun(family: Family, target: Weak) -> &'static str {
    match family {
        Family::Mapping => target.member(),
        _ => "WeakSet",
    }
}

/// Methods the weak container has with the same meaning.
fn compatible_method(family: Family, target: Weak, method: &str) -> bool {
    match family {
        Family::Sequence => matches!(method, "copy"),
        Family::Set => matches!(
            method,
            "copy"
                | "union"
                | "intersection"
                | "difference"
                | "symmetric_difference"
                | "issubset"
                | "issuperset"
                | "isdisjoint"
        ),
        Family::Mapping => {
            matches!(method, "get" | "items" | "keys" | "values" | "copy")
                || (target == Weak::ValueDictionary
                    && matches!(method, "valuerefs" | "itervaluerefs"))
        }
    }
}

/// The first line of a snippet, shortened.
fn short(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default().trim();
    let mut out: String = first.chars().take(60).collect();
    if out.len() < first.len() || text.trim_end().contains('\n') {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::short;
    use crate::{Rule, RuleSet, Settings, analyze};

    /// The pre-check finds a store whose name token follows a `Dedent` (an empty token that
    /// starts where the name does).
    #[test]
    fn store_first_on_its_line_after_a_block() {
        let source = "_registry = []\n\nclass A:\n    def __init__(self):\n        if self:\n            pass\n        _registry.append(self)\n";
        let settings =
            Settings::with_rules([Rule::InstanceRegistry].into_iter().collect::<RuleSet>());
        assert_eq!(analyze(source, &settings).len(), 1);
    }

    #[test]
    fn short_snippets() {
        assert_eq!(short("a[0]"), "a[0]");
        assert_eq!(short("f(\n  x)"), "f(…");
        assert_eq!(short(&"x".repeat(70)), format!("{}…", "x".repeat(60)));
    }
}
