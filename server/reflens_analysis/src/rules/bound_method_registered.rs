use std::cell::OnceCell;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, Input, MatchKind};
use ruff_python_ast::token::{Token, TokenKind};
use ruff_python_ast::visitor::{Visitor, walk_expr, walk_stmt};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange, TextSize};

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::Diagnostic;
use crate::helpers::{
    MethodKind, deep, first_parameter, instantiated_at_module_level, is_long_lived_class,
    method_kind, name_after_dot, name_of, parens_before, skip_closing, token_at, walk_statements,
};
use crate::registry::Rule;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// Inside a method, a bound method of `self` (`self.close`), a lambda or nested function
    /// that uses `self`, or `functools.partial(self.m, ...)` handed to a registry that lives
    /// until the interpreter exits:
    ///
    /// - `atexit.register(...)`;
    /// - `signal.signal(signum, ...)`;
    /// - `sys.settrace`, `sys.setprofile`, `threading.settrace`, `threading.setprofile`,
    ///   `sys.addaudithook`, `copyreg.pickle(cls, ...)`;
    /// - assigning to `sys.excepthook`, `sys.displayhook`, `sys.unraisablehook`,
    ///   `sys.breakpointhook` or `threading.excepthook`;
    /// - a module-level event bus or list of this file: `_bus.subscribe(self.on_event)`,
    ///   `_HANDLERS.append(self.handle)` (`subscribe`, `register`, `add_listener`, `on`,
    ///   `append`, `add`, ...; not `connect`, which Django and blinker signals hold weakly).
    ///
    /// Two shapes are bugs wherever they appear, and are reported everywhere:
    ///
    /// - `weakref.finalize(obj, obj.method)` or `weakref.finalize(self, lambda: self...)`: the
    ///   finalizer holds the object it waits for;
    /// - a `weakref.WeakKeyDictionary` whose value refers to its key: `wkd[obj] = obj.method`,
    ///   `wkd[obj] = (obj, extra)`, `wkd[obj] = {"cb": obj.method}`, `wkd[obj] = lambda: obj...`.
    ///
    /// Not reported: a finalizer callback that is a class or static method of the file
    /// (`weakref.finalize(self, self._cleanup, self.name)`, as `tempfile.TemporaryDirectory`
    /// does: it is not bound to `self`); a module-level bus of this file whose class offers
    /// removal (`detach`, `unsubscribe`, `clear`) or goes through `weakref`; classes
    /// instantiated at module level (singletons such as a logging
    /// manager, which live until exit anyway), enums and metaclasses; a class that undoes the
    /// registration (`atexit.unregister`, restoring the previous signal handler or trace
    /// function, assigning the hook back, unsubscribing from the bus); attributes of `self`
    /// that are not methods of the class (a stored plain function).
    ///
    /// ## Why it keeps memory alive
    /// A bound method refers to its instance through `__self__`, and a lambda or closure
    /// through its cell. The registries above are module-level state of the interpreter:
    /// `atexit` keeps its callbacks until exit, a signal handler or trace function stays
    /// installed until replaced. So every instance that registered itself stays alive, with
    /// everything it refers to, until the interpreter exits; a class created per request or per
    /// job leaks one instance each time. A `weakref.finalize` callback is strongly held by
    /// the finalizer registry, so if it refers to the object the object never dies and the
    /// finalizer runs only at exit. A `WeakKeyDictionary` entry goes away when its key dies,
    /// which a value referring to the key prevents.
    ///
    /// ## Example
    /// ```python
    /// import atexit
    /// import weakref
    ///
    /// class TempWorkspace:
    ///     def __init__(self, path):
    ///         self.path = path
    ///         atexit.register(self.cleanup)
    ///         self._finalizer = weakref.finalize(self, self.cleanup)
    ///
    ///     def cleanup(self):
    ///         shutil.rmtree(self.path, ignore_errors=True)
    /// ```
    ///
    /// ## Fix
    /// Register a function that holds only the state it needs, not the instance:
    ///
    /// ```python
    /// class TempWorkspace:
    ///     def __init__(self, path):
    ///         self.path = path
    ///         self._finalizer = weakref.finalize(self, shutil.rmtree, path, ignore_errors=True)
    /// ```
    ///
    /// `weakref.finalize` also runs at exit (its `atexit` attribute is true by default), so
    /// it replaces the `atexit` registration. For signal handlers, trace functions and hooks,
    /// restore the previous value when the object is done (`close()`, `__exit__`), or
    /// register a module-level function that looks the instance up through a
    /// `weakref.WeakMethod`. For a bus, unsubscribe in `close()`.
    ///
    /// ## Fix safety
    /// No automatic fix: the right rewrite depends on which state the callback needs (a
    /// `weakref.WeakMethod` wrapper cannot be handed to `atexit` or `signal` as is: it must be
    /// called to get the method, then the method called), so the finding explains the
    /// registry instead.
    pub struct BoundMethodRegistered {
        code: "RL502",
        name: "bound-method-registered",
        summary: "A bound method or `self`-capturing lambda registered with a long-lived registry",
        fix: None,
    }
}

