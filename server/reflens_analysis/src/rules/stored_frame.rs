use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, ExceptHandler, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::Diagnostic;
use crate::helpers::Words;
use crate::helpers::{any_within, deep, is_test_code, last_segment};
use crate::registry::Rule;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// Inside a function, a frame object stored somewhere that outlives the call:
    ///
    /// - the frames: `sys._getframe(...)`, `inspect.currentframe()`, any `.f_back`, a
    ///   traceback's `.tb_frame`, frame records from `inspect.stack()`,
    ///   `inspect.getouterframes(...)`, `inspect.getinnerframes(...)` and `inspect.trace()`
    ///   (whole, one record, or a record's `.frame` / `[0]`), a local bound to one of these, and
    ///   a tuple or list around one of these;
    /// - the places: an attribute (`self.caller = sys._getframe(1)`, `setattr(obj, "f", frame)`),
    ///   a name declared `global`, an item of an attribute or module-level container, as the
    ///   value or as the key (`_seen[sys._getframe(1)] = True`), and growth calls on such a
    ///   container (`append`, `add`, `appendleft`, `extend`, `insert`, `setdefault`).
    ///
    /// Not flagged, on purpose:
    /// - frames used on the spot: `sys._getframe(1).f_code.co_name`, `frame.f_lineno`,
    ///   `frame.f_globals["__name__"]`, `traceback.extract_stack(frame)` (a summary that holds no
    ///   frame), and frames passed to a call (the receiver decides how long to keep them);
    /// - stores the file undoes: the attribute is set to `None` or deleted, or the container is
    ///   cleared, popped from or reassigned, in another function than `__init__` (a `finally`
    ///   that drops the frame, a `reset()`);
    /// - `.tb_frame` and `inspect.trace()` stored from an `except` block, which RL301 reports;
    /// - module-level and class-level code, whose frames live as long as the program anyway.
    /// - test code (modules named `test_*`, `*_test`, `conftest` or in a `tests` package, and
    ///   files that define `test_*` functions or methods), whose fixtures
    ///   capture frames on purpose.
    ///
    /// ## Why it keeps memory alive
    /// A frame refers to every local variable of its function, to its globals, and through
    /// `f_back` to the frame of its caller, and so on up the stack. Storing a frame in an
    /// attribute, a global or a cache keeps all of those locals alive (request objects,
    /// buffers, query results) for as long as the store lives, long after the function has
    /// returned. If the object holding the frame is itself a local of that frame (`self` in
    /// the caller), the two form a reference cycle that only the cyclic collector frees. Frames
    /// used as dictionary keys are worse: the key is never looked up again once the frame's
    /// function has returned, so the entry only grows the cache.
    ///
    /// ## Example
    /// ```python
    /// import sys
    ///
    /// class Span:
    ///     def __init__(self, name):
    ///         self.name = name
    ///         self.caller = sys._getframe(1)
    ///
    ///     def describe(self):
    ///         return f"{self.name} from {self.caller.f_code.co_name}"
    /// ```
    ///
    /// ## Fix
    /// Store what you need from the frame, not the frame:
    ///
    /// ```python
    /// import sys
    ///
    /// class Span:
    ///     def __init__(self, name):
    ///         self.name = name
    ///         caller = sys._getframe(1)
    ///         self.caller_name = caller.f_code.co_name
    ///         self.caller_line = caller.f_lineno
    ///
    ///     def describe(self):
    ///         return f"{self.name} from {self.caller_name}"
    /// ```
    ///
    /// For a whole stack, `traceback.extract_stack(frame)` gives a `StackSummary` (file, line,
    /// function and source line of each frame) that refers to no frame. A cache keyed on frames
    /// can be keyed on `(frame.f_code, frame.f_lineno)` instead.
    ///
    /// ## Fix safety
    /// No automatic fix: what to keep from the frame (its name, its line, its globals, a
    /// summary of the stack) depends on how the stored frame is used later, and the code that
    /// reads it has to change with it.
    pub struct StoredFrame {
        code: "RL304",
        name: "stored-frame",
        summary: "a frame object (`sys._getframe()`, `inspect.currentframe()`, `f_back`, `tb_frame`, `inspect.stack()` records) stored in an attribute, a global or a container keeps every local of that frame and its callers alive",
        fix: None,
    }
}

