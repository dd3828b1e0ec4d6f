use std::cell::OnceCell;

use ruff_python_ast::token::{Token, TokenKind};
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::{Diagnostic, Edit, Fix};
use crate::helpers::{
    NewContainer, deep, name_after_dot, new_container, parens_before, skip_balanced, skip_closing,
};
use crate::registry::Rule;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// A module-level dict, list or set (or `defaultdict`, `OrderedDict`, `Counter`, `deque`
    /// without `maxlen`) that functions only ever grow — `_cache[key] = value`, `.append`,
    /// `.add`, `.setdefault`, `.update`, `.extend`, `.insert` — with runtime data, while nothing
    /// in the module (or, in a workspace, in any module) ever shrinks it: no `pop`, `popitem`,
    /// `remove`, `discard`, `clear`, `del`, reassignment, and no bound (`if len(_cache) > N:`).
    ///
    /// Deliberately not reported, because such containers stay small:
    /// - containers filled only at import time, at module level or in a function that is only
    ///   called at module level;
    /// - registries filled by decorators (a function that returns its argument, or is used as
    ///   `@decorator`) and by `register...` functions;
    /// - growth with closed keys or items: literals, `ALL_CAPS` constants, enum-like
    ///   `Class.MEMBER` attributes, types (`type(x)`, `x.__class__`, `cls`) and parameters
    ///   with a literal default (flags, modes);
    /// - dicts and sets keyed by argument values, unless the key is an object identity
    ///   (`id(obj)`: one entry per object ever seen) or the stored values are instances of the
    ///   module's own classes: on real code such memos are almost always keyed by a small
    ///   domain (a language, an alphabet, a configured name), which a linter cannot tell from
    ///   user ids. Lists and deques that only grow (logs, histories) are reported;
    /// - `ALL_CAPS` containers and containers with initial contents (tables by convention),
    ///   and values stored as passed in (`_table[name] = handler`: a registration API), as well
    ///   as growth in public setter-like functions (`add_...`, `set_...`, `def_...`);
    /// - containers that escape (passed to a function, returned, aliased): someone else may
    ///   clear them.
    ///
    /// ## Why it keeps memory alive
    /// A module lives as long as the program, and so does every module-level container and
    /// everything in it. A cache keyed by request data, user ids or file names that is never
    /// evicted grows with every new key: each stored value (and everything it refers to) stays
    /// alive for the life of the process, which in a long-running service looks exactly like a
    /// leak.
    ///
    /// ## Example
    /// ```python
    /// _sessions = {}
    ///
    /// def session_for(user_id):
    ///     if user_id not in _sessions:
    ///         _sessions[user_id] = Session(user_id)
    ///     return _sessions[user_id]
    /// ```
    ///
    /// ## Fix
    /// Bound the cache, or let its entries die with their last outside user. When the values are
    /// instances of your own classes, a `weakref.WeakValueDictionary` drops an entry as soon as
    /// nothing else uses its value:
    ///
    /// ```python
    /// import weakref
    ///
    /// _sessions = weakref.WeakValueDictionary()
    /// ```
    ///
    /// Otherwise evict old entries (`if len(_sessions) > 1000: _sessions.pop(next(iter(_sessions)))`),
    /// clear the container when its contents are no longer needed, or memoize the function that
    /// fills it with `functools.lru_cache(maxsize=...)`.
    ///
    /// ## Fix safety
    /// The `WeakValueDictionary` fix is offered only for a plain dict whose every stored value is
    /// an instance of a class defined in the module (`str`, `int`, `tuple` and other built-in
    /// values cannot be weakly referenced). It is unsafe: an entry now disappears as soon as no
    /// one else holds its value, so values are recomputed more often, state kept only in the
    /// cache is lost, and `if key in cache: return cache[key]` can raise `KeyError` when the
    /// value dies between the two lines (use `cache.get(key)` instead). Classes with
    /// `__slots__` without `'__weakref__'` cannot be stored at all. For other containers no fix
    /// is offered: the right bound, and when to clear, depend on the program.
    pub struct UnboundedModuleCache {
        code: "RL102",
        name: "unbounded-module-cache",
        summary: "A module-level dict, list or set that functions only ever grow",
        fix: Sometimes,
    }
}