/// Registration calls: qualified name, index of the callback argument, registry description.
const REGISTRIES: &[(&str, usize, &str)] = &[
    ("atexit.register", 0, "the `atexit` registry"),
    ("signal.signal", 1, "the process's signal handler table"),
    ("sys.settrace", 0, "the interpreter's trace function"),
    ("sys.setprofile", 0, "the interpreter's profile function"),
    (
        "threading.settrace",
        0,
        "`threading`'s trace function for new threads",
    ),
    (
        "threading.setprofile",
        0,
        "`threading`'s profile function for new threads",
    ),
    (
        "threading.settrace_all_threads",
        0,
        "the trace function of every thread",
    ),
    (
        "threading.setprofile_all_threads",
        0,
        "the profile function of every thread",
    ),
    (
        "sys.addaudithook",
        0,
        "the interpreter's audit hooks (which can never be removed)",
    ),
    ("copyreg.pickle", 1, "the `copyreg` dispatch table"),
];

/// Hooks assigned as attributes of modules.
const HOOKS: &[&str] = &[
    "sys.excepthook",
    "sys.displayhook",
    "sys.unraisablehook",
    "sys.breakpointhook",
    "threading.excepthook",
];

const BUS_METHODS: &[&str] = &[
    "subscribe",
    "register",
    "add_listener",
    "add_observer",
    "add_handler",
    "add_callback",
    "add_subscriber",
    "on",
    "listen",
    "watch",
    "append",
    "add",
];

/// Words one of which a file needs for this rule to run on it (see `triggers`).
///
/// No word: a module-level bus of the file is any name with a list, set or dict (`on`, `add`,
/// `append` are among its methods). `check` looks for the words of the other shapes itself
/// ([`Words`]) and skips the walks that cannot find anything.
pub(crate) const TRIGGERS: Triggers = Triggers::Always;

/// Which shapes the file's text allows. Every segment of a qualified name is spelled in the
/// file (an attribute, or the module or member of an import: `import atexit as a`,
/// `from sys import settrace as st`; a relative import's name starts with a dot), so a call
/// that resolves to `atexit.register` needs `atexit` in the text, `sys.settrace` needs
/// `settrace`, an assignment to `sys.excepthook` needs `excepthook`, `weakref.finalize`
/// needs `finalize`, and so on.
#[derive(Clone, Copy, Default)]
struct Words {
    /// A registration call of [`REGISTRIES`] may occur.
    calls: bool,
    /// An assignment to one of [`HOOKS`] may occur.
    hooks: bool,
    /// `weakref.finalize` may occur.
    finalize: bool,
    /// `weakref.WeakKeyDictionary` may occur.
    weak_key_dict: bool,
}

/// The words of [`Words`]; the index of each group's last word.
const WORDS: &[&str] = &[
    // Registries: a segment of each qualified name of `REGISTRIES`.
    "atexit",
    "signal",
    "settrace",
    "setprofile",
    "addaudithook",
    "copyreg",
    // Hooks: the last segment of each name of `HOOKS`.
    "excepthook",
    "displayhook",
    "unraisablehook",
    "breakpointhook",
    "finalize",
    "WeakKeyDictionary",
];
const LAST_CALL_WORD: usize = 5;
const LAST_HOOK_WORD: usize = 9;

static WORDS_AUTOMATON: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostLongest)
        .build(WORDS)
        .expect("the words build an automaton")
});

impl Words {
    fn of(source: &str) -> Self {
        let mut words = Words::default();
        let mut input = Input::new(source);
        // As in `triggers`: restart one byte after each match's start, so no word is hidden
        // by an overlapping one.
        while let Some(found) = WORDS_AUTOMATON.find(input.clone()) {
            input.set_start(found.start() + 1);
            match found.pattern().as_usize() {
                i if i <= LAST_CALL_WORD => words.calls = true,
                i if i <= LAST_HOOK_WORD => words.hooks = true,
                i if WORDS[i] == "finalize" => words.finalize = true,
                _ => words.weak_key_dict = true,
            }
            if words.calls && words.hooks && words.finalize && words.weak_key_dict {
                break;
            }
        }
        words
    }
}

/// The last segments of the qualified names of [`REGISTRIES`]: an attribute call whose
/// attribute is none of them cannot resolve to one.
const REGISTRY_ATTRS: &[&str] = &[
    "register",
    "signal",
    "settrace",
    "setprofile",
    "settrace_all_threads",
    "setprofile_all_threads",
    "addaudithook",
    "pickle",
];

/// The last segments of [`HOOKS`].
const HOOK_ATTRS: &[&str] = &[
    "excepthook",
    "displayhook",
    "unraisablehook",
    "breakpointhook",
];