/// Words one of which a file needs for this rule to run on it (see `triggers`). Every frame
/// comes from `sys._getframe`, a function of `inspect` (the module's name is spelled in the
/// import that the qualified name is resolved through), an `f_back` or a `tb_frame`; the
/// other shapes (`.frame` of a record, a local bound to a frame) start from one of these.
pub(crate) const TRIGGERS: Triggers =
    Triggers::AnyOf(&["_getframe", "inspect", "f_back", "tb_frame"]);

pub(crate) fn check(checker: &mut Checker) {
    // Test code captures frames and exceptions on purpose, for one test.
    if is_test_code(checker) {
        return;
    }
    // Collected on the first store of a frame: most files store none.
    let releases = std::cell::OnceCell::new();
    // A function stores a frame only if it spells one (`FrameWalker::frame`): a call's last
    // segment (in the call, or in the import of its name when the import does not rename
    // it), or `f_back`/`tb_frame`, or a local bound to one of those in the same function.
    // Identifiers are NFKC-normalised, so the text tells only in an ASCII file.
    let words = (checker.source.is_ascii()
        && !checker
            .semantic
            .imports_renamed(|last| FRAME_CALLS.contains(&last)))
    .then(|| {
        static WORDS: Words = Words::new(FRAME_WORDS);
        WORDS.positions(checker.source)
    });
    let mut found = Vec::new();
    checker.walk_functions(&mut |def| {
        if let Some(words) = &words
            && !any_within(words, def.range())
        {
            return;
        }
        let mut walker = FrameWalker {
            checker,
            releases: &releases,
            aliases: FxHashMap::default(),
            globals: FxHashSet::default(),
            in_handler: 0,
            found: Vec::new(),
        };
        walker.collect_globals(&def.body);
        walker.walk_body(&def.body);
        found.extend(walker.found);
    });
    for diagnostic in found {
        checker.report(diagnostic);
    }
}

/// The last segments of the calls that return frames (see `FrameWalker::frame_inner`).
const FRAME_CALLS: &[&str] = &[
    "_getframe",
    "currentframe",
    "stack",
    "getouterframes",
    "getinnerframes",
    "trace",
];

/// Words one of which the text of a function that stores a frame contains: each of
/// [`FRAME_CALLS`] contains one, and so do the attributes `f_back` and `tb_frame`.
const FRAME_WORDS: &[&str] = &[
    "_getframe",
    "currentframe",
    "stack",
    "frames",
    "trace",
    "f_back",
    "tb_frame",
];

/// What the file releases: attribute names set to `None` or deleted, and containers cleared,
/// popped from or reassigned, outside `__init__`; and receivers of `.close()`.
#[derive(Default)]
pub(crate) struct Releases<'a> {
    /// Attribute names (`_frame` for `self._frame = None` / `del self._frame`).
    pub attributes: FxHashSet<&'a str>,
    /// Containers shrunk, by their last segment (`_frames` for `self._frames.clear()`, or the
    /// bare name).
    pub containers: FxHashSet<&'a str>,
    /// Receivers of `.close()` / `.throw()`, by their last segment.
    pub closed: FxHashSet<&'a str>,
}

impl<'a> Releases<'a> {
    pub(crate) fn collect(suite: &'a [Stmt]) -> Self {
        struct V<'a> {
            out: Releases<'a>,
            in_init: bool,
        }
        impl<'a> Visitor<'a> for V<'a> {
            fn visit_stmt(&mut self, stmt: &'a Stmt) {
                match stmt {
                    Stmt::FunctionDef(def) => {
                        let was = self.in_init;
                        self.in_init = def.name.as_str() == "__init__";
                        deep(|| visitor::walk_stmt(self, stmt));
                        self.in_init = was;
                        return;
                    }
                    Stmt::Delete(del) => {
                        for target in &del.targets {
                            match target {
                                Expr::Attribute(attr) => {
                                    self.out.attributes.insert(attr.attr.as_str());
                                }
                                Expr::Subscript(sub) => {
                                    if let Some(name) = last_segment(&sub.value) {
                                        self.out.containers.insert(name);
                                    }
                                }
                                Expr::Name(name) => {
                                    self.out.containers.insert(name.id.as_str());
                                    self.out.closed.insert(name.id.as_str());
                                }
                                _ => {}
                            }
                        }
                    }
                    Stmt::Assign(assign) if !self.in_init => {
                        for target in &assign.targets {
                            if let Expr::Attribute(attr) = target
                                && assign.value.is_none_literal_expr()
                            {
                                self.out.attributes.insert(attr.attr.as_str());
                            }
                            // A container reassigned later (a reset).
                            if matches!(target, Expr::Attribute(_))
                                && let Some(name) = last_segment(target)
                            {
                                self.out.containers.insert(name);
                            }
                        }
                    }
                    _ => {}
                }
                deep(|| visitor::walk_stmt(self, stmt));
            }

