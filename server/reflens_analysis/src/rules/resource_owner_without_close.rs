use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange};

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::{Diagnostic, Edit, Fix};
use crate::helpers::{MethodKind, deep, first_parameter, method_kind};
use crate::registry::Rule;
use crate::rules::unclosed_resource::{
    constructor_last_segments, resource_created_by, spells_constructor,
};
use crate::triggers::Triggers;
use crate::workspace::{WorkspaceFacts, is_release_method};

declare_rule! {
    /// ## What it finds
    /// A class whose methods store a newly created resource in `self`
    /// (`self._f = open(...)`, `self.sock = socket.socket()`, `self.conn = sqlite3.connect(...)`,
    /// `self._pool = ThreadPoolExecutor()`, `self.session = requests.Session()`: every
    /// constructor RL401 knows) while the class offers no way to release it: no method named
    /// like a release (`close`, `shutdown`, `stop`, `release`, `dispose`, `cleanup`,
    /// `terminate`, `disconnect`, `teardown`, `finish`, `quit`, with any prefix or suffix such as
    /// `server_close`), no `__exit__`/`__aexit__`, and no `__del__` or `weakref.finalize`
    /// (those are RL201's business).
    ///
    /// Not reported:
    /// - the class releases or hands over the attribute somewhere itself: `self._f.close()` (or
    ///   the kind's own release: `shutdown()` for executors, `wait()`/`terminate()` for
    ///   processes, `cleanup()` for temporary directories), a bound release passed on
    ///   (`atexit.register(self._f.close)`), `with self._f:`, `contextlib.closing(self._f)`,
    ///   `stack.enter_context(self._f)`, `return self._f` (the caller owns it), another name
    ///   or attribute for it (`self.conn = self._f`, which some other code may close),
    ///   `del self._f` or `self._f = None`; `with self._f:` counts too, except for sqlite3,
    ///   psycopg2 and pyodbc connections, whose `with` ends a transaction and does not close;
    /// - mixins (classes named `…Mixin`), whose release comes from the classes they are
    ///   mixed into;
    /// - the class defines `__getattr__`/`__getattribute__` (it may forward `close()` to what it
    ///   wraps);
    /// - a base class may provide the release: a base class of the module or of the workspace
    ///   that defines a release method (or whose own bases may); a base class the workspace does
    ///   not know, other than `object`, `abc.ABC`, `typing.Generic`, `typing.Protocol`,
    ///   `threading.Thread` and exceptions, is given the benefit of the doubt.
    ///
    /// ## Why it keeps memory alive
    /// The resource lives exactly as long as its owner, and nothing can end it earlier: its
    /// users can neither call `close()` nor use the object in a `with` block. The file
    /// descriptor, socket, database connection with its caches, worker threads of an executor or
    /// child process stay alive until the owner is garbage-collected, which for an owner caught
    /// in a reference cycle, kept by a traceback or a cache, or running on another Python
    /// implementation can be much later, or never. Programs that create such objects
    /// repeatedly run out of file descriptors or threads.
    ///
    /// ## Example
    /// ```python
    /// import sqlite3
    ///
    /// class Store:
    ///     def __init__(self, path):
    ///         self.conn = sqlite3.connect(path)
    ///
    ///     def get(self, key):
    ///         return self.conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
    /// ```
    ///
    /// ## Fix
    /// Give the class a `close()` method that releases what it holds, and the context-manager
    /// protocol so that users can write `with Store(path) as store:`.
    /// ```python
    /// class Store:
    ///     def __init__(self, path):
    ///         self.conn = sqlite3.connect(path)
    ///
    ///     def get(self, key):
    ///         return self.conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
    ///
    ///     def close(self):
    ///         self.conn.close()
    ///
    ///     def __enter__(self):
    ///         return self
    ///
    ///     def __exit__(self, *exc_info):
    ///         self.close()
    /// ```
    /// What `close()` does depends on the resource: `close()` for files, sockets, connections,
    /// archives, sessions, selectors and memory maps; `shutdown()` for executors (which waits for
    /// the submitted work); `close()` then `join()` for `multiprocessing` pools; `terminate()`
    /// then `wait()` for a subprocess; `cleanup()` for a temporary directory; `release()` for
    /// `cv2` captures. A resource created outside `__init__` (lazily) is released only if it was
    /// created (`if getattr(self, "conn", None) is not None:`).
    ///
    /// ## Fix safety
    /// The fix only adds methods: nothing calls them until the class's users do, so existing
    /// code behaves as before, with one exception: code that looks for a `close()` method by
    /// duck typing (`hasattr(obj, "close")`, WSGI servers, `contextlib.closing` callers) will now
    /// call it. It is offered when the class defines none of `close`, `__enter__` and `__exit__`
    /// (under any form), is not an async resource (whose release is a coroutine), and its body
    /// is written on its own lines. Safe for resources whose release only frees them; unsafe for
    /// executors, pools and subprocesses, whose `close()` waits for the work or ends the
    /// process: a duck-typing caller would now block on or kill it. The class's users still have
    /// to call `close()` (or use `with`).
    pub struct ResourceOwnerWithoutClose {
        code: "RL402",
        name: "resource-owner-without-close",
        summary: "A class keeps a resource in `self` but offers no `close()` or `__exit__`",
        fix: Sometimes,
    }
}