const GROW: &[&str] = &[
    "append",
    "appendleft",
    "add",
    "setdefault",
    "update",
    "extend",
    "extendleft",
    "insert",
];
const SHRINK: &[&str] = &[
    "pop",
    "popitem",
    "popleft",
    "clear",
    "remove",
    "discard",
    "__delitem__",
    "difference_update",
    "intersection_update",
    "symmetric_difference_update",
    "move_to_end",
];

/// Words one of which a file needs for this rule to run on it (see `triggers`).
pub(crate) const TRIGGERS: Triggers = Triggers::Always;

pub(crate) fn check(checker: &mut Checker) {
    let mut candidates: Vec<(&ast::ExprName, &Expr, NewContainer)> = Vec::new();
    for stmt in checker.suite {
        let (target, value) = match stmt {
            Stmt::Assign(assign) if assign.targets.len() == 1 => {
                (&assign.targets[0], &*assign.value)
            }
            Stmt::AnnAssign(assign) => match assign.value.as_deref() {
                Some(value) => (&*assign.target, value),
                None => continue,
            },
            _ => continue,
        };
        let Expr::Name(name) = target else { continue };
        let id = name.id.as_str();
        if ruff_python_ast::helpers::is_dunder(id)
            || checker.semantic.module_bindings(id).len() != 1
        {
            continue;
        }
        // `ALL_CAPS` names are tables and registries by convention.
        if id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            continue;
        }
        let Some(kind) = new_container(checker, value) else {
            continue;
        };
        // Only containers that start empty: one with initial contents is a table.
        if !starts_empty(value) {
            continue;
        }
        if matches!(kind, NewContainer::ByteArray) {
            continue;
        }
        candidates.push((name, value, kind));
    }
    if candidates.is_empty() {
        return;
    }
    if !may_grow(checker, &candidates) {
        return;
    }
    let names: FxHashSet<&str> = candidates.iter().map(|(n, _, _)| n.id.as_str()).collect();
    let mut usage = Usage {
        checker,
        kinds: candidates
            .iter()
            .map(|(n, _, k)| (n.id.to_string(), *k))
            .collect(),
        names: &names,
        facts: FxHashMap::default(),
        functions: Vec::new(),
        import_time: OnceCell::new(),
    };
    for stmt in checker.suite {
        usage.visit_stmt(stmt);
    }
    let mut found = Vec::new();
    for (name, value, kind) in candidates {
        let Some(facts) = usage.facts.get(name.id.as_str()) else {
            continue;
        };
        if facts.safe || facts.growth.is_empty() {
            continue;
        }
        let qualified = format!("{}.{}", checker.module, name.id);
        found.push((diagnostic(checker, name, value, kind, facts), qualified));
    }
    // Last: unless another module clears it.
    for (diagnostic, qualified) in found {
        checker.report_if_workspace(diagnostic, move |workspace| {
            !workspace.is_shrunk(&qualified)
        });
    }
}

fn kind_name(kind: NewContainer) -> &'static str {
    match kind {
        NewContainer::List => "list",
        NewContainer::Set => "set",
        NewContainer::Dict => "dict",
        NewContainer::OrderedDict => "OrderedDict",
        NewContainer::DefaultDict { .. } => "defaultdict",
        NewContainer::Counter => "Counter",
        NewContainer::Deque => "deque",
        NewContainer::ByteArray => "bytearray",
    }
}