            fn visit_expr(&mut self, expr: &'a Expr) {
                // Leaves hold no call: no need to walk into them.
                if matches!(
                    expr,
                    Expr::Name(_)
                        | Expr::NumberLiteral(_)
                        | Expr::StringLiteral(_)
                        | Expr::BytesLiteral(_)
                        | Expr::BooleanLiteral(_)
                        | Expr::NoneLiteral(_)
                        | Expr::EllipsisLiteral(_)
                ) {
                    return;
                }
                if let Expr::Call(call) = expr
                    && let Expr::Attribute(attr) = &*call.func
                    && let Some(receiver) = last_segment(&attr.value)
                {
                    match attr.attr.as_str() {
                        "clear" | "pop" | "popitem" | "popleft" | "remove" | "discard" => {
                            self.out.containers.insert(receiver);
                        }
                        "close" | "throw" => {
                            self.out.closed.insert(receiver);
                        }
                        _ => {}
                    }
                }
                deep(|| visitor::walk_expr(self, expr));
            }
        }
        let mut v = V {
            out: Releases::default(),
            in_init: false,
        };
        v.visit_body(suite);
        v.out
    }
}

struct FrameWalker<'a, 'c> {
    checker: &'c Checker<'a>,
    releases: &'c std::cell::OnceCell<Releases<'a>>,
    /// Locals bound to frames, with what they hold.
    aliases: FxHashMap<&'a str, &'static str>,
    globals: FxHashSet<&'a str>,
    in_handler: usize,
    found: Vec<Diagnostic>,
}

const GROWTH: &[&str] = &[
    "append",
    "add",
    "appendleft",
    "extend",
    "insert",
    "setdefault",
];