pub(crate) fn check(checker: &mut Checker) {
    let mut words = Words::of(checker.source);
    // `weakref.finalize` resolves through an import of `weakref` or of `weakref.finalize`.
    words.finalize = words.finalize
        && checker
            .semantic
            .imported_names()
            .any(|(_, qualified)| matches!(qualified, "weakref" | "weakref.finalize"));
    // How the registration functions and hooks can be spelled in a method (see `spellings`).
    let registry_spellings = if words.calls {
        spellings(checker, REGISTRIES.iter().map(|(name, _, _)| *name))
    } else {
        Vec::new()
    };
    let hook_spellings = if words.hooks {
        spellings(checker, HOOKS.iter().copied())
    } else {
        Vec::new()
    };
    // Module-level names that can be a bus (for some method of `BUS_METHODS`): a method
    // whose text spells none of them cannot register with a bus.
    let buses = module_level_buses(checker);
    let mut found = Vec::new();
    checker.walk_classes(&mut |class| {
        let mut singleton = None;
        for stmt in &class.body {
            let Stmt::FunctionDef(def) = stmt else {
                continue;
            };
            let Some(this) = first_parameter(def) else {
                continue;
            };
            let text = checker.slice(def);
            let buses_here = !buses.is_empty()
                && buses
                    .iter()
                    .any(|bus| bus_call_spelled(checker, def.start(), text, bus));
            let spelled = |spellings: &[(&str, Option<&str>)]| {
                spellings.iter().any(|(local, last)| {
                    text.contains(local) && last.is_none_or(|last| text.contains(last))
                })
            };
            let here = Words {
                calls: words.calls && spelled(&registry_spellings),
                hooks: words.hooks && spelled(&hook_spellings),
                ..words
            };
            if !here.calls && !here.hooks && !buses_here {
                continue;
            }
            let mut visitor = MethodVisitor {
                checker,
                class,
                this,
                words: here,
                buses: buses_here,
                closures: Closures::of(&def.body, this),
                registrations: Vec::new(),
            };
            visitor.visit_body(&def.body);
            if visitor.registrations.is_empty() || method_kind(checker, def) != MethodKind::Instance
            {
                continue;
            }
            let singleton = *singleton.get_or_insert_with(|| {
                is_long_lived_class(checker, class) || instantiated_at_module_level(checker, class)
            });
            for registration in visitor.registrations {
                if singleton || undone(checker, class, this, &registration) {
                    continue;
                }
                found.push(registration.diagnostic(class, this));
            }
        }
    });
    // Shapes that are bugs anywhere: finalizers that hold their object, and weak-key
    // dictionaries whose values hold their keys.
    let weak_key_dicts = if words.weak_key_dict {
        WeakKeyDicts::collect(checker)
    } else {
        WeakKeyDicts {
            names: Vec::new(),
            attributes: Vec::new(),
        }
    };
    if words.finalize || !weak_key_dicts.is_empty() {
        let mut unbound_methods = Vec::new();
        if words.finalize {
            checker.walk_classes(&mut |class| {
                for stmt in &class.body {
                    if let Stmt::FunctionDef(def) = stmt
                        && method_kind(checker, def) != MethodKind::Instance
                    {
                        unbound_methods.push(def.name.as_str());
                    }
                }
            });
        }
        let mut anywhere = AnywhereVisitor {
            checker,
            finalize: words.finalize,
            unbound_methods,
            weak_key_dicts: &weak_key_dicts,
            found: &mut found,
        };
        anywhere.visit_body(checker.suite);
    }
    for diagnostic in found {
        checker.report(diagnostic);
    }
}

/// How a call of (or an assignment to) one of `names` can be spelled: the local name its
/// expression starts with, bound by an import whose qualified name is the whole name or a
/// prefix of it by segments, and then the name's last segment, spelled as an attribute
/// (`None` when the import binds the whole name). A method whose text spells none of them
/// (both parts) has no expression that resolves to one of `names` (none is a builtin).
fn spellings<'a>(
    checker: &Checker<'a>,
    names: impl Iterator<Item = &'static str> + Clone,
) -> Vec<(&'a str, Option<&'static str>)> {
    let mut out = Vec::new();
    for (local, qualified) in checker.semantic.imported_names() {
        for name in names.clone() {
            let spelling = if name == qualified {
                (local, None)
            } else if name.len() > qualified.len()
                && name.starts_with(qualified)
                && name.as_bytes()[qualified.len()] == b'.'
            {
                (local, name.rsplit('.').next())
            } else {
                continue;
            };
            if !out.contains(&spelling) {
                out.push(spelling);
            }
        }
    }
    out
}

