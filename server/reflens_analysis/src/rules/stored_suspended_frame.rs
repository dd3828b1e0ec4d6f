use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{Expr, Stmt};
use ruff_text_size::Ranged;
use rustc_hash::FxHashSet;

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::Diagnostic;
use crate::helpers::{deep, is_test_code, last_segment};
use crate::registry::Rule;
use crate::rules::stored_frame::Releases;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// A suspended generator that holds a large object or an open resource, stored where it
    /// lives for as long as the program (or the object) and never finished or closed:
    ///
    /// - a module-level name bound to a call of a generator function of the same module whose
    ///   body opens a file or connection or loads a large object (`open`, `gzip.open`,
    ///   `sqlite3.connect`, `socket.create_connection`, `json.load`, `pickle.load`,
    ///   `numpy.load`, `pandas.read_csv`, `torch.load`, `.read()`, `.readlines()`,
    ///   `.fetchall()`, ...), when the module advances it with `next(...)` or `.send(...)`:
    ///   after the first `next` the generator is suspended at a `yield` with that resource in
    ///   its frame;
    /// - a module-level name bound to a generator expression whose first iterable is such a call
    ///   (`ROWS = (parse(l) for l in open(path))`): that iterable is evaluated at once;
    /// - `self.x = self.gen(...)` where `gen` is a generator method of the same class with such
    ///   a body, advanced with `next(self.x)` or `self.x.send(...)`.
    ///
    /// Not flagged, on purpose, because the generator is finished or handed over:
    /// - names iterated to the end in the file (`for row in ROWS`, `list(ROWS)`, `sorted(...)`,
    ///   `yield from ...`), closed (`.close()`, `.throw()`), deleted, set to `None`, or passed to
    ///   another call (which decides how to consume it);
    /// - generators that were never started (no `next`/`send` in the file): their code has not
    ///   run, so they hold only their arguments;
    /// - generators whose body holds nothing large, and generators stored in locals.
    /// - test code (modules named `test_*`, `*_test`, `conftest` or in a `tests` package, and
    ///   files that define `test_*` functions or methods).
    ///
    /// Closures that capture large locals are left to the rules for registries and caches
    /// (RL102, RL502): a function object is built to be called, unlike a half-consumed
    /// generator, whose frame nobody means to keep.
    ///
    /// ## Why it keeps memory alive
    /// A suspended generator keeps its whole frame: every local variable it has bound so far
    /// (the file it opened, the list it loaded, the cursor it holds), until it is run to the end,
    /// closed, or freed. A generator stored in a module global is never freed, so a stream that
    /// the program only pulls a few items from keeps the file open and the data loaded for the
    /// life of the process. A generator method stored on `self` is worse: its frame holds `self`,
    /// and `self` holds the generator, a reference cycle that keeps the resource alive until the
    /// cyclic garbage collector happens to run.
    ///
    /// ## Example
    /// ```python
    /// import json
    ///
    /// def _samples(path):
    ///     with open(path) as f:
    ///         data = json.load(f)
    ///     for item in data["samples"]:
    ///         yield item
    ///
    /// SAMPLES = _samples("samples.json")
    ///
    /// def next_sample():
    ///     return next(SAMPLES)
    /// ```
    ///
    /// ## Fix
    /// Keep what the generator produces, not the generator, or make the lifetime explicit:
    /// close the generator when done (`SAMPLES.close()` runs its `finally` and `with` blocks),
    /// or keep a small cursor instead of the loaded data:
    ///
    /// ```python
    /// import json
    ///
    /// def _load(path):
    ///     with open(path) as f:
    ///         return json.load(f)["samples"]
    ///
    /// _position = 0
    ///
    /// def next_sample(samples):
    ///     global _position
    ///     item = samples[_position]
    ///     _position += 1
    ///     return item
    /// ```
    ///
    /// ## Fix safety
    /// No automatic fix: whether the data should be loaded once and kept, streamed per call, or
    /// the generator closed at a known point depends on the program.
    pub struct StoredSuspendedFrame {
        code: "RL305",
        name: "stored-suspended-frame",
        summary: "a suspended generator holding an open resource or a large object, stored in a global or on `self` and never finished or closed, keeps its whole frame alive",
        fix: None,
    }
}

const HEAVY: &[&str] = &[
    "builtins.open",
    "io.open",
    "gzip.open",
    "bz2.open",
    "lzma.open",
    "tarfile.open",
    "zipfile.ZipFile",
    "socket.socket",
    "socket.create_connection",
    "sqlite3.connect",
    "urllib.request.urlopen",
    "json.load",
    "json.loads",
    "pickle.load",
    "pickle.loads",
    "marshal.load",
    "numpy.load",
    "numpy.loadtxt",
    "numpy.genfromtxt",
    "numpy.fromfile",
    "numpy.memmap",
    "mmap.mmap",
    "pandas.read_csv",
    "pandas.read_parquet",
    "pandas.read_json",
    "pandas.read_pickle",
    "pandas.read_sql",
    "torch.load",
];

const HEAVY_METHODS: &[&str] = &["read", "readlines", "fetchall", "read_bytes", "read_text"];

