//! Facts about the whole workspace that rules need across modules.
//!
//! Each module contributes [`ModuleFacts`], extracted from its source alone ([`extract`]); the
//! language server keeps them per file (updated on edits and file events), the CLI extracts them
//! for every file it checks, and both merge them into one [`WorkspaceFacts`] that every analysis
//! reads through `Checker::workspace`. The same tree gives the same facts, so `reflens check` and
//! the server report the same findings.
//!
//! Facts are keyed by names rather than by resolved symbols: a class by its name, a module-level
//! container and a function by their qualified dotted names (`pkg.mod._cache`). Rules use them
//! only to *suppress* a finding or to confirm one the file itself already suggests, so a name
//! shared by two unrelated classes costs at most a finding, never a false one from nowhere.

use std::sync::LazyLock;

use ruff_python_ast::token::{TokenKind, Tokens};
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_python_parser::{Mode, ParseOptions};
use ruff_text_size::{Ranged, TextRange, TextSize};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use crate::checker::Semantic;
use crate::diagnostic::Diagnostic;
use crate::helpers::{deep, first_parameter, last_segment};

/// What one module tells the rest of the workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleFacts {
    /// The module's dotted name (`pkg.mod`), as the caller named it.
    pub module: String,
    /// Classes defined in the module (at any depth).
    pub classes: Vec<ClassFacts>,
    /// Names of classes whose instances this module weak-references: `weakref.ref(self)` in a
    /// class's method, `weakref.proxy(Node(...))`, `WeakSet.add(obj)` for `obj: Node`, ...
    pub weakly_referenced: Vec<String>,
    /// Qualified names of module-level containers (`pkg.mod._cache`) that this module shrinks:
    /// `.clear()`, `.pop(...)`, `del c[k]`, ... (its own containers and imported ones).
    pub shrunk_containers: Vec<String>,
    /// Functions that take ownership of (close, or keep to close later) one of their parameters:
    /// `pkg.mod.func` with the parameter's position.
    pub closers: Vec<(String, usize)>,
}

/// A class, as other modules need to know it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassFacts {
    pub name: String,
    /// Base classes as written, resolved through imports where possible (`abc.ABC`).
    pub bases: Vec<String>,
    /// The names in a literal `__slots__` (`None` without `__slots__` or when it is not literal).
    pub slots: Option<Vec<String>>,
    pub has_del: bool,
    /// Whether the class defines a method that may release what its instances hold (`close`,
    /// `shutdown`, `__exit__`, `__getattr__` delegation, ...: see [`is_release_method`]).
    #[serde(default)]
    pub may_release: bool,
}

/// Method names through which a class may release what it holds: `close`, `shutdown`, `stop`,
/// `release`, `dispose`, `cleanup`, `terminate`, `disconnect`, `teardown`, `finish`, `quit`
/// (with any prefix or suffix: `server_close`, `_close_all`), the context-manager and
/// finalizer protocols, and `__getattr__` (which may forward `close()` to what it wraps).
pub fn is_release_method(name: &str) -> bool {
    if matches!(
        name,
        "__exit__" | "__aexit__" | "__del__" | "__getattr__" | "__getattribute__" | "tearDown"
    ) {
        return true;
    }
    // Asked of every method of every class: one case-insensitive automaton, no allocation.
    static WORDS: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build([
                "close",
                "shutdown",
                "stop",
                "release",
                "dispose",
                "cleanup",
                "clean_up",
                "terminate",
                "disconnect",
                "teardown",
                "tear_down",
                "finish",
                "finalize",
                "quit",
                "destroy",
                "kill",
            ])
            .expect("release words build an automaton")
    });
    WORDS.is_match(name)
}

/// The merged facts of every module of a workspace.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceFacts {
    classes: FxHashMap<String, Vec<ClassFacts>>,
    weakly_referenced: FxHashSet<String>,
    shrunk_containers: FxHashSet<String>,
    closers: FxHashSet<(String, usize)>,
}

static EMPTY: LazyLock<WorkspaceFacts> = LazyLock::new(WorkspaceFacts::default);