/// Whether `text`, a method's text starting at `start`, may call a method of `bus`:
/// `bus.m` with `m` one of [`BUS_METHODS`] (or not a plain name), parentheses around `bus`
/// allowed. In a text beyond ASCII (identifiers are compared after NFKC normalization), any
/// spelling of `bus` counts.
fn bus_call_spelled(checker: &Checker, start: TextSize, text: &str, bus: &str) -> bool {
    if !text.contains(bus) {
        return false;
    }
    if !text.is_ascii() {
        return true;
    }
    let tokens: &[Token] = checker.tokens;
    let len = TextSize::try_from(bus.len()).unwrap_or_default();
    text.match_indices(bus).any(|(offset, _)| {
        let at = start + TextSize::try_from(offset).unwrap_or_default();
        let Some(i) = token_at(tokens, at) else {
            return false;
        };
        let token = &tokens[i];
        if token.range().len() != len
            || !(token.kind() == TokenKind::Name || token.kind().is_soft_keyword())
        {
            return false;
        }
        let (mut open, _) = parens_before(&tokens[..i]);
        let mut rest = &tokens[i + 1..];
        skip_closing(&mut rest, &mut open);
        match rest.first().map(Token::kind) {
            Some(TokenKind::Dot) => {
                rest = &rest[1..];
                name_after_dot(checker.source, &mut rest)
                    .is_none_or(|method| BUS_METHODS.contains(&method))
            }
            _ => false,
        }
    })
}

/// Names that may be a module-level bus: bound at module level (outside functions and
/// classes) by an assignment, and [`is_module_level_bus`] for one of [`BUS_METHODS`].
fn module_level_buses<'a>(checker: &Checker<'a>) -> Vec<&'a str> {
    fn targets<'a>(target: &'a Expr, out: &mut Vec<&'a str>) {
        match target {
            Expr::Name(name) if !out.contains(&name.id.as_str()) => out.push(name.id.as_str()),
            Expr::Tuple(tuple) => tuple.iter().for_each(|elt| targets(elt, out)),
            Expr::List(list) => list.iter().for_each(|elt| targets(elt, out)),
            Expr::Starred(starred) => targets(&starred.value, out),
            _ => {}
        }
    }
    let mut names = Vec::new();
    walk_statements(checker.suite, &mut |stmt| match stmt {
        Stmt::Assign(assign)
            if matches!(
                &*assign.value,
                Expr::List(_) | Expr::Set(_) | Expr::Dict(_) | Expr::Call(_)
            ) =>
        {
            for target in &assign.targets {
                targets(target, &mut names);
            }
        }
        Stmt::AnnAssign(ast::StmtAnnAssign {
            target,
            value: Some(value),
            ..
        }) if matches!(
            &**value,
            Expr::List(_) | Expr::Set(_) | Expr::Dict(_) | Expr::Call(_)
        ) =>
        {
            targets(target, &mut names);
        }
        _ => {}
    });
    names.retain(|name| is_module_level_bus_for(checker, name, &|m| BUS_METHODS.contains(&m)));
    names
}

/// The functions of a method's body that use its `self`, found when first needed.
struct Closures<'a> {
    body: &'a [Stmt],
    this: &'a str,
    names: OnceCell<Vec<&'a str>>,
}

impl<'a> Closures<'a> {
    fn of(body: &'a [Stmt], this: &'a str) -> Self {
        Closures {
            body,
            this,
            names: OnceCell::new(),
        }
    }

    fn none() -> Self {
        Closures {
            body: &[],
            this: "",
            names: OnceCell::from(Vec::new()),
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.names
            .get_or_init(|| self_closures(self.body, self.this))
            .contains(&name)
    }
}

/// Names of functions defined in `body` (not nested deeper) that use `this`.
fn self_closures<'a>(body: &'a [Stmt], this: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    struct Defs<'a, 'o> {
        this: &'o str,
        out: &'o mut Vec<&'a str>,
    }
    impl<'a> Visitor<'a> for Defs<'a, '_> {
        // Statements only: expressions hold no statements (and can nest thousands deep).
        fn visit_expr(&mut self, _: &'a Expr) {}

        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            if let Stmt::FunctionDef(def) = stmt {
                if crate::helpers::any_over_body(&def.body, |e: &Expr| {
                    name_of(e) == Some(self.this)
                }) {
                    self.out.push(def.name.as_str());
                }
                return;
            }
            if matches!(stmt, Stmt::ClassDef(_)) {
                return;
            }
            deep(|| walk_stmt(self, stmt));
        }
    }
    Defs {
        this,
        out: &mut out,
    }
    .visit_body(body);
    out
}

