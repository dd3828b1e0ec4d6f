use ruff_python_ast::statement_visitor::{self, StatementVisitor};
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, ExceptHandler, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange, TextSize};
use rustc_hash::{FxHashMap, FxHashSet};
use std::cell::RefCell;

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::{Diagnostic, Edit, Fix};
use crate::helpers::{Words, any_within, deep, last_segment};
use crate::registry::Rule;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// Inside an `except` block, a value that still holds the caught exception's traceback,
    /// stored somewhere that outlives the block:
    ///
    /// - the values: the exception (`e`, or a name bound to it in the block such as `err = e`),
    ///   `e.__traceback__`, `e.__context__`, `e.__cause__`, `e.with_traceback(tb)`,
    ///   `sys.exc_info()` and its `[1]`/`[2]`, `sys.exception()`, `sys.last_value`,
    ///   `sys.last_traceback`, a traceback's `tb_frame`/`tb_next`, `inspect.trace()`, and any
    ///   tuple, list, set, dict or `functools.partial` written around one of these;
    /// - the places: an attribute (`self.error = e`, `job.exc = e`, `setattr(obj, "exc", e)`,
    ///   also `+=` and annotated forms), a name declared `global`, an item of an attribute or
    ///   module-level container (`self.errors[key] = e`), growth calls on such a container
    ///   (`append`, `add`, `appendleft`, `extend`, `extendleft`, `insert`, `setdefault`,
    ///   `update`), and `atexit.register(...)`;
    /// - closures: a `lambda` or nested `def` created in the block that captures a name bound
    ///   to the exception (or takes it as a default value), stored in one of those places; and
    ///   stores made inside such a nested function, which happen when it runs.
    ///
    /// The store must happen in the block (or in a function created there); a local bound in
    /// the block and stored after it is left to RL302, like every local.
    ///
    /// Not flagged, on purpose, because the exception is handed over rather than kept:
    /// - `raise`, `raise X from e`, `return e`, and passing the exception to a call
    ///   (`future.set_exception(e)`, `queue.put(e)`, `log(e)`): the receiver decides how long
    ///   to keep it. For the same reason, attributes of an object the function creates
    ///   (`result = Result(); result.error = e`, as ANTLR's generated parsers do) are not
    ///   flagged: that object is a result handed to the caller.
    /// - setting `__cause__`/`__context__` by hand, or an attribute of an exception the function
    ///   raises: that is chaining, like `raise X from e`. `sys.last_value = ...` is what the
    ///   interpreter itself does for `pdb.pm()`.
    /// - values that hold no traceback: `str(e)`, `repr(e)`, `e.args`, `type(e)`, `e.errno`,
    ///   `traceback.format_exc()`, `e.with_traceback(None)`, f-strings.
    ///
    /// Not flagged either, because the author manages the stored exception's lifetime:
    /// - the file raises the attribute or global again somewhere (`raise self._exc`,
    ///   `raise self.failures[key]`, `raise ExceptionGroup("...", self.errors)`): the exception
    ///   is a deferred `raise`, its traceback is the point, and it lives until it is raised;
    /// - the file releases it: the attribute or global is set to `None` or deleted (a
    ///   container: cleared, popped from, reassigned, also through a local alias such as
    ///   `events = self._events; events.pop()`) in another function that is not `__init__`, or
    ///   later in the same function (a `finally` that breaks the cycle);
    /// - methods of classes that look like futures (a name or base containing `Future`,
    ///   `Promise` or `Deferred`, so `asyncio.Task` too): holding an exception until it is
    ///   consumed is their documented contract, and it goes when the future goes.
    ///
    /// Handlers in a class body, and handlers at module level outside a loop, are not checked:
    /// they run once, and the classic `try: import x except ImportError as e: _err = e` keeps
    /// only the module's own frame (alive anyway) and the import machinery's. A module-level
    /// handler inside a loop (a script's main loop) is checked for growth of module-level
    /// containers, the one shape there that accumulates tracebacks.
    ///
    /// ## Why it keeps memory alive
    /// An exception's `__traceback__` refers to every frame between the `raise` and the
    /// handler, and each frame refers to all of its local variables: request bodies, buffers,
    /// database rows, tensors. Python deletes `e` at the end of the `except` block to let them
    /// go, but a copy stored in an attribute, a global or a long-lived container keeps all of
    /// those frames alive for as long as it is stored. When the object holding it is also a
    /// local of one of those frames (`self` in the method that failed), the frames and the
    /// object form a reference cycle that only the cyclic garbage collector can free. A list
    /// of exceptions keeps one whole stack of frames per entry.
    ///
    /// ## Example
    /// ```python
    /// class Uploader:
    ///     def __init__(self):
    ///         self.failures = []
    ///
    ///     def upload(self, path):
    ///         data = open(path, "rb").read()
    ///         try:
    ///             self.client.put(path, data)
    ///         except ConnectionError as e:
    ///             self.failures.append((path, e))
    /// ```
    ///
    /// ## Fix
    /// Store the exception without its traceback, or store the formatted traceback text:
    ///
    /// ```python
    /// import traceback
    ///
    /// class Uploader:
    ///     def __init__(self):
    ///         self.failures = []
    ///
    ///     def upload(self, path):
    ///         data = open(path, "rb").read()
    ///         try:
    ///             self.client.put(path, data)
    ///         except ConnectionError as e:
    ///             self.failures.append((path, e.with_traceback(None)))
    ///             # or: self.failures.append((path, traceback.format_exc()))
    /// ```
    ///
    /// The fixes offered, preferred first (inside a tuple, list or call, the fix rewrites the
    /// exception inside it):
    /// - an exception: `e.with_traceback(None)` (for `x.with_traceback(tb)`: pass `None`), which
    ///   keeps the exception's type, message and attributes and drops only the frames; then
    ///   `traceback.format_exc()` (only directly in the `except` block of that very exception,
    ///   where it formats it; not in a nested function, which runs later); then `repr(e)`.
    ///   For `e.__context__`, `e.__cause__` and `sys.last_value`, which may be `None` or are
    ///   shared with the interpreter, only `repr(...)`;
    /// - a traceback: `traceback.extract_tb(tb)`, then `traceback.format_tb(tb)`. `extract_tb`
    ///   comes first because it keeps the structure (file, line, function and source line of
    ///   each frame, as a `StackSummary` that `.format()` turns into text later) without
    ///   referring to a single frame; `format_tb` gives the same as text;
    /// - `sys.exc_info()`: `traceback.format_exc()` (or `"".join(traceback.format_exception(*info))`
    ///   for a tuple bound earlier in the block);
    /// - frames, closures, exceptions already inside a container built earlier in the block,
    ///   and `exc_info` unpacked into several attributes: no automatic fix (the diagnostic says
    ///   what to store instead).
    ///
    /// ## Fix safety
    /// All fixes are unsafe. `e.with_traceback(None)` changes the exception object itself (it
    /// sets `e.__traceback__` to `None` and returns `e`): code that later re-raises or formats
    /// the stored exception shows no traceback, and `e.__context__`/`e.__cause__` still hold
    /// their own tracebacks. It is not offered when the function goes on to re-raise, log or
    /// otherwise hand over the exception after the store, because the traceback would be lost
    /// there too. `traceback.format_exc()` and `repr(e)` store a string instead of an
    /// exception, so code that reads attributes of it or raises it breaks. `extract_tb` and
    /// `format_tb` store a `StackSummary` and a list of strings, not a traceback object. The
    /// fixes that use `traceback` add `import traceback` when the file lacks it.
    pub struct StoredException {
        code: "RL301",
        name: "stored-exception",
        summary: "an exception or traceback stored from an `except` block in an attribute, global or container keeps every frame between the raise and the handler alive, with their locals",
        fix: Sometimes,
    }
}

/// Words one of which a file needs for this rule to run on it (see `triggers`).
///
/// Every finding is made while analysing an `except` clause (`analyze_handler`), and the
/// parser builds an except handler only at an `except` keyword token (also when it repairs
/// broken code): a file without the word has nothing to find.
pub(crate) const TRIGGERS: Triggers = Triggers::AnyOf(&["except"]);

pub(crate) fn check(checker: &mut Checker) {
    // Nothing to store without an `except` clause.
    let found = {
        let mut walker = Walker::new(checker);
        walker.excepts = except_positions(checker.source);
        walker.walk_body(checker.suite, 0, false);
        walker.found
    };
    for diagnostic in found {
        checker.report(diagnostic);
    }
}

/// What a stored value is, as far as keeping frames alive goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An exception object: its `__traceback__` holds the frames.
    Exception,
    /// A traceback object.
    Traceback,
    /// A `(type, value, traceback)` tuple from `sys.exc_info()`.
    ExcInfo,
    /// A frame object, or frame records (`inspect.trace()`).
    Frame,
    /// A function that captures one of the above.
    Closure,
    /// A local tuple/list/dict built in the block around one of the above.
    Container,
}

/// A name bound, in the block, to a value that holds the traceback.
#[derive(Debug, Clone)]
struct Alias<'a> {
    name: &'a str,
    kind: Kind,
    /// The handler whose exception this is, when known.
    handler: Option<usize>,
    /// `.with_traceback(None)` is a sensible way to drop its traceback.
    strip_ok: bool,
    /// It is the handled exception (or its `exc_info`) itself, so `traceback.format_exc()`
    /// formats it.
    exact: bool,
    /// For closures and containers: what they hold (for messages).
    holds: Option<String>,
}

/// A sub-expression of a stored value that holds the traceback.
#[derive(Debug, Clone)]
struct Derived<'a> {
    expr: &'a Expr,
    kind: Kind,
    handler: Option<usize>,
    strip_ok: bool,
    exact: bool,
    /// For `x.with_traceback(tb)`: the `tb` argument, which the fix replaces with `None`.
    tb_arg: Option<&'a Expr>,
    holds: Option<String>,
    /// The literal (or call) it sits in, when it is not the whole stored value.
    within: Option<&'static str>,
}

/// The state of the walk through one `except` block (or a function nested in one).
struct Ctx<'a> {
    aliases: Vec<Alias<'a>>,
    /// Names bound by enclosing `except ... as name` clauses: Python deletes them at the end of
    /// the block, so a closure that captures one cannot keep the exception.
    handler_names: Vec<&'a str>,
    /// Enclosing handlers, innermost last (empty inside a nested function).
    handlers: Vec<usize>,
    /// Directly in the block (not in a nested function): `sys.exc_info()` and
    /// `traceback.format_exc()` refer to the handled exception.
    direct: bool,
    /// The body of the function (or module) the block is in, for what runs after a store.
    scope_body: &'a [Stmt],
    /// A module-level handler inside a loop: only growth of module-level containers counts.
    module_loop: bool,
}

