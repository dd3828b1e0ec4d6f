use ruff_python_ast::token::{Token, TokenKind};
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, ExprContext, Operator, Pattern, Stmt};
use ruff_text_size::{Ranged, TextRange};
use rustc_hash::FxHashSet;

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::{Diagnostic, Edit, Fix};
use crate::helpers::{NewContainer, body_without_docstring, deep, new_container};
use crate::registry::Rule;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// A parameter whose default is a mutable container (`[]`, `{}`, `{1}`, a comprehension,
    /// `list()`, `dict()`, `set()`, `bytearray()`, `collections.defaultdict(...)`,
    /// `OrderedDict()`, `Counter()` or an unbounded `deque()`, however they are imported) when
    /// the function itself grows that default: `.append`/`.extend`/`.insert` (and `appendleft`/
    /// `extendleft` on a deque), `.add`/`.update` on a set, `.update`/`.setdefault` or
    /// `p[key] = value` on a dict, `p += ...`, `p |= ...`, any `p[key]` on a `defaultdict`, and
    /// growing a container stored in it (`p[key].append(v)`, `p.setdefault(key, []).append(v)`).
    /// Growth counts in any block of the function, and in nested functions, lambdas and classes
    /// that use the same variable (a closure grows the same default). Positional-only and
    /// keyword-only parameters, methods and `async def` all count. The deliberate memoization
    /// idiom `def fib(n, _memo={})` is reported too: it is an unbounded cache.
    ///
    /// Unlike flake8-bugbear's B006, a mutable default that is only read is not reported, and
    /// neither is one that the function
    /// - rebinds anywhere (`p = list(p)`, `p = p or []`, `for p in ...`, `if p is None: p = []`,
    ///   `except E as p`, `with ... as p`, `del p`, ...),
    /// - also shrinks (`pop`, `remove`, `discard`, `clear`, `del p[k]`, `p -= ...`): push/pop
    ///   stacks and add/discard recursion guards are bounded, and eviction suggests a bound,
    /// - grows only under a test that bounds it: `if not p:` (filled once), a test on `len(p)`,
    ///   or, for growth by key, a comparison of the key with a limit (`if n < 250: p[n] = v`),
    /// - grows only under a fixed key (`p["count"] = n`, `p.setdefault("first", x)`): that
    ///   replaces one entry, it does not add,
    /// - only grows through another name (`q = p; q.append(x)`, `self.items = p`) or hands to
    ///   another function (`helper(p)`): whether that grows it is not known here,
    /// - only assigns to by index when it is a list (`p[i] = v` does not add anything).
    ///
    /// Also not reported: a bounded `deque(maxlen=...)`; a function nested in another one that
    /// does not outlive the call that creates it (it is undecorated, and is only called or
    /// passed to calls that use it and let go, like `map(f, xs)` or `sorted(xs, key=f)`; being
    /// returned, stored, captured by a lambda or handed to `callbacks.append(f)`,
    /// `Thread(target=f)`, `x.register(f)` and the like counts as outliving it): its default
    /// dies with it; and lambdas defined inside functions, whose lifetime cannot be told.
    /// Lambdas at module or class level are reported, without a fix.
    ///
    /// ## Why it keeps memory alive
    /// A default value is evaluated once, when the `def` statement runs, and stored on the
    /// function object (`f.__defaults__` / `f.__kwdefaults__`). Every call that does not pass
    /// the argument gets that same object, so what one call adds is still there for the next:
    /// the container only ever grows, and everything in it stays alive for as long as the
    /// function exists, which for a module-level function or a method is the whole program.
    /// Besides the memory, each call sees the leftovers of earlier calls.
    ///
    /// ## Example
    /// ```python
    /// def collect(node, found=[]):
    ///     found.append(node)
    ///     for child in node.children:
    ///         collect(child, found)
    ///     return found
    ///
    ///
    /// def fib(n, _memo={}):
    ///     if n not in _memo:
    ///         _memo[n] = n if n < 2 else fib(n - 1) + fib(n - 2)
    ///     return _memo[n]
    /// ```
    ///
    /// ## Fix
    /// Default to `None` and create a new container on each call, as the first statement of
    /// the body (after the docstring, if there is one):
    ///
    /// ```python
    /// def collect(node, found=None):
    ///     if found is None:
    ///         found = []
    ///     found.append(node)
    ///     for child in node.children:
    ///         collect(child, found)
    ///     return found
    /// ```
    ///
    /// If the persistence is wanted (a memo), make the cache explicit and bounded instead, for
    /// example with `@functools.lru_cache(maxsize=1024)`, or keep it in an object whose
    /// lifetime you control.
    ///
    /// The annotation is left as it is (`found: list = None`): rewriting it to
    /// `Optional[...]` would need an import and a choice of spelling that is the user's to make,
    /// so type checkers that reject implicit `Optional` (mypy's default) will ask for that edit.
    /// Comments written inside a multi-line default move into the body with it.
    ///
    /// ## Fix safety
    /// Unsafe: the value no longer persists across calls. That is the point when the sharing
    /// was a bug, but it changes behaviour when it was intended (a memo becomes per-call and
    /// stops caching anything, which can make a recursive function like `fib` exponentially
    /// slow; a "seen" set forgets). Callers that passed `None` explicitly now
    /// get a new container instead of `None`, and the default expression is now evaluated on
    /// every call, with the names it uses looked up at call time.
    ///
    /// No fix is offered when the body is written on the `def` line (there is no line to insert
    /// the check on), for lambdas (no statement can go in a lambda), or when the default uses a
    /// name that means something else inside the body (a parameter, a local variable, a class
    /// attribute or a variable of an enclosing function).
    pub struct MutableDefaultCache {
        code: "RL104",
        name: "mutable-default-cache",
        summary: "a mutable default argument that the function grows keeps everything added to it alive",
        fix: Sometimes,
    }
}