fn diagnostic(
    checker: &Checker,
    name: &ast::ExprName,
    value: &Expr,
    kind: NewContainer,
    facts: &Facts,
) -> Diagnostic {
    let first = &facts.growth[0];
    let line = checker.line_index.line_index(first.range.start()).get();
    let message = format!(
        "module-level {kind} `{name}` only ever grows (in `{function}`, line {line}) and is never cleared or bounded: everything stored in it stays alive for the life of the process",
        kind = kind_name(kind),
        name = name.id,
        function = first.function,
    );
    let mut diagnostic = Diagnostic::new(Rule::UnboundedModuleCache, name.range(), message);
    for growth in &facts.growth {
        diagnostic = diagnostic.with_related(
            growth.range,
            format!("grows here, in `{}`", growth.function),
        );
    }
    let weak_ok = matches!(kind, NewContainer::Dict)
        && matches!(value, Expr::Dict(dict) if dict.is_empty())
        && facts.growth.iter().all(|g| g.user_class_value);
    if weak_ok {
        let (binding, import) = checker.import_edit("weakref", "WeakValueDictionary");
        let mut edits = vec![Edit::replacement(format!("{binding}()"), value.range())];
        edits.extend(import);
        diagnostic.with_fix(Fix::unsafe_(
            format!("Use `{binding}`: entries go when nothing else uses their value"),
            edits,
        ))
    } else {
        diagnostic.with_note(
            "No automatic fix: bound it (evict old entries, or `functools.lru_cache(maxsize=...)` on the function that fills it) or clear it when its contents are no longer needed; a `weakref.WeakValueDictionary` fits only when the values are instances of your own classes.",
        )
    }
}

/// One place a container grows.
struct Growth {
    range: TextRange,
    function: String,
    /// The stored value is an instance of a class defined in the module.
    user_class_value: bool,
}

#[derive(Default)]
struct Facts {
    growth: Vec<Growth>,
    /// Shrunk, bounded, reassigned or escaping: not a finding.
    safe: bool,
}

struct FunctionScope<'a> {
    def: &'a ast::StmtFunctionDef,
    /// Defined at module level (only such a function can run at import time only).
    top_level: bool,
    /// Growth here is not a finding (decorator, registration, import-time only): decided
    /// only once growth is found in it (rare), see [`Usage::grow`].
    exempt: OnceCell<bool>,
}

struct Usage<'c, 'a> {
    checker: &'c Checker<'a>,
    kinds: FxHashMap<String, NewContainer<'a>>,
    names: &'c FxHashSet<&'c str>,
    facts: FxHashMap<String, Facts>,
    functions: Vec<FunctionScope<'a>>,
    /// [`import_time_functions`], walked only when an exemption needs it.
    import_time: OnceCell<FxHashSet<String>>,
}