impl WorkspaceFacts {
    /// No workspace: only what a file says about itself.
    pub fn empty() -> &'static WorkspaceFacts {
        &EMPTY
    }

    pub fn from_modules<'m>(modules: impl IntoIterator<Item = &'m ModuleFacts>) -> Self {
        let mut facts = WorkspaceFacts::default();
        for module in modules {
            facts.add(module);
        }
        facts
    }

    pub fn add(&mut self, module: &ModuleFacts) {
        for class in &module.classes {
            self.classes
                .entry(class.name.clone())
                .or_default()
                .push(class.clone());
        }
        self.weakly_referenced
            .extend(module.weakly_referenced.iter().cloned());
        self.shrunk_containers
            .extend(module.shrunk_containers.iter().cloned());
        self.closers.extend(module.closers.iter().cloned());
    }

    /// [`WorkspaceFacts::add`], taking the module's facts instead of copying them.
    pub fn add_owned(&mut self, module: ModuleFacts) {
        for class in module.classes {
            self.classes
                .entry(class.name.clone())
                .or_default()
                .push(class);
        }
        self.weakly_referenced.extend(module.weakly_referenced);
        self.shrunk_containers.extend(module.shrunk_containers);
        self.closers.extend(module.closers);
    }

    /// Adds the facts of `later`, whose modules come after this one's (classes of a name stay
    /// in module order).
    pub fn append(&mut self, later: WorkspaceFacts) {
        if self.classes.is_empty() {
            self.classes = later.classes;
        } else {
            for (name, classes) in later.classes {
                self.classes.entry(name).or_default().extend(classes);
            }
        }
        self.weakly_referenced.extend(later.weakly_referenced);
        self.shrunk_containers.extend(later.shrunk_containers);
        self.closers.extend(later.closers);
    }

    /// Whether instances of a class of this name are weak-referenced anywhere.
    pub fn is_weakly_referenced(&self, class: &str) -> bool {
        self.weakly_referenced.contains(class)
    }

    /// The classes of this name anywhere in the workspace.
    pub fn classes_named(&self, name: &str) -> &[ClassFacts] {
        self.classes.get(name).map_or(&[], Vec::as_slice)
    }

    /// Every class of the workspace (to find a class's subclasses by their bases).
    pub fn all_classes(&self) -> impl Iterator<Item = &ClassFacts> {
        self.classes.values().flatten()
    }

    /// Whether some module shrinks the module-level container `pkg.mod.name`.
    pub fn is_shrunk(&self, qualified: &str) -> bool {
        self.shrunk_containers.contains(qualified)
    }

    /// Whether the function `pkg.mod.func` takes ownership of its parameter at `position`.
    pub fn closes_argument(&self, function: &str, position: usize) -> bool {
        self.closers.contains(&(function.to_owned(), position))
    }
}

/// What must hold of the workspace's facts for a finding to stand (see [`Pending`]).
pub type WorkspaceCondition = Box<dyn Fn(&WorkspaceFacts) -> bool + Send + Sync>;

/// A finding that depends on other modules' facts, not decided yet.
///
/// Rules read the workspace's facts only to decide, last, whether a finding stands: "unless
/// another module clears this cache", "if some module weak-references this class". A checker
/// of many files analyses each file before it knows the others' facts, so such a finding is
/// kept with its condition (`Collected::pending`) and decided once every module's facts are
/// merged; no file is parsed twice. With the workspace known (the language server, `--fix`),
/// the condition is decided at once.
pub struct Pending {
    pub diagnostic: Diagnostic,
    condition: WorkspaceCondition,
}

impl Pending {
    pub(crate) fn new(diagnostic: Diagnostic, condition: WorkspaceCondition) -> Self {
        Self {
            diagnostic,
            condition,
        }
    }

    /// Whether the finding stands in `workspace`.
    pub fn holds_in(&self, workspace: &WorkspaceFacts) -> bool {
        (self.condition)(workspace)
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("diagnostic", &self.diagnostic)
            .finish_non_exhaustive()
    }
}

/// A module whose text has none of these words contributes no facts (the rules' trigger pass
/// looks for them too, see `triggers`).
pub(crate) const FACT_WORDS: &[&str] = &[
    "__slots__",
    "__del__",
    "weak",
    "Weak",
    ".clear(",
    ".pop",
    "del ",
    "close",
    "__exit__",
    "shutdown",
    "release",
    "terminate",
    "stop",
];