/// How a callback keeps `this` alive, if it does.
fn captures_self(
    checker: &Checker,
    class: &ast::StmtClassDef,
    this: &str,
    closures: &Closures,
    expr: &Expr,
) -> Option<String> {
    match expr {
        Expr::Attribute(attr) if name_of(&attr.value) == Some(this) => {
            let is_method = class.body.iter().any(|stmt| {
                matches!(stmt, Stmt::FunctionDef(def) if def.name.as_str() == attr.attr.as_str()
                    && method_kind(checker, def) == MethodKind::Instance)
            });
            is_method.then(|| format!("the bound method `{this}.{}`", attr.attr))
        }
        Expr::Lambda(lambda) => {
            let shadowed = lambda
                .parameters
                .as_ref()
                .is_some_and(|p| p.iter().any(|p| p.name().as_str() == this));
            (!shadowed
                && crate::helpers::any_over_expr(&lambda.body, |e: &Expr| name_of(e) == Some(this)))
            .then(|| format!("a lambda that uses `{this}`"))
        }
        Expr::Name(name) if closures.contains(name.id.as_str()) => Some(format!(
            "the nested function `{}`, which uses `{this}`",
            name.id
        )),
        Expr::Call(call)
            if checker
                .semantic
                .resolves_to(&call.func, &["functools.partial"]) =>
        {
            let held = call.arguments.args.iter().any(|arg| {
                name_of(arg) == Some(this)
                    || captures_self(checker, class, this, closures, arg).is_some()
            });
            held.then(|| format!("a `functools.partial` that holds `{this}`"))
        }
        _ => None,
    }
}

enum Registry {
    /// A registration call: qualified name of the function.
    Call(&'static str, &'static str),
    /// An assigned hook.
    Hook(String),
    /// A module-level bus of this file: its name and the method.
    Bus(String),
}

struct Registration {
    registry: Registry,
    how: String,
    range: TextRange,
    text: String,
}

impl Registration {
    fn diagnostic(&self, class: &ast::StmtClassDef, this: &str) -> Diagnostic {
        let holder = match &self.registry {
            Registry::Call(_, description) => description.to_string(),
            Registry::Hook(name) => format!("`{name}`"),
            Registry::Bus(name) => format!("the module-level `{name}`"),
        };
        let message = format!(
            "`{text}` keeps this `{class}` (and all it refers to) alive until the interpreter exits: {holder} holds {how}",
            text = self.text,
            class = class.name,
            how = self.how,
        );
        let note = match &self.registry {
            Registry::Call("atexit.register", _) => format!(
                "No automatic fix: register a function that takes only the state it needs (or use `weakref.finalize({this}, func, *state)`, which also runs at exit), or call `atexit.unregister` in `close()`."
            ),
            Registry::Call(..) | Registry::Hook(_) => "No automatic fix: restore the previous handler when the object is done (in `close()` or `__exit__`), or install a module-level function that reaches the instance through a `weakref.WeakMethod`.".to_owned(),
            Registry::Bus(name) => format!(
                "No automatic fix: unsubscribe from `{name}` when the object is done, or make `{name}` hold its subscribers weakly (`weakref.WeakMethod`)."
            ),
        };
        Diagnostic::new(Rule::BoundMethodRegistered, self.range, message).with_note(note)
    }
}

struct MethodVisitor<'c, 'a> {
    checker: &'c Checker<'a>,
    class: &'a ast::StmtClassDef,
    this: &'a str,
    words: Words,
    /// Whether the method spells a name of a module-level bus.
    buses: bool,
    closures: Closures<'a>,
    registrations: Vec<Registration>,
}

impl<'a> Visitor<'a> for MethodVisitor<'_, 'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if self.words.hooks
            && let Stmt::Assign(assign) = stmt
        {
            for target in &assign.targets {
                // The qualified name of `x.attr` ends with `attr`.
                if match target {
                    Expr::Name(_) => true,
                    Expr::Attribute(attr) => HOOK_ATTRS.contains(&attr.attr.as_str()),
                    _ => false,
                } && let Some(hook) = self.checker.semantic.qualified_name(target)
                    && HOOKS.contains(&hook.as_str())
                    && let Some(how) = captures_self(
                        self.checker,
                        self.class,
                        self.this,
                        &self.closures,
                        &assign.value,
                    )
                {
                    self.registrations.push(Registration {
                        registry: Registry::Hook(hook),
                        how,
                        range: stmt.range(),
                        text: self.checker.slice(stmt).to_owned(),
                    });
                }
            }
        }
        if matches!(stmt, Stmt::ClassDef(_)) {
            return;
        }
        deep(|| walk_stmt(self, stmt));
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        // Only calls can register (hooks are assigned by statements, which no expression
        // holds).
        if !self.words.calls && !self.buses {
            return;
        }
        if let Expr::Call(call) = expr {
            self.check_call(call);
        }
        deep(|| walk_expr(self, expr));
    }
}