impl<'a> Ctx<'a> {
    fn alias(&self, name: &str) -> Option<&Alias<'a>> {
        self.aliases.iter().rev().find(|alias| alias.name == name)
    }

    fn unbind(&mut self, name: &str) {
        self.aliases.retain(|alias| alias.name != name);
    }

    fn current_handler(&self) -> Option<usize> {
        self.handlers.last().copied()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScopeKind {
    Module,
    Class,
    Function,
}

struct Scope<'a> {
    kind: ScopeKind,
    body: &'a [Stmt],
    /// The function's range (for functions).
    range: Option<TextRange>,
    /// The function (for functions), whose names are collected on first use: most functions
    /// have no `except` block that needs them.
    def: Option<&'a ast::StmtFunctionDef>,
    names: std::cell::OnceCell<ScopeNames<'a>>,
    /// Classes: the class, which may look like a future (see [`Scope::future_like`]).
    class: Option<&'a ast::StmtClassDef>,
    future_like: std::cell::OnceCell<bool>,
}

/// The names of a scope (empty for modules and classes).
#[derive(Default)]
struct ScopeNames<'a> {
    globals: FxHashSet<&'a str>,
    locals: FxHashSet<&'a str>,
    /// Functions: locals only ever bound to a new instance (`result = Result(...)`).
    fresh: FxHashSet<&'a str>,
}

impl<'a> Scope<'a> {
    fn module(body: &'a [Stmt]) -> Self {
        Scope {
            kind: ScopeKind::Module,
            body,
            range: None,
            def: None,
            names: std::cell::OnceCell::new(),
            class: None,
            future_like: std::cell::OnceCell::new(),
        }
    }

    fn class(class: &'a ast::StmtClassDef) -> Self {
        Scope {
            kind: ScopeKind::Class,
            body: &class.body,
            range: None,
            def: None,
            names: std::cell::OnceCell::new(),
            class: Some(class),
            future_like: std::cell::OnceCell::new(),
        }
    }

    /// Classes: the class looks like a future (its name or a base names `Future`, `Promise`,
    /// `Deferred`), whose job is to hold an exception until it is consumed.
    fn future_like(&self) -> bool {
        *self.future_like.get_or_init(|| self.future_like_class())
    }

    fn future_like_class(&self) -> bool {
        self.class.is_some_and(|class| {
            std::iter::once(class.name.as_str())
                .chain(class.bases().iter().filter_map(last_segment))
                .any(|name| {
                    ["Future", "Promise", "Deferred"]
                        .iter()
                        .any(|word| name.contains(word))
                })
        })
    }

    fn function(def: &'a ast::StmtFunctionDef) -> Self {
        Scope {
            kind: ScopeKind::Function,
            body: &def.body,
            range: Some(def.range),
            def: Some(def),
            names: std::cell::OnceCell::new(),
            class: None,
            future_like: std::cell::OnceCell::new(),
        }
    }

    fn names(&self) -> &ScopeNames<'a> {
        self.names
            .get_or_init(|| self.def.map(ScopeNames::function).unwrap_or_default())
    }

    fn globals(&self) -> &FxHashSet<&'a str> {
        &self.names().globals
    }

    fn locals(&self) -> &FxHashSet<&'a str> {
        &self.names().locals
    }

    fn fresh(&self) -> &FxHashSet<&'a str> {
        &self.names().fresh
    }
}

impl<'a> ScopeNames<'a> {
    fn function(def: &'a ast::StmtFunctionDef) -> Self {
        let mut globals = FxHashSet::default();
        let mut locals = FxHashSet::default();
        let params = &def.parameters;
        for param in params
            .posonlyargs
            .iter()
            .chain(&params.args)
            .chain(&params.kwonlyargs)
        {
            locals.insert(param.parameter.name.as_str());
        }
        for param in params.vararg.iter().chain(&params.kwarg) {
            locals.insert(param.name.as_str());
        }
        let params = locals.clone();
        collect_bindings(&def.body, &mut globals, &mut locals);
        locals.retain(|name| !globals.contains(name));
        let mut fresh = FxHashSet::default();
        let mut other = params;
        collect_fresh(&def.body, &mut fresh, &mut other);
        fresh.retain(|name| !other.contains(name) && locals.contains(name));
        ScopeNames {
            globals,
            locals,
            fresh,
        }
    }
}

/// The names a function body binds (its locals) and declares `global`, without entering
/// nested functions and classes. `nonlocal` names count as locals: they are not globals.
fn collect_bindings<'a>(
    body: &'a [Stmt],
    globals: &mut FxHashSet<&'a str>,
    locals: &mut FxHashSet<&'a str>,
) {
    for stmt in body {
        match stmt {
            Stmt::Global(global) => globals.extend(global.names.iter().map(|name| name.as_str())),
            Stmt::Nonlocal(nonlocal) => {
                locals.extend(nonlocal.names.iter().map(|name| name.as_str()))
            }
            Stmt::FunctionDef(def) => {
                locals.insert(def.name.as_str());
            }
            Stmt::ClassDef(class) => {
                locals.insert(class.name.as_str());
            }
            Stmt::Assign(assign) => assign
                .targets
                .iter()
                .for_each(|target| target_names(target, locals)),
            Stmt::AnnAssign(assign) => target_names(&assign.target, locals),
            Stmt::AugAssign(assign) => target_names(&assign.target, locals),
            Stmt::Delete(delete) => delete
                .targets
                .iter()
                .for_each(|target| target_names(target, locals)),
            Stmt::For(for_) => {
                target_names(&for_.target, locals);
                collect_bindings(&for_.body, globals, locals);
                collect_bindings(&for_.orelse, globals, locals);
            }
            Stmt::While(while_) => {
                collect_bindings(&while_.body, globals, locals);
                collect_bindings(&while_.orelse, globals, locals);
            }
            Stmt::If(if_) => {
                collect_bindings(&if_.body, globals, locals);
                for clause in &if_.elif_else_clauses {
                    collect_bindings(&clause.body, globals, locals);
                }
            }
            Stmt::With(with) => {
                for item in &with.items {
                    if let Some(vars) = &item.optional_vars {
                        target_names(vars, locals);
                    }
                }
                collect_bindings(&with.body, globals, locals);
            }
            Stmt::Try(try_) => {
                collect_bindings(&try_.body, globals, locals);
                for handler in &try_.handlers {
                    let ExceptHandler::ExceptHandler(handler) = handler;
                    if let Some(name) = &handler.name {
                        locals.insert(name.as_str());
                    }
                    collect_bindings(&handler.body, globals, locals);
                }
                collect_bindings(&try_.orelse, globals, locals);
                collect_bindings(&try_.finalbody, globals, locals);
            }
            Stmt::Match(match_) => {
                for case in &match_.cases {
                    collect_bindings(&case.body, globals, locals);
                }
            }
            Stmt::Import(import) => {
                for alias in &import.names {
                    let bound = match &alias.asname {
                        Some(asname) => asname.as_str(),
                        None => alias.name.as_str().split('.').next().unwrap_or_default(),
                    };
                    locals.insert(bound);
                }
            }
            Stmt::ImportFrom(import) => {
                for alias in &import.names {
                    locals.insert(alias.asname.as_ref().unwrap_or(&alias.name).as_str());
                }
            }
            _ => {}
        }
    }
}

/// Names assigned a new instance (`x = Name(...)`, a capitalised callee) in `fresh`, names
/// assigned anything else in `other`; nested scopes are not entered.
fn collect_fresh<'a>(
    body: &'a [Stmt],
    fresh: &mut FxHashSet<&'a str>,
    other: &mut FxHashSet<&'a str>,
) {
    for stmt in body {
        match stmt {
            Stmt::Assign(assign) => {
                let instance = matches!(&*assign.value, Expr::Call(call)
                    if last_segment(&call.func).is_some_and(|name| name.starts_with(|c: char| c.is_ascii_uppercase())));
                for target in &assign.targets {
                    match target {
                        Expr::Name(name) if instance => {
                            fresh.insert(name.id.as_str());
                        }
                        _ => target_names(target, other),
                    }
                }
            }
            Stmt::AnnAssign(assign) => target_names(&assign.target, other),
            Stmt::AugAssign(assign) => target_names(&assign.target, other),
            Stmt::For(for_) => {
                target_names(&for_.target, other);
                collect_fresh(&for_.body, fresh, other);
                collect_fresh(&for_.orelse, fresh, other);
            }
            Stmt::While(while_) => {
                collect_fresh(&while_.body, fresh, other);
                collect_fresh(&while_.orelse, fresh, other);
            }
            Stmt::If(if_) => {
                collect_fresh(&if_.body, fresh, other);
                for clause in &if_.elif_else_clauses {
                    collect_fresh(&clause.body, fresh, other);
                }
            }
            Stmt::With(with) => {
                for item in &with.items {
                    if let Some(vars) = &item.optional_vars {
                        target_names(vars, other);
                    }
                }
                collect_fresh(&with.body, fresh, other);
            }
            Stmt::Try(try_) => {
                collect_fresh(&try_.body, fresh, other);
                for handler in &try_.handlers {
                    let ExceptHandler::ExceptHandler(handler) = handler;
                    collect_fresh(&handler.body, fresh, other);
                }
                collect_fresh(&try_.orelse, fresh, other);
                collect_fresh(&try_.finalbody, fresh, other);
            }
            Stmt::Match(match_) => {
                for case in &match_.cases {
                    collect_fresh(&case.body, fresh, other);
                }
            }
            _ => {}
        }
    }
}

/// The names an assignment target binds.
fn target_names<'a>(target: &'a Expr, out: &mut FxHashSet<&'a str>) {
    match target {
        Expr::Name(name) => {
            out.insert(name.id.as_str());
        }
        Expr::Tuple(tuple) => tuple.iter().for_each(|elt| target_names(elt, out)),
        Expr::List(list) => list.iter().for_each(|elt| target_names(elt, out)),
        Expr::Starred(starred) => target_names(&starred.value, out),
        _ => {}
    }
}

/// Where a value is stored.
#[derive(Debug, Clone)]
enum Place<'a> {
    Attribute {
        target: &'a Expr,
        attr: &'a str,
    },
    Global {
        name: &'a str,
    },
    Item {
        container: &'a Expr,
    },
    Growth {
        container: &'a Expr,
        method: &'a str,
    },
    Registered {
        callee: &'a Expr,
    },
    Unpacked {
        targets: &'a Expr,
    },
    SetAttr {
        object: &'a Expr,
        attr: Option<&'a str>,
    },
}