/// Cheap text pre-test for a module not parsed yet: one automaton pass that stops at the first
/// of [`FACT_WORDS`] found.
fn may_have_facts(source: &str) -> bool {
    static WORDS: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
        aho_corasick::AhoCorasick::new(FACT_WORDS).expect("fact words build an automaton")
    });
    WORDS.is_match(source)
}

/// Extracts a module's facts from its source. `module` is its dotted name (`pkg.mod`; for a
/// package's `__init__.py`, the package's name with `is_package`).
pub fn extract(source: &str, module: &str, is_package: bool) -> ModuleFacts {
    // The words are read as written; names outside ASCII are NFKC-normalised by the parser.
    if source.len() > crate::MAX_SOURCE_BYTES || (source.is_ascii() && !may_have_facts(source)) {
        return ModuleFacts {
            module: module.to_owned(),
            ..ModuleFacts::default()
        };
    }
    crate::helpers::on_fresh_stack(|| {
        stacker::maybe_grow(crate::ANALYSIS_STACK / 2, crate::ANALYSIS_STACK, || {
            let parsed =
                ruff_python_parser::parse_unchecked(source, ParseOptions::from(Mode::Module));
            if crate::too_deep(parsed.tokens()).is_some() {
                return ModuleFacts {
                    module: module.to_owned(),
                    ..ModuleFacts::default()
                };
            }
            match parsed.syntax() {
                ruff_python_ast::Mod::Module(parsed_module) => {
                    let suite = &parsed_module.body;
                    extract_with(
                        source,
                        parsed.tokens(),
                        &Semantic::new(suite),
                        suite,
                        module,
                        is_package,
                    )
                }
                _ => ModuleFacts::default(),
            }
        })
    })
}

/// [`extract`] from an already parsed module (the analysis's own parse and `Semantic`), for a
/// module known to contain one of [`FACT_WORDS`].
pub(crate) fn extract_with<'a>(
    source: &str,
    tokens: &Tokens,
    semantic: &Semantic<'a>,
    suite: &'a [Stmt],
    module: &str,
    is_package: bool,
) -> ModuleFacts {
    let mut facts = ModuleFacts {
        module: module.to_owned(),
        ..ModuleFacts::default()
    };
    // A call that resolves through an import need not spell a method name (`ref(x)` after
    // `from weakref import ref as ref`, `c(f)` after `from contextlib import closing as c`):
    // those targets' last segments and local aliases count as names too.
    let imports_weakref_or_contextlib = ["weakref", "_weakref", "contextlib"]
        .iter()
        .any(|module| semantic.imports_from(module));
    let mut resolved: Vec<&str> = Vec::new();
    if imports_weakref_or_contextlib {
        resolved.extend(["ref", "proxy", "finalize", "WeakMethod", "closing"]);
        resolved.extend(
            semantic
                .imported_names()
                .filter(|(_, qualified)| RESOLVED_CALLS.contains(qualified))
                .map(|(local, _)| local),
        );
    }
    // Tokens spell names as written; the tree holds them NFKC-normalised, which only differs
    // outside ASCII: there, every expression is walked.
    let names = source
        .is_ascii()
        .then(|| CallNames::scan(source, tokens, &resolved));
    let weak_containers = if names.as_ref().is_none_or(|names| names.weak_container) {
        weak_containers(suite)
    } else {
        FxHashSet::default()
    };
    let calls_at = names.map(|names| {
        if weak_containers.is_empty() {
            names.methods
        } else {
            names.methods_and_add
        }
    });
    let mut extractor = Extractor {
        semantic,
        module,
        is_package,
        facts: &mut facts,
        classes: Vec::new(),
        functions: Vec::new(),
        weak_containers,
        imports_weakref_or_contextlib,
        calls_at,
    };
    for stmt in suite {
        extractor.visit_stmt(stmt);
    }
    facts.weakly_referenced.sort();
    facts.weakly_referenced.dedup();
    facts.shrunk_containers.sort();
    facts.shrunk_containers.dedup();
    facts.closers.sort();
    facts.closers.dedup();
    facts
}

/// Resolves a relative import's qualified name (`..util._cache`) against the importing module.
pub fn resolve_relative(qualified: &str, module: &str, is_package: bool) -> String {
    let level = qualified.chars().take_while(|c| *c == '.').count();
    if level == 0 {
        return qualified.to_owned();
    }
    let mut parts: Vec<&str> = module.split('.').collect();
    // `from . import x` in `pkg/mod.py` is relative to `pkg`; in `pkg/__init__.py` to `pkg`.
    let drop = if is_package { level - 1 } else { level };
    for _ in 0..drop {
        parts.pop();
    }
    let rest = &qualified[level..];
    if parts.is_empty() {
        rest.to_owned()
    } else if rest.is_empty() {
        parts.join(".")
    } else {
        format!("{}.{rest}", parts.join("."))
    }
}