impl MethodVisitor<'_, '_> {
    fn check_call(&mut self, call: &ast::ExprCall) {
        let checker = self.checker;
        // The qualified name of `x.attr` ends with `attr`.
        if self.words.calls
            && match &*call.func {
                Expr::Name(_) => true,
                Expr::Attribute(attr) => REGISTRY_ATTRS.contains(&attr.attr.as_str()),
                _ => false,
            }
            && let Some(qualified) = checker.semantic.qualified_name(&call.func)
            && let Some((name, position, description)) = REGISTRIES
                .iter()
                .find(|(name, _, _)| *name == qualified.as_str())
        {
            if let Some(callback) = call.arguments.find_positional(*position)
                && let Some(how) =
                    captures_self(checker, self.class, self.this, &self.closures, callback)
            {
                self.registrations.push(Registration {
                    registry: Registry::Call(name, description),
                    how,
                    range: call.range(),
                    text: short_text(checker, call),
                });
            }
            return;
        }
        // `_bus.subscribe(self.on_event)` with `_bus` a module-level variable.
        if self.buses
            && let Expr::Attribute(method) = &*call.func
            && BUS_METHODS.contains(&method.attr.as_str())
            && let Some(bus) = name_of(&method.value)
            && is_module_level_bus(checker, bus, method.attr.as_str())
            && let Some(callback) = call.arguments.args.last()
            && let Some(how) =
                captures_self(checker, self.class, self.this, &self.closures, callback)
        {
            self.registrations.push(Registration {
                registry: Registry::Bus(bus.to_owned()),
                how,
                range: call.range(),
                text: short_text(checker, call),
            });
        }
    }
}

fn short_text(checker: &Checker, call: &ast::ExprCall) -> String {
    let text = checker.slice(call);
    if text.len() > 80 || text.contains(['\n', '\r']) {
        format!("{}(...)", checker.slice(&*call.func))
    } else {
        text.to_owned()
    }
}

/// True if `name` is bound at module level by assignments only (not an import, function or
/// class), to something other than a weak container or an instance of a class of this file
/// that stores subscribers weakly.
fn is_module_level_bus(checker: &Checker, name: &str, method: &str) -> bool {
    is_module_level_bus_for(checker, name, &|m| m == method)
}

/// [`is_module_level_bus`] for a method of which `method` holds.
fn is_module_level_bus_for(checker: &Checker, name: &str, method: &dyn Fn(&str) -> bool) -> bool {
    let bindings = checker.semantic.module_bindings(name);
    if bindings.is_empty() {
        return false;
    }
    bindings.iter().all(|stmt| {
        let value = match stmt {
            Stmt::Assign(assign) => &*assign.value,
            Stmt::AnnAssign(ast::StmtAnnAssign {
                value: Some(value), ..
            }) => &**value,
            _ => return false,
        };
        match value {
            Expr::List(_) | Expr::Set(_) | Expr::Dict(_) => true,
            Expr::Call(call) => {
                if let Some(qualified) = checker.semantic.qualified_name(&call.func) {
                    return matches!(
                        qualified.as_str(),
                        "builtins.list" | "builtins.set" | "collections.deque"
                    );
                }
                // An instance of a class of this file whose method does not go through weakref.
                let Some(class_name) = name_of(&call.func) else {
                    return false;
                };
                let [Stmt::ClassDef(class)] = checker.semantic.module_bindings(class_name) else {
                    return false;
                };
                // A bus that offers removal (`unsubscribe`, `detach`, `clear`) is left to its
                // users; one that goes through `weakref` holds its subscribers weakly.
                let offers_removal = class.body.iter().any(|stmt| {
                    matches!(stmt, Stmt::FunctionDef(def) if {
                        let lower = def.name.to_ascii_lowercase();
                        ["remove", "discard", "unsubscribe", "unregister", "detach", "disconnect", "clear", "off"]
                            .iter()
                            .any(|w| lower.trim_start_matches('_').starts_with(w))
                    })
                });
                !offers_removal
                    && class.body.iter().any(|stmt| {
                        matches!(stmt, Stmt::FunctionDef(def) if method(def.name.as_str())
                            && !checker.slice(def).contains("weak"))
                    })
            }
            _ => false,
        }
    })
}

/// Whether the class undoes the registration somewhere: `atexit.unregister`, another call of
/// the same registration function (restoring a previous handler), another assignment to the
/// hook, or a removal call on the bus.
fn undone(
    checker: &Checker,
    class: &ast::StmtClassDef,
    this: &str,
    registration: &Registration,
) -> bool {
    struct Finder<'c, 'a> {
        checker: &'c Checker<'a>,
        class: &'a ast::StmtClassDef,
        this: &'c str,
        registry: &'c Registry,
        found: bool,
    }
    impl<'a> Visitor<'a> for Finder<'_, 'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            if let (Registry::Hook(hook), Stmt::Assign(assign)) = (self.registry, stmt)
                && assign.targets.iter().any(|t| {
                    self.checker.semantic.qualified_name(t).as_deref() == Some(hook.as_str())
                })
                && captures_self(
                    self.checker,
                    self.class,
                    self.this,
                    &Closures::none(),
                    &assign.value,
                )
                .is_none()
            {
                self.found = true;
            }
            deep(|| walk_stmt(self, stmt));
        }
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Call(call) = expr {
                match self.registry {
                    Registry::Call(name, _) => {
                        let qualified = self.checker.semantic.qualified_name(&call.func);
                        let qualified = qualified.as_deref();
                        if *name == "atexit.register" {
                            if qualified == Some("atexit.unregister") {
                                self.found = true;
                            }
                        } else if qualified == Some(*name)
                            && let Some((_, position, _)) =
                                REGISTRIES.iter().find(|(n, _, _)| n == name)
                            && call.arguments.find_positional(*position).is_some_and(|cb| {
                                captures_self(
                                    self.checker,
                                    self.class,
                                    self.this,
                                    &Closures::none(),
                                    cb,
                                )
                                .is_none()
                            })
                        {
                            self.found = true;
                        }
                    }
                    Registry::Bus(bus) => {
                        if let Expr::Attribute(method) = &*call.func
                            && name_of(&method.value) == Some(bus.as_str())
                            && !BUS_METHODS.contains(&method.attr.as_str())
                        {
                            let lower = method.attr.to_ascii_lowercase();
                            if [
                                "remove",
                                "discard",
                                "unsubscribe",
                                "unregister",
                                "off",
                                "disconnect",
                                "pop",
                                "clear",
                            ]
                            .iter()
                            .any(|w| lower.contains(w))
                            {
                                self.found = true;
                            }
                        }
                    }
                    Registry::Hook(_) => {}
                }
            }
            deep(|| walk_expr(self, expr));
        }
    }
    let mut finder = Finder {
        checker,
        class,
        this,
        registry: &registration.registry,
        found: false,
    };
    finder.visit_body(&class.body);
    finder.found
}