impl<'a> Usage<'_, 'a> {
    fn container<'e>(&self, expr: &'e Expr) -> Option<&'e str> {
        match expr {
            Expr::Name(name) if self.names.contains(name.id.as_str()) => Some(name.id.as_str()),
            _ => None,
        }
    }

    fn safe(&mut self, name: &str) {
        self.facts.entry(name.to_owned()).or_default().safe = true;
    }

    /// Records growth of `name` with `key` (for dicts) and `item` (the stored value).
    fn grow(&mut self, name: &str, range: TextRange, key: Option<&Expr>, item: Option<&Expr>) {
        let Some(scope) = self.functions.last() else {
            return; // module level: import time
        };
        // Closed keys (or items, for lists and sets) make a small, fixed set of entries.
        let decisive = key.or(item);
        if decisive.is_none_or(|expr| is_closed(expr, scope.def)) {
            return;
        }
        let is_id = |k: &Expr| matches!(k, Expr::Call(call) if self.checker.semantic.resolves_to(&call.func, &["builtins.id"]));
        // `id(obj)`, or a local assigned only from it (`fid = id(frame)`).
        let identity_key = key.is_some_and(|k| {
            is_id(k)
                || matches!(k, Expr::Name(n) if matches!(assigned_values(scope.def, n.id.as_str()).as_slice(), [only] if is_id(only)))
        });
        // `_table[name] = value` with the value passed in as is: a registration API.
        if !identity_key
            && key.is_some()
            && item.is_some_and(|value| is_parameter_data(value, scope.def))
        {
            return;
        }
        let user_class_value =
            key.is_some() && item.is_some_and(|value| self.is_user_instance(value, scope.def));
        // A dict or set keyed by argument values is usually a memo over a small domain (a
        // language, an alphabet, a config name): only identity keys (`id(obj)`, one entry per
        // object ever seen) and instances of the module's own classes (state kept per key)
        // are reported. A list or deque that only grows is a log: reported.
        let kind = self.kinds.get(name).copied();
        let sequence =
            matches!(kind, Some(NewContainer::List | NewContainer::Deque)) && key.is_none();
        if !(identity_key || user_class_value || sequence) {
            return;
        }
        // Last (it walks the function, and perhaps the module): growth in an exempt function,
        // or in a function nested in one, is not a finding.
        if self.functions.iter().any(|scope| {
            *scope
                .exempt
                .get_or_init(|| self.exempt(scope.def, scope.top_level))
        }) {
            return;
        }
        let function = scope.def.name.to_string();
        self.facts
            .entry(name.to_owned())
            .or_default()
            .growth
            .push(Growth {
                range,
                function,
                user_class_value,
            });
    }

    /// `Class(...)` for a class of this module, or a local assigned once from one.
    fn is_user_instance(&self, value: &Expr, def: &ast::StmtFunctionDef) -> bool {
        let is_class_call = |expr: &Expr| {
            matches!(expr, Expr::Call(call) if matches!(&*call.func, Expr::Name(n)
                if matches!(self.checker.semantic.module_bindings(n.id.as_str()), [Stmt::ClassDef(class)]
                    if !class.body.iter().any(|s| matches!(s, Stmt::Assign(a) if a.targets.iter().any(|t| matches!(t, Expr::Name(n) if n.id.as_str() == "__slots__")))))))
        };
        match value {
            Expr::Call(_) => is_class_call(value),
            Expr::Name(name) => {
                let assigned = assigned_values(def, name.id.as_str());
                // `v = _cache.get(k)` then `v = Class(...)`: the memo idiom.
                assigned.iter().any(|v| is_class_call(v))
                    && assigned.iter().all(|v| {
                        is_class_call(v)
                            || v.is_none_literal_expr()
                            || matches!(v, Expr::Call(c) if matches!(&*c.func, Expr::Attribute(a) if a.attr.as_str() == "get"))
                    })
            }
            _ => false,
        }
    }

    fn exempt(&self, def: &ast::StmtFunctionDef, top_level: bool) -> bool {
        let name = def.name.as_str().to_ascii_lowercase();
        if name.contains("regist") || name.contains("install") {
            return true;
        }
        // Public setter-like functions fill tables that their callers configure.
        let setter = [
            "add", "def", "set", "bind", "declare", "define", "use", "enable",
        ];
        if setter.iter().any(|prefix| {
            name.strip_prefix(prefix).is_some_and(|rest| {
                rest.is_empty()
                    || rest.starts_with('_')
                    || def.name.as_str()[prefix.len()..].starts_with(char::is_uppercase)
            })
        }) {
            return true;
        }
        if top_level
            && self
                .import_time
                .get_or_init(|| import_time_functions(self.checker.suite))
                .contains(def.name.as_str())
        {
            return true;
        }
        // A decorator returns its argument (or a function it defines around it).
        let parameters: FxHashSet<&str> =
            def.parameters.iter().map(|p| p.name().as_str()).collect();
        let nested: FxHashSet<&str> = def
            .body
            .iter()
            .filter_map(|s| match s {
                Stmt::FunctionDef(f) => Some(f.name.as_str()),
                Stmt::ClassDef(c) => Some(c.name.as_str()),
                _ => None,
            })
            .collect();
        returns_any(&def.body, &|expr| match expr {
            Expr::Name(n) => parameters.contains(n.id.as_str()) || nested.contains(n.id.as_str()),
            _ => false,
        })
    }

    /// Whether `escapes(expr)` would mark a container.
    fn would_escape(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Name(_) => self.container(expr).is_some(),
            Expr::Tuple(t) => deep(|| t.iter().any(|e| self.would_escape(e))),
            Expr::List(l) => deep(|| l.iter().any(|e| self.would_escape(e))),
            Expr::Starred(s) => deep(|| self.would_escape(&s.value)),
            Expr::Dict(d) => deep(|| d.iter_values().any(|e| self.would_escape(e))),
            _ => false,
        }
    }

    /// Marks as escaping a container passed on as a whole.
    fn escapes(&mut self, expr: &Expr) {
        match expr {
            Expr::Name(_) => {
                if let Some(name) = self.container(expr) {
                    let name = name.to_owned();
                    self.safe(&name);
                }
            }
            Expr::Tuple(t) => deep(|| t.iter().for_each(|e| self.escapes(e))),
            Expr::List(l) => deep(|| l.iter().for_each(|e| self.escapes(e))),
            Expr::Starred(s) => deep(|| self.escapes(&s.value)),
            Expr::Dict(d) => deep(|| d.iter_values().for_each(|e| self.escapes(e))),
            _ => {}
        }
    }
}