/// Names and attributes (`_instances`, `self._children` → `_children`) bound to a weak container
/// anywhere in the module, so that `.add(x)` and `d[k] = x` on them count as weak references.
fn weak_containers(suite: &[Stmt]) -> FxHashSet<String> {
    struct Collect(FxHashSet<String>);
    impl<'a> Visitor<'a> for Collect {
        // Statements only: expressions hold no statements (and can nest thousands deep).
        fn visit_expr(&mut self, _: &'a Expr) {}

        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            let (targets, value): (Vec<&Expr>, Option<&Expr>) = match stmt {
                Stmt::Assign(assign) => (assign.targets.iter().collect(), Some(&*assign.value)),
                Stmt::AnnAssign(assign) => (vec![&*assign.target], assign.value.as_deref()),
                _ => (Vec::new(), None),
            };
            if let Some(Expr::Call(call)) = value {
                let callee = match &*call.func {
                    Expr::Attribute(attr) => attr.attr.as_str(),
                    Expr::Name(name) => name.id.as_str(),
                    _ => "",
                };
                if matches!(
                    callee,
                    "WeakSet" | "WeakValueDictionary" | "WeakKeyDictionary"
                ) {
                    for target in targets {
                        if let Some(name) = last_segment(target) {
                            self.0.insert(format!("{callee}:{name}"));
                        }
                    }
                }
            }
            deep(|| visitor::walk_stmt(self, stmt));
        }
    }
    let mut collect = Collect(FxHashSet::default());
    for stmt in suite {
        collect.visit_stmt(stmt);
    }
    collect.0
}

struct FunctionScope<'a> {
    def: &'a ast::StmtFunctionDef,
    /// The class the function is a method of, if it is one.
    class: Option<String>,
    /// Local name → class name, from `x = Class(...)` and `x: Class` annotations.
    local_types: FxHashMap<&'a str, String>,
}

struct Extractor<'s, 'a> {
    semantic: &'s Semantic<'a>,
    module: &'s str,
    is_package: bool,
    facts: &'s mut ModuleFacts,
    classes: Vec<String>,
    functions: Vec<FunctionScope<'a>>,
    weak_containers: FxHashSet<String>,
    /// Whether `weakref`, `_weakref` or `contextlib` is imported (else no call resolves there).
    imports_weakref_or_contextlib: bool,
    /// Where the method names whose calls give facts are written (sorted offsets), when every
    /// call that gives a fact spells one: expressions without one are not walked.
    calls_at: Option<Vec<TextSize>>,
}