/// The first heavy call in an expression, described for the message.
fn heavy_call(checker: &Checker, expr: &Expr) -> Option<String> {
    if let Expr::Call(call) = expr {
        if let Some(q) = checker.semantic.qualified_name(&call.func)
            && HEAVY.contains(&q.as_str())
        {
            return Some(format!("`{}(...)`", q.trim_start_matches("builtins.")));
        }
        if let Expr::Attribute(attr) = &*call.func
            && HEAVY_METHODS.contains(&attr.attr.as_str())
        {
            return Some(format!("`.{}()`", attr.attr));
        }
    }
    None
}

/// The first heavy call anywhere in a function body (not in nested functions).
fn heavy_in_body(checker: &Checker, body: &[Stmt]) -> Option<String> {
    struct V<'c, 'a> {
        checker: &'c Checker<'a>,
        found: Option<String>,
        yields: bool,
    }
    impl<'b> Visitor<'b> for V<'_, '_> {
        fn visit_stmt(&mut self, stmt: &'b Stmt) {
            if matches!(stmt, Stmt::FunctionDef(_) | Stmt::ClassDef(_)) {
                return;
            }
            deep(|| visitor::walk_stmt(self, stmt));
        }
        fn visit_expr(&mut self, expr: &'b Expr) {
            match expr {
                Expr::Lambda(_) => return,
                Expr::Yield(_) | Expr::YieldFrom(_) => self.yields = true,
                _ => {}
            }
            if self.found.is_none() {
                self.found = heavy_call(self.checker, expr);
            }
            deep(|| visitor::walk_expr(self, expr));
        }
    }
    let mut v = V {
        checker,
        found: None,
        yields: false,
    };
    v.visit_body(body);
    if v.yields { v.found } else { None }
}

/// How the file uses a stored generator: advanced, finished, or handed over.
#[derive(Default)]
struct Usage {
    advanced: bool,
    finished: bool,
}

/// Uses of a stored generator, matched by `matches(expr)` (a global name or `self.x`).
fn usage(suite: &[Stmt], matches: &dyn Fn(&Expr) -> bool) -> Usage {
    struct V<'m> {
        matches: &'m dyn Fn(&Expr) -> bool,
        usage: Usage,
    }
    impl<'a> Visitor<'a> for V<'_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            if let Stmt::For(for_) = stmt
                && (self.matches)(&for_.iter)
            {
                self.usage.finished = true;
            }
            deep(|| visitor::walk_stmt(self, stmt));
        }
        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::Call(call) => {
                    if let Expr::Attribute(attr) = &*call.func
                        && (self.matches)(&attr.value)
                    {
                        match attr.attr.as_str() {
                            "send" | "__next__" => self.usage.advanced = true,
                            _ => self.usage.finished = true,
                        }
                    }
                    let is_next = matches!(&*call.func, Expr::Name(n) if n.id.as_str() == "next");
                    for arg in call
                        .arguments
                        .args
                        .iter()
                        .chain(call.arguments.keywords.iter().map(|k| &k.value))
                    {
                        if (self.matches)(arg) {
                            if is_next {
                                self.usage.advanced = true;
                            } else {
                                // `list(g)`, `sorted(g)`, or handed to another function.
                                self.usage.finished = true;
                            }
                        }
                    }
                }
                Expr::YieldFrom(y) if (self.matches)(&y.value) => self.usage.finished = true,
                _ => {}
            }
            // Comprehensions that iterate it.
            let generators = match expr {
                Expr::Generator(g) => Some(&g.generators),
                Expr::ListComp(c) => Some(&c.generators),
                Expr::SetComp(c) => Some(&c.generators),
                Expr::DictComp(c) => Some(&c.generators),
                _ => None,
            };
            if let Some(generators) = generators
                && generators.iter().any(|g| (self.matches)(&g.iter))
            {
                self.usage.finished = true;
            }
            deep(|| visitor::walk_expr(self, expr));
        }
    }
    let mut v = V {
        matches,
        usage: Usage::default(),
    };
    v.visit_body(suite);
    v.usage
}

/// Words one of which a file needs for this rule to run on it (see `triggers`): only a
/// generator the module advances is a finding, and advancing it spells `next` or `send` (not
/// `next(`: `next (g)` is a call too).
pub(crate) const TRIGGERS: Triggers = Triggers::AnyOf(&["next", "send"]);