/// Names and `self.` attributes bound to `weakref.WeakKeyDictionary()`.
struct WeakKeyDicts {
    names: Vec<String>,
    attributes: Vec<String>,
}

impl WeakKeyDicts {
    fn collect(checker: &Checker) -> Self {
        struct Collector<'c, 'a> {
            checker: &'c Checker<'a>,
            out: WeakKeyDicts,
        }
        impl<'a> Visitor<'a> for Collector<'_, 'a> {
            // Statements only: expressions hold no statements (and can nest thousands deep).
            fn visit_expr(&mut self, _: &'a Expr) {}

            fn visit_stmt(&mut self, stmt: &'a Stmt) {
                let (targets, value): (&[Expr], Option<&Expr>) = match stmt {
                    Stmt::Assign(assign) => (&assign.targets, Some(&*assign.value)),
                    Stmt::AnnAssign(assign) => (
                        std::slice::from_ref(&*assign.target),
                        assign.value.as_deref(),
                    ),
                    _ => (&[], None),
                };
                if let Some(Expr::Call(call)) = value
                    // The qualified name of `x.attr` ends with `attr`.
                    && match &*call.func {
                        Expr::Name(_) => true,
                        Expr::Attribute(attr) => attr.attr.as_str() == "WeakKeyDictionary",
                        _ => false,
                    }
                    && self
                        .checker
                        .semantic
                        .resolves_to(&call.func, &["weakref.WeakKeyDictionary"])
                {
                    for target in targets {
                        match target {
                            Expr::Name(name) => self.out.names.push(name.id.to_string()),
                            Expr::Attribute(attr) => {
                                self.out.attributes.push(attr.attr.to_string())
                            }
                            _ => {}
                        }
                    }
                }
                deep(|| walk_stmt(self, stmt));
            }
        }
        let mut collector = Collector {
            checker,
            out: WeakKeyDicts {
                names: Vec::new(),
                attributes: Vec::new(),
            },
        };
        collector.visit_body(checker.suite);
        collector.out
    }

    fn is_empty(&self) -> bool {
        self.names.is_empty() && self.attributes.is_empty()
    }

    fn contains(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Name(name) if self.names.iter().any(|n| n == name.id.as_str()) => {
                Some(name.id.to_string())
            }
            Expr::Attribute(attr)
                if matches!(&*attr.value, Expr::Name(_))
                    && self.attributes.iter().any(|a| a == attr.attr.as_str()) =>
            {
                Some(format!(
                    "{}.{}",
                    name_of(&attr.value).unwrap_or_default(),
                    attr.attr
                ))
            }
            _ => None,
        }
    }
}

/// True if `value` refers to the object named `key`: `key`, `key.attr`, `(key, x)`, a lambda
/// using `key`, `functools.partial(f, key)`.
fn refers_to(value: &Expr, key: &str) -> bool {
    match value {
        Expr::Name(name) => name.id.as_str() == key,
        Expr::Attribute(attr) => name_of(&attr.value) == Some(key),
        Expr::Tuple(tuple) => tuple.iter().any(|e| refers_to(e, key)),
        Expr::List(list) => list.iter().any(|e| refers_to(e, key)),
        Expr::Dict(dict) => dict.iter_values().any(|e| refers_to(e, key)),
        Expr::Lambda(lambda) => {
            let shadowed = lambda
                .parameters
                .as_ref()
                .is_some_and(|p| p.iter().any(|p| p.name().as_str() == key));
            !shadowed
                && crate::helpers::any_over_expr(&lambda.body, |e: &Expr| name_of(e) == Some(key))
        }
        Expr::Call(call)
            if matches!(&*call.func, Expr::Name(f) if f.id.as_str() == "partial")
                || matches!(&*call.func, Expr::Attribute(f) if f.attr.as_str() == "partial") =>
        {
            call.arguments.args.iter().any(|a| refers_to(a, key))
        }
        _ => false,
    }
}