impl<'a> FrameWalker<'a, '_> {
    fn releases(&self) -> &Releases<'a> {
        self.releases
            .get_or_init(|| Releases::collect(self.checker.suite))
    }

    fn collect_globals(&mut self, body: &'a [Stmt]) {
        for stmt in body {
            crate::helpers::walk_statements(std::slice::from_ref(stmt), &mut |s| {
                if let Stmt::Global(global) = s {
                    self.globals.extend(global.names.iter().map(|n| n.as_str()));
                }
            });
        }
    }

    fn walk_body(&mut self, body: &'a [Stmt]) {
        for stmt in body {
            deep(|| self.walk_stmt(stmt));
        }
    }

    fn walk_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(_) | Stmt::ClassDef(_) => return,
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    self.store(target, &assign.value);
                }
                // Track locals bound to frames (after the store check: `f = f.f_back`).
                for target in &assign.targets {
                    if let Expr::Name(name) = target {
                        match self.frame(&assign.value) {
                            Some(what) => {
                                self.aliases.insert(name.id.as_str(), what);
                            }
                            None => {
                                self.aliases.remove(name.id.as_str());
                            }
                        }
                    }
                }
            }
            Stmt::AnnAssign(assign) => {
                if let Some(value) = &assign.value {
                    self.store(&assign.target, value);
                }
            }
            Stmt::Try(try_) => {
                self.walk_body(&try_.body);
                for handler in &try_.handlers {
                    let ExceptHandler::ExceptHandler(handler) = handler;
                    self.in_handler += 1;
                    self.walk_body(&handler.body);
                    self.in_handler -= 1;
                }
                self.walk_body(&try_.orelse);
                self.walk_body(&try_.finalbody);
                return;
            }
            _ => {}
        }
        // Calls anywhere in the statement: `self.frames.append(frame)`, `setattr(...)`.
        let mut calls = Vec::new();
        collect_calls_in_stmt(stmt, &mut calls);
        for call in calls {
            self.call_store(call);
        }
        match stmt {
            Stmt::If(if_) => {
                self.walk_body(&if_.body);
                for clause in &if_.elif_else_clauses {
                    self.walk_body(&clause.body);
                }
            }
            Stmt::For(for_) => {
                if let Expr::Name(name) = &*for_.target {
                    self.aliases.remove(name.id.as_str());
                }
                self.walk_body(&for_.body);
                self.walk_body(&for_.orelse);
            }
            Stmt::While(while_) => {
                self.walk_body(&while_.body);
                self.walk_body(&while_.orelse);
            }
            Stmt::With(with) => self.walk_body(&with.body),
            Stmt::Match(match_) => {
                for case in &match_.cases {
                    self.walk_body(&case.body);
                }
            }
            _ => {}
        }
    }

    /// What a value is, if it is (or contains) a frame.
    fn frame(&self, expr: &Expr) -> Option<&'static str> {
        deep(|| self.frame_inner(expr))
    }

    fn frame_inner(&self, expr: &Expr) -> Option<&'static str> {
        let semantic = &self.checker.semantic;
        match expr {
            // A qualified name ends with the attribute it is read from.
            Expr::Call(call)
                if matches!(&*call.func, Expr::Attribute(attr) if !matches!(
                    attr.attr.as_str(),
                    "_getframe" | "currentframe" | "stack" | "getouterframes" | "getinnerframes" | "trace"
                )) =>
            {
                None
            }
            Expr::Call(call) => match semantic.qualified_name(&call.func).as_deref() {
                Some("sys._getframe") => Some("the frame from `sys._getframe()`"),
                Some("inspect.currentframe") => Some("the frame from `inspect.currentframe()`"),
                Some("inspect.stack") => Some("the frames from `inspect.stack()`"),
                Some("inspect.getouterframes") => {
                    Some("the frames from `inspect.getouterframes()`")
                }
                Some("inspect.getinnerframes") => {
                    Some("the frames from `inspect.getinnerframes()`")
                }
                Some("inspect.trace") if self.in_handler == 0 => {
                    Some("the frames from `inspect.trace()`")
                }
                _ => None,
            },
            Expr::Attribute(attr) => match attr.attr.as_str() {
                "f_back" => Some("the caller frame from `f_back`"),
                "tb_frame" if self.in_handler == 0 => Some("the frame from `tb_frame`"),
                "frame" => {
                    // A frame record's `.frame`.
                    match &*attr.value {
                        Expr::Subscript(sub) if self.frame(&sub.value).is_some() => {
                            Some("the frame of an `inspect` frame record")
                        }
                        Expr::Call(_) => None,
                        Expr::Name(name) => self.aliases.get(name.id.as_str()).copied(),
                        _ => None,
                    }
                }
                _ => None,
            },
            Expr::Subscript(sub) => {
                // One record of a list of records, or `record[0]` (its frame).
                let inner = self.frame(&sub.value)?;
                inner.starts_with("the frames").then_some(inner)
            }
            Expr::Name(name) => self.aliases.get(name.id.as_str()).copied(),
            Expr::Tuple(tuple) => tuple.iter().find_map(|e| self.frame(e)),
            Expr::List(list) => list.iter().find_map(|e| self.frame(e)),
            _ => None,
        }
    }

    /// Whether a container receiver lives past the call: `self.x`, `cls.x`, a module-level
    /// or global name.
    fn long_lived_container(&self, receiver: &Expr) -> bool {
        match receiver {
            Expr::Attribute(attr) => matches!(&*attr.value, Expr::Name(_)),
            Expr::Name(name) => {
                let id = name.id.as_str();
                !self.aliases.contains_key(id)
                    && (self.globals.contains(id) || self.checker.semantic.is_module_level(id))
            }
            _ => false,
        }
    }

    fn store(&mut self, target: &'a Expr, value: &'a Expr) {
        match target {
            Expr::Attribute(attr) => {
                let Some(what) = self.frame(value) else {
                    return;
                };
                if self.releases().attributes.contains(attr.attr.as_str()) {
                    return;
                }
                let place = format!("attribute `{}`", self.checker.slice(target));
                self.report(target.range(), &place, what, false);
            }
            Expr::Name(name) if self.globals.contains(name.id.as_str()) => {
                let Some(what) = self.frame(value) else {
                    return;
                };
                if self.releases().attributes.contains(name.id.as_str())
                    || self.releases().containers.contains(name.id.as_str())
                {
                    return;
                }
                let place = format!("global `{}`", name.id);
                self.report(target.range(), &place, what, false);
            }
            Expr::Subscript(sub) => {
                if !self.long_lived_container(&sub.value) {
                    return;
                }
                let Some(container) = last_segment(&sub.value) else {
                    return;
                };
                // The frame first: the file's releases are collected only when one is stored.
                let (range, what, key) = if let Some(what) = self.frame(&sub.slice) {
                    (sub.slice.range(), what, true)
                } else if let Some(what) = self.frame(value) {
                    (target.range(), what, false)
                } else {
                    return;
                };
                if self.releases().containers.contains(container) {
                    return;
                }
                let place = format!("`{}`", self.checker.slice(&*sub.value));
                self.report(range, &place, what, key);
            }
            _ => {}
        }
    }

    fn call_store(&mut self, call: &'a ast::ExprCall) {
        if let Expr::Attribute(attr) = &*call.func
            && GROWTH.contains(&attr.attr.as_str())
        {
            if !self.long_lived_container(&attr.value) {
                return;
            }
            let Some(container) = last_segment(&attr.value) else {
                return;
            };
            let Some((arg, what)) = call
                .arguments
                .args
                .iter()
                .find_map(|arg| self.frame(arg).map(|w| (arg, w)))
            else {
                return;
            };
            if self.releases().containers.contains(container) {
                return;
            }
            let key = attr.attr.as_str() == "setdefault"
                && call
                    .arguments
                    .args
                    .first()
                    .is_some_and(|first| first == arg);
            let place = format!("`{}`", self.checker.slice(&*attr.value));
            self.report(arg.range(), &place, what, key);
        } else if let [_, name, value] = &call.arguments.args[..]
            && self
                .checker
                .semantic
                .resolves_to(&call.func, &["builtins.setattr"])
            && let Some(what) = self.frame(value)
        {
            if let Expr::StringLiteral(s) = name
                && self.releases().attributes.contains(s.value.to_str())
            {
                return;
            }
            self.report(
                value.range(),
                "an attribute set with `setattr`",
                what,
                false,
            );
        }
    }

    fn report(&mut self, range: TextRange, place: &str, what: &str, key: bool) {
        let how = if key { " as a key" } else { "" };
        let locals = if what.starts_with("the frames") {
            "every local of those frames and of their callers"
        } else {
            "every local of that frame and of its callers (through `f_back`)"
        };
        let message = format!(
            "{place} keeps {what} alive{how}, with {locals}, long after the call has returned"
        );
        self.found.push(
            Diagnostic::new(Rule::StoredFrame, range, message).with_note(
                "No automatic fix: store what is needed from the frame instead (`f_code.co_name`, `f_lineno`, `traceback.extract_stack(frame)`), or key on `(frame.f_code, frame.f_lineno)`.",
            ),
        );
    }
}