/// A place that releases what is stored in it: `x.attr = None`, `del x.attr`,
/// `x.items.clear()`, `global NAME; NAME = None`, ...
struct Clear<'a> {
    name: &'a str,
    attr: bool,
    /// Sets a single value to `None` or deletes it (otherwise: empties or replaces a container).
    single: bool,
    pos: TextSize,
    /// The innermost function it is in, and whether that function is an initialiser.
    func: Option<(TextRange, bool)>,
}

/// Where the file clears stored exceptions, and what it raises again: collected by a walk of
/// the whole file, done only once a store needs it.
struct Lifecycle<'a> {
    clears: Vec<Clear<'a>>,
    /// Attributes and names that the file raises again later: the stored exception is a
    /// deferred `raise`, kept on purpose until it is raised.
    reraised: FxHashSet<(&'a str, bool)>,
}

struct Walker<'c, 'a> {
    checker: &'c Checker<'a>,
    lifecycle: std::cell::OnceCell<Lifecycle<'a>>,
    scopes: Vec<Scope<'a>>,
    /// The `except` keyword of each handler seen, by handler id.
    handler_ranges: Vec<TextRange>,
    /// During the first pass over a handler: the ranges of the values found stored.
    dry_run: Option<FxHashSet<TextRange>>,
    /// During the second pass: the values the first pass found.
    stored: FxHashSet<TextRange>,
    /// The names each function body raises, by body.
    raised: RefCell<FxHashMap<usize, FxHashSet<&'a str>>>,
    /// Every name the first pass saw bound to the exception (or to a value holding it).
    seen_names: FxHashSet<&'a str>,
    /// During the second pass: the uses of those names, per function body.
    use_events: RefCell<FxHashMap<usize, Vec<UseEvent<'a>>>>,
    /// See [`Walker::sources_spelled`].
    sources_spelled: std::cell::OnceCell<bool>,
    /// See [`Walker::may_spell_source`].
    handler_text_tells: std::cell::OnceCell<bool>,
    /// Where the file spells `except`, in order: a statement whose text holds none has no
    /// handler in it, and is not walked.
    excepts: Vec<TextSize>,
    found: Vec<Diagnostic>,
}

const STRIP_SENSITIVE_ATTRS: &[&str] = &[
    "__traceback__",
    "with_traceback",
    "__context__",
    "__cause__",
    "tb_frame",
    "tb_next",
];

impl<'c, 'a> Walker<'c, 'a> {
    fn new(checker: &'c Checker<'a>) -> Self {
        Walker {
            checker,
            lifecycle: std::cell::OnceCell::new(),
            scopes: vec![Scope::module(checker.suite)],
            handler_ranges: Vec::new(),
            dry_run: None,
            stored: FxHashSet::default(),
            raised: RefCell::new(FxHashMap::default()),
            seen_names: FxHashSet::default(),
            use_events: RefCell::new(FxHashMap::default()),
            sources_spelled: std::cell::OnceCell::new(),
            handler_text_tells: std::cell::OnceCell::new(),
            excepts: Vec::new(),
            found: Vec::new(),
        }
    }

    /// Whether the file spells a value that holds a traceback without an `except ... as
    /// name`: each is resolved through imports and attributes, so its last segment (or, for
    /// `inspect.trace`, its module) is spelled in the file.
    fn sources_spelled(&self) -> bool {
        static WORDS: Words = Words::new(&[
            "exc_info",
            "exception",
            "last_value",
            "last_exc",
            "last_traceback",
            "inspect",
        ]);
        *self
            .sources_spelled
            .get_or_init(|| WORDS.in_text(self.checker.source))
    }

    /// Whether the text of `handler` spells a value that holds a traceback (without `as
    /// name`, its block has no other), when the text tells: the last segment of each, which a
    /// call or attribute spells, and so does an import unless it renames it; and in an ASCII
    /// file (identifiers are NFKC-normalised). Otherwise, whether the file spells one.
    fn may_spell_source(&self, handler: &ast::ExceptHandlerExceptHandler) -> bool {
        // `last_` for `last_value`, `last_exc` and `last_traceback`, `trace` for
        // `inspect.trace`.
        static WORDS: Words = Words::new(&["exc_info", "exception", "last_", "trace"]);
        let checker = self.checker;
        let text_tells = *self.handler_text_tells.get_or_init(|| {
            checker.source.is_ascii()
                && !checker.semantic.imports_renamed(|last| {
                    matches!(
                        last,
                        "exc_info"
                            | "exception"
                            | "last_value"
                            | "last_exc"
                            | "last_traceback"
                            | "trace"
                    )
                })
        });
        if !text_tells {
            return self.sources_spelled();
        }
        WORDS.in_text(checker.slice(handler.range()))
    }