impl<'a> Visitor<'a> for Usage<'_, 'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(def) => {
                for decorator in &def.decorator_list {
                    self.visit_decorator(decorator);
                }
                let top_level = self.functions.is_empty();
                self.functions.push(FunctionScope {
                    def,
                    top_level,
                    exempt: OnceCell::new(),
                });
                for stmt in &def.body {
                    deep(|| self.visit_stmt(stmt));
                }
                self.functions.pop();
                return;
            }
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    match target {
                        Expr::Subscript(sub) => {
                            if let Some(name) = self.container(&sub.value) {
                                if sub.slice.is_slice_expr() {
                                    self.safe(name);
                                } else {
                                    self.grow(
                                        name,
                                        sub.range(),
                                        Some(&sub.slice),
                                        Some(&assign.value),
                                    );
                                }
                            }
                            // `_index[k][j] = v` on a defaultdict grows `_index` by `k`.
                            if let Expr::Subscript(inner) = &*sub.value
                                && let Some(name) = self.container(&inner.value)
                            {
                                self.grow(name, inner.range(), Some(&inner.slice), None);
                            }
                        }
                        Expr::Name(n)
                            if self.functions.last().is_some()
                                && self.names.contains(n.id.as_str()) =>
                        {
                            self.safe(n.id.as_str());
                        }
                        _ => {}
                    }
                }
                self.escapes(&assign.value);
            }
            Stmt::AnnAssign(assign) => {
                if let Some(value) = &assign.value {
                    self.escapes(value);
                }
                if let Expr::Name(n) = &*assign.target
                    && !self.functions.is_empty()
                    && self.names.contains(n.id.as_str())
                {
                    self.safe(n.id.as_str());
                }
            }
            Stmt::AugAssign(assign) => match &*assign.target {
                Expr::Subscript(sub) => {
                    if let Some(name) = self.container(&sub.value) {
                        self.grow(name, sub.range(), Some(&sub.slice), None);
                    }
                }
                Expr::Name(n) if self.names.contains(n.id.as_str()) => {
                    let name = n.id.as_str();
                    if matches!(assign.op, ast::Operator::Add | ast::Operator::BitOr) {
                        self.grow(name, n.range(), None, Some(&assign.value));
                    } else {
                        self.safe(name);
                    }
                }
                _ => {}
            },
            Stmt::Delete(delete) => {
                for target in &delete.targets {
                    match target {
                        Expr::Subscript(sub) => {
                            if let Some(name) = self.container(&sub.value) {
                                self.safe(name);
                            }
                        }
                        Expr::Name(n) if self.names.contains(n.id.as_str()) => {
                            self.safe(n.id.as_str())
                        }
                        _ => {}
                    }
                }
            }
            Stmt::Return(ret) => {
                if let Some(value) = &ret.value {
                    self.escapes(value);
                }
            }
            Stmt::With(with) => {
                for item in &with.items {
                    self.escapes(&item.context_expr);
                }
            }
            _ => {}
        }
        deep(|| visitor::walk_stmt(self, stmt));
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Call(call) => {
                if let Expr::Attribute(attr) = &*call.func {
                    let method = attr.attr.as_str();
                    if let Some(name) = self.container(&attr.value)
                        && GROW.contains(&method)
                    {
                        let args = &call.arguments.args;
                        let (key, item) = match method {
                            "setdefault" => (args.first(), args.get(1)),
                            "insert" => (None, args.get(1)),
                            _ => (None, args.first()),
                        };
                        // `update(k=v)`: keywords are closed keys.
                        if item.is_some() || key.is_some() {
                            self.grow(name, attr.range(), key, item);
                        }
                    }
                    // `_index[key].append(v)` on a defaultdict creates `_index[key]`.
                    if GROW.contains(&method)
                        && let Expr::Subscript(sub) = &*attr.value
                        && let Some(name) = self.container(&sub.value)
                    {
                        self.grow(name, sub.range(), Some(&sub.slice), None);
                    }
                }
                // Resolving the callee costs more than looking for a container among the
                // arguments: only when one is there.
                let passes_container = call
                    .arguments
                    .args
                    .iter()
                    .chain(call.arguments.keywords.iter().map(|k| &k.value))
                    .any(|arg| self.would_escape(arg));
                let builtin = passes_container
                    && self
                        .checker
                        .semantic
                        .qualified_name(&call.func)
                        .is_some_and(|q| q.starts_with("builtins."));
                if passes_container && !builtin {
                    for arg in &call.arguments.args {
                        self.escapes(arg);
                    }
                    for keyword in &call.arguments.keywords {
                        self.escapes(&keyword.value);
                    }
                }
            }
            Expr::Attribute(attr) => {
                if let Some(name) = self.container(&attr.value)
                    && SHRINK.contains(&attr.attr.as_str())
                {
                    self.safe(name);
                }
            }
            Expr::Compare(compare) => {
                for operand in std::iter::once(&*compare.left).chain(compare.comparators.iter()) {
                    if let Expr::Call(call) = operand
                        && self
                            .checker
                            .semantic
                            .resolves_to(&call.func, &["builtins.len"])
                        && let Some(first) = call.arguments.args.first()
                        && let Some(name) = self.container(first)
                    {
                        self.safe(name);
                    }
                }
            }
            Expr::Yield(y) => {
                if let Some(value) = &y.value {
                    self.escapes(value);
                }
            }
            Expr::Lambda(lambda) => self.escapes(&lambda.body),
            _ => {}
        }
        deep(|| visitor::walk_expr(self, expr));
    }
}