/// Words one of which a file needs for this rule to run on it (see `triggers`).
pub(crate) const TRIGGERS: Triggers = Triggers::Always;

pub(crate) fn check(checker: &mut Checker) {
    // Most files have no mutable default at all: find out with a walk over statements only
    // (lambdas, the only other place for defaults, need the full walk; a lambda's tokens tell
    // first whether it has a default at all).
    let lambda_with_default =
        checker.source.contains("lambda") && any_lambda_with_default(checker.tokens);
    if !lambda_with_default && !any_def_with_mutable_default(checker) {
        return;
    }
    let mut finder = Finder {
        checker,
        scopes: Vec::new(),
        lambda_depth: 0,
        functions: 0,
        found: Vec::new(),
    };
    finder.visit_body(checker.suite);
    let found = finder.found;
    for diagnostic in found {
        checker.report(diagnostic);
    }
}

/// Whether some `lambda` may have a parameter with a default: one with a default has an `=`
/// between `lambda` and its `:`, outside brackets (a default's own brackets, and the `:` of a
/// dict display or slice in it, are nested; a lambda nested unparenthesised in a default comes
/// after that default's `=`). A lambda whose `:` is not found (the parser repaired it) counts
/// as having one.
fn any_lambda_with_default(tokens: &[Token]) -> bool {
    tokens.iter().enumerate().any(|(index, token)| {
        if token.kind() != TokenKind::Lambda {
            return false;
        }
        let mut depth = 0usize;
        for token in &tokens[index + 1..] {
            match token.kind() {
                TokenKind::Lpar | TokenKind::Lsqb | TokenKind::Lbrace => depth += 1,
                TokenKind::Rpar | TokenKind::Rsqb | TokenKind::Rbrace => {
                    // A closing bracket of the enclosing expression: the lambda ended early.
                    if depth == 0 {
                        return true;
                    }
                    depth -= 1;
                }
                TokenKind::Equal if depth == 0 => return true,
                TokenKind::Colon if depth == 0 => return false,
                TokenKind::Newline => return true,
                _ => {}
            }
        }
        true
    })
}

fn any_def_with_mutable_default(checker: &Checker) -> bool {
    // Every `def` of the file, from the index `Semantic` built (no walk).
    checker.semantic.functions().iter().any(|def| {
        def.parameters
            .iter_non_variadic_params()
            .filter_map(|p| p.default.as_deref())
            .any(|default| mutable_kind(checker, default).is_some())
    })
}

/// What kind of container a default creates; it decides which operations add to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    ByteArray,
    Deque,
    Set,
    /// `dict`, `OrderedDict`.
    Dict,
    DefaultDict,
    Counter,
}

impl Kind {
    fn is_mapping(self) -> bool {
        matches!(self, Kind::Dict | Kind::DefaultDict | Kind::Counter)
    }

    fn what_stays_alive(self) -> &'static str {
        match self {
            Kind::List | Kind::Deque | Kind::Set => "every item added to it",
            Kind::ByteArray => "everything appended to it",
            Kind::Dict | Kind::DefaultDict | Kind::Counter => "every key and value stored in it",
        }
    }
}

/// The kind of mutable container `expr` creates each time it is evaluated, if any.
fn mutable_kind(checker: &Checker, expr: &Expr) -> Option<Kind> {
    Some(match new_container(checker, expr)? {
        NewContainer::List => Kind::List,
        NewContainer::ByteArray => Kind::ByteArray,
        NewContainer::Set => Kind::Set,
        NewContainer::Dict | NewContainer::OrderedDict => Kind::Dict,
        NewContainer::DefaultDict { .. } => Kind::DefaultDict,
        NewContainer::Counter => Kind::Counter,
        NewContainer::Deque => Kind::Deque,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Grow,
    Shrink,
    None,
}

/// What calling `p.<method>(...)` does to the size of a container of `kind`.
fn method_effect(kind: Kind, method: &str) -> Effect {
    let grow: &[&str] = match kind {
        Kind::List | Kind::ByteArray => &["append", "extend", "insert"],
        Kind::Deque => &["append", "appendleft", "extend", "extendleft", "insert"],
        Kind::Set => &["add", "update"],
        Kind::Dict | Kind::DefaultDict | Kind::Counter => &["update", "setdefault"],
    };
    let shrink: &[&str] = match kind {
        Kind::List | Kind::ByteArray => &["pop", "remove", "clear"],
        Kind::Deque => &["pop", "popleft", "remove", "clear"],
        Kind::Set => &[
            "pop",
            "remove",
            "discard",
            "clear",
            "difference_update",
            "intersection_update",
            "symmetric_difference_update",
        ],
        Kind::Dict | Kind::DefaultDict | Kind::Counter => &["pop", "popitem", "clear"],
    };
    if grow.contains(&method) {
        Effect::Grow
    } else if shrink.contains(&method) {
        Effect::Shrink
    } else {
        Effect::None
    }
}

/// Where `name` refers to inside a nested scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reference {
    /// A local of the nested scope (a parameter or assigned there).
    Local,
    /// Declared `global`.
    Global,
    /// Declared `nonlocal`: the enclosing variable itself.
    Nonlocal,
    /// Not bound there: the enclosing variable.
    Free,
}

/// The names a scope binds, not counting those bound only in scopes nested in it.
#[derive(Default)]
struct Bindings<'a> {
    bound: FxHashSet<&'a str>,
    globals: FxHashSet<&'a str>,
    nonlocals: FxHashSet<&'a str>,
}