impl<'a> Extractor<'_, 'a> {
    fn qualified(&self, expr: &Expr) -> Option<String> {
        self.semantic
            .qualified_name(expr)
            .map(|q| resolve_relative(&q, self.module, self.is_package))
    }

    /// The class name of the object `expr` evaluates to, when the module makes it plain.
    fn class_of(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Call(call) => {
                let name = last_segment(&call.func)?;
                if name == "cls" {
                    return self.functions.last()?.class.clone();
                }
                name.chars()
                    .next()
                    .is_some_and(char::is_uppercase)
                    .then(|| name.to_owned())
            }
            Expr::Name(name) => {
                let scope = self.functions.last()?;
                if first_parameter(scope.def) == Some(name.id.as_str()) && scope.class.is_some() {
                    return scope.class.clone();
                }
                scope.local_types.get(name.id.as_str()).cloned()
            }
            _ => None,
        }
    }

    /// Whether a call that gives a fact may be written in `range` (see `calls_at`).
    fn may_call_in(&self, range: TextRange) -> bool {
        self.calls_at
            .as_ref()
            .is_none_or(|calls_at| crate::helpers::any_within(calls_at, range))
    }

    fn weakly_referenced(&mut self, expr: &Expr) {
        if let Some(class) = self.class_of(expr) {
            self.facts.weakly_referenced.push(class);
        }
    }

    fn is_weak_container(&self, kind: &str, expr: &Expr) -> bool {
        last_segment(expr)
            .is_some_and(|name| self.weak_containers.contains(&format!("{kind}:{name}")))
    }

    fn container_name(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Name(name) if self.semantic.is_module_level(name.id.as_str()) => self
                .qualified(expr)
                .or_else(|| Some(format!("{}.{}", self.module, name.id))),
            Expr::Name(_) | Expr::Attribute(_) => self.qualified(expr),
            _ => None,
        }
    }

    fn shrunk(&mut self, container: &Expr) {
        if let Some(name) = self.container_name(container) {
            self.facts.shrunk_containers.push(name);
        }
    }

    fn function_name(&self) -> Option<String> {
        let scope = self.functions.last()?;
        let mut name = self.module.to_owned();
        if let Some(class) = &scope.class {
            name.push('.');
            name.push_str(class);
        }
        name.push('.');
        name.push_str(scope.def.name.as_str());
        Some(name)
    }

    /// `param.close()`, `with param:`, `self.x = param`, `contextlib.closing(param)` in the
    /// current function: it takes ownership of that parameter.
    fn owns(&mut self, expr: &Expr) {
        let Expr::Name(name) = expr else { return };
        let Some(scope) = self.functions.last() else {
            return;
        };
        let position = scope
            .def
            .parameters
            .iter_non_variadic_params()
            .position(|p| p.parameter.name.as_str() == name.id.as_str());
        if let (Some(position), Some(function)) = (position, self.function_name()) {
            self.facts.closers.push((function, position));
        }
    }
}