    fn scope(&self) -> &Scope<'a> {
        self.scopes
            .last()
            .expect("the module scope is never popped")
    }

    /// True inside a method (or a function nested in one) of a future-like class.
    fn in_future_like_class(&self) -> bool {
        self.scopes
            .iter()
            .rev()
            .find(|scope| scope.kind == ScopeKind::Class)
            .is_some_and(Scope::future_like)
    }

    // ---- finding the handlers ---------------------------------------------------------------

    fn walk_body(&mut self, body: &'a [Stmt], loops: usize, in_handler: bool) {
        for stmt in body {
            deep(|| self.walk_stmt(stmt, loops, in_handler));
        }
    }

    /// Whether `range` holds one of the file's `except` keywords.
    fn spells_except(&self, range: TextRange) -> bool {
        any_within(&self.excepts, range)
    }

    fn walk_stmt(&mut self, stmt: &'a Stmt, loops: usize, in_handler: bool) {
        // Handlers start at their `except` keyword, inside every statement around them.
        if matches!(
            stmt,
            Stmt::FunctionDef(_)
                | Stmt::ClassDef(_)
                | Stmt::Try(_)
                | Stmt::For(_)
                | Stmt::While(_)
                | Stmt::If(_)
                | Stmt::With(_)
                | Stmt::Match(_)
        ) && !self.spells_except(stmt.range())
        {
            return;
        }
        match stmt {
            Stmt::FunctionDef(def) => {
                self.scopes.push(Scope::function(def));
                self.walk_body(&def.body, 0, false);
                self.scopes.pop();
            }
            Stmt::ClassDef(class) => {
                self.scopes.push(Scope::class(class));
                self.walk_body(&class.body, 0, false);
                self.scopes.pop();
            }
            Stmt::Try(try_) => {
                self.walk_body(&try_.body, loops, in_handler);
                for handler in &try_.handlers {
                    let ExceptHandler::ExceptHandler(handler) = handler;
                    // Handlers nested in a handler of the same function are walked by the
                    // outer handler's analysis, which knows the outer names.
                    if !in_handler {
                        self.analyze_handler(handler, loops);
                    }
                    self.walk_body(&handler.body, loops, true);
                }
                self.walk_body(&try_.orelse, loops, in_handler);
                self.walk_body(&try_.finalbody, loops, in_handler);
            }
            Stmt::For(for_) => {
                self.walk_body(&for_.body, loops + 1, in_handler);
                self.walk_body(&for_.orelse, loops, in_handler);
            }
            Stmt::While(while_) => {
                self.walk_body(&while_.body, loops + 1, in_handler);
                self.walk_body(&while_.orelse, loops, in_handler);
            }
            Stmt::If(if_) => {
                self.walk_body(&if_.body, loops, in_handler);
                for clause in &if_.elif_else_clauses {
                    self.walk_body(&clause.body, loops, in_handler);
                }
            }
            Stmt::With(with) => self.walk_body(&with.body, loops, in_handler),
            Stmt::Match(match_) => {
                for case in &match_.cases {
                    self.walk_body(&case.body, loops, in_handler);
                }
            }
            _ => {}
        }
    }

    fn new_handler(&mut self, handler: &ast::ExceptHandlerExceptHandler) -> usize {
        let keyword = TextRange::at(handler.start(), TextSize::new(6));
        self.handler_ranges.push(keyword);
        self.handler_ranges.len() - 1
    }

    fn analyze_handler(&mut self, handler: &'a ast::ExceptHandlerExceptHandler, loops: usize) {
        if self.in_future_like_class() {
            return;
        }
        // A block without `as name` (and no nested one) holds a traceback only through
        // `sys.exc_info()`, `sys.exception()`, `sys.last_*` or `inspect.trace()`.
        if handler.name.is_none()
            && !self.may_spell_source(handler)
            && !has_named_handler(&handler.body)
        {
            return;
        }
        let scope = self.scope();
        let module_loop = match scope.kind {
            ScopeKind::Class => return,
            ScopeKind::Module if loops == 0 => return,
            ScopeKind::Module => true,
            ScopeKind::Function => false,
        };
        let scope_body = scope.body;
        // Two passes: the first finds the stored values, so that the second, which builds the
        // fixes, can tell a later store of the same exception (fixed too) from a later use.
        let mark = self.handler_ranges.len();
        self.dry_run = Some(FxHashSet::default());
        self.run_handler(handler, scope_body, module_loop);
        self.stored = self.dry_run.take().unwrap_or_default();
        self.handler_ranges.truncate(mark);
        self.run_handler(handler, scope_body, module_loop);
        self.stored.clear();
        self.seen_names.clear();
        self.use_events.borrow_mut().clear();
    }

    fn run_handler(
        &mut self,
        handler: &'a ast::ExceptHandlerExceptHandler,
        scope_body: &'a [Stmt],
        module_loop: bool,
    ) {
        let id = self.new_handler(handler);
        let mut ctx = Ctx {
            aliases: Vec::new(),
            handler_names: Vec::new(),
            handlers: vec![id],
            direct: true,
            scope_body,
            module_loop,
        };
        if let Some(name) = &handler.name {
            ctx.aliases.push(exception_alias(name.as_str(), id));
            ctx.handler_names.push(name.as_str());
        }
        self.handler_body(&mut ctx, &handler.body);
    }

    // ---- walking a handler ------------------------------------------------------------------

    fn handler_body(&mut self, ctx: &mut Ctx<'a>, body: &'a [Stmt]) {
        for stmt in body {
            deep(|| self.handler_stmt(ctx, stmt));
        }
    }

    fn handler_stmt(&mut self, ctx: &mut Ctx<'a>, stmt: &'a Stmt) {
        self.handler_stmt_inner(ctx, stmt);
        if self.dry_run.is_some() {
            self.seen_names
                .extend(ctx.aliases.iter().map(|alias| alias.name));
            self.seen_names.extend(ctx.handler_names.iter().copied());
        }
    }

    fn handler_stmt_inner(&mut self, ctx: &mut Ctx<'a>, stmt: &'a Stmt) {
        let end = stmt.end();
        match stmt {
            Stmt::Assign(assign) => {
                self.scan_calls(ctx, &assign.value, end);
                for target in &assign.targets {
                    self.store(ctx, target, &assign.value, end);
                }
                for target in &assign.targets {
                    self.bind(ctx, target, Some(&assign.value));
                }
            }
            Stmt::AnnAssign(assign) => {
                if let Some(value) = &assign.value {
                    self.scan_calls(ctx, value, end);
                    self.store(ctx, &assign.target, value, end);
                }
                self.bind(ctx, &assign.target, assign.value.as_deref());
            }
            Stmt::AugAssign(assign) => {
                self.scan_calls(ctx, &assign.value, end);
                self.store(ctx, &assign.target, &assign.value, end);
            }
            Stmt::Expr(expr) => self.scan_calls(ctx, &expr.value, end),
            Stmt::Return(ret) => {
                if let Some(value) = &ret.value {
                    self.scan_calls(ctx, value, end);
                }
            }
            Stmt::Delete(delete) => {
                for target in &delete.targets {
                    self.bind(ctx, target, None);
                }
            }
            Stmt::FunctionDef(def) => self.nested_function(ctx, def),
            Stmt::ClassDef(class) => ctx.unbind(class.name.as_str()),
            Stmt::If(if_) => {
                self.scan_calls(ctx, &if_.test, if_.test.end());
                self.handler_body(ctx, &if_.body);
                for clause in &if_.elif_else_clauses {
                    if let Some(test) = &clause.test {
                        self.scan_calls(ctx, test, test.end());
                    }
                    self.handler_body(ctx, &clause.body);
                }
            }
            Stmt::For(for_) => {
                self.scan_calls(ctx, &for_.iter, for_.iter.end());
                self.bind(ctx, &for_.target, None);
                self.handler_body(ctx, &for_.body);
                self.handler_body(ctx, &for_.orelse);
            }
            Stmt::While(while_) => {
                self.scan_calls(ctx, &while_.test, while_.test.end());
                self.handler_body(ctx, &while_.body);
                self.handler_body(ctx, &while_.orelse);
            }
            Stmt::With(with) => {
                for item in &with.items {
                    self.scan_calls(ctx, &item.context_expr, item.context_expr.end());
                    if let Some(vars) = &item.optional_vars {
                        self.bind(ctx, vars, None);
                    }
                }
                self.handler_body(ctx, &with.body);
            }
            Stmt::Match(match_) => {
                self.scan_calls(ctx, &match_.subject, match_.subject.end());
                for case in &match_.cases {
                    self.handler_body(ctx, &case.body);
                }
            }
            Stmt::Try(try_) => {
                self.handler_body(ctx, &try_.body);
                for handler in &try_.handlers {
                    let ExceptHandler::ExceptHandler(handler) = handler;
                    let name = handler.name.as_ref().map(|name| name.as_str());
                    if !ctx.direct {
                        // In a nested function: its own handlers are analysed on their own;
                        // here only the captured names matter, and `as name` rebinds one.
                        if let Some(name) = name {
                            ctx.unbind(name);
                        }
                        self.handler_body(ctx, &handler.body);
                        continue;
                    }
                    let id = self.new_handler(handler);
                    ctx.handlers.push(id);
                    if let Some(name) = name {
                        ctx.unbind(name);
                        ctx.aliases.push(exception_alias(name, id));
                        ctx.handler_names.push(name);
                    }
                    self.handler_body(ctx, &handler.body);
                    ctx.handlers.pop();
                    if let Some(name) = name {
                        // Python deletes the name at the end of the block.
                        ctx.handler_names.pop();
                        ctx.unbind(name);
                    }
                }
                self.handler_body(ctx, &try_.orelse);
                self.handler_body(ctx, &try_.finalbody);
            }
            Stmt::Import(_) | Stmt::ImportFrom(_) => {
                let mut bound = FxHashSet::default();
                collect_bindings(
                    std::slice::from_ref(stmt),
                    &mut FxHashSet::default(),
                    &mut bound,
                );
                for name in bound {
                    ctx.unbind(name);
                }
            }
            _ => {}
        }
    }

    /// A `def` inside the block: it becomes a closure holding the exception if it captures a
    /// name bound to it; stores in its body happen when it runs.
    fn nested_function(&mut self, ctx: &mut Ctx<'a>, def: &'a ast::StmtFunctionDef) {
        let scope = Scope::function(def);
        let loads = name_loads_in_body(&def.body);
        let captured: Vec<Alias<'a>> = ctx
            .aliases
            .iter()
            .filter(|alias| {
                !ctx.handler_names.contains(&alias.name)
                    && !scope.locals().contains(alias.name)
                    && !scope.globals().contains(alias.name)
                    && loads.contains(alias.name)
            })
            .cloned()
            .collect();
        let mut holds = captured
            .first()
            .map(|alias| (alias.name.to_owned(), alias.handler));
        if holds.is_none() {
            let params = &def.parameters;
            for param in params
                .posonlyargs
                .iter()
                .chain(&params.args)
                .chain(&params.kwonlyargs)
            {
                if let Some(default) = &param.default
                    && let Some(item) = self.derived(ctx, default).into_iter().next()
                {
                    holds = Some((self.checker.slice(item.expr).to_owned(), item.handler));
                    break;
                }
            }
        }
        let name = def.name.as_str();
        ctx.unbind(name);
        if let Some((holds, handler)) = holds {
            ctx.aliases.push(Alias {
                name,
                kind: Kind::Closure,
                handler,
                strip_ok: false,
                exact: false,
                holds: Some(holds),
            });
        }
        if captured.is_empty() {
            return;
        }
        let mut inner = Ctx {
            aliases: captured,
            handler_names: Vec::new(),
            handlers: Vec::new(),
            direct: false,
            scope_body: &def.body,
            module_loop: false,
        };
        self.scopes.push(scope);
        self.handler_body(&mut inner, &def.body);
        self.scopes.pop();
    }

    /// Updates the names bound to traceback-holding values after an assignment.
    fn bind(&mut self, ctx: &mut Ctx<'a>, target: &'a Expr, value: Option<&'a Expr>) {
        match target {
            Expr::Name(name) => {
                let name = name.id.as_str();
                let items = value
                    .map(|value| self.derived(ctx, value))
                    .unwrap_or_default();
                ctx.unbind(name);
                if self.scope().kind == ScopeKind::Function && self.scope().globals().contains(name)
                {
                    return;
                }
                if let Some(whole) = items.iter().find(|item| item.within.is_none()) {
                    ctx.aliases.push(Alias {
                        name,
                        kind: whole.kind,
                        handler: whole.handler,
                        strip_ok: whole.strip_ok,
                        exact: whole.exact,
                        holds: whole.holds.clone(),
                    });
                } else if let Some(first) = items.first() {
                    ctx.aliases.push(Alias {
                        name,
                        kind: Kind::Container,
                        handler: first.handler,
                        strip_ok: false,
                        exact: false,
                        holds: Some(self.checker.slice(first.expr).to_owned()),
                    });
                }
            }
            Expr::Tuple(_) | Expr::List(_) => {
                let elts = sequence(target).unwrap_or_default();
                let plain = !elts.iter().any(|elt| elt.is_starred_expr());
                if let Some(values) = value.and_then(sequence)
                    && plain
                    && values.len() == elts.len()
                    && !values.iter().any(|value| value.is_starred_expr())
                {
                    // Evaluate every value before binding any name (`a, b = b, a`).
                    let items: Vec<_> = values
                        .iter()
                        .map(|value| self.derived(ctx, value))
                        .collect();
                    for (elt, items) in elts.iter().zip(items) {
                        self.bind_items(ctx, elt, items);
                    }
                    return;
                }
                let info = value
                    .and_then(|value| self.single(ctx, value))
                    .filter(|item| item.kind == Kind::ExcInfo);
                for elt in elts {
                    self.bind(ctx, elt, None);
                }
                if let Some(info) = info
                    && plain
                    && elts.len() == 3
                {
                    for (elt, kind) in [(&elts[1], Kind::Exception), (&elts[2], Kind::Traceback)] {
                        if let Expr::Name(name) = elt {
                            ctx.aliases.push(Alias {
                                name: name.id.as_str(),
                                kind,
                                handler: info.handler,
                                strip_ok: kind == Kind::Exception,
                                exact: kind == Kind::Exception && info.exact,
                                holds: None,
                            });
                        }
                    }
                }
            }
            Expr::Starred(starred) => self.bind(ctx, &starred.value, None),
            _ => {}
        }
    }

    fn bind_items(&mut self, ctx: &mut Ctx<'a>, target: &'a Expr, items: Vec<Derived<'a>>) {
        let Expr::Name(name) = target else {
            self.bind(ctx, target, None);
            return;
        };
        let name = name.id.as_str();
        ctx.unbind(name);
        if let Some(item) = items.into_iter().next() {
            let whole = item.within.is_none();
            ctx.aliases.push(Alias {
                name,
                kind: if whole { item.kind } else { Kind::Container },
                handler: item.handler,
                strip_ok: whole && item.strip_ok,
                exact: whole && item.exact,
                holds: if whole {
                    item.holds
                } else {
                    Some(self.checker.slice(item.expr).to_owned())
                },
            });
        }
    }

    // ---- stores -------------------------------------------------------------------------------

    /// `target = value` (or `+=`, or annotated).
    fn store(&mut self, ctx: &Ctx<'a>, target: &'a Expr, value: &'a Expr, end: TextSize) {
        if let Expr::Tuple(_) | Expr::List(_) = target {
            let elts = sequence(target).unwrap_or_default();
            if elts.iter().any(|elt| elt.is_starred_expr()) {
                return;
            }
            if let Some(values) = sequence(value) {
                if values.len() == elts.len() && !values.iter().any(|value| value.is_starred_expr())
                {
                    for (elt, value) in elts.iter().zip(values) {
                        self.store(ctx, elt, value, end);
                    }
                }
                return;
            }
            // `self.type, self.value, self.tb = sys.exc_info()`
            if elts.len() == 3
                && elts[1..]
                    .iter()
                    .any(|elt| self.place_of(ctx, elt).is_some())
                && let Some(info) = self.single(ctx, value)
                && info.kind == Kind::ExcInfo
            {
                let place = Place::Unpacked { targets: target };
                if !self.is_managed_any(&elts[1..], ctx) {
                    self.report(ctx, info, &place, end, false);
                }
            }
            return;
        }
        if let Some(place) = self.place_of(ctx, target) {
            self.report_value(ctx, value, &place, end, true);
        }
    }

    fn is_managed_any(&self, targets: &'a [Expr], ctx: &Ctx<'a>) -> bool {
        targets
            .iter()
            .filter_map(|target| self.place_of(ctx, target))
            .all(|place| self.is_managed(&place, target_pos(targets)))
    }

    /// The place an assignment target stores into, if it outlives the block.
    fn place_of(&self, ctx: &Ctx<'a>, target: &'a Expr) -> Option<Place<'a>> {
        match target {
            Expr::Attribute(attr) => {
                // `sys.last_value = ...` is what the interpreter does for `pdb.pm()`.
                if ctx.module_loop
                    || is_chaining_attr(attr.attr.as_str())
                    || self
                        .checker
                        .semantic
                        .qualified_name(target)
                        .is_some_and(|name| name.starts_with("sys.last_"))
                {
                    return None;
                }
                if self.is_handed_over(ctx, &attr.value) {
                    return None;
                }
                Some(Place::Attribute {
                    target,
                    attr: attr.attr.as_str(),
                })
            }
            Expr::Name(name) => {
                let scope = self.scope();
                (!ctx.module_loop
                    && scope.kind == ScopeKind::Function
                    && scope.globals().contains(name.id.as_str()))
                .then(|| Place::Global {
                    name: name.id.as_str(),
                })
            }
            Expr::Subscript(subscript) => self
                .outliving_container(ctx, &subscript.value)
                .then_some(Place::Item {
                    container: &subscript.value,
                }),
            _ => None,
        }
    }

    /// An object whose attributes do not outlive the block in a way the function controls:
    /// the exception itself, an exception it raises, or an object made in the function (a
    /// result handed to the caller, like `return e`).
    fn is_handed_over(&self, ctx: &Ctx<'a>, object: &Expr) -> bool {
        let Expr::Name(base) = object else {
            return false;
        };
        let base = base.id.as_str();
        ctx.alias(base).is_some()
            || self
                .raised
                .borrow_mut()
                .entry(ctx.scope_body.as_ptr() as usize)
                .or_insert_with(|| raised_names(ctx.scope_body))
                .contains(base)
            || self.scope().fresh().contains(base)
    }

    /// An attribute (`self.errors`, `job.log`) or a module-level container.
    fn outliving_container(&self, ctx: &Ctx<'a>, expr: &'a Expr) -> bool {
        match expr {
            Expr::Attribute(_) => !ctx.module_loop,
            Expr::Name(name) => self.is_global_name(name.id.as_str()),
            Expr::Subscript(subscript) => self.outliving_container(ctx, &subscript.value),
            _ => false,
        }
    }

    /// True if `name`, read in the current scope, is a module-level name.
    fn is_global_name(&self, name: &str) -> bool {
        let mut innermost = true;
        for scope in self.scopes.iter().rev() {
            match scope.kind {
                ScopeKind::Function => {
                    if innermost && scope.globals().contains(name) {
                        return true;
                    }
                    if scope.locals().contains(name) {
                        return false;
                    }
                }
                ScopeKind::Class => {
                    if innermost {
                        return false;
                    }
                }
                ScopeKind::Module => return self.checker.semantic.is_module_level(name),
            }
            innermost = false;
        }
        false
    }

    /// Growth calls on long-lived containers, and `atexit.register(...)`, anywhere in `expr`.
    fn scan_calls(&mut self, ctx: &Ctx<'a>, expr: &'a Expr, end: TextSize) {
        let mut calls = Calls(Vec::new());
        calls.visit_expr(expr);
        for call in calls.0 {
            self.check_call(ctx, call, end);
        }
    }

    fn check_call(&mut self, ctx: &Ctx<'a>, call: &'a ast::ExprCall, end: TextSize) {
        let args = &call.arguments.args;
        if !ctx.module_loop
            && self
                .checker
                .semantic
                .resolves_to(&call.func, &["atexit.register"])
        {
            let place = Place::Registered { callee: &call.func };
            for arg in args {
                self.report_value(ctx, arg, &place, end, true);
            }
            for keyword in &call.arguments.keywords {
                self.report_value(ctx, &keyword.value, &place, end, true);
            }
            return;
        }
        if !ctx.module_loop
            && self
                .checker
                .semantic
                .resolves_to(&call.func, &["builtins.setattr"])
            && let [object, name, value] = &*call.arguments.args
        {
            let attr = match name {
                Expr::StringLiteral(literal) => Some(literal.value.to_str()),
                _ => None,
            };
            if attr.is_some_and(is_chaining_attr) || self.is_handed_over(ctx, object) {
                return;
            }
            let place = Place::SetAttr { object, attr };
            self.report_value(ctx, value, &place, end, true);
            return;
        }
        let Expr::Attribute(attr) = &*call.func else {
            return;
        };
        let method = attr.attr.as_str();
        let (values, unpacks): (Vec<&'a Expr>, bool) = match method {
            "append" | "add" | "appendleft" => (args.first().into_iter().collect(), false),
            "insert" | "setdefault" => (args.get(1).into_iter().collect(), false),
            "extend" | "extendleft" => (args.first().into_iter().collect(), true),
            "update" => (
                args.first()
                    .into_iter()
                    .chain(call.arguments.keywords.iter().map(|keyword| &keyword.value))
                    .collect(),
                true,
            ),
            _ => return,
        };
        if values.is_empty() || !self.outliving_container(ctx, &attr.value) {
            return;
        }
        let place = Place::Growth {
            container: &attr.value,
            method,
        };
        for value in values {
            // `extend(x)` stores the items of `x`: a fix that replaces `x` as a whole with a
            // string would store its characters.
            self.report_value(ctx, value, &place, end, !unpacks);
        }
    }

    fn report_value(
        &mut self,
        ctx: &Ctx<'a>,
        value: &'a Expr,
        place: &Place<'a>,
        end: TextSize,
        whole_fixable: bool,
    ) {
        let items = self.derived(ctx, value);
        if items.is_empty() || self.is_managed(place, value.start()) {
            return;
        }
        for item in items {
            let fixable = whole_fixable || item.within.is_some();
            self.report(ctx, item, place, end, fixable);
        }
    }

    // ---- released places -------------------------------------------------------------------

    fn is_managed(&self, place: &Place<'a>, pos: TextSize) -> bool {
        let (name, attr, single) = match place {
            Place::Attribute { attr, .. }
            | Place::SetAttr {
                attr: Some(attr), ..
            } => (*attr, true, true),
            Place::SetAttr { attr: None, .. } => return false,
            Place::Global { name } => (*name, false, true),
            Place::Item { container } | Place::Growth { container, .. } => {
                match container_root(container) {
                    Some(root) => (root.0, root.1, false),
                    None => return false,
                }
            }
            Place::Registered { .. } | Place::Unpacked { .. } => return false,
        };
        let lifecycle = self.lifecycle.get_or_init(|| {
            let mut collector = ClearCollector {
                clears: Vec::new(),
                reraised: FxHashSet::default(),
                funcs: Vec::new(),
                calls: release_call_positions(self.checker.source),
            };
            for stmt in self.checker.suite {
                collector.visit_stmt(stmt);
            }
            Lifecycle {
                clears: collector.clears,
                reraised: collector.reraised,
            }
        });
        if lifecycle.reraised.contains(&(name, attr)) {
            return true;
        }
        let here = self.scope().range;
        lifecycle.clears.iter().any(|clear| {
            clear.name == name
                && clear.attr == attr
                && (clear.single || !single)
                && match clear.func {
                    None => false,
                    Some((_, true)) => false,
                    Some((range, false)) => Some(range) != here || clear.pos > pos,
                }
        })
    }

    // ---- values that hold the traceback -------------------------------------------------------

    fn derived(&self, ctx: &Ctx<'a>, expr: &'a Expr) -> Vec<Derived<'a>> {
        let mut out = Vec::new();
        self.collect_derived(ctx, expr, None, &mut out);
        out
    }

    fn collect_derived(
        &self,
        ctx: &Ctx<'a>,
        expr: &'a Expr,
        within: Option<&'static str>,
        out: &mut Vec<Derived<'a>>,
    ) {
        deep(|| match expr {
            Expr::Tuple(tuple) => {
                for elt in tuple {
                    self.collect_derived(ctx, elt, within.or(Some("a tuple")), out);
                }
            }
            Expr::List(list) => {
                for elt in list {
                    self.collect_derived(ctx, elt, within.or(Some("a list")), out);
                }
            }
            Expr::Set(set) => {
                for elt in set {
                    self.collect_derived(ctx, elt, within.or(Some("a set")), out);
                }
            }
            Expr::Dict(dict) => {
                for item in dict {
                    if let Some(key) = &item.key {
                        self.collect_derived(ctx, key, within.or(Some("a dict")), out);
                    }
                    self.collect_derived(ctx, &item.value, within.or(Some("a dict")), out);
                }
            }
            Expr::Starred(starred) => self.collect_derived(ctx, &starred.value, within, out),
            Expr::BoolOp(bool_op) => {
                for value in &bool_op.values {
                    self.collect_derived(ctx, value, within, out);
                }
            }
            Expr::If(if_) => {
                self.collect_derived(ctx, &if_.body, within, out);
                self.collect_derived(ctx, &if_.orelse, within, out);
            }
            Expr::Named(named) => self.collect_derived(ctx, &named.value, within, out),
            Expr::Lambda(lambda) => self.lambda_derived(ctx, expr, lambda, within, out),
            Expr::Call(call)
                if self
                    .checker
                    .semantic
                    .resolves_to(&call.func, &["functools.partial"]) =>
            {
                let within = within.or(Some("a `functools.partial`"));
                for arg in &call.arguments.args {
                    self.collect_derived(ctx, arg, within, out);
                }
                for keyword in &call.arguments.keywords {
                    self.collect_derived(ctx, &keyword.value, within, out);
                }
            }
            _ => {
                if let Some(mut item) = self.single(ctx, expr) {
                    item.within = within;
                    out.push(item);
                }
            }
        });
    }

    /// A lambda's defaults are evaluated now and kept on the function; its body keeps the
    /// names it reads from the block.
    fn lambda_derived(
        &self,
        ctx: &Ctx<'a>,
        expr: &'a Expr,
        lambda: &'a ast::ExprLambda,
        within: Option<&'static str>,
        out: &mut Vec<Derived<'a>>,
    ) {
        let mut params = FxHashSet::default();
        if let Some(parameters) = &lambda.parameters {
            for param in parameters
                .posonlyargs
                .iter()
                .chain(&parameters.args)
                .chain(&parameters.kwonlyargs)
            {
                params.insert(param.parameter.name.as_str());
                if let Some(default) = &param.default {
                    self.collect_derived(ctx, default, within.or(Some("a lambda's default")), out);
                }
            }
            for param in parameters.vararg.iter().chain(&parameters.kwarg) {
                params.insert(param.name.as_str());
            }
        }
        let mut loads = NameLoads(FxHashSet::default());
        loads.visit_expr(&lambda.body);
        let captured = ctx.aliases.iter().rev().find(|alias| {
            loads.0.contains(alias.name)
                && !params.contains(alias.name)
                && !ctx.handler_names.contains(&alias.name)
        });
        if let Some(alias) = captured {
            out.push(Derived {
                expr,
                kind: Kind::Closure,
                handler: alias.handler,
                strip_ok: false,
                exact: false,
                tb_arg: None,
                holds: Some(alias.name.to_owned()),
                within,
            });
        }
    }

    /// A value that is (not contains) an exception, traceback, `exc_info` tuple, frame or
    /// closure over one.
    fn single(&self, ctx: &Ctx<'a>, expr: &'a Expr) -> Option<Derived<'a>> {
        let make = |kind, handler, strip_ok| Derived {
            expr,
            kind,
            handler,
            strip_ok,
            exact: false,
            tb_arg: None,
            holds: None,
            within: None,
        };
        match expr {
            Expr::Name(name) => {
                let alias = ctx.alias(name.id.as_str())?;
                Some(Derived {
                    holds: alias.holds.clone(),
                    exact: alias.exact,
                    ..make(alias.kind, alias.handler, alias.strip_ok)
                })
            }
            Expr::Attribute(attr) => {
                let from = |kind: Kind| {
                    deep(|| self.single(ctx, &attr.value))
                        .filter(|inner| inner.kind == kind)
                        .map(|inner| inner.handler)
                };
                match attr.attr.as_str() {
                    "__traceback__" => {
                        from(Kind::Exception).map(|handler| make(Kind::Traceback, handler, false))
                    }
                    "__context__" | "__cause__" => {
                        from(Kind::Exception).map(|handler| make(Kind::Exception, handler, false))
                    }
                    "tb_frame" => {
                        from(Kind::Traceback).map(|handler| make(Kind::Frame, handler, false))
                    }
                    "tb_next" => {
                        from(Kind::Traceback).map(|handler| make(Kind::Traceback, handler, false))
                    }
                    "f_back" => from(Kind::Frame).map(|handler| make(Kind::Frame, handler, false)),
                    _ if ctx.direct => {
                        match self.checker.semantic.qualified_name(expr).as_deref() {
                            Some("sys.last_value" | "sys.last_exc") => {
                                Some(make(Kind::Exception, None, false))
                            }
                            Some("sys.last_traceback") => Some(make(Kind::Traceback, None, false)),
                            _ => None,
                        }
                    }
                    _ => None,
                }
            }
            Expr::Call(call) => {
                if let Expr::Attribute(attr) = &*call.func
                    && attr.attr.as_str() == "with_traceback"
                {
                    let [arg] = &*call.arguments.args else {
                        return None;
                    };
                    if arg.is_none_literal_expr() || !call.arguments.keywords.is_empty() {
                        return None;
                    }
                    let receiver = deep(|| self.single(ctx, &attr.value))
                        .filter(|item| item.kind == Kind::Exception);
                    let tb =
                        deep(|| self.single(ctx, arg)).filter(|item| item.kind == Kind::Traceback);
                    if receiver.is_none() && tb.is_none() {
                        return None;
                    }
                    let handler = receiver
                        .and_then(|item| item.handler)
                        .or(tb.and_then(|item| item.handler));
                    return Some(Derived {
                        tb_arg: Some(arg),
                        ..make(Kind::Exception, handler, true)
                    });
                }
                if !ctx.direct || !call.arguments.is_empty() {
                    return None;
                }
                match self.checker.semantic.qualified_name(&call.func).as_deref() {
                    Some("sys.exc_info") => Some(Derived {
                        exact: true,
                        ..make(Kind::ExcInfo, ctx.current_handler(), false)
                    }),
                    Some("sys.exception") => Some(Derived {
                        exact: true,
                        ..make(Kind::Exception, ctx.current_handler(), true)
                    }),
                    Some("inspect.trace") => Some(make(Kind::Frame, ctx.current_handler(), false)),
                    _ => None,
                }
            }
            Expr::Subscript(subscript) => {
                let inner = deep(|| self.single(ctx, &subscript.value))
                    .filter(|item| item.kind == Kind::ExcInfo)?;
                match int_index(&subscript.slice) {
                    Some(0 | -3) => None,
                    Some(1 | -2) => Some(Derived {
                        exact: inner.exact,
                        ..make(Kind::Exception, inner.handler, true)
                    }),
                    Some(2 | -1) => Some(make(Kind::Traceback, inner.handler, false)),
                    _ => Some(Derived {
                        exact: inner.exact,
                        ..make(Kind::ExcInfo, inner.handler, false)
                    }),
                }
            }
            _ => None,
        }
    }

    // ---- diagnostics --------------------------------------------------------------------------

    fn report(
        &mut self,
        ctx: &Ctx<'a>,
        item: Derived<'a>,
        place: &Place<'a>,
        end: TextSize,
        fixable: bool,
    ) {
        if let Some(stored) = &mut self.dry_run {
            stored.insert(item.expr.range());
            return;
        }
        let text = short(self.checker.slice(item.expr));
        let what = match item.kind {
            Kind::Exception => format!("exception `{text}`"),
            Kind::Traceback => format!("traceback `{text}`"),
            Kind::ExcInfo if text.contains("exc_info") => format!("`{text}`"),
            Kind::ExcInfo => format!("exception info `{text}`"),
            Kind::Frame if text.contains("trace()") => format!("frame records `{text}`"),
            Kind::Frame => format!("frame `{text}`"),
            Kind::Closure if item.expr.is_lambda_expr() => {
                format!(
                    "a lambda capturing `{}`",
                    item.holds.as_deref().unwrap_or_default()
                )
            }
            Kind::Closure => format!(
                "closure `{text}` (it captures `{}`)",
                item.holds.as_deref().unwrap_or_default()
            ),
            Kind::Container => format!(
                "`{text}` (it holds `{}`)",
                item.holds.as_deref().unwrap_or_default()
            ),
        };
        let within = item
            .within
            .map(|within| format!(" (in {within})"))
            .unwrap_or_default();
        let slice = |expr: &Expr| short(self.checker.slice(expr));
        let place_text = match place {
            Place::Attribute { target, .. } => format!("stored in `{}`", slice(target)),
            Place::SetAttr {
                object,
                attr: Some(attr),
            } => format!("stored in `{}.{attr}` by `setattr`", slice(object)),
            Place::SetAttr { object, attr: None } => {
                format!("stored on `{}` by `setattr`", slice(object))
            }
            Place::Global { name } => format!("stored in global `{name}`"),
            Place::Item { container } => format!("stored in `{}`", slice(container)),
            Place::Growth { container, method } => {
                let verb = match *method {
                    "append" | "appendleft" => "appended to",
                    "add" | "extend" | "extendleft" => "added to",
                    "insert" => "inserted into",
                    _ => "stored in",
                };
                format!("{verb} `{}`", slice(container))
            }
            Place::Registered { callee } => format!("registered with `{}`", slice(callee)),
            Place::Unpacked { targets } => format!("unpacked into `{}`", slice(targets)),
        };
        let why = match item.kind {
            Kind::Traceback => {
                "it keeps every frame between the raise and this handler alive, with all their local variables"
            }
            Kind::Frame => {
                "it keeps those frames and their callers alive, with all their local variables"
            }
            Kind::Closure | Kind::Container => {
                "the exception's traceback keeps every frame between the raise and this handler alive, with all their local variables"
            }
            Kind::Exception | Kind::ExcInfo => {
                "its traceback keeps every frame between the raise and this handler alive, with all their local variables"
            }
        };
        let message = format!("{what}{within} {place_text} outlives its `except` block: {why}");
        let mut diagnostic = Diagnostic::new(Rule::StoredException, item.expr.range(), message);
        if let Some(range) = item.handler.and_then(|id| self.handler_ranges.get(id)) {
            diagnostic =
                diagnostic.with_related(*range, "the `except` block the exception comes from");
        }
        let (fixes, note) = self.fixes(ctx, &item, end, fixable);
        let mut fixes = fixes.into_iter();
        match fixes.next() {
            Some(fix) => {
                diagnostic = diagnostic.with_fix(fix);
                for fix in fixes {
                    diagnostic = diagnostic.with_alternative(fix);
                }
            }
            None => diagnostic = diagnostic.with_note(note),
        }
        self.found.push(diagnostic);
    }

    /// The fixes for a stored value, preferred first, or why there are none.
    fn fixes(
        &self,
        ctx: &Ctx<'a>,
        item: &Derived<'a>,
        end: TextSize,
        fixable: bool,
    ) -> (Vec<Fix>, String) {
        let text = self.checker.slice(item.expr);
        let range = item.expr.range();
        let holds = item.holds.as_deref().unwrap_or_default();
        let is_current = ctx.direct
            && item.exact
            && item.handler.is_some()
            && item.handler == ctx.current_handler();
        let mut fixes = Vec::new();
        let traceback_fix = |member: &str, message: &str, wrap: bool| {
            let (function, import) = self.checker.import_edit("traceback", member);
            let content = if wrap {
                format!("{function}({text})")
            } else {
                format!("{function}()")
            };
            let mut edits = vec![Edit::replacement(content, range)];
            edits.extend(import);
            Fix::unsafe_(message.replace("{f}", &function), edits)
        };
        if !fixable {
            let note = match item.kind {
                Kind::ExcInfo => {
                    "No automatic fix: the exception and its traceback are unpacked or spread into the container; store `traceback.format_exc()`, or the exception's `.with_traceback(None)`, instead"
                }
                _ => {
                    "No automatic fix: the value is spread into the container item by item; store `traceback.format_exc()`, or the exception's `.with_traceback(None)`, instead"
                }
            };
            return (fixes, format!("{note}."));
        }
        match item.kind {
            Kind::Exception => {
                if item.strip_ok && !self.traceback_used_later(ctx, end) {
                    fixes.push(match item.tb_arg {
                        Some(arg) => Fix::unsafe_(
                            "Drop the traceback: pass `None` to `with_traceback`",
                            vec![Edit::replacement("None", arg.range())],
                        ),
                        None => Fix::unsafe_(
                            format!("Drop the traceback: store `{}.with_traceback(None)`", short(text)),
                            vec![Edit::replacement(format!("{text}.with_traceback(None)"), range)],
                        ),
                    });
                }
                if is_current {
                    fixes.push(traceback_fix(
                        "format_exc",
                        "Store the formatted traceback instead: `{f}()`",
                        false,
                    ));
                }
                if item.tb_arg.is_none() {
                    fixes.push(Fix::unsafe_(
                        format!("Store `repr({})`", short(text)),
                        vec![Edit::replacement(format!("repr({text})"), range)],
                    ));
                }
                let note = "No automatic fix: the function goes on to re-raise or hand over the exception, which would lose its traceback too; store `traceback.format_exc()` instead.".to_owned();
                (fixes, note)
            }
            Kind::Traceback => {
                fixes.push(traceback_fix(
                    "extract_tb",
                    "Store the frame summaries instead: `{f}(...)`",
                    true,
                ));
                fixes.push(traceback_fix(
                    "format_tb",
                    "Store the formatted traceback instead: `{f}(...)`",
                    true,
                ));
                (fixes, String::new())
            }
            Kind::ExcInfo => {
                if is_current {
                    fixes.push(traceback_fix(
                        "format_exc",
                        "Store the formatted traceback instead: `{f}()`",
                        false,
                    ));
                } else {
                    let (function, import) = self.checker.import_edit("traceback", "format_exception");
                    let mut edits = vec![Edit::replacement(format!("\"\".join({function}(*{text}))"), range)];
                    edits.extend(import);
                    fixes.push(Fix::unsafe_(
                        format!("Store the formatted traceback instead: `\"\".join({function}(*...))`"),
                        edits,
                    ));
                }
                (fixes, String::new())
            }
            Kind::Frame => (
                fixes,
                "No automatic fix: the frames themselves are stored; keep only what is needed from them (`f_code.co_filename`, `f_lineno`), or `traceback.extract_stack(frame)`.".to_owned(),
            ),
            Kind::Closure => (
                fixes,
                format!(
                    "No automatic fix: the function keeps `{holds}` (captured, or as a default value) to use when it runs; give it `{holds}.with_traceback(None)` or the formatted text (`traceback.format_exc()`) instead."
                ),
            ),
            Kind::Container => (
                fixes,
                format!(
                    "No automatic fix: the traceback is held by `{holds}` inside `{}`, built earlier in the block; drop it there (`.with_traceback(None)`) or store `traceback.format_exc()`.",
                    short(text)
                ),
            ),
        }
    }

    /// True if code after `end` in the same function re-raises, logs, formats or passes on the
    /// exception: stripping its traceback (which mutates it) would change what that code sees.
    fn traceback_used_later(&self, ctx: &Ctx<'a>, end: TextSize) -> bool {
        let mut cache = self.use_events.borrow_mut();
        let events = cache
            .entry(ctx.scope_body.as_ptr() as usize)
            .or_insert_with(|| {
                let mut collector = UseEvents {
                    names: &self.seen_names,
                    stored: &self.stored,
                    // Function and class bodies at module level do not run after the store.
                    enter_definitions: !ctx.module_loop,
                    events: Vec::new(),
                };
                for stmt in ctx.scope_body {
                    collector.visit_stmt(stmt);
                }
                collector.events.sort_by_key(|(offset, _)| *offset);
                collector.events
            });
        let first = events.partition_point(|(offset, _)| *offset < end);
        events[first..].iter().any(|(_, name)| {
            name.is_none_or(|name| ctx.handler_names.contains(&name) || ctx.alias(name).is_some())
        })
    }
}