impl<'a> Bindings<'a> {
    fn of(parameters: Option<&'a ast::Parameters>, body: &'a [Stmt]) -> Self {
        let mut bindings = Bindings::default();
        if let Some(parameters) = parameters {
            for parameter in parameters.iter() {
                bindings.bound.insert(parameter.name().as_str());
            }
        }
        bindings.visit_body(body);
        bindings
    }

    fn reference(&self, name: &str) -> Reference {
        if self.nonlocals.contains(name) {
            Reference::Nonlocal
        } else if self.globals.contains(name) {
            Reference::Global
        } else if self.bound.contains(name) {
            Reference::Local
        } else {
            Reference::Free
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.bound.contains(name) || self.globals.contains(name) || self.nonlocals.contains(name)
    }
}

impl<'a> Visitor<'a> for Bindings<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(def) => {
                self.bound.insert(def.name.as_str());
                for decorator in &def.decorator_list {
                    self.visit_decorator(decorator);
                }
                self.visit_parameters(&def.parameters);
                if let Some(returns) = &def.returns {
                    self.visit_annotation(returns);
                }
            }
            Stmt::ClassDef(class) => {
                self.bound.insert(class.name.as_str());
                for decorator in &class.decorator_list {
                    self.visit_decorator(decorator);
                }
                if let Some(arguments) = &class.arguments {
                    self.visit_arguments(arguments);
                }
            }
            Stmt::Import(import) => {
                for alias in &import.names {
                    let bound = match &alias.asname {
                        Some(asname) => asname.as_str(),
                        None => alias.name.as_str().split('.').next().unwrap_or_default(),
                    };
                    self.bound.insert(bound);
                }
            }
            Stmt::ImportFrom(import) => {
                for alias in &import.names {
                    self.bound
                        .insert(alias.asname.as_ref().unwrap_or(&alias.name).as_str());
                }
            }
            Stmt::Global(global) => {
                self.globals
                    .extend(global.names.iter().map(ast::Identifier::as_str));
            }
            Stmt::Nonlocal(nonlocal) => {
                self.nonlocals
                    .extend(nonlocal.names.iter().map(ast::Identifier::as_str));
            }
            _ => deep(|| visitor::walk_stmt(self, stmt)),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(name) => {
                if name.ctx != ExprContext::Load {
                    self.bound.insert(name.id.as_str());
                }
            }
            // Only the defaults belong to this scope.
            Expr::Lambda(lambda) => {
                if let Some(parameters) = &lambda.parameters {
                    self.visit_parameters(parameters);
                }
            }
            _ => deep(|| visitor::walk_expr(self, expr)),
        }
    }

    fn visit_except_handler(&mut self, handler: &'a ast::ExceptHandler) {
        let ast::ExceptHandler::ExceptHandler(inner) = handler;
        if let Some(name) = &inner.name {
            self.bound.insert(name.as_str());
        }
        visitor::walk_except_handler(self, handler);
    }

    fn visit_pattern(&mut self, pattern: &'a Pattern) {
        if let Some(name) = pattern_binding(pattern) {
            self.bound.insert(name);
        }
        deep(|| visitor::walk_pattern(self, pattern));
    }
}

/// The name a match pattern captures at its top level (`case x`, `case [*rest]`, `case {**kw}`).
fn pattern_binding(pattern: &Pattern) -> Option<&str> {
    match pattern {
        Pattern::MatchAs(p) => p.name.as_ref().map(ast::Identifier::as_str),
        Pattern::MatchStar(p) => p.name.as_ref().map(ast::Identifier::as_str),
        Pattern::MatchMapping(p) => p.rest.as_ref().map(ast::Identifier::as_str),
        _ => None,
    }
}

/// Follows one parameter through a function body: does the body grow it, shrink it, or rebind it?
struct Tracker<'a> {
    name: &'a str,
    kind: Kind,
    /// The first place that grows the default with no bound in sight.
    growth: Option<TextRange>,
    /// Some unbounded growth is by key (`p[k] = v`, `p.setdefault(k, ...)`, `p[k]` on a defaultdict).
    keyed: bool,
    shrinks: bool,
    rebound: bool,
    /// Tests of the `if`/`while` blocks being walked (their bodies run only when true).
    guards: Vec<&'a Expr>,
}