// ---- cheap pre-check -------------------------------------------------------------------------

/// Whether some candidate's name is spelled in a shape that `Usage` counts as growth:
/// `C[k] = v`, `C[k][j] = v`, `C[k] op= v`, `C += v`, `C |= v`, `C.m(...)` or `C[k].m(...)`
/// with `m` in `GROW` (parentheses around `C` allowed). Every finding needs growth, and so one
/// of these; anything unexpected counts as growth. A name spelled beyond ASCII makes it true:
/// identifiers are compared after NFKC normalization.
fn may_grow(checker: &Checker, candidates: &[(&ast::ExprName, &Expr, NewContainer)]) -> bool {
    let tokens: &[Token] = checker.tokens;
    tokens.iter().enumerate().any(|(index, token)| {
        if token.kind() != TokenKind::Name && !token.kind().is_soft_keyword() {
            return false;
        }
        let text = checker.slice(token.range());
        if !text.is_ascii() {
            return true;
        }
        candidates
            .iter()
            .any(|(name, _, _)| name.id.as_str() == text)
            && growth_shape(checker, &tokens[..index], &tokens[index + 1..])
    })
}

fn growth_shape(checker: &Checker, before: &[Token], mut rest: &[Token]) -> bool {
    // Parentheses opened right before the name may close right after it: `(C).append(x)`.
    let (mut open, _) = parens_before(before);
    skip_closing(&mut rest, &mut open);
    let Some(next) = rest.first() else {
        return true;
    };
    match next.kind() {
        TokenKind::PlusEqual | TokenKind::VbarEqual => true,
        TokenKind::Dot => grow_method(checker, &rest[1..]),
        TokenKind::Lsqb => {
            if !skip_balanced(&mut rest, TokenKind::Lsqb, TokenKind::Rsqb) {
                return true;
            }
            // Any closing parentheses after `C[...]`.
            let mut any = usize::MAX;
            skip_closing(&mut rest, &mut any);
            match rest.first().map(Token::kind) {
                None | Some(TokenKind::Equal | TokenKind::Lsqb) => true,
                Some(TokenKind::Dot) => grow_method(checker, &rest[1..]),
                Some(kind) => kind.as_augmented_assign_operator().is_some(),
            }
        }
        _ => false,
    }
}