/// Where `source` spells `except`, in order.
fn except_positions(source: &str) -> Vec<TextSize> {
    static WORDS: Words = Words::new(&["except"]);
    WORDS.positions(source)
}

/// Where `source` may spell the method of a call that [`ClearCollector`] records, in order;
/// `None` when an identifier may be spelled otherwise (Python normalises non-ASCII identifiers
/// to NFKC, so `ｃlear` is `clear`).
fn release_call_positions(source: &str) -> Option<Vec<TextSize>> {
    // `pop` is in `popleft` and `popitem`.
    static WORDS: Words = Words::new(&["clear", "pop", "remove", "discard"]);
    source.is_ascii().then(|| WORDS.positions(source))
}

/// The names a function body declares `global` (the globals of [`collect_bindings`]).
fn collect_globals<'a>(body: &'a [Stmt], globals: &mut FxHashSet<&'a str>) {
    for stmt in body {
        match stmt {
            Stmt::Global(global) => globals.extend(global.names.iter().map(|name| name.as_str())),
            Stmt::For(for_) => {
                collect_globals(&for_.body, globals);
                collect_globals(&for_.orelse, globals);
            }
            Stmt::While(while_) => {
                collect_globals(&while_.body, globals);
                collect_globals(&while_.orelse, globals);
            }
            Stmt::If(if_) => {
                collect_globals(&if_.body, globals);
                for clause in &if_.elif_else_clauses {
                    collect_globals(&clause.body, globals);
                }
            }
            Stmt::With(with) => collect_globals(&with.body, globals),
            Stmt::Try(try_) => {
                collect_globals(&try_.body, globals);
                for handler in &try_.handlers {
                    let ExceptHandler::ExceptHandler(handler) = handler;
                    collect_globals(&handler.body, globals);
                }
                collect_globals(&try_.orelse, globals);
                collect_globals(&try_.finalbody, globals);
            }
            Stmt::Match(match_) => {
                for case in &match_.cases {
                    collect_globals(&case.body, globals);
                }
            }
            _ => {}
        }
    }
}