/// Bases known to provide no release method.
const PLAIN_BASES: &[&str] = &[
    "builtins.object",
    "abc.ABC",
    "typing.Generic",
    "typing.Protocol",
    "typing_extensions.Protocol",
    "typing_extensions.Generic",
    "threading.Thread",
    "builtins.Exception",
    "builtins.BaseException",
];

/// Methods whose call on an attribute releases the resource it holds, whatever its kind.
const RELEASE_CALLS: &[&str] = &[
    "close",
    "aclose",
    "shutdown",
    "release",
    "cleanup",
    "terminate",
    "kill",
    "wait",
    "communicate",
    "detach",
    "__exit__",
    "__aexit__",
    "join",
];

/// Calls that take over releasing what they are given.
const TAKE_OVER_CALLS: &[&str] = &[
    "enter_context",
    "enter_async_context",
    "closing",
    "aclosing",
    "push",
    "callback",
    "addCleanup",
    "addAsyncCleanup",
    "addClassCleanup",
    "register",
    "finalize",
];

/// Words one of which a file needs for this rule to run on it (see `triggers`).
pub(crate) const TRIGGERS: Triggers =
    Triggers::AnyOf(crate::rules::unclosed_resource::RESOURCE_WORDS);

pub(crate) fn check(checker: &mut Checker) {
    // Only the constructors RL401 knows make a resource here, and each has one of its words
    // in its name (or its import).
    if !checker.source.contains("self") {
        return;
    }
    // A call that creates a resource spells a word of RL401's constructor words in its callee
    // (`open`, the constructor's last segment), unless an import binds a constructor under
    // another name or the file is not ASCII (identifiers are NFKC-normalised, `ｏpen` is
    // `open`): then every class is checked.
    let skip_silent = checker.source.is_ascii()
        && !checker
            .semantic
            .imports_renamed(|last| constructor_last_segments().contains(last));
    let mut found = Vec::new();
    checker.walk_classes(&mut |class| {
        // A class whose text (after its docstring) spells no constructor word creates no
        // resource.
        if skip_silent {
            let body = crate::helpers::body_without_docstring(&class.body);
            let (Some(first), Some(last)) = (body.first(), body.last()) else {
                return;
            };
            if !spells_constructor(&checker.source[TextRange::new(first.start(), last.end())]) {
                return;
            }
        }
        if let Some(finding) = check_class(checker, class) {
            found.push(finding);
        }
    });
    // Last: unless a base class of another module may release what the class holds.
    for (diagnostic, outside) in found {
        checker.report_if_workspace(diagnostic, move |workspace| {
            outside
                .iter()
                .all(|(name, depth)| workspace_class_without_release(workspace, name, *depth))
        });
    }
}

/// A resource stored in an attribute of `self`.
struct Held<'a> {
    attr: &'a str,
    target: &'a ast::ExprAttribute,
    what: &'static str,
    releases: &'static [&'static str],
    /// Whether `with self.x:` releases it.
    with_releases: bool,
    /// Created unconditionally at the top level of `__init__` (so it always exists).
    always: bool,
}