/// After a `.`: whether the attribute is a method in `GROW` (or not a plain name).
fn grow_method(checker: &Checker, mut rest: &[Token]) -> bool {
    name_after_dot(checker.source, &mut rest).is_none_or(|method| GROW.contains(&method))
}

/// Whether some `return` of `body` (not in nested definitions) returns what `pred` accepts.
fn returns_any(body: &[Stmt], pred: &dyn Fn(&Expr) -> bool) -> bool {
    struct Returns<'p> {
        pred: &'p dyn Fn(&Expr) -> bool,
        found: bool,
    }
    impl<'a> ruff_python_ast::statement_visitor::StatementVisitor<'a> for Returns<'_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(_) | Stmt::ClassDef(_) => {}
                Stmt::Return(ret) => {
                    if ret.value.as_deref().is_some_and(|v| (self.pred)(v)) {
                        self.found = true;
                    }
                }
                _ => deep(|| ruff_python_ast::statement_visitor::walk_stmt(self, stmt)),
            }
        }
    }
    let mut returns = Returns { pred, found: false };
    ruff_python_ast::statement_visitor::StatementVisitor::visit_body(&mut returns, body);
    returns.found
}

/// Top-level functions called at module level and never referenced inside any function:
/// they run at import time only.
fn import_time_functions(suite: &[Stmt]) -> FxHashSet<String> {
    struct Names {
        in_function: usize,
        at_module: FxHashSet<String>,
        in_functions: FxHashSet<String>,
    }
    impl<'a> Visitor<'a> for Names {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            if let Stmt::FunctionDef(def) = stmt {
                for decorator in &def.decorator_list {
                    self.visit_decorator(decorator);
                }
                self.in_function += 1;
                for s in &def.body {
                    deep(|| self.visit_stmt(s));
                }
                self.in_function -= 1;
                return;
            }
            deep(|| visitor::walk_stmt(self, stmt));
        }
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Name(name) = expr {
                if self.in_function > 0 {
                    self.in_functions.insert(name.id.to_string());
                } else {
                    self.at_module.insert(name.id.to_string());
                }
            }
            deep(|| visitor::walk_expr(self, expr));
        }
    }
    let mut names = Names {
        in_function: 0,
        at_module: FxHashSet::default(),
        in_functions: FxHashSet::default(),
    };
    for stmt in suite {
        names.visit_stmt(stmt);
    }
    let defined: FxHashSet<&str> = suite
        .iter()
        .filter_map(|s| match s {
            Stmt::FunctionDef(def) => Some(def.name.as_str()),
            _ => None,
        })
        .collect();
    names
        .at_module
        .into_iter()
        .filter(|name| defined.contains(name.as_str()) && !names.in_functions.contains(name))
        .collect()
}