/// Whether `body` has an `except ... as name` clause (nested functions included).
fn has_named_handler(body: &[Stmt]) -> bool {
    struct Finder(bool);
    impl<'a> StatementVisitor<'a> for Finder {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            if self.0 {
                return;
            }
            if let Stmt::Try(try_) = stmt
                && try_.handlers.iter().any(|handler| {
                    let ExceptHandler::ExceptHandler(handler) = handler;
                    handler.name.is_some()
                })
            {
                self.0 = true;
                return;
            }
            deep(|| statement_visitor::walk_stmt(self, stmt));
        }
    }
    let mut finder = Finder(false);
    finder.visit_body(body);
    finder.0
}

/// Attributes that chain exceptions by hand, like `raise X from e`.
fn is_chaining_attr(attr: &str) -> bool {
    matches!(
        attr,
        "__cause__" | "__context__" | "__traceback__" | "__suppress_context__" | "__notes__"
    )
}

fn exception_alias(name: &str, handler: usize) -> Alias<'_> {
    Alias {
        name,
        kind: Kind::Exception,
        handler: Some(handler),
        strip_ok: true,
        exact: true,
        holds: None,
    }
}

fn sequence(expr: &Expr) -> Option<&[Expr]> {
    match expr {
        Expr::Tuple(tuple) => Some(&tuple.elts),
        Expr::List(list) => Some(&list.elts),
        _ => None,
    }
}