/// Methods that grow whatever container they are called on (used for containers stored in the
/// default: `p[k].append(v)`, `p.setdefault(k, []).append(v)`).
const NESTED_GROWTH: &[&str] = &[
    "append",
    "extend",
    "insert",
    "add",
    "appendleft",
    "extendleft",
];

impl<'a> Tracker<'a> {
    fn new(name: &'a str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            growth: None,
            keyed: false,
            shrinks: false,
            rebound: false,
            guards: Vec::new(),
        }
    }

    fn is_param(&self, expr: &Expr) -> bool {
        matches!(expr, Expr::Name(name) if name.id.as_str() == self.name)
    }

    /// Records growth at `range`, by `key` if it adds an entry under a key, unless an
    /// enclosing test bounds it.
    fn grow(&mut self, range: TextRange, key: Option<&Expr>) {
        if self
            .guards
            .iter()
            .any(|guard| bounds(guard, self.name, key))
        {
            return;
        }
        if self.growth.is_none() {
            self.growth = Some(range);
        }
        self.keyed |= key.is_some();
    }

    fn leaks(&self) -> bool {
        self.growth.is_some() && !self.shrinks && !self.rebound
    }

    /// A nested scope shares the variable unless it binds the name itself. Its code runs
    /// later, so the tests around its definition do not bound it.
    fn enter_scope(&mut self, parameters: Option<&'a ast::Parameters>, body: &'a [Stmt]) {
        match Bindings::of(parameters, body).reference(self.name) {
            Reference::Free | Reference::Nonlocal => {
                let guards = std::mem::take(&mut self.guards);
                self.visit_body(body);
                self.guards = guards;
            }
            Reference::Local | Reference::Global => {}
        }
    }

    fn guarded_body(&mut self, test: &'a Expr, body: &'a [Stmt]) {
        self.guards.push(test);
        self.visit_body(body);
        self.guards.pop();
    }

    fn augmented(&mut self, aug: &'a ast::StmtAugAssign) {
        match &*aug.target {
            Expr::Name(name) if name.id.as_str() == self.name => {
                let effect = match (aug.op, self.kind) {
                    (Operator::Add, Kind::List | Kind::ByteArray | Kind::Deque | Kind::Counter) => {
                        Some(Effect::Grow)
                    }
                    (
                        Operator::BitOr,
                        Kind::Set | Kind::Dict | Kind::DefaultDict | Kind::Counter,
                    ) => Some(Effect::Grow),
                    (Operator::Sub | Operator::BitAnd, Kind::Set | Kind::Counter)
                    | (Operator::BitXor, Kind::Set)
                    | (Operator::Mult, Kind::List | Kind::ByteArray) => Some(Effect::Shrink),
                    // Anything else builds a new object (or fails): a rebinding.
                    _ => None,
                };
                match effect {
                    Some(Effect::Grow) => self.grow(aug.range(), None),
                    Some(_) => self.shrinks = true,
                    None => self.rebound = true,
                }
            }
            Expr::Subscript(sub) if self.is_param(&sub.value) => {
                // `p[k] += 1` inserts `k` only where a missing key reads as a value.
                if matches!(self.kind, Kind::DefaultDict | Kind::Counter)
                    && !is_constant(&sub.slice)
                {
                    self.grow(aug.range(), Some(&sub.slice));
                }
                self.visit_expr(&sub.slice);
            }
            target => self.visit_expr(target),
        }
        self.visit_expr(&aug.value);
    }

    fn call(&mut self, call: &'a ast::ExprCall) {
        let Expr::Attribute(attr) = &*call.func else {
            return;
        };
        let method = attr.attr.as_str();
        if self.is_param(&attr.value) {
            match method_effect(self.kind, method) {
                Effect::Grow if method == "setdefault" => {
                    // `p.setdefault("k", v)` with a fixed key adds one entry at most.
                    match call.arguments.find_positional(0) {
                        Some(key) if is_constant(key) => {}
                        key => self.grow(call.range(), key.or(Some(&*call.func))),
                    }
                }
                Effect::Grow => self.grow(call.range(), None),
                Effect::Shrink => self.shrinks = true,
                Effect::None => {}
            }
            return;
        }
        if !NESTED_GROWTH.contains(&method) {
            return;
        }
        // A container stored in the default grows: `p[k].append(v)`, `p.setdefault(k, []).add(v)`.
        let stored_in_default = match &*attr.value {
            Expr::Subscript(sub) => self.is_param(&sub.value) && self.kind != Kind::ByteArray,
            Expr::Call(inner) => matches!(
                &*inner.func,
                Expr::Attribute(get) if get.attr.as_str() == "setdefault" && self.is_param(&get.value) && self.kind.is_mapping()
            ),
            _ => false,
        };
        if stored_in_default {
            self.grow(call.range(), None);
        }
    }
}