/// A finding for `class`, with the classes of other modules (by name, with their depth) that
/// must each be known to define no release method for it to stand.
fn check_class<'a>(
    checker: &Checker<'a>,
    class: &'a ast::StmtClassDef,
) -> Option<(Diagnostic, Vec<(String, usize)>)> {
    // A mixin's release comes from the classes it is mixed into.
    if class.name.as_str().ends_with("Mixin") || class.name.as_str().ends_with("Mixin_") {
        return None;
    }
    // The cheapest test first: statements only, resolving only the callees of stores to
    // `self`; most classes hold no resource. `uses_finalize` looks at every call.
    let held = held_resources(checker, class);
    if held.is_empty() || defines_release(&class.body) || uses_finalize(checker, class) {
        return None;
    }
    let (handled, with_blocks) = handled_attributes(checker, class);
    let unreleased: Vec<Held> = held
        .into_iter()
        .filter(|h| {
            !(handled.contains(&h.attr) || h.with_releases && with_blocks.contains(&h.attr))
        })
        .collect();
    // One finding per attribute name (it may be created in several methods).
    let mut seen: Vec<&str> = Vec::new();
    let unreleased: Vec<Held> = unreleased
        .into_iter()
        .filter(|h| {
            if seen.contains(&h.attr) {
                false
            } else {
                seen.push(h.attr);
                true
            }
        })
        .collect();
    let first = unreleased.first()?;
    let mut outside = Vec::new();
    if !bases_without_release(checker, class.bases(), 0, &mut outside) {
        return None;
    }
    let others: Vec<String> = unreleased[1..]
        .iter()
        .map(|h| format!("`self.{}`", h.attr))
        .collect();
    let also = if others.is_empty() {
        String::new()
    } else {
        format!(" (and {})", others.join(", "))
    };
    let message = format!(
        "`{class}` keeps {article} {what} in `self.{attr}`{also} but has no `close()`, `__exit__` or other way to release it: the {what} stays open until each `{class}` is garbage-collected",
        class = class.name,
        what = first.what,
        article = if first.what.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        },
        attr = first.attr,
    );
    let mut diagnostic = Diagnostic::new(
        Rule::ResourceOwnerWithoutClose,
        first.target.range(),
        message,
    );
    for other in &unreleased[1..] {
        diagnostic = diagnostic.with_related(
            other.target.range(),
            format!(
                "the {} in `self.{}` is created here",
                other.what, other.attr
            ),
        );
    }
    let diagnostic = match close_fix(checker, class, &unreleased) {
        Ok(fix) => diagnostic.with_fix(fix),
        Err(reason) => diagnostic.with_note(reason),
    };
    Some((diagnostic, outside))
}

/// Whether the class body defines (or assigns) something that may release what it holds.
fn defines_release(body: &[Stmt]) -> bool {
    body.iter().any(|stmt| match stmt {
        Stmt::FunctionDef(def) => is_release_method(def.name.as_str()),
        Stmt::Assign(assign) => assign
            .targets
            .iter()
            .any(|t| matches!(t, Expr::Name(n) if is_release_method(n.id.as_str()))),
        Stmt::AnnAssign(assign) => {
            matches!(&*assign.target, Expr::Name(n) if is_release_method(n.id.as_str()))
        }
        // Methods defined under a condition (`if sys.platform == ...: def close(self): ...`).
        Stmt::If(if_) => {
            defines_release(&if_.body)
                || if_
                    .elif_else_clauses
                    .iter()
                    .any(|clause| defines_release(&clause.body))
        }
        Stmt::Try(try_) => defines_release(&try_.body) || defines_release(&try_.orelse),
        _ => false,
    })
}

/// `weakref.finalize(...)` anywhere in the class: RL201's territory, and a release.
fn uses_finalize(checker: &Checker, class: &ast::StmtClassDef) -> bool {
    // The callee's name ends with `finalize`, which the file then spells.
    if !checker.source.contains("finalize") {
        return false;
    }
    struct Finder<'c, 'a> {
        checker: &'c Checker<'a>,
        found: bool,
    }
    impl<'a> Visitor<'a> for Finder<'_, 'a> {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if self.found {
                return;
            }
            // An attribute callee must be `.finalize` (a qualified name ends with it).
            if let Expr::Call(call) = expr
                && match &*call.func {
                    Expr::Attribute(attr) => attr.attr.as_str() == "finalize",
                    func => func.is_name_expr(),
                }
                && self
                    .checker
                    .semantic
                    .resolves_to(&call.func, &["weakref.finalize"])
            {
                self.found = true;
                return;
            }
            deep(|| visitor::walk_expr(self, expr));
        }
    }
    let mut finder = Finder {
        checker,
        found: false,
    };
    finder.visit_body(&class.body);
    finder.found
}