pub(crate) fn check(checker: &mut Checker) {
    // Test code captures frames and exceptions on purpose, for one test.
    if is_test_code(checker) {
        return;
    }
    if !checker.source.contains("yield") && !checker.source.contains(" for ") {
        return;
    }
    // What the module releases is read only for a candidate (most files have none).
    let releases = std::cell::OnceCell::new();
    let mut found = Vec::new();
    // Module-level generators.
    for stmt in checker.suite {
        let Stmt::Assign(assign) = stmt else {
            continue;
        };
        let [Expr::Name(target)] = &assign.targets[..] else {
            continue;
        };
        let name = target.id.as_str();
        if checker.semantic.module_bindings(name).len() != 1 {
            continue;
        }
        let (holds, started) = match &*assign.value {
            Expr::Call(call) => {
                let Expr::Name(callee) = &*call.func else {
                    continue;
                };
                let [Stmt::FunctionDef(def)] = checker.semantic.module_bindings(callee.id.as_str())
                else {
                    continue;
                };
                if def.is_async {
                    continue;
                }
                let Some(holds) = heavy_in_body(checker, &def.body) else {
                    continue;
                };
                (
                    format!(
                        "every local of generator `{}` alive, including the result of {holds},",
                        def.name
                    ),
                    false,
                )
            }
            Expr::Generator(generator) => {
                let Some(first) = generator.generators.first() else {
                    continue;
                };
                let Some(holds) = heavy_call(checker, &first.iter) else {
                    continue;
                };
                (
                    format!("the result of {holds} that the generator expression iterates alive"),
                    true,
                )
            }
            _ => continue,
        };
        let releases = releases.get_or_init(|| Releases::collect(checker.suite));
        if releases.closed.contains(name) || releases.attributes.contains(name) {
            continue;
        }
        let uses = usage(
            checker.suite,
            &|expr| matches!(expr, Expr::Name(n) if n.id.as_str() == name),
        );
        if uses.finished || !(uses.advanced || started) {
            continue;
        }
        found.push(
            Diagnostic::new(
                Rule::StoredSuspendedFrame,
                target.range(),
                format!(
                    "module-level `{name}` holds a generator that is never finished or closed: while suspended it keeps {holds} for the life of the program"
                ),
            )
            .with_note(
                "No automatic fix: close the generator when done (`.close()`), iterate it to the end, or keep the loaded data (or a small cursor) instead of a suspended generator.",
            ),
        );
    }
    // Generator methods stored on `self`.
    checker.walk_classes(&mut |class| {
        let class_releases = std::cell::OnceCell::new();
        for stmt in &class.body {
            let Stmt::FunctionDef(def) = stmt else {
                continue;
            };
            let Some(self_name) = crate::helpers::first_parameter(def) else {
                continue;
            };
            let mut assigns = Vec::new();
            for s in &def.body {
                crate::helpers::walk_statements(std::slice::from_ref(s), &mut |s| {
                    if let Stmt::Assign(assign) = s {
                        assigns.push(assign);
                    }
                });
            }
            for assign in assigns {
                let [Expr::Attribute(target)] = &assign.targets[..] else {
                    continue;
                };
                if !matches!(&*target.value, Expr::Name(n) if n.id.as_str() == self_name) {
                    continue;
                }
                let Expr::Call(call) = &*assign.value else {
                    continue;
                };
                let Expr::Attribute(callee) = &*call.func else {
                    continue;
                };
                if !matches!(&*callee.value, Expr::Name(n) if n.id.as_str() == self_name) {
                    continue;
                }
                let generator = class.body.iter().find_map(|s| match s {
                    Stmt::FunctionDef(g)
                        if g.name.as_str() == callee.attr.as_str() && !g.is_async =>
                    {
                        Some(g)
                    }
                    _ => None,
                });
                let Some(generator) = generator else {
                    continue;
                };
                let Some(holds) = heavy_in_body(checker, &generator.body) else {
                    continue;
                };
                let attr = target.attr.as_str();
                let class_releases = class_releases.get_or_init(|| Releases::collect(&class.body));
                if class_releases.closed.contains(attr) || class_releases.attributes.contains(attr)
                {
                    continue;
                }
                let uses = usage(&class.body, &|expr| {
                    matches!(expr, Expr::Attribute(a) if a.attr.as_str() == attr
                        && matches!(&*a.value, Expr::Name(_)))
                });
                if uses.finished || !uses.advanced {
                    continue;
                }
                let reassigned = count_assignments(&class.body, attr) > 1;
                if reassigned {
                    continue;
                }
                found.push(
                    Diagnostic::new(
                        Rule::StoredSuspendedFrame,
                        target.range(),
                        format!(
                            "`{self_name}.{attr}` holds the suspended generator `{gen}()`, whose frame keeps every local (including the result of {holds}) alive and refers back to `{self_name}`: a reference cycle, and the generator is never finished or closed",
                            gen = generator.name,
                        ),
                    )
                    .with_note(
                        "No automatic fix: close the generator in a `close()` method (`self.x.close()`), or keep the data (or a cursor) on the object instead of a suspended generator.",
                    ),
                );
            }
        }
    });
    for diagnostic in found {
        checker.report(diagnostic);
    }
}

/// How many assignments to `self.<attr>` the class makes.
fn count_assignments(body: &[Stmt], attr: &str) -> usize {
    let mut count = 0;
    let mut seen = FxHashSet::default();
    for stmt in body {
        let Stmt::FunctionDef(def) = stmt else {
            continue;
        };
        for s in &def.body {
            crate::helpers::walk_statements(std::slice::from_ref(s), &mut |s| {
                if let Stmt::Assign(assign) = s
                    && assign
                        .targets
                        .iter()
                        .any(|t| matches!(t, Expr::Attribute(_)) && last_segment(t) == Some(attr))
                    && seen.insert(s.range())
                {
                    count += 1;
                }
            });
        }
    }
    count
}