fn target_pos(targets: &[Expr]) -> TextSize {
    targets.first().map(Ranged::start).unwrap_or_default()
}

/// `0`, `-1`, ... as an integer.
fn int_index(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::NumberLiteral(number) => match &number.value {
            ast::Number::Int(int) => int.as_i64(),
            _ => None,
        },
        Expr::UnaryOp(unary) if unary.op == ast::UnaryOp::USub => {
            int_index(&unary.operand).map(|value| -value)
        }
        _ => None,
    }
}

/// The attribute or name a container expression is rooted at (`self.errors[k]` → `errors`).
fn container_root(expr: &Expr) -> Option<(&str, bool)> {
    match expr {
        Expr::Attribute(attr) => Some((attr.attr.as_str(), true)),
        Expr::Name(name) => Some((name.id.as_str(), false)),
        Expr::Subscript(subscript) => container_root(&subscript.value),
        _ => None,
    }
}

/// The names a function body raises (`raise name`, `raise name from e`).
fn raised_names(body: &[Stmt]) -> FxHashSet<&str> {
    struct Raises<'a>(FxHashSet<&'a str>);
    impl<'a> Visitor<'a> for Raises<'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            if let Stmt::Raise(raise) = stmt
                && let Some(exc) = &raise.exc
                && let Expr::Name(raised) = &**exc
            {
                self.0.insert(raised.id.as_str());
            }
            deep(|| visitor::walk_stmt(self, stmt));
        }
        fn visit_expr(&mut self, _expr: &'a Expr) {}
    }
    let mut raises = Raises(FxHashSet::default());
    for stmt in body {
        raises.visit_stmt(stmt);
    }
    raises.0
}

/// Shortens code quoted in a message to one line.
fn short(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default().trim_end();
    if first.len() == text.len() && text.chars().count() <= 60 {
        return text.to_owned();
    }
    let mut out: String = first.chars().take(57).collect();
    out.push_str("...");
    out
}

/// The calls in an expression, outside lambdas (a lambda's body runs later, elsewhere).
struct Calls<'a>(Vec<&'a ast::ExprCall>);

impl<'a> Visitor<'a> for Calls<'a> {
    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Lambda(_) => {}
            Expr::Call(call) => {
                self.0.push(call);
                deep(|| visitor::walk_expr(self, expr));
            }
            _ => deep(|| visitor::walk_expr(self, expr)),
        }
    }
}

/// The names an expression reads.
struct NameLoads<'a>(FxHashSet<&'a str>);

impl<'a> Visitor<'a> for NameLoads<'a> {
    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Name(name) = expr
            && name.ctx == ast::ExprContext::Load
        {
            self.0.insert(name.id.as_str());
        }
        deep(|| visitor::walk_expr(self, expr));
    }
}

fn name_loads_in_body(body: &[Stmt]) -> FxHashSet<&str> {
    let mut loads = NameLoads(FxHashSet::default());
    for stmt in body {
        loads.visit_stmt(stmt);
    }
    loads.0
}

/// Where code uses a traceback, and the name it reads (`None`: a bare `raise`, a logging or
/// formatting call).
type UseEvent<'a> = (TextSize, Option<&'a str>);

/// Records the code that uses an exception's traceback: a bare `raise`, a read of one of
/// `names` other than for its text, type or plain attributes, or a call that formats or logs
/// the current exception. Events are `(offset, name read)`, `None` for the others.
struct UseEvents<'n, 'a> {
    names: &'n FxHashSet<&'a str>,
    /// Stored values (findings of their own, fixed too): not a use.
    stored: &'n FxHashSet<TextRange>,
    enter_definitions: bool,
    events: Vec<UseEvent<'a>>,
}