/// Whether none of `bases` can provide a release method, as far as this module knows: each is
/// a plain base, or a class of this module that defines none and whose own bases cannot either,
/// or a class of another module, by name, which is added to `outside` (with its depth) for
/// [`workspace_class_without_release`] to decide once the workspace is known.
fn bases_without_release(
    checker: &Checker,
    bases: &[Expr],
    depth: usize,
    outside: &mut Vec<(String, usize)>,
) -> bool {
    if depth > 8 {
        return false;
    }
    bases.iter().all(|base| {
        // `Generic[T]`, `Protocol[T]`.
        let base = match base {
            Expr::Subscript(subscript) => &*subscript.value,
            other => other,
        };
        if checker.semantic.resolves_to(base, PLAIN_BASES) {
            return true;
        }
        // A class of this module.
        if let Expr::Name(name) = base {
            let bindings = checker.semantic.module_bindings(name.id.as_str());
            if !bindings.is_empty() {
                return match bindings {
                    [Stmt::ClassDef(def)] => {
                        !defines_release(&def.body)
                            && bases_without_release(checker, def.bases(), depth + 1, outside)
                    }
                    _ => false,
                };
            }
        }
        // A class elsewhere in the workspace, by name.
        let last = match base {
            Expr::Name(name) => name.id.as_str(),
            Expr::Attribute(attr) => attr.attr.as_str(),
            _ => return false,
        };
        outside.push((last.to_owned(), depth + 1));
        true
    })
}

/// Whether the workspace has classes of this name and none of them (nor their bases, by name)
/// defines a release method.
fn workspace_class_without_release(workspace: &WorkspaceFacts, name: &str, depth: usize) -> bool {
    if depth > 8 {
        return false;
    }
    let classes = workspace.classes_named(name);
    if classes.is_empty() {
        return false;
    }
    classes.iter().all(|class| {
        !class.may_release
            && class.bases.iter().all(|base| {
                let base = base.split('[').next().unwrap_or_default();
                if PLAIN_BASES.contains(&base) || base == "object" {
                    return true;
                }
                let last = base.rsplit('.').next().unwrap_or_default();
                last != name && workspace_class_without_release(workspace, last, depth + 1)
            })
    })
}

/// `self.<attr> = <resource constructor>(...)` in the class's instance methods.
fn held_resources<'a>(checker: &Checker<'a>, class: &'a ast::StmtClassDef) -> Vec<Held<'a>> {
    struct Finder<'c, 'a> {
        checker: &'c Checker<'a>,
        this: &'a str,
        in_init: bool,
        depth: usize,
        held: Vec<Held<'a>>,
    }
    impl<'a> Visitor<'a> for Finder<'_, 'a> {
        // Statements only: expressions hold no statements (and can nest thousands deep).
        fn visit_expr(&mut self, _: &'a Expr) {}

        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                // Nested functions and classes have their own `self`.
                Stmt::FunctionDef(_) | Stmt::ClassDef(_) => {}
                Stmt::Assign(assign) => {
                    // A store to `self` first: resolving the callee costs more.
                    if let Expr::Call(call) = &*assign.value
                        && assign.targets.iter().any(|target| {
                            matches!(target, Expr::Attribute(attr)
                                if matches!(&*attr.value, Expr::Name(n) if n.id.as_str() == self.this))
                        })
                        && let Some((what, releases, with_releases)) =
                            resource_created_by(self.checker, call)
                    {
                        for target in &assign.targets {
                            if let Expr::Attribute(attr) = target
                                && matches!(&*attr.value, Expr::Name(n) if n.id.as_str() == self.this)
                            {
                                self.held.push(Held {
                                    attr: attr.attr.as_str(),
                                    target: attr,
                                    what,
                                    releases,
                                    with_releases,
                                    always: self.in_init && self.depth == 0,
                                });
                            }
                        }
                    }
                }
                Stmt::AnnAssign(assign) => {
                    if let Some(Expr::Call(call)) = assign.value.as_deref()
                        && let Expr::Attribute(attr) = &*assign.target
                        && matches!(&*attr.value, Expr::Name(n) if n.id.as_str() == self.this)
                        && let Some((what, releases, with_releases)) =
                            resource_created_by(self.checker, call)
                    {
                        self.held.push(Held {
                            attr: attr.attr.as_str(),
                            target: attr,
                            what,
                            releases,
                            with_releases,
                            always: self.in_init && self.depth == 0,
                        });
                    }
                }
                _ => {
                    self.depth += 1;
                    deep(|| visitor::walk_stmt(self, stmt));
                    self.depth -= 1;
                }
            }
        }
    }
    let mut held = Vec::new();
    for stmt in &class.body {
        let Stmt::FunctionDef(def) = stmt else {
            continue;
        };
        let Some(this) = first_parameter(def) else {
            continue;
        };
        let mut finder = Finder {
            checker,
            this,
            in_init: def.name.as_str() == "__init__",
            depth: 0,
            held: Vec::new(),
        };
        finder.visit_body(&def.body);
        // Last: resolving the decorators costs more than the walk, which seldom finds any.
        if !finder.held.is_empty() && method_kind(checker, def) == MethodKind::Instance {
            held.extend(finder.held);
        }
    }
    held
}