/// True if code guarded by `test` adds to the default only a bounded number of times: the
/// test checks `len(p)` or that `p` is empty, or (for growth by `key`) compares the key with
/// a limit (`if n < 250: cache[n] = v`).
fn bounds(test: &Expr, name: &str, key: Option<&Expr>) -> bool {
    let key_names: Vec<&str> = key.map(names_in).unwrap_or_default();
    let is_param = |expr: &Expr| matches!(expr, Expr::Name(n) if n.id.as_str() == name);
    let is_len = |expr: &Expr| {
        crate::helpers::any_over_expr(expr, |e: &Expr| {
            matches!(e, Expr::Call(call)
                if matches!(&*call.func, Expr::Name(f) if f.id.as_str() == "len")
                    && call.arguments.args.first().is_some_and(is_param))
        })
    };
    conjuncts(test).into_iter().any(|part| match part {
        Expr::UnaryOp(op) => {
            op.op == ast::UnaryOp::Not && (is_param(&op.operand) || is_len(&op.operand))
        }
        Expr::Compare(compare) => {
            let operands = || std::iter::once(&*compare.left).chain(compare.comparators.iter());
            if operands().any(is_len) {
                return true;
            }
            // The key must be the smaller side: `n < 250`, `250 > n`, `0 <= n < 250`
            // (`n > 0` bounds nothing).
            let mentions_key = |operand: &Expr| {
                names_in(operand)
                    .into_iter()
                    .any(|n| n != name && key_names.contains(&n))
            };
            let lefts = operands();
            let rights = compare.comparators.iter();
            lefts
                .zip(rights)
                .zip(compare.ops.iter())
                .any(|((left, right), op)| match op {
                    ast::CmpOp::Lt | ast::CmpOp::LtE => mentions_key(left),
                    ast::CmpOp::Gt | ast::CmpOp::GtE => mentions_key(right),
                    _ => false,
                })
        }
        _ => false,
    })
}

/// The parts of `a and b and c` (or the test itself).
fn conjuncts(test: &Expr) -> Vec<&Expr> {
    match test {
        Expr::BoolOp(op) if op.op == ast::BoolOp::And => {
            op.values.iter().flat_map(conjuncts).collect()
        }
        _ => vec![test],
    }
}

/// A literal key (`"name"`, `0`, `("a", 1)`): storing under it replaces, it does not add.
fn is_constant(expr: &Expr) -> bool {
    match expr {
        Expr::StringLiteral(_)
        | Expr::BytesLiteral(_)
        | Expr::NumberLiteral(_)
        | Expr::BooleanLiteral(_)
        | Expr::NoneLiteral(_)
        | Expr::EllipsisLiteral(_) => true,
        Expr::Tuple(tuple) => tuple.iter().all(is_constant),
        _ => false,
    }
}

impl<'a> Visitor<'a> for Tracker<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(def) => {
                if def.name.as_str() == self.name {
                    self.rebound = true;
                }
                for decorator in &def.decorator_list {
                    self.visit_decorator(decorator);
                }
                self.visit_parameters(&def.parameters);
                if let Some(returns) = &def.returns {
                    self.visit_annotation(returns);
                }
                self.enter_scope(Some(&def.parameters), &def.body);
            }
            Stmt::ClassDef(class) => {
                if class.name.as_str() == self.name {
                    self.rebound = true;
                }
                for decorator in &class.decorator_list {
                    self.visit_decorator(decorator);
                }
                if let Some(arguments) = &class.arguments {
                    self.visit_arguments(arguments);
                }
                self.enter_scope(None, &class.body);
            }
            Stmt::If(if_) => {
                self.visit_expr(&if_.test);
                deep(|| self.guarded_body(&if_.test, &if_.body));
                for clause in &if_.elif_else_clauses {
                    match &clause.test {
                        Some(test) => {
                            self.visit_expr(test);
                            deep(|| self.guarded_body(test, &clause.body));
                        }
                        None => deep(|| self.visit_body(&clause.body)),
                    }
                }
            }
            Stmt::While(while_) => {
                self.visit_expr(&while_.test);
                deep(|| self.guarded_body(&while_.test, &while_.body));
                deep(|| self.visit_body(&while_.orelse));
            }
            Stmt::AugAssign(aug) => self.augmented(aug),
            Stmt::Import(_) | Stmt::ImportFrom(_) | Stmt::Global(_) => {
                let mut bindings = Bindings::default();
                bindings.visit_stmt(stmt);
                if bindings.contains(self.name) {
                    self.rebound = true;
                }
            }
            _ => deep(|| visitor::walk_stmt(self, stmt)),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(name) => {
                if name.id.as_str() == self.name && name.ctx != ExprContext::Load {
                    self.rebound = true;
                }
            }
            Expr::Call(call) => {
                self.call(call);
                deep(|| visitor::walk_expr(self, expr));
            }
            Expr::Subscript(sub) if self.is_param(&sub.value) => {
                let fixed_key = is_constant(&sub.slice);
                match sub.ctx {
                    ExprContext::Store if self.kind.is_mapping() && !fixed_key => {
                        self.grow(sub.range(), Some(&sub.slice));
                    }
                    // A missing key read from a defaultdict is inserted.
                    ExprContext::Load if self.kind == Kind::DefaultDict && !fixed_key => {
                        self.grow(sub.range(), Some(&sub.slice));
                    }
                    ExprContext::Del => self.shrinks = true,
                    _ => {}
                }
                self.visit_expr(&sub.slice);
            }
            Expr::Lambda(lambda) => {
                if let Some(parameters) = &lambda.parameters {
                    self.visit_parameters(parameters);
                    if parameters.iter().any(|p| p.name().as_str() == self.name) {
                        return;
                    }
                }
                let guards = std::mem::take(&mut self.guards);
                self.visit_expr(&lambda.body);
                self.guards = guards;
            }
            _ => deep(|| visitor::walk_expr(self, expr)),
        }
    }

    fn visit_except_handler(&mut self, handler: &'a ast::ExceptHandler) {
        let ast::ExceptHandler::ExceptHandler(inner) = handler;
        if inner
            .name
            .as_ref()
            .is_some_and(|name| name.as_str() == self.name)
        {
            self.rebound = true;
        }
        visitor::walk_except_handler(self, handler);
    }

    fn visit_pattern(&mut self, pattern: &'a Pattern) {
        if pattern_binding(pattern) == Some(self.name) {
            self.rebound = true;
        }
        deep(|| visitor::walk_pattern(self, pattern));
    }
}