impl<'a> Visitor<'a> for Extractor<'_, 'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::ClassDef(class) => {
                let mut facts = ClassFacts {
                    name: class.name.to_string(),
                    ..ClassFacts::default()
                };
                for base in class.bases() {
                    facts.bases.push(
                        self.qualified(base)
                            .unwrap_or_else(|| last_segment(base).unwrap_or_default().to_owned()),
                    );
                }
                for member in &class.body {
                    match member {
                        Stmt::FunctionDef(def) if def.name.as_str() == "__del__" => {
                            facts.has_del = true;
                            facts.may_release = true;
                        }
                        Stmt::FunctionDef(def) if is_release_method(def.name.as_str()) => {
                            facts.may_release = true;
                        }
                        Stmt::Assign(assign)
                            if assign.targets.len() == 1
                                && last_segment(&assign.targets[0]) == Some("__slots__") =>
                        {
                            facts.slots = literal_strings(&assign.value);
                        }
                        Stmt::AnnAssign(assign)
                            if last_segment(&assign.target) == Some("__slots__") =>
                        {
                            facts.slots = assign.value.as_deref().and_then(literal_strings);
                        }
                        _ => {}
                    }
                }
                self.facts.classes.push(facts);
                self.classes.push(class.name.to_string());
                let functions = std::mem::take(&mut self.functions);
                deep(|| visitor::walk_stmt(self, stmt));
                self.functions = functions;
                self.classes.pop();
                return;
            }
            Stmt::FunctionDef(def) => {
                // A method when defined directly in a class body (no function in between).
                let class = if self.functions.is_empty() {
                    self.classes.last().cloned()
                } else {
                    None
                };
                let mut local_types = FxHashMap::default();
                for parameter in def.parameters.iter_non_variadic_params() {
                    if let Some(annotation) = parameter.parameter.annotation.as_deref()
                        && let Some(name) = last_segment(annotation)
                        && name.chars().next().is_some_and(char::is_uppercase)
                    {
                        local_types.insert(parameter.parameter.name.as_str(), name.to_owned());
                    }
                }
                self.functions.push(FunctionScope {
                    def,
                    class,
                    local_types,
                });
                deep(|| visitor::walk_stmt(self, stmt));
                self.functions.pop();
                return;
            }
            Stmt::Assign(assign) => {
                if let [Expr::Name(target)] = assign.targets.as_slice()
                    && let Some(class) = self.class_of(&assign.value)
                    && let Some(scope) = self.functions.last_mut()
                {
                    scope.local_types.insert(target.id.as_str(), class);
                }
                for target in &assign.targets {
                    // `other_module._cache = {}`: another module's container reset from here.
                    if let Expr::Attribute(attr) = target
                        && !matches!(&*attr.value, Expr::Name(name) if self.functions
                                .last()
                                .is_some_and(|scope| first_parameter(scope.def) == Some(name.id.as_str())))
                        && is_empty_container(&assign.value)
                    {
                        self.shrunk(target);
                    }
                    if let Expr::Subscript(subscript) = target {
                        if self.is_weak_container("WeakValueDictionary", &subscript.value) {
                            self.weakly_referenced(&assign.value);
                        }
                        if self.is_weak_container("WeakKeyDictionary", &subscript.value) {
                            self.weakly_referenced(&subscript.slice);
                        }
                    }
                    // `self._stream = stream`: the instance now owns what it was given.
                    if let Expr::Attribute(attr) = target
                        && self.functions.last().is_some_and(|scope| {
                            scope.class.is_some()
                                && first_parameter(scope.def)
                                    == last_segment(&attr.value)
                                        .filter(|_| attr.value.is_name_expr())
                        })
                    {
                        self.owns(&assign.value);
                    }
                }
            }
            Stmt::Delete(delete) => {
                for target in &delete.targets {
                    if let Expr::Subscript(subscript) = target {
                        self.shrunk(&subscript.value);
                    }
                }
            }
            Stmt::With(with) => {
                for item in &with.items {
                    self.owns(&item.context_expr);
                }
            }
            _ => {}
        }
        // A statement without a body holds only expressions: none of them gives a fact
        // without a call spelled in its range.
        if !has_body(stmt) && !self.may_call_in(stmt.range()) {
            return;
        }
        deep(|| visitor::walk_stmt(self, stmt));
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if !self.may_call_in(expr.range()) {
            return;
        }
        if let Expr::Call(call) = expr {
            let first = call.arguments.args.first();
            // Without building the callee's qualified name: every call of the module is asked.
            let resolves_to = |names: &[&str]| self.semantic.resolves_to(&call.func, names);
            if first.is_none() || !self.imports_weakref_or_contextlib {
                // Each of the calls below takes an argument, and needs its module imported.
            } else if resolves_to(&[
                "weakref.ref",
                "weakref.proxy",
                "weakref.finalize",
                "_weakref.ref",
            ]) {
                if let Some(first) = first {
                    self.weakly_referenced(first);
                }
            } else if resolves_to(&["weakref.WeakMethod"]) {
                if let Some(Expr::Attribute(attr)) = first {
                    self.weakly_referenced(&attr.value);
                }
            } else if resolves_to(&["contextlib.closing"])
                && let Some(first) = first
            {
                self.owns(first);
            }
            if let Expr::Attribute(attr) = &*call.func {
                match attr.attr.as_str() {
                    "add" if self.is_weak_container("WeakSet", &attr.value) => {
                        if let Some(first) = first {
                            self.weakly_referenced(first);
                        }
                    }
                    "clear" | "pop" | "popitem" | "remove" | "discard" | "popleft" => {
                        self.shrunk(&attr.value);
                    }
                    "close" | "__exit__" | "shutdown" | "terminate" | "kill" | "release" => {
                        self.owns(&attr.value);
                    }
                    _ => {}
                }
            }
        }
        deep(|| visitor::walk_expr(self, expr));
    }
}

/// The method names whose calls give facts ([`Extractor::visit_expr`]), as a file's tokens
/// spell them: a call `x.close()` has the name token `close`.
struct CallNames {
    /// Where `clear`, `pop`, `close`, ... are written.
    methods: Vec<TextSize>,
    /// The same and `add` (which counts on weak containers only).
    methods_and_add: Vec<TextSize>,
    /// Whether `WeakSet`, `WeakValueDictionary` or `WeakKeyDictionary` is named.
    weak_container: bool,
}

/// The calls [`Extractor::visit_expr`] resolves through imports.
const RESOLVED_CALLS: &[&str] = &[
    "weakref.ref",
    "weakref.proxy",
    "weakref.finalize",
    "_weakref.ref",
    "weakref.WeakMethod",
    "contextlib.closing",
];