/// Attribute names that the class releases, hands over or drops somewhere (in any method, on
/// any object: `self._f.close()`, `other._f.close()`, `return self._f`, ...), and those used
/// as context managers (`with self._f:`).
fn handled_attributes<'a>(
    checker: &Checker<'a>,
    class: &'a ast::StmtClassDef,
) -> (Vec<&'a str>, Vec<&'a str>) {
    struct Finder<'c, 'a> {
        checker: &'c Checker<'a>,
        handled: Vec<&'a str>,
        with_blocks: Vec<&'a str>,
    }
    /// `x.attr` → `attr`.
    fn attribute_of_name(expr: &Expr) -> Option<&str> {
        match expr {
            Expr::Attribute(attr) if attr.value.is_name_expr() => Some(attr.attr.as_str()),
            _ => None,
        }
    }
    impl<'a> Visitor<'a> for Finder<'_, 'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::With(with) => {
                    for item in &with.items {
                        if let Some(attr) = attribute_of_name(&item.context_expr) {
                            self.with_blocks.push(attr);
                        }
                    }
                }
                Stmt::Return(ast::StmtReturn {
                    value: Some(value), ..
                }) => {
                    self.escapes(value);
                }
                Stmt::Delete(delete) => {
                    for target in &delete.targets {
                        if let Some(attr) = attribute_of_name(target) {
                            self.handled.push(attr);
                        }
                    }
                }
                Stmt::Assign(assign) => {
                    let dropped = assign.value.is_none_literal_expr();
                    for target in &assign.targets {
                        if let Some(attr) = attribute_of_name(target)
                            && dropped
                        {
                            self.handled.push(attr);
                        }
                    }
                    // `other = self._f`, `self.conn = self.cli`: someone else may own it now.
                    self.escapes(&assign.value);
                }
                _ => {}
            }
            deep(|| visitor::walk_stmt(self, stmt));
        }

        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                // `self._f.close` (called or passed on), `self._proc.wait()`.
                Expr::Attribute(outer) if RELEASE_CALLS.contains(&outer.attr.as_str()) => {
                    if let Some(attr) = attribute_of_name(&outer.value) {
                        self.handled.push(attr);
                    }
                }
                Expr::Call(call) => {
                    let callee = match &*call.func {
                        Expr::Attribute(attr) => Some(attr.attr.as_str()),
                        Expr::Name(name) => Some(name.id.as_str()),
                        _ => None,
                    };
                    let takes_over = callee.is_some_and(|c| TAKE_OVER_CALLS.contains(&c))
                        || self
                            .checker
                            .semantic
                            .resolves_to(&call.func, &["contextlib.closing"]);
                    if takes_over {
                        for arg in &call.arguments.args {
                            if let Some(attr) = attribute_of_name(arg) {
                                self.handled.push(attr);
                            }
                        }
                    }
                }
                Expr::Yield(ast::ExprYield {
                    value: Some(value), ..
                }) => self.escapes(value),
                _ => {}
            }
            deep(|| visitor::walk_expr(self, expr));
        }
    }
    impl<'a> Finder<'_, 'a> {
        fn escapes(&mut self, value: &'a Expr) {
            let values: Vec<&Expr> = match value {
                Expr::Tuple(tuple) => tuple.iter().collect(),
                other => vec![other],
            };
            for value in values {
                if let Some(attr) = attribute_of_name(value) {
                    self.handled.push(attr);
                }
            }
        }
    }
    let mut finder = Finder {
        checker,
        handled: Vec::new(),
        with_blocks: Vec::new(),
    };
    finder.visit_body(&class.body);
    (finder.handled, finder.with_blocks)
}