/// Calls that keep a function they are given: registries, callbacks, threads, partials.
fn keeps_argument(callee: &Expr) -> bool {
    let last = match callee {
        Expr::Attribute(attr) => attr.attr.as_str(),
        Expr::Name(name) => name.id.as_str(),
        _ => return true,
    };
    matches!(
        last,
        "append"
            | "appendleft"
            | "add"
            | "insert"
            | "extend"
            | "setdefault"
            | "register"
            | "connect"
            | "subscribe"
            | "signal"
            | "finalize"
            | "Thread"
            | "Timer"
            | "Process"
            | "partial"
            | "call_soon"
            | "call_soon_threadsafe"
            | "call_later"
            | "call_at"
            | "submit"
            | "create_task"
            | "ensure_future"
            | "run_in_executor"
            | "bind"
            | "after"
            | "trace_add"
            | "MethodType"
            | "property"
            | "setattr"
    ) || ["add_", "register", "on_", "set_", "connect"]
        .iter()
        .any(|prefix| last.starts_with(prefix))
}

/// True if the nested function `def` can outlive the call of `outer` that creates it: it is
/// decorated (the decorator may register it), returned, stored, captured by a lambda, or
/// handed to a call that keeps it (`callbacks.append(f)`, `Thread(target=f)`). Calling it,
/// or passing it to a call that only uses it (`map(f, xs)`, `sorted(xs, key=f)`), does not.
fn escapes(def: &ast::StmtFunctionDef, outer: &ast::StmtFunctionDef) -> bool {
    struct Uses<'n> {
        name: &'n str,
        in_lambda: usize,
        escapes: bool,
    }
    impl Uses<'_> {
        fn is_def(&self, expr: &Expr) -> bool {
            matches!(expr, Expr::Name(n) if n.id.as_str() == self.name)
        }
    }
    impl<'a> Visitor<'a> for Uses<'_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::Global(ast::StmtGlobal { names, .. })
                | Stmt::Nonlocal(ast::StmtNonlocal { names, .. })
                    if names.iter().any(|n| n.as_str() == self.name) =>
                {
                    self.escapes = true;
                }
                _ => deep(|| visitor::walk_stmt(self, stmt)),
            }
        }
        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::Call(call) if self.in_lambda == 0 => {
                    if !self.is_def(&call.func) {
                        self.visit_expr(&call.func);
                    }
                    let keeps = keeps_argument(&call.func);
                    let args = call.arguments.args.iter();
                    let values = args.chain(call.arguments.keywords.iter().map(|k| &k.value));
                    for value in values {
                        if self.is_def(value) {
                            self.escapes |= keeps;
                        } else {
                            self.visit_expr(value);
                        }
                    }
                }
                Expr::Lambda(_) => {
                    self.in_lambda += 1;
                    deep(|| visitor::walk_expr(self, expr));
                    self.in_lambda -= 1;
                }
                Expr::Name(name)
                    if name.id.as_str() == self.name && name.ctx == ExprContext::Load =>
                {
                    self.escapes = true;
                }
                _ => deep(|| visitor::walk_expr(self, expr)),
            }
        }
    }
    if !def.decorator_list.is_empty() {
        return true;
    }
    let mut uses = Uses {
        name: def.name.as_str(),
        in_lambda: 0,
        escapes: false,
    };
    uses.visit_body(&outer.body);
    uses.escapes
}

#[derive(Clone, Copy)]
enum Scope<'a> {
    Class(&'a ast::StmtClassDef),
    Function(&'a ast::StmtFunctionDef),
}

/// Walks the module, keeping track of the scopes each function is defined in.
struct Finder<'c, 'a> {
    checker: &'c Checker<'a>,
    scopes: Vec<Scope<'a>>,
    /// Lambdas being walked (a lambda in a lambda is created per call).
    lambda_depth: usize,
    /// `Scope::Function`s in `scopes`.
    functions: usize,
    found: Vec<Diagnostic>,
}

/// A parameter whose default the function grows.
struct Finding<'a> {
    parameter: &'a ast::ParameterWithDefault,
    default: &'a Expr,
    kind: Kind,
    growth: TextRange,
    keyed: bool,
}