struct AnywhereVisitor<'c, 'a> {
    checker: &'c Checker<'a>,
    /// Whether the file spells `finalize`.
    finalize: bool,
    /// Names of the file's class and static methods (`obj._cleanup` is then not bound to `obj`).
    unbound_methods: Vec<&'a str>,
    weak_key_dicts: &'c WeakKeyDicts,
    found: &'c mut Vec<Diagnostic>,
}

impl<'a> Visitor<'a> for AnywhereVisitor<'_, 'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if let Stmt::Assign(assign) = stmt
            && let [Expr::Subscript(sub)] = assign.targets.as_slice()
            && let Some(dict) = self.weak_key_dicts.contains(&sub.value)
            && let Some(key) = name_of(&sub.slice)
            && refers_to(&assign.value, key)
        {
            self.found
                .push(weak_key_diagnostic(self.checker, stmt.range(), &dict, key));
        }
        deep(|| walk_stmt(self, stmt));
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Call(call) = expr {
            if self.finalize
                // The qualified name of `x.attr` ends with `attr`.
                && match &*call.func {
                    Expr::Name(_) => true,
                    Expr::Attribute(attr) => attr.attr.as_str() == "finalize",
                    _ => false,
                }
                && self
                    .checker
                    .semantic
                    .resolves_to(&call.func, &["weakref.finalize"])
                && let Some(target) = call.arguments.find_positional(0).and_then(name_of)
                && let Some(callback) = call.arguments.find_positional(1)
                && !matches!(callback, Expr::Attribute(attr)
                    if self.unbound_methods.iter().any(|m| *m == attr.attr.as_str()))
                && (refers_to(callback, target)
                    || call
                        .arguments
                        .args
                        .iter()
                        .skip(2)
                        .any(|a| name_of(a) == Some(target))
                    || call
                        .arguments
                        .keywords
                        .iter()
                        .any(|k| name_of(&k.value) == Some(target)))
            {
                let message = format!(
                    "`weakref.finalize({target}, ...)` can never run before exit: the finalizer registry holds its callback and arguments, which refer to `{target}`, so `{target}` is never freed",
                );
                self.found.push(
                    Diagnostic::new(Rule::BoundMethodRegistered, call.range(), message).with_note(format!(
                        "No automatic fix: pass a function that does not refer to `{target}` (a module-level function or staticmethod) and the state it needs as arguments: `weakref.finalize({target}, cleanup, {target}.path)`."
                    )),
                );
            }
            if let Expr::Attribute(method) = &*call.func
                && method.attr.as_str() == "setdefault"
                && let Some(dict) = self.weak_key_dicts.contains(&method.value)
                && let [key, value] = call.arguments.args.as_ref()
                && let Some(key) = name_of(key)
                && refers_to(value, key)
            {
                self.found
                    .push(weak_key_diagnostic(self.checker, call.range(), &dict, key));
            }
        }
        deep(|| walk_expr(self, expr));
    }
}

fn weak_key_diagnostic(_checker: &Checker, range: TextRange, dict: &str, key: &str) -> Diagnostic {
    let message = format!(
        "the value stored in the `WeakKeyDictionary` `{dict}` refers to its key `{key}`: the dictionary holds the value strongly, so the key never dies and the entry is never removed",
    );
    Diagnostic::new(Rule::BoundMethodRegistered, range, message).with_note(format!(
        "No automatic fix: store a value that does not refer to `{key}` (the method's function and call it with the key, or the data it needs)."
    ))
}

#[cfg(test)]
mod tests {
    use crate::{Rule, RuleSet, Settings, analyze};

    fn findings(source: &str) -> usize {
        let settings = Settings::with_rules(
            [Rule::BoundMethodRegistered]
                .into_iter()
                .collect::<RuleSet>(),
        );
        analyze(source, &settings).len()
    }

    /// A bus call whose name token follows a `Dedent` (an empty token that starts where the
    /// name does) is still seen by the token pre-check.
    #[test]
    fn bus_call_first_on_its_line_after_a_block() {
        let source = "_bus = []\n\nclass A:\n    def start(self):\n        if self:\n            pass\n        _bus.append(self.on_event)\n\n    def on_event(self):\n        pass\n";
        assert_eq!(findings(source), 1);
    }

    /// A class after another one (its `class` keyword follows a `Dedent`) is still found: its
    /// class method is not bound to the instance.
    #[test]
    fn second_class_of_the_file_is_found() {
        let source = "import weakref\n\nclass A:\n    x = 1\n\nclass T:\n    def __init__(self, name):\n        self._f = weakref.finalize(self, self._cleanup, name)\n\n    @classmethod\n    def _cleanup(cls, name):\n        pass\n";
        assert_eq!(findings(source), 0);
        assert_eq!(findings(&source.replace("    @classmethod\n", "")), 1);
    }
}