/// The values assigned to the local `name` anywhere in `def` (not in nested definitions).
fn assigned_values<'e>(def: &'e ast::StmtFunctionDef, name: &str) -> Vec<&'e Expr> {
    struct Assigned<'n, 'e> {
        name: &'n str,
        values: Vec<&'e Expr>,
    }
    impl<'e> ruff_python_ast::statement_visitor::StatementVisitor<'e> for Assigned<'_, 'e> {
        fn visit_stmt(&mut self, stmt: &'e Stmt) {
            match stmt {
                Stmt::FunctionDef(_) | Stmt::ClassDef(_) => {}
                Stmt::Assign(assign) => {
                    if assign
                        .targets
                        .iter()
                        .any(|t| matches!(t, Expr::Name(n) if n.id.as_str() == self.name))
                    {
                        self.values.push(&assign.value);
                    }
                }
                _ => deep(|| ruff_python_ast::statement_visitor::walk_stmt(self, stmt)),
            }
        }
    }
    let mut finder = Assigned {
        name,
        values: Vec::new(),
    };
    ruff_python_ast::statement_visitor::StatementVisitor::visit_body(&mut finder, &def.body);
    finder.values
}

/// Whether a container expression starts empty (`{}`, `[]`, `set()`, `defaultdict(list)`).
fn starts_empty(expr: &Expr) -> bool {
    match expr {
        Expr::Dict(dict) => dict.is_empty(),
        Expr::List(list) => list.is_empty(),
        Expr::Call(call) => {
            // `defaultdict(factory)` and `deque(maxlen=None)` take no contents.
            let func = match &*call.func {
                Expr::Name(n) => n.id.as_str(),
                Expr::Attribute(a) => a.attr.as_str(),
                _ => "",
            };
            match func {
                "defaultdict" | "DefaultDict" => call.arguments.args.len() <= 1,
                _ => call.arguments.args.is_empty(),
            }
        }
        _ => false,
    }
}

/// A parameter (or a tuple of parameters and literals) stored as is.
fn is_parameter_data(expr: &Expr, def: &ast::StmtFunctionDef) -> bool {
    match expr {
        Expr::Name(name) => def
            .parameters
            .iter()
            .any(|p| p.name().as_str() == name.id.as_str()),
        Expr::Tuple(tuple) => {
            !tuple.is_empty()
                && tuple.iter().all(|e| {
                    is_parameter_data(e, def)
                        || matches!(
                            e,
                            Expr::StringLiteral(_)
                                | Expr::NumberLiteral(_)
                                | Expr::NoneLiteral(_)
                                | Expr::BooleanLiteral(_)
                        )
                })
        }
        _ => false,
    }
}

/// A parameter with a literal default (a flag, a mode): few distinct values.
fn is_flag_parameter(name: &str, def: &ast::StmtFunctionDef) -> bool {
    def.parameters.iter_non_variadic_params().any(|p| {
        p.parameter.name.as_str() == name
            && p.default.as_deref().is_some_and(|d| {
                matches!(
                    d,
                    Expr::StringLiteral(_) | Expr::NumberLiteral(_) | Expr::BooleanLiteral(_)
                )
            })
    })
}

/// Keys or items from a small closed set: literals, constants, enum members, types.
fn is_closed(expr: &Expr, def: &ast::StmtFunctionDef) -> bool {
    match expr {
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::BytesLiteral(_)
        | Expr::BooleanLiteral(_)
        | Expr::NoneLiteral(_)
        | Expr::EllipsisLiteral(_) => true,
        Expr::Tuple(tuple) => tuple.iter().all(|e| is_closed(e, def)),
        Expr::Name(name) => {
            let id = name.id.as_str();
            is_flag_parameter(id, def)
                || matches!(id, "cls" | "klass" | "mcs" | "metacls")
                || (id.chars().any(char::is_alphabetic)
                    && id
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        }
        Expr::Attribute(attr) => {
            let last = attr.attr.as_str();
            matches!(
                last,
                "__class__" | "__name__" | "__qualname__" | "__module__"
            ) || last
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                || matches!(&*attr.value, Expr::Name(n) if n.id.chars().next().is_some_and(char::is_uppercase))
        }
        Expr::Call(call) => {
            matches!(&*call.func, Expr::Name(n) if n.id.as_str() == "type")
                && call.arguments.args.len() == 1
        }
        _ => false,
    }
}