fn findings<'a>(
    checker: &Checker,
    parameters: &'a ast::Parameters,
    track: &mut dyn FnMut(&mut Tracker<'a>),
) -> Vec<Finding<'a>> {
    let mut out = Vec::new();
    for parameter in parameters.iter_non_variadic_params() {
        let Some(default) = parameter.default() else {
            continue;
        };
        let Some(kind) = mutable_kind(checker, default) else {
            continue;
        };
        let mut tracker = Tracker::new(parameter.parameter.name.as_str(), kind);
        track(&mut tracker);
        if tracker.leaks() {
            out.push(Finding {
                parameter,
                default,
                kind,
                growth: tracker.growth.unwrap_or_default(),
                keyed: tracker.keyed,
            });
        }
    }
    out
}

impl<'a> Finder<'_, 'a> {
    fn in_function(&self) -> bool {
        self.lambda_depth > 0 || self.functions > 0
    }

    fn check_function(&mut self, def: &'a ast::StmtFunctionDef) {
        let found = findings(self.checker, &def.parameters, &mut |tracker| {
            tracker.visit_body(&def.body)
        });
        if found.is_empty() {
            return;
        }
        if let Some(Scope::Function(outer)) = self.scopes.last()
            && !escapes(def, outer)
        {
            return;
        }
        let display = match self.scopes.last() {
            Some(Scope::Class(class)) => format!("`{}.{}()`", class.name, def.name),
            _ => format!("`{}()`", def.name),
        };
        for finding in &found {
            let diagnostic = self.diagnostic(finding, &display);
            let diagnostic = match self.fix(def, finding) {
                Ok(fix) => diagnostic.with_fix(fix),
                Err(reason) => diagnostic.with_note(reason),
            };
            self.found.push(diagnostic);
        }
    }

    fn check_lambda(&mut self, lambda: &'a ast::ExprLambda) {
        let Some(parameters) = lambda.parameters.as_deref() else {
            return;
        };
        let found = findings(self.checker, parameters, &mut |tracker| {
            tracker.visit_expr(&lambda.body)
        });
        for finding in &found {
            let name = finding.parameter.parameter.name.as_str();
            let diagnostic = self.diagnostic(finding, "a lambda").with_note(format!(
                "No automatic fix: a lambda's body is a single expression, with no room for `if {name} is None: ...`; rewrite it as a `def`."
            ));
            self.found.push(diagnostic);
        }
    }

    fn diagnostic(&self, finding: &Finding, function: &str) -> Diagnostic {
        let name = finding.parameter.parameter.name.as_str();
        let text = self.checker.slice(finding.default);
        let shown = if text.len() <= 40 && !text.contains(['\n', '\r']) {
            format!("`{name}={text}`")
        } else {
            format!("`{name}`")
        };
        let message = if finding.kind.is_mapping() && finding.keyed {
            format!(
                "mutable default {shown} of {function} is an unbounded cache: it is created once and grows across calls, so {} stays alive for as long as the function exists",
                finding.kind.what_stays_alive()
            )
        } else {
            format!(
                "mutable default {shown} of {function} is created once and grows across calls: {} stays alive for as long as the function exists",
                finding.kind.what_stays_alive()
            )
        };
        Diagnostic::new(Rule::MutableDefaultCache, finding.default.range(), message)
            .with_related(finding.growth, format!("`{name}` grows here"))
    }

    /// Default to `None` and create the container at the top of the body.
    fn fix(&self, def: &'a ast::StmtFunctionDef, finding: &Finding) -> Result<Fix, String> {
        let checker = self.checker;
        let name = finding.parameter.parameter.name.as_str();

        // The default moves from the enclosing scope into the body: every name it uses must
        // mean the same thing there.
        let own = Bindings::of(Some(&def.parameters), &def.body);
        let mut enclosing: Vec<Bindings> = Vec::new();
        for (depth, scope) in self.scopes.iter().enumerate() {
            match scope {
                // Only the innermost class's names are visible to the default, and not to the body.
                Scope::Class(class) if depth + 1 == self.scopes.len() => {
                    enclosing.push(Bindings::of(None, &class.body));
                }
                Scope::Class(_) => {}
                Scope::Function(outer) => {
                    enclosing.push(Bindings::of(Some(&outer.parameters), &outer.body))
                }
            }
        }
        if let Some(clash) = names_in(finding.default)
            .into_iter()
            .find(|n| own.contains(n) || enclosing.iter().any(|b| b.contains(n)))
        {
            return Err(format!(
                "No automatic fix: the default uses `{clash}`, which would mean something else (or have another value) inside the body."
            ));
        }

        let body = body_without_docstring(&def.body);
        let Some(first) = body.first() else {
            return Err(
                "No automatic fix: the function has no statement to insert the check before."
                    .to_owned(),
            );
        };
        if !checker.starts_line(first) {
            return Err(
                "No automatic fix: the body is written on the `def` line (or after a `;`), so there is no line to insert the check on."
                    .to_owned(),
            );
        }
        let indentation = checker.indentation(first.start());
        let def_indentation = checker.indentation(def.start());
        let unit = match indentation.strip_prefix(def_indentation) {
            Some(unit) if !unit.is_empty() => unit,
            _ => checker.indent_unit(),
        };
        let text = checker.slice(finding.default);
        let eol = checker.line_ending();
        let check =
            format!("{indentation}if {name} is None:{eol}{indentation}{unit}{name} = {text}{eol}");
        // Right after the docstring, or after the `def` line: comments and blank lines that
        // follow stay with the statement they introduce.
        let insert_at = match def.body.first() {
            Some(docstring) if body.len() < def.body.len() => {
                checker.full_line_end(docstring.end())
            }
            _ => {
                let tokens: &[Token] = checker.tokens;
                let end = tokens.partition_point(|token| token.end() <= first.start());
                let colon = tokens[..end]
                    .iter()
                    .rev()
                    .find(|token| token.kind() == TokenKind::Colon);
                match colon {
                    Some(colon) => checker.full_line_end(colon.end()),
                    None => checker.line_start(first.start()),
                }
            }
        };
        let fresh = if text.len() <= 40 && !text.contains(['\n', '\r']) {
            format!("`{text}`")
        } else {
            "container".to_owned()
        };
        Ok(Fix::unsafe_(
            format!("Default `{name}` to `None` and create a new {fresh} on each call"),
            vec![
                Edit::replacement("None", finding.default.range()),
                Edit::insertion(check, insert_at),
            ],
        ))
    }
}