/// The calls in a simple statement (not in nested bodies, functions or lambdas).
fn collect_calls_in_stmt<'a>(stmt: &'a Stmt, out: &mut Vec<&'a ast::ExprCall>) {
    struct V<'a, 'o> {
        out: &'o mut Vec<&'a ast::ExprCall>,
    }
    impl<'a> Visitor<'a> for V<'a, '_> {
        fn visit_stmt(&mut self, _stmt: &'a Stmt) {}
        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::Lambda(_) => {}
                Expr::Call(call) => {
                    self.out.push(call);
                    deep(|| visitor::walk_expr(self, expr));
                }
                _ => deep(|| visitor::walk_expr(self, expr)),
            }
        }
    }
    let mut v = V { out };
    // Only the statement's own expressions: its nested bodies are walked separately.
    match stmt {
        Stmt::Expr(e) => v.visit_expr(&e.value),
        Stmt::Assign(a) => {
            v.visit_expr(&a.value);
            a.targets.iter().for_each(|t| v.visit_expr(t));
        }
        Stmt::AnnAssign(a) => {
            if let Some(value) = &a.value {
                v.visit_expr(value);
            }
        }
        Stmt::AugAssign(a) => v.visit_expr(&a.value),
        Stmt::Return(r) => {
            if let Some(value) = &r.value {
                v.visit_expr(value);
            }
        }
        Stmt::If(i) => v.visit_expr(&i.test),
        Stmt::While(w) => v.visit_expr(&w.test),
        Stmt::For(f) => v.visit_expr(&f.iter),
        Stmt::With(w) => w.items.iter().for_each(|i| v.visit_expr(&i.context_expr)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text test of a function body must never skip a call that returns a frame.
    #[test]
    fn every_frame_call_contains_a_frame_word() {
        for call in FRAME_CALLS {
            assert!(
                FRAME_WORDS.iter().any(|word| call.contains(word)),
                "`{call}` contains none of FRAME_WORDS"
            );
        }
    }
}