impl CallNames {
    /// `resolved`: further names whose calls give facts (see [`RESOLVED_CALLS`]).
    fn scan(source: &str, tokens: &Tokens, resolved: &[&str]) -> Self {
        let mut names = CallNames {
            methods: Vec::new(),
            methods_and_add: Vec::new(),
            weak_container: false,
        };
        for token in tokens.iter() {
            if token.kind() != TokenKind::Name {
                continue;
            }
            match &source[token.range()] {
                "clear" | "pop" | "popitem" | "remove" | "discard" | "popleft" | "close"
                | "__exit__" | "shutdown" | "terminate" | "kill" | "release" => {
                    names.methods.push(token.start());
                    names.methods_and_add.push(token.start());
                }
                "add" => names.methods_and_add.push(token.start()),
                "WeakSet" | "WeakValueDictionary" | "WeakKeyDictionary" => {
                    names.weak_container = true;
                }
                name if resolved.contains(&name) => {
                    names.methods.push(token.start());
                    names.methods_and_add.push(token.start());
                }
                _ => {}
            }
        }
        names
    }
}

/// Whether a statement has a body of statements (which the walk must visit for their facts).
fn has_body(stmt: &Stmt) -> bool {
    matches!(
        stmt,
        Stmt::FunctionDef(_)
            | Stmt::ClassDef(_)
            | Stmt::For(_)
            | Stmt::While(_)
            | Stmt::If(_)
            | Stmt::With(_)
            | Stmt::Try(_)
            | Stmt::Match(_)
    )
}

/// `{}`, `[]`, `set()`, `dict()`, `list()`, `OrderedDict()`, ...: a container reset to empty.
fn is_empty_container(expr: &Expr) -> bool {
    match expr {
        Expr::Dict(dict) => dict.is_empty(),
        Expr::List(list) => list.is_empty(),
        Expr::Call(call) => {
            call.arguments.is_empty()
                && last_segment(&call.func).is_some_and(|name| {
                    matches!(
                        name,
                        "dict"
                            | "list"
                            | "set"
                            | "OrderedDict"
                            | "defaultdict"
                            | "deque"
                            | "Counter"
                    )
                })
        }
        _ => false,
    }
}