/// The names an expression reads.
fn names_in(expr: &Expr) -> Vec<&str> {
    struct Names<'a>(Vec<&'a str>);
    impl<'a> Visitor<'a> for Names<'a> {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Name(name) = expr {
                self.0.push(name.id.as_str());
            }
            deep(|| visitor::walk_expr(self, expr));
        }
    }
    let mut names = Names(Vec::new());
    names.visit_expr(expr);
    names.0
}

impl<'a> Visitor<'a> for Finder<'_, 'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(def) => {
                if self.lambda_depth == 0 {
                    self.check_function(def);
                }
                for decorator in &def.decorator_list {
                    self.visit_decorator(decorator);
                }
                self.visit_parameters(&def.parameters);
                self.scopes.push(Scope::Function(def));
                self.functions += 1;
                deep(|| self.visit_body(&def.body));
                self.functions -= 1;
                self.scopes.pop();
            }
            Stmt::ClassDef(class) => {
                for decorator in &class.decorator_list {
                    self.visit_decorator(decorator);
                }
                if let Some(arguments) = &class.arguments {
                    self.visit_arguments(arguments);
                }
                self.scopes.push(Scope::Class(class));
                deep(|| self.visit_body(&class.body));
                self.scopes.pop();
            }
            _ => deep(|| visitor::walk_stmt(self, stmt)),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        // Expressions matter only for the lambdas they hold, and only lambdas outside functions
        // are checked (statements, and so nested `def`s, are never inside an expression).
        if self.in_function() {
            return;
        }
        match expr {
            Expr::Lambda(lambda) => {
                if !self.in_function() {
                    self.check_lambda(lambda);
                }
                if let Some(parameters) = &lambda.parameters {
                    self.visit_parameters(parameters);
                }
                self.lambda_depth += 1;
                deep(|| self.visit_expr(&lambda.body));
                self.lambda_depth -= 1;
            }
            _ => deep(|| visitor::walk_expr(self, expr)),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::registry::Rule;
    use crate::settings::Settings;

    fn fixed(source: &str) -> Vec<String> {
        let settings = Settings::with_rules([Rule::MutableDefaultCache].into_iter().collect());
        crate::analyze(source, &settings)
            .iter()
            .map(|d| {
                d.fix
                    .as_ref()
                    .map_or_else(|| "no fix".to_owned(), |fix| fix.apply(source))
            })
            .collect()
    }

    #[test]
    fn keeps_crlf_line_endings() {
        let source = "def f(x, acc=[]):\r\n    \"\"\"Doc.\"\"\"\r\n    acc.append(x)\r\n";
        assert_eq!(
            fixed(source),
            [
                "def f(x, acc=None):\r\n    \"\"\"Doc.\"\"\"\r\n    if acc is None:\r\n        acc = []\r\n    acc.append(x)\r\n"
            ]
        );
    }

    #[test]
    fn uses_the_function_own_indentation() {
        let source = "class A:\n\tdef f(self, x, acc={}):\n\t\tacc[x] = 1\n";
        assert_eq!(
            fixed(source),
            [
                "class A:\n\tdef f(self, x, acc=None):\n\t\tif acc is None:\n\t\t\tacc = {}\n\t\tacc[x] = 1\n"
            ]
        );
    }

    #[test]
    fn only_grown_defaults() {
        let settings = Settings::with_rules([Rule::MutableDefaultCache].into_iter().collect());
        let quiet = [
            "def f(x, acc=[]):\n    return acc\n",
            "def f(x, acc=[]):\n    acc[0] = x\n",
            "def f(x, acc={}):\n    acc[x] += 1\n",
            "def f(x, acc=[]):\n    acc.append(x)\n    acc.pop()\n",
            "def f(x, acc=[]):\n    acc *= 2\n",
            "def f(x, acc=()):\n    acc += (x,)\n",
            "import collections\ndef f(x, acc=collections.deque(maxlen=3)):\n    acc.append(x)\n",
        ];
        for source in quiet {
            assert!(crate::analyze(source, &settings).is_empty(), "{source}");
        }
    }
}