/// Adds `close()`, `__enter__` and `__exit__` at the end of the class.
fn close_fix(checker: &Checker, class: &ast::StmtClassDef, held: &[Held]) -> Result<Fix, String> {
    const DEFINED: &[&str] = &["close", "__enter__", "__exit__"];
    let defines = class.body.iter().any(|stmt| match stmt {
        Stmt::FunctionDef(def) => DEFINED.contains(&def.name.as_str()),
        Stmt::Assign(assign) => assign
            .targets
            .iter()
            .any(|t| matches!(t, Expr::Name(n) if DEFINED.contains(&n.id.as_str()))),
        _ => false,
    });
    if defines {
        return Err(format!(
            "No automatic fix: `{}` already uses the name `close`, `__enter__` or `__exit__`; release the resource in a method of your own.",
            class.name
        ));
    }
    if held.iter().any(|h| h.releases.contains(&"aclose")) {
        return Err(
            "No automatic fix: an async HTTP session is released with a coroutine; add an `async def aclose(self)` that awaits its release, and `__aenter__`/`__aexit__`.".to_owned(),
        );
    }
    let (Some(first), Some(last)) = (class.body.first(), class.body.last()) else {
        return Err("No automatic fix: the class has no body.".to_owned());
    };
    if !checker.starts_line(first) || checker.followed_on_line(last) {
        return Err("No automatic fix: the class body is not written on its own lines.".to_owned());
    }
    let this = class
        .body
        .iter()
        .find_map(|stmt| match stmt {
            Stmt::FunctionDef(def) if method_kind(checker, def) == MethodKind::Instance => {
                first_parameter(def)
            }
            _ => None,
        })
        .unwrap_or("self");
    let indent = checker.indentation(first.start());
    let unit = checker.indent_unit();
    let eol = checker.line_ending();
    let body_indent = format!("{indent}{unit}");
    let mut close_body = String::new();
    let mut blocking = false;
    // Release in the reverse order of creation.
    for h in held.iter().rev() {
        let attr = format!("{this}.{}", h.attr);
        let (lines, blocks): (Vec<String>, bool) = match h.what {
            "executor" => (vec![format!("{attr}.shutdown()")], true),
            "process pool" => (
                vec![format!("{attr}.close()"), format!("{attr}.join()")],
                true,
            ),
            "subprocess" => (
                vec![format!("{attr}.terminate()"), format!("{attr}.wait()")],
                true,
            ),
            "temporary directory" => (vec![format!("{attr}.cleanup()")], false),
            "video capture" => (vec![format!("{attr}.release()")], false),
            _ => (vec![format!("{attr}.close()")], false),
        };
        blocking |= blocks;
        let (prefix, extra) = if h.always {
            (String::new(), String::new())
        } else {
            (
                format!(
                    "{body_indent}if getattr({this}, \"{}\", None) is not None:{eol}",
                    h.attr
                ),
                unit.to_owned(),
            )
        };
        close_body.push_str(&prefix);
        for line in lines {
            close_body.push_str(&format!("{body_indent}{extra}{line}{eol}"));
        }
    }
    let text = format!(
        "{eol}{indent}def close({this}):{eol}{close_body}{eol}{indent}def __enter__({this}):{eol}{body_indent}return {this}{eol}{eol}{indent}def __exit__({this}, *exc_info):{eol}{body_indent}{this}.close(){eol}"
    );
    // After the class's last line (keep a trailing comment on that line where it is).
    let at = checker.full_line_end(last.end());
    let mut text = text;
    if !checker.source[..at.to_usize()].ends_with(['\n', '\r']) {
        text = format!("{eol}{text}");
    }
    let edit = Edit::insertion(text, at);
    let message = format!(
        "Add `close()`, `__enter__` and `__exit__` to `{}`",
        class.name
    );
    Ok(if blocking {
        Fix::unsafe_(message, vec![edit])
    } else {
        Fix::safe(message, vec![edit])
    })
}