/// The strings of a literal tuple, list, set or single string (`__slots__ = ("a", "b")`);
/// `None` when it is anything else.
pub(crate) fn literal_strings(expr: &Expr) -> Option<Vec<String>> {
    let elements: Vec<&Expr> = match expr {
        Expr::Tuple(tuple) => tuple.iter().collect(),
        Expr::List(list) => list.iter().collect(),
        Expr::Set(set) => set.iter().collect(),
        Expr::StringLiteral(_) => vec![expr],
        _ => return None,
    };
    elements
        .into_iter()
        .map(|element| match element {
            Expr::StringLiteral(string) => Some(string.value.to_str().to_owned()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_references_slots_and_ownership() {
        let source = r#"
import weakref
from weakref import WeakSet
from .registry import _handlers
from . import store

class Node:
    __slots__ = ("parent", "children")

    def __init__(self, parent):
        self.parent = weakref.ref(parent)

class Leaf(Node):
    def __del__(self):
        pass

_live = WeakSet()

def track(item: Item):
    _live.add(item)

def make():
    w = Widget()
    return weakref.proxy(w)

def reset():
    _handlers.clear()
    store._cache.pop("k", None)
    store._translations = {}

def consume(stream, other):
    with stream:
        return stream.read()

class Owner:
    def __init__(self, sock):
        self._sock = sock
"#;
        let facts = extract(source, "pkg.mod", false);
        assert_eq!(facts.classes.len(), 3);
        assert_eq!(
            facts.classes[0].slots,
            Some(vec!["parent".to_owned(), "children".to_owned()])
        );
        assert!(facts.classes[1].has_del);
        assert_eq!(facts.classes[1].bases, vec!["Node".to_owned()]);
        // `weakref.ref(parent)`: the parameter's class is unknown, so nothing; `Item` from the
        // annotation, `Widget` from the local.
        assert_eq!(facts.weakly_referenced, vec!["Item", "Widget"]);
        assert_eq!(
            facts.shrunk_containers,
            vec![
                "pkg.registry._handlers",
                "pkg.store._cache",
                "pkg.store._translations"
            ]
        );
        assert_eq!(
            facts.closers,
            vec![
                ("pkg.mod.Owner.__init__".to_owned(), 1),
                ("pkg.mod.consume".to_owned(), 0)
            ]
        );
    }

    /// A finding that depends on other modules' facts is decided by the whole workspace's:
    /// `reflens check` analyses each file once, before it knows them all.
    #[test]
    fn pending_findings_are_decided_by_the_workspace() {
        let nodes = "class Node:\n    __slots__ = ('parent',)\n";
        let settings = crate::Settings::default();
        let collected = crate::analyze_collecting(nodes, &settings, "pkg.nodes", false);
        assert!(collected.diagnostics.is_empty());
        assert_eq!(collected.pending.len(), 1, "{:?}", collected.pending);
        let findings_in = |workspace: &WorkspaceFacts| {
            let context = crate::FileContext {
                module: "pkg.nodes",
                is_package: false,
                workspace: Some(workspace),
            };
            crate::analyze_in(nodes, &settings, &context)
        };
        let holds_in = |workspace: &WorkspaceFacts| {
            collected
                .pending
                .iter()
                .filter(|pending| pending.holds_in(workspace))
                .map(|pending| pending.diagnostic.clone())
                .collect::<Vec<_>>()
        };

        // Alone, or with a module that keeps strong references: no finding.
        assert!(holds_in(&WorkspaceFacts::from_modules([&collected.facts])).is_empty());
        let strong = extract(
            "from pkg.nodes import Node\nkeep = [Node()]\n",
            "pkg.b",
            false,
        );
        let same = WorkspaceFacts::from_modules([&collected.facts, &strong]);
        assert!(holds_in(&same).is_empty());
        assert!(findings_in(&same).is_empty());

        // With a module that weak-references a `Node`: the finding, as an analysis that knew
        // the workspace from the start reports it.
        let weak = extract(
            "import weakref\nfrom pkg.nodes import Node\nr = weakref.ref(Node())\n",
            "pkg.c",
            false,
        );
        let other = WorkspaceFacts::from_modules([&collected.facts, &weak]);
        assert_eq!(holds_in(&other).len(), 1);
        assert_eq!(holds_in(&other), findings_in(&other));
    }

    /// Calls that give facts through an alias (no method name spelled) or written with
    /// non-ASCII letters (normalised in the tree, not in the tokens) are still found.
    #[test]
    fn facts_from_aliased_and_non_ascii_calls() {
        let source = "from contextlib import closing as c\nfrom weakref import ref as r\n\n\
                      def own(stream):\n    with c(stream):\n        pass\n\n\
                      def track():\n    return r(Widget())\n";
        let facts = extract(source, "m", false);
        assert_eq!(facts.closers, vec![("m.own".to_owned(), 0)]);
        assert_eq!(facts.weakly_referenced, vec!["Widget"]);

        // `ｃｌｏｓｅ` (fullwidth) is `close` to Python. (The comment passes the text pre-test,
        // which, like the rules' trigger words, reads the text as written.)
        let source =
            "# close\ndef shut(sock):\n    sock.\u{ff43}\u{ff4c}\u{ff4f}\u{ff53}\u{ff45}()\n";
        let facts = extract(source, "m", false);
        assert_eq!(facts.closers, vec![("m.shut".to_owned(), 0)]);
    }

    /// Facts filed by workers over runs of modules and joined left to right are the facts of
    /// all modules in order (`reflens check` builds its workspace so).
    #[test]
    fn appending_keeps_module_order() {
        let modules: Vec<ModuleFacts> = ["a", "b", "c"]
            .iter()
            .map(|name| {
                extract(
                    &format!("class Node:\n    __slots__ = ('{name}',)\n"),
                    name,
                    false,
                )
            })
            .collect();
        let all = WorkspaceFacts::from_modules(&modules);
        let mut left = WorkspaceFacts::default();
        left.add_owned(modules[0].clone());
        let mut right = WorkspaceFacts::default();
        right.add_owned(modules[1].clone());
        right.add_owned(modules[2].clone());
        left.append(right);
        assert_eq!(left.classes_named("Node"), all.classes_named("Node"));
        assert_eq!(left.classes_named("Node").len(), 3);
        assert_eq!(
            left.classes_named("Node")[0].slots,
            Some(vec!["a".to_owned()])
        );
    }

    #[test]
    fn relative_imports() {
        assert_eq!(resolve_relative(".x", "pkg.mod", false), "pkg.x");
        assert_eq!(resolve_relative(".x", "pkg", true), "pkg.x");
        assert_eq!(resolve_relative("..x.y", "a.b.c", false), "a.x.y");
        assert_eq!(resolve_relative("os.path", "a", false), "os.path");
    }
}