const TRACEBACK_READERS: &[&str] = &[
    "exception",
    "print_exc",
    "format_exc",
    "print_exception",
    "format_exception",
    "print_tb",
    "format_tb",
    "extract_tb",
    "walk_tb",
    "exc_info",
    "TracebackException",
    "from_exception",
    "post_mortem",
];

impl<'a> Visitor<'a> for UseEvents<'_, 'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if !self.enter_definitions && matches!(stmt, Stmt::FunctionDef(_) | Stmt::ClassDef(_)) {
            return;
        }
        if let Stmt::Raise(raise) = stmt
            && raise.exc.is_none()
        {
            self.events.push((stmt.start(), None));
            return;
        }
        deep(|| visitor::walk_stmt(self, stmt));
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if self.stored.contains(&expr.range()) {
            return;
        }
        match expr {
            Expr::Name(name) => {
                if name.ctx == ast::ExprContext::Load && self.names.contains(name.id.as_str()) {
                    self.events.push((expr.start(), Some(name.id.as_str())));
                }
            }
            Expr::Call(call) => {
                let callee = match &*call.func {
                    Expr::Name(name) => name.id.as_str(),
                    Expr::Attribute(attr) => attr.attr.as_str(),
                    _ => "",
                };
                if matches!(
                    callee,
                    "str"
                        | "repr"
                        | "type"
                        | "isinstance"
                        | "issubclass"
                        | "len"
                        | "id"
                        | "hash"
                        | "bool"
                        | "print"
                ) {
                    return;
                }
                if TRACEBACK_READERS.contains(&callee)
                    || call.arguments.keywords.iter().any(|keyword| {
                        keyword
                            .arg
                            .as_ref()
                            .is_some_and(|arg| arg.as_str() == "exc_info")
                    })
                {
                    self.events.push((expr.start(), None));
                    return;
                }
                deep(|| visitor::walk_expr(self, expr));
            }
            Expr::Attribute(attr) => {
                if let Expr::Name(base) = &*attr.value
                    && self.names.contains(base.id.as_str())
                    && !STRIP_SENSITIVE_ATTRS.contains(&attr.attr.as_str())
                {
                    return;
                }
                deep(|| visitor::walk_expr(self, expr));
            }
            Expr::FString(_) | Expr::Compare(_) => {}
            Expr::BinOp(binop)
                if binop.op == ast::Operator::Mod && binop.left.is_string_literal_expr() => {}
            _ => deep(|| visitor::walk_expr(self, expr)),
        }
    }
}

/// The attributes (`true`) and names (`false`) an expression reads.
struct Mentions<'a>(Vec<(&'a str, bool)>);

impl<'a> Visitor<'a> for Mentions<'a> {
    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Attribute(attr) => self.0.push((attr.attr.as_str(), true)),
            Expr::Name(name) => self.0.push((name.id.as_str(), false)),
            _ => {}
        }
        deep(|| visitor::walk_expr(self, expr));
    }
}

/// Collects the places the file releases (see [`Clear`]) or raises again.
struct ClearCollector<'a> {
    clears: Vec<Clear<'a>>,
    /// Attributes (`true`) and names (`false`) that a `raise` mentions.
    reraised: FxHashSet<(&'a str, bool)>,
    funcs: Vec<Func<'a>>,
    /// Where the file may spell a release call's method ([`release_call_positions`]): an
    /// expression whose text holds none has no such call in it.
    calls: Option<Vec<TextSize>>,
}

/// An enclosing function, for [`ClearCollector`].
struct Func<'a> {
    range: TextRange,
    /// `__init__` and friends: setting an attribute to `None` there initialises it.
    init: bool,
    globals: FxHashSet<&'a str>,
    /// Locals bound to an attribute (`events = self._events`) → the attribute's name.
    attr_aliases: FxHashMap<&'a str, &'a str>,
}

impl<'a> ClearCollector<'a> {
    fn push(&mut self, name: &'a str, attr: bool, single: bool, pos: TextSize) {
        let func = self.funcs.last().map(|func| (func.range, func.init));
        self.clears.push(Clear {
            name,
            attr,
            single,
            pos,
            func,
        });
    }

    fn is_global(&self, name: &str) -> bool {
        self.funcs
            .last()
            .is_some_and(|func| func.globals.contains(name))
    }

    fn attr_alias(&self, name: &str) -> Option<&'a str> {
        self.funcs
            .last()
            .and_then(|func| func.attr_aliases.get(name).copied())
    }

    /// The attribute or name a container expression is rooted at, through local aliases.
    fn root(&self, expr: &'a Expr) -> Option<(&'a str, bool)> {
        match container_root(expr)? {
            (name, false) => Some(
                self.attr_alias(name)
                    .map_or((name, false), |attr| (attr, true)),
            ),
            root => Some(root),
        }
    }

    fn assigned(&mut self, target: &'a Expr, value_is_none: bool, pos: TextSize) {
        match target {
            Expr::Attribute(attr) => self.push(attr.attr.as_str(), true, value_is_none, pos),
            Expr::Name(name) if self.is_global(name.id.as_str()) => {
                self.push(name.id.as_str(), false, value_is_none, pos);
            }
            Expr::Tuple(_) | Expr::List(_) => {
                for elt in sequence(target).unwrap_or_default() {
                    self.assigned(elt, false, pos);
                }
            }
            _ => {}
        }
    }

    fn deleted(&mut self, target: &'a Expr, pos: TextSize) {
        match target {
            Expr::Attribute(attr) => self.push(attr.attr.as_str(), true, true, pos),
            Expr::Name(name) if self.is_global(name.id.as_str()) => {
                self.push(name.id.as_str(), false, true, pos)
            }
            Expr::Subscript(subscript) => {
                if let Some((name, attr)) = self.root(&subscript.value) {
                    self.push(name, attr, false, pos);
                }
            }
            Expr::Tuple(_) | Expr::List(_) => {
                for elt in sequence(target).unwrap_or_default() {
                    self.deleted(elt, pos);
                }
            }
            _ => {}
        }
    }
}

impl<'a> Visitor<'a> for ClearCollector<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(def) => {
                let init = matches!(def.name.as_str(), "__init__" | "__new__" | "__post_init__");
                let mut globals = FxHashSet::default();
                collect_globals(&def.body, &mut globals);
                self.funcs.push(Func {
                    range: def.range,
                    init,
                    globals,
                    attr_aliases: FxHashMap::default(),
                });
                deep(|| visitor::walk_stmt(self, stmt));
                self.funcs.pop();
                return;
            }
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    self.assigned(target, assign.value.is_none_literal_expr(), stmt.start());
                }
                if let [Expr::Name(name)] = assign.targets.as_slice()
                    && let Expr::Attribute(attr) = &*assign.value
                    && let Some(func) = self.funcs.last_mut()
                {
                    func.attr_aliases
                        .insert(name.id.as_str(), attr.attr.as_str());
                }
            }
            Stmt::AnnAssign(assign) => {
                if let Some(value) = &assign.value {
                    self.assigned(&assign.target, value.is_none_literal_expr(), stmt.start());
                }
            }
            Stmt::Raise(raise) => {
                let mut mentioned = Mentions(Vec::new());
                for expr in raise.exc.iter().chain(&raise.cause) {
                    mentioned.visit_expr(expr);
                }
                for (name, attr) in mentioned.0 {
                    let key = match (attr, self.attr_alias(name)) {
                        (false, Some(aliased)) => (aliased, true),
                        _ => (name, attr),
                    };
                    self.reraised.insert(key);
                }
            }
            Stmt::Delete(delete) => {
                for target in &delete.targets {
                    self.deleted(target, stmt.start());
                }
            }
            _ => {}
        }
        deep(|| visitor::walk_stmt(self, stmt));
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Some(calls) = &self.calls
            && !any_within(calls, expr.range())
        {
            return;
        }
        if let Expr::Call(call) = expr
            && let Expr::Attribute(method) = &*call.func
            && matches!(
                method.attr.as_str(),
                "clear" | "pop" | "popleft" | "popitem" | "remove" | "discard"
            )
            && let Some((name, attr)) = self.root(&method.value)
        {
            self.push(name, attr, false, expr.start());
        }
        deep(|| visitor::walk_expr(self, expr));
    }
}

#[cfg(test)]
mod tests {
    use crate::registry::{Rule, RuleSet};
    use crate::settings::Settings;
    use crate::{Diagnostic, analyze};

    fn run(source: &str) -> Vec<Diagnostic> {
        let settings =
            Settings::with_rules([Rule::StoredException].into_iter().collect::<RuleSet>());
        analyze(source, &settings)
    }

    #[test]
    fn format_exc_fix_adds_the_import() {
        let source = "import sys\n\n\nclass A:\n    def f(self):\n        try:\n            pass\n        except OSError as e:\n            self.error = e\n";
        let found = run(source);
        assert_eq!(found.len(), 1);
        let fixes: Vec<_> = found[0].fixes().collect();
        assert_eq!(fixes.len(), 3);
        let fixed = fixes[1].apply(source);
        assert!(
            fixed.starts_with("import sys\nimport traceback\n"),
            "{fixed}"
        );
        assert!(
            fixed.contains("self.error = traceback.format_exc()"),
            "{fixed}"
        );
    }

    #[test]
    fn no_stripping_before_a_bare_raise() {
        let source = "class A:\n    def f(self):\n        try:\n            pass\n        except OSError as e:\n            self.errors.append(e)\n            self.last = e\n            raise\n";
        let found = run(source);
        assert_eq!(found.len(), 2);
        for diagnostic in &found {
            let preferred = diagnostic.fix.as_ref().expect("a fix");
            assert!(
                preferred.message.contains("format_exc"),
                "{}",
                preferred.message
            );
        }
    }

    #[test]
    fn later_stores_of_the_same_exception_do_not_block_stripping() {
        let source = "class A:\n    def f(self):\n        try:\n            pass\n        except OSError as e:\n            self.errors.append(e)\n            self.last = e\n";
        let found = run(source);
        assert_eq!(found.len(), 2);
        for diagnostic in &found {
            let preferred = diagnostic.fix.as_ref().expect("a fix");
            assert!(
                preferred.message.contains("with_traceback(None)"),
                "{}",
                preferred.message
            );
        }
    }

    #[test]
    fn deep_expressions_do_not_overflow() {
        let chain = ".tb_next".repeat(50_000);
        let sum = vec!["e"; 50_000].join(" + ");
        let source = format!(
            "class A:\n    def f(self):\n        try:\n            pass\n        except OSError as e:\n            self.tb = e.__traceback__{chain}\n            self.total = {sum}\n            log({sum})\n"
        );
        let found = run(&source);
        assert_eq!(found.len(), 1);
    }
}
