use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::{Diagnostic, Edit, Fix};
use crate::helpers::deep;
use crate::helpers::imports_module;
use crate::registry::Rule;
use crate::rules::tensor_graph_accumulated::is_model_output;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// In a module that imports `numpy` or `torch`, a small view of a large array that the
    /// function loaded or created, stored where it outlives the function: on `self`, in a
    /// module global, in a module-level container, or returned from a cached function
    /// (`functools.cache`, `lru_cache`, `cached_property`); at module level, a view of an array
    /// loaded on the same line.
    ///
    /// The large array comes from `np.load` (without `mmap_mode`), `np.fromfile`,
    /// `np.frombuffer`, `np.loadtxt`, `np.genfromtxt`, `np.zeros`/`ones`/`empty`/`full` (unless
    /// its shape is small and literal), `torch.load`, `torch.zeros`/`ones`/`empty`/`rand`/`randn`/
    /// `full`, `torch.from_numpy`, or a model call (`model(x)`); `data["key"]` of an `.npz` file or
    /// a state dict, and whole-array views (`.T`, `.reshape(...)`, `.view(...)`) of it, count as
    /// large too.
    ///
    /// A small view is basic indexing that selects part of it: `arr[:10]`, `arr[a:b]`,
    /// `arr[-5:]`, `arr[:, 0]`, `arr[..., :3]`, an integer index of a tensor or of a numpy array
    /// known to have two or more dimensions (`arr[0]`), and `torch.narrow`/`.narrow(...)`/
    /// `.select(...)`. Not reported: fancy indexing (`arr[[1, 2]]`, boolean masks, index arrays
    /// held in a name), which copies; slices that keep almost everything (`arr[1:]`,
    /// `arr[:-1]`); whole-array views (`.T`, `.reshape`), which keep no more than the array
    /// itself; views already copied (`.copy()`, `.clone()`, `np.array(view)`); views of an
    /// array that the function also keeps (whole or mostly) or returns itself; views of one
    /// array appended on every iteration of a loop (`windows.append(signal[i:i + n])`), which
    /// together cover it; and direct indexing of a `torch.load` result, which may be a list or
    /// a dict rather than a tensor (its string keys, `state["weight"]`, are looked into).
    ///
    /// ## Why it keeps memory alive
    /// A numpy view and a tensor view share their base's buffer: `arr[:10].base is arr`. As long
    /// as the view lives, the whole buffer lives, however small the view. Keeping the first ten
    /// rows of a 2 GB array on `self` keeps the 2 GB alive for as long as the object; keeping
    /// `out[:, 0]` of a model output keeps the whole batch's output alive.
    ///
    /// ## Example
    /// ```python
    /// import numpy as np
    ///
    /// class Vocabulary:
    ///     def __init__(self, path):
    ///         vectors = np.load(path)          # 2 GB
    ///         self.common = vectors[:1000]     # keeps the 2 GB alive
    /// ```
    ///
    /// ## Fix
    /// Copy the view, so that the base can be freed when the function returns: `.copy()` for
    /// numpy, `.clone()` for torch.
    ///
    /// ```python
    ///         self.common = vectors[:1000].copy()
    /// ```
    ///
    /// ## Fix safety
    /// Safe when nothing relies on sharing memory with the base: the base is a local of the
    /// function that dies when it returns, so a copy has the same values. Unsafe when the
    /// function writes to the base in place after taking the view (the copy no longer sees the
    /// writes), and when the base wraps someone else's buffer (`np.frombuffer`), whose changes
    /// the view would have shown.
    pub struct LongLivedView {
        code: "RL602",
        name: "long-lived-view",
        summary: "A small numpy or torch view of a large array kept long-term",
        fix: Sometimes,
    }
}

/// Words one of which a file needs for this rule to run on it (see `triggers`).
pub(crate) const TRIGGERS: Triggers = Triggers::AnyOf(&["numpy", "torch"]);

pub(crate) fn check(checker: &mut Checker) {
    let suite = checker.suite;
    if !(imports_module(suite, "numpy") || imports_module(suite, "torch")) {
        return;
    }
    let mut found = Vec::new();
    module_level(checker, suite, &mut found);
    let mut functions = Vec::new();
    collect_functions(suite, &mut functions);
    for def in functions {
        Function::run(checker, def, &mut found);
    }
    found.sort_by_key(|d: &Diagnostic| d.range.start());
    found.dedup_by_key(|d| d.range);
    for diagnostic in found {
        checker.report(diagnostic);
    }
}

fn collect_functions<'a>(suite: &'a [Stmt], out: &mut Vec<&'a ast::StmtFunctionDef>) {
    struct Collect<'o, 'a>(&'o mut Vec<&'a ast::StmtFunctionDef>);
    impl<'a> ruff_python_ast::statement_visitor::StatementVisitor<'a> for Collect<'_, 'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            if let Stmt::FunctionDef(def) = stmt {
                self.0.push(def);
            }
            deep(|| ruff_python_ast::statement_visitor::walk_stmt(self, stmt));
        }
    }
    ruff_python_ast::statement_visitor::StatementVisitor::visit_body(&mut Collect(out), suite);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lib {
    Numpy,
    Torch,
}

/// A large array held in a local.
#[derive(Debug, Clone, Copy)]
struct Base<'a> {
    lib: Lib,
    /// Known to have two or more dimensions.
    multi_dim: bool,
    /// It wraps a buffer that others may change (`np.frombuffer`).
    shared: bool,
    /// The expression that created it (for the message).
    origin: &'a Expr,
    /// It may be a container rather than an array (`torch.load` returns dicts and lists too):
    /// only its string keys are looked into.
    maybe_container: bool,
    /// The loop depth where it was created.
    depth: usize,
}

/// A small view held in a local: its base's name (or `None` for an inline temporary).
#[derive(Debug, Clone)]
struct View<'a> {
    base: Base<'a>,
    base_name: Option<&'a str>,
    /// The base as written (`vectors`, `state["weight"]`, `np.load(path)`).
    base_expr: &'a Expr,
}

/// The big arrays an expression creates directly.
fn big_source<'a>(checker: &Checker, expr: &'a Expr) -> Option<Base<'a>> {
    let Expr::Call(call) = expr else {
        return None;
    };
    let base = |lib, multi_dim, shared| {
        Some(Base {
            lib,
            multi_dim,
            shared,
            origin: expr,
            maybe_container: false,
            depth: 0,
        })
    };
    if is_model_output(call) {
        return base(Lib::Torch, true, false);
    }
    let qualified = checker.semantic.qualified_name(&call.func)?;
    match qualified.as_str() {
        "numpy.load" => {
            let mmap = call
                .arguments
                .find_argument_value("mmap_mode", 1)
                .is_some_and(|v| !v.is_none_literal_expr());
            if mmap {
                None
            } else {
                base(Lib::Numpy, false, false)
            }
        }
        "numpy.fromfile" | "numpy.loadtxt" | "numpy.genfromtxt" => base(Lib::Numpy, false, false),
        "numpy.frombuffer" => base(Lib::Numpy, false, true),
        "numpy.zeros" | "numpy.ones" | "numpy.empty" | "numpy.full" => {
            let shape = call.arguments.find_argument_value("shape", 0)?;
            if small_literal_shape(shape) {
                return None;
            }
            base(Lib::Numpy, shape_dims(shape) >= 2, false)
        }
        "torch.load" => Some(Base {
            maybe_container: true,
            ..base(Lib::Torch, false, false)?
        }),
        "torch.from_numpy" => base(Lib::Torch, false, true),
        "torch.zeros" | "torch.ones" | "torch.empty" | "torch.rand" | "torch.randn"
        | "torch.full" => {
            let args = &call.arguments.args;
            let first = args.first()?;
            let dims = if args.len() > 1 && !matches!(first, Expr::Tuple(_) | Expr::List(_)) {
                if qualified == "torch.full" {
                    1
                } else {
                    args.len()
                }
            } else {
                shape_dims(first)
            };
            if small_literal_shape(first) && (args.len() == 1 || qualified == "torch.full") {
                return None;
            }
            if qualified != "torch.full" && args.iter().all(small_literal_shape) {
                return None;
            }
            base(Lib::Torch, dims >= 2, false)
        }
        _ => None,
    }
}

/// `(3, 4)`, `10`: a shape whose literal size is small.
fn small_literal_shape(expr: &Expr) -> bool {
    fn size(expr: &Expr) -> Option<u64> {
        match expr {
            Expr::NumberLiteral(number) => number.value.as_int()?.as_u64(),
            Expr::Tuple(tuple) => tuple
                .iter()
                .try_fold(1u64, |acc, e| acc.checked_mul(size(e)?)),
            Expr::List(list) => list
                .iter()
                .try_fold(1u64, |acc, e| acc.checked_mul(size(e)?)),
            _ => None,
        }
    }
    size(expr).is_some_and(|n| n < 100_000)
}

fn shape_dims(expr: &Expr) -> usize {
    match expr {
        Expr::Tuple(tuple) => tuple.len(),
        Expr::List(list) => list.len(),
        _ => 1,
    }
}

/// Methods that return a view of the whole array.
const WHOLE_VIEW_METHODS: &[&str] = &[
    "reshape",
    "view",
    "transpose",
    "swapaxes",
    "squeeze",
    "unsqueeze",
    "permute",
    "ravel",
    "view_as",
    "expand",
    "contiguous",
    "astype_view",
];

struct Function<'c, 'a> {
    checker: &'c Checker<'a>,
    bases: FxHashMap<&'a str, Base<'a>>,
    views: FxHashMap<&'a str, View<'a>>,
    globals: FxHashSet<&'a str>,
    locals: FxHashSet<&'a str>,
    self_name: Option<&'a str>,
    cached: bool,
    name: &'a str,
    /// Bases that are kept long-lived anyway (`self.x = arr[:, :-1]` keeps `arr`).
    kept: FxHashSet<&'a str>,
    /// The loop depth of the walk.
    depth: usize,
    found: Vec<(TextRange, &'a Expr, View<'a>, String)>,
}

impl<'c, 'a> Function<'c, 'a> {
    fn run(checker: &'c Checker<'a>, def: &'a ast::StmtFunctionDef, out: &mut Vec<Diagnostic>) {
        let cached = def.decorator_list.iter().any(|d| {
            let callee = ruff_python_ast::helpers::map_callable(&d.expression);
            checker.semantic.resolves_to(
                callee,
                &[
                    "functools.cache",
                    "functools.lru_cache",
                    "functools.cached_property",
                ],
            )
        });
        let self_name = def
            .parameters
            .posonlyargs
            .iter()
            .chain(&def.parameters.args)
            .next()
            .map(|p| p.parameter.name.as_str())
            .filter(|name| *name == "self" || *name == "cls");
        let mut locals = FxHashSet::default();
        for parameter in def.parameters.iter() {
            locals.insert(parameter.name().as_str());
        }
        collect_locals(&def.body, &mut locals);
        let mut function = Function {
            checker,
            bases: FxHashMap::default(),
            views: FxHashMap::default(),
            globals: collect_globals(&def.body),
            locals,
            self_name,
            cached,
            name: def.name.as_str(),
            kept: FxHashSet::default(),
            depth: 0,
            found: Vec::new(),
        };
        function.body(&def.body);
        let escaped = escaped_names(&def.body);
        let mutated = mutated_names(&def.body);
        for (range, value, view, message) in std::mem::take(&mut function.found) {
            if view
                .base_name
                .is_some_and(|name| escaped.contains(name) || function.kept.contains(name))
            {
                continue;
            }
            let unsafe_ = view.base.shared || view.base_name.is_some_and(|n| mutated.contains(n));
            out.push(diagnostic(checker, range, value, &view, message, unsafe_));
        }
    }

    fn body(&mut self, body: &'a [Stmt]) {
        for stmt in body {
            deep(|| self.stmt(stmt));
        }
    }

    fn stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(_) | Stmt::ClassDef(_) => {}
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    self.store(target, &assign.value);
                }
                let value = &*assign.value;
                for target in &assign.targets {
                    self.bind(target, value);
                }
            }
            Stmt::AnnAssign(assign) => {
                if let Some(value) = assign.value.as_deref() {
                    self.store(&assign.target, value);
                    self.bind(&assign.target, value);
                }
            }
            Stmt::Expr(expr) => {
                if let Expr::Call(call) = &*expr.value
                    && let Expr::Attribute(attr) = &*call.func
                {
                    let value = match (attr.attr.as_str(), call.arguments.args.as_ref()) {
                        ("append" | "add" | "appendleft", [value]) => Some(value),
                        ("setdefault" | "insert", [_, value]) => Some(value),
                        _ => None,
                    };
                    if let Some(value) = value
                        && let Some(place) = self.long_lived(&attr.value)
                    {
                        self.sink(value, container_wording(place));
                    }
                }
            }
            Stmt::Return(ret) => {
                if self.cached
                    && let Some(value) = ret.value.as_deref()
                {
                    self.sink(value, format!("the cache of `{}`", self.name));
                }
            }
            Stmt::For(for_) => {
                self.depth += 1;
                self.body(&for_.body);
                self.depth -= 1;
                self.body(&for_.orelse);
            }
            Stmt::While(while_) => {
                self.depth += 1;
                self.body(&while_.body);
                self.depth -= 1;
                self.body(&while_.orelse);
            }
            Stmt::With(with) => self.body(&with.body),
            Stmt::If(if_) => {
                self.body(&if_.body);
                for clause in &if_.elif_else_clauses {
                    self.body(&clause.body);
                }
            }
            Stmt::Try(try_) => {
                self.body(&try_.body);
                for handler in &try_.handlers {
                    let ast::ExceptHandler::ExceptHandler(handler) = handler;
                    self.body(&handler.body);
                }
                self.body(&try_.orelse);
                self.body(&try_.finalbody);
            }
            Stmt::Match(match_) => {
                for case in &match_.cases {
                    self.body(&case.body);
                }
            }
            _ => {}
        }
    }

    /// Where a store to `target` keeps a value beyond the function, named for the message.
    fn long_lived(&self, target: &'a Expr) -> Option<String> {
        let text = self.checker.slice(target.range());
        match target {
            Expr::Name(name) => {
                let name = name.id.as_str();
                if self.globals.contains(name)
                    || (!self.locals.contains(name) && self.checker.semantic.is_module_level(name))
                {
                    Some(format!("module global `{text}`"))
                } else {
                    None
                }
            }
            Expr::Attribute(attr) => {
                let root = self.self_name?;
                matches!(&*attr.value, Expr::Name(n) if n.id.as_str() == root)
                    .then(|| format!("`{text}`"))
                    .or_else(|| self.long_lived(&attr.value).map(|_| format!("`{text}`")))
            }
            Expr::Subscript(subscript) => self.long_lived(&subscript.value).map(container_wording),
            _ => None,
        }
    }

    /// `self.x = v`, `G = v` (global), `_cache[k] = v`.
    fn store(&mut self, target: &'a Expr, value: &'a Expr) {
        let place = match target {
            // A plain local binding is not a store (globals are).
            Expr::Name(_) => self.long_lived(target),
            Expr::Attribute(_) | Expr::Subscript(_) => self.long_lived(target),
            _ => None,
        };
        if let Some(place) = place {
            self.sink(value, place);
        }
    }

    fn sink(&mut self, value: &'a Expr, place: String) {
        if let Some(view) = self.view_of(value) {
            // Views of one array kept on every iteration of a loop (`windows.append(signal[i:i
            // + n])`) together cover the array: a copy would free nothing.
            if view.base.depth < self.depth {
                return;
            }
            let range = value.range();
            self.found.push((range, value, view, place));
        } else if let Some(name) = self.large_part_of(value) {
            // A large part (or the whole) of the base is kept anyway: copying a small view
            // of it would free nothing.
            self.kept.insert(name);
        }
    }

    fn bind(&mut self, target: &'a Expr, value: &'a Expr) {
        let Expr::Name(name) = target else {
            // `a, b = ...` and attribute stores forget what the names held.
            if let Expr::Tuple(tuple) = target {
                for element in tuple {
                    if let Expr::Name(name) = element {
                        self.bases.remove(name.id.as_str());
                        self.views.remove(name.id.as_str());
                    }
                }
            }
            return;
        };
        let name = name.id.as_str();
        self.bases.remove(name);
        self.views.remove(name);
        if let Some(base) = self.base_of(value) {
            self.bases.insert(name, base);
        } else if let Some(view) = self.view_of(value) {
            self.views.insert(name, view);
        }
    }

    /// A large array: a loader call, a large local, `npz["key"]`, or a whole view of those.
    fn base_of(&self, expr: &'a Expr) -> Option<Base<'a>> {
        deep(|| match expr {
            Expr::Name(name) => self.bases.get(name.id.as_str()).copied(),
            Expr::Call(call) => {
                if let Some(base) = big_source(self.checker, expr) {
                    return Some(Base {
                        depth: self.depth,
                        ..base
                    });
                }
                let qualified = self.checker.semantic.qualified_name(&call.func);
                if let Some(q) = qualified.as_deref()
                    && matches!(q, "numpy.reshape" | "numpy.transpose" | "numpy.squeeze")
                {
                    let base = self.base_of(call.arguments.args.first()?)?;
                    return Some(Base {
                        multi_dim: base.multi_dim || shape_args(call, 1) >= 2,
                        ..base
                    });
                }
                if let Expr::Attribute(attr) = &*call.func
                    && WHOLE_VIEW_METHODS.contains(&attr.attr.as_str())
                {
                    let base = self.base_of(&attr.value)?;
                    let multi = attr.attr.as_str() == "reshape" || attr.attr.as_str() == "view";
                    return Some(Base {
                        multi_dim: base.multi_dim || (multi && shape_args(call, 0) >= 2),
                        ..base
                    });
                }
                None
            }
            Expr::Attribute(attr) if matches!(attr.attr.as_str(), "T" | "mT") => {
                self.base_of(&attr.value)
            }
            // `npz["train"]`, `state["weight"]`, `state[key]` of a `torch.load`ed state dict:
            // an array of its own.
            Expr::Subscript(subscript)
                if subscript.slice.is_string_literal_expr()
                    || (subscript.slice.is_name_expr() && self.is_torch_load(&subscript.value)) =>
            {
                let base = self.base_of(&subscript.value)?;
                Some(Base {
                    multi_dim: false,
                    maybe_container: false,
                    ..base
                })
            }
            _ => None,
        })
    }

    /// The local base that `value` keeps a large part of: `arr[:, :-1]`, `arr[1:]`, `arr.T`.
    fn large_part_of(&self, value: &'a Expr) -> Option<&'a str> {
        let array = match value {
            Expr::Subscript(subscript) if !subscript.slice.is_string_literal_expr() => {
                &*subscript.value
            }
            _ => value,
        };
        self.base_of(array)?;
        let name = base_name(array)?;
        self.bases.contains_key(name).then_some(name)
    }

    /// Whether `expr` is (a local bound to) `torch.load(...)`.
    fn is_torch_load(&self, expr: &Expr) -> bool {
        let origin = match expr {
            Expr::Name(name) => match self.bases.get(name.id.as_str()) {
                Some(base) => base.origin,
                None => return false,
            },
            _ => expr,
        };
        matches!(origin, Expr::Call(call)
            if self.checker.semantic.resolves_to(&call.func, &["torch.load"]))
    }

    /// A small view of a large array (or a local that holds one).
    fn view_of(&self, expr: &'a Expr) -> Option<View<'a>> {
        deep(|| match expr {
            Expr::Name(name) => self.views.get(name.id.as_str()).cloned(),
            Expr::Subscript(subscript) => {
                let base = self.base_of(&subscript.value)?;
                if base.maybe_container {
                    return None;
                }
                small_index(&subscript.slice, base).then(|| View {
                    base,
                    base_name: base_name(&subscript.value),
                    base_expr: &subscript.value,
                })
            }
            Expr::Call(call) => {
                // `torch.narrow(t, 0, 0, 10)`.
                if self
                    .checker
                    .semantic
                    .resolves_to(&call.func, &["torch.narrow", "torch.select"])
                {
                    let first = call.arguments.args.first()?;
                    let base = self.base_of(first)?;
                    return Some(View {
                        base,
                        base_name: base_name(first),
                        base_expr: first,
                    });
                }
                let Expr::Attribute(attr) = &*call.func else {
                    return None;
                };
                match attr.attr.as_str() {
                    "narrow" | "select" => {
                        let base = self.base_of(&attr.value)?;
                        Some(View {
                            base,
                            base_name: base_name(&attr.value),
                            base_expr: &attr.value,
                        })
                    }
                    // A whole view of a small view is still a small view.
                    method if WHOLE_VIEW_METHODS.contains(&method) => self.view_of(&attr.value),
                    _ => None,
                }
            }
            Expr::Attribute(attr) if matches!(attr.attr.as_str(), "T" | "mT") => {
                self.view_of(&attr.value)
            }
            _ => None,
        })
    }
}

/// `module global `_c`` → `module-level container `_c``.
fn container_wording(place: String) -> String {
    match place.strip_prefix("module global ") {
        Some(rest) => format!("module-level container {rest}"),
        None => place,
    }
}

/// The name of the local that holds the base (through whole views: `data.T[:3]` → `data`).
fn base_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Name(name) => Some(name.id.as_str()),
        Expr::Attribute(attr) => base_name(&attr.value),
        Expr::Call(call) => match &*call.func {
            Expr::Attribute(attr) => base_name(&attr.value),
            _ => None,
        },
        Expr::Subscript(subscript) => base_name(&subscript.value),
        _ => None,
    }
}

/// The number of dimensions a `reshape`/`view` call's shape arguments (from `skip`) give.
fn shape_args(call: &ast::ExprCall, skip: usize) -> usize {
    let args = &call.arguments.args[skip.min(call.arguments.args.len())..];
    match args {
        [single] => shape_dims(single),
        _ => args.len(),
    }
}

fn int_literal(expr: &Expr) -> bool {
    match expr {
        Expr::NumberLiteral(number) => number.value.is_int(),
        Expr::UnaryOp(unary) => {
            unary.op == ast::UnaryOp::USub
                && matches!(&*unary.operand, Expr::NumberLiteral(n) if n.value.is_int())
        }
        _ => false,
    }
}

fn negative_literal(expr: &Expr) -> bool {
    matches!(expr, Expr::UnaryOp(unary) if unary.op == ast::UnaryOp::USub) && int_literal(expr)
}

/// A slice that keeps a part (not almost all) of an axis: `:10`, `a:b`, `-5:`.
fn small_slice(slice: &ast::ExprSlice) -> bool {
    match (slice.lower.as_deref(), slice.upper.as_deref()) {
        (_, Some(upper)) => !negative_literal(upper),
        (Some(lower), None) => negative_literal(lower),
        (None, None) => false,
    }
}

/// Basic indexing that selects a small part of `base`.
fn small_index(index: &Expr, base: Base) -> bool {
    let int_selects = base.lib == Lib::Torch || base.multi_dim;
    match index {
        Expr::Slice(slice) => small_slice(slice),
        _ if int_literal(index) => int_selects,
        Expr::Tuple(tuple) => {
            let basic = tuple.iter().all(|e| {
                matches!(
                    e,
                    Expr::Slice(_) | Expr::EllipsisLiteral(_) | Expr::NoneLiteral(_)
                ) || int_literal(e)
            });
            basic
                && tuple.iter().any(|e| match e {
                    Expr::Slice(slice) => small_slice(slice),
                    _ => int_literal(e),
                })
        }
        _ => false,
    }
}

/// Names declared `global` in the function.
fn collect_globals(body: &[Stmt]) -> FxHashSet<&str> {
    struct Collect<'a>(FxHashSet<&'a str>);
    impl<'a> ruff_python_ast::statement_visitor::StatementVisitor<'a> for Collect<'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(_) | Stmt::ClassDef(_) => {}
                Stmt::Global(global) => {
                    self.0.extend(global.names.iter().map(|n| n.as_str()));
                }
                _ => deep(|| ruff_python_ast::statement_visitor::walk_stmt(self, stmt)),
            }
        }
    }
    let mut collect = Collect(FxHashSet::default());
    ruff_python_ast::statement_visitor::StatementVisitor::visit_body(&mut collect, body);
    collect.0
}

/// Names the function binds (its locals).
fn collect_locals<'a>(body: &'a [Stmt], out: &mut FxHashSet<&'a str>) {
    struct Collect<'o, 'a>(&'o mut FxHashSet<&'a str>);
    impl<'a> Collect<'_, 'a> {
        fn target(&mut self, target: &'a Expr) {
            match target {
                Expr::Name(n) => {
                    self.0.insert(n.id.as_str());
                }
                Expr::Tuple(t) => t.iter().for_each(|e| self.target(e)),
                Expr::List(l) => l.iter().for_each(|e| self.target(e)),
                Expr::Starred(s) => self.target(&s.value),
                _ => {}
            }
        }
    }
    impl<'a> ruff_python_ast::statement_visitor::StatementVisitor<'a> for Collect<'_, 'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(def) => {
                    self.0.insert(def.name.as_str());
                    return;
                }
                Stmt::ClassDef(def) => {
                    self.0.insert(def.name.as_str());
                    return;
                }
                Stmt::Assign(a) => a.targets.iter().for_each(|t| self.target(t)),
                Stmt::AnnAssign(a) => self.target(&a.target),
                Stmt::AugAssign(a) => self.target(&a.target),
                Stmt::For(f) => self.target(&f.target),
                Stmt::With(w) => {
                    for item in &w.items {
                        if let Some(vars) = &item.optional_vars {
                            self.target(vars);
                        }
                    }
                }
                _ => {}
            }
            deep(|| ruff_python_ast::statement_visitor::walk_stmt(self, stmt));
        }
    }
    ruff_python_ast::statement_visitor::StatementVisitor::visit_body(&mut Collect(out), body);
}

/// Names whose whole value leaves the function: stored in an attribute or item, appended,
/// returned or yielded as they are.
fn escaped_names(body: &[Stmt]) -> FxHashSet<&str> {
    struct Collect<'a>(FxHashSet<&'a str>);
    impl<'a> Collect<'a> {
        fn value(&mut self, value: &'a Expr) {
            match value {
                Expr::Name(n) => {
                    self.0.insert(n.id.as_str());
                }
                Expr::Tuple(t) => t.iter().for_each(|e| self.value(e)),
                Expr::List(l) => l.iter().for_each(|e| self.value(e)),
                Expr::Dict(d) => d.iter().for_each(|item| self.value(&item.value)),
                _ => {}
            }
        }
    }
    impl<'a> ruff_python_ast::visitor::Visitor<'a> for Collect<'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(_) | Stmt::ClassDef(_) => return,
                Stmt::Assign(assign)
                    if assign
                        .targets
                        .iter()
                        .any(|t| matches!(t, Expr::Attribute(_) | Expr::Subscript(_))) =>
                {
                    self.value(&assign.value);
                }
                Stmt::Return(ret) => {
                    if let Some(value) = ret.value.as_deref() {
                        self.value(value);
                    }
                }
                _ => {}
            }
            deep(|| ruff_python_ast::visitor::walk_stmt(self, stmt));
        }
        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::Yield(y) => {
                    if let Some(value) = y.value.as_deref() {
                        self.value(value);
                    }
                }
                Expr::Call(call) => {
                    if let Expr::Attribute(attr) = &*call.func
                        && matches!(
                            attr.attr.as_str(),
                            "append" | "add" | "setdefault" | "insert"
                        )
                    {
                        for arg in &*call.arguments.args {
                            self.value(arg);
                        }
                    }
                }
                _ => {}
            }
            deep(|| ruff_python_ast::visitor::walk_expr(self, expr));
        }
    }
    let mut collect = Collect(FxHashSet::default());
    ruff_python_ast::visitor::Visitor::visit_body(&mut collect, body);
    collect.0
}

/// Names written in place: `x[...] = v`, `x += v`, `x.add_(...)`, `x.fill(...)`, `out=x`.
fn mutated_names(body: &[Stmt]) -> FxHashSet<&str> {
    struct Collect<'a>(FxHashSet<&'a str>);
    impl<'a> ruff_python_ast::visitor::Visitor<'a> for Collect<'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(_) | Stmt::ClassDef(_) => return,
                Stmt::Assign(assign) => {
                    for target in &assign.targets {
                        if let Expr::Subscript(s) = target
                            && let Some(name) = base_name(&s.value)
                        {
                            self.0.insert(name);
                        }
                    }
                }
                Stmt::AugAssign(aug) => {
                    if let Some(name) = base_name(&aug.target) {
                        self.0.insert(name);
                    }
                }
                _ => {}
            }
            deep(|| ruff_python_ast::visitor::walk_stmt(self, stmt));
        }
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Call(call) = expr {
                if let Expr::Attribute(attr) = &*call.func {
                    let method = attr.attr.as_str();
                    if ((method.ends_with('_') && !method.starts_with('_'))
                        || matches!(method, "fill" | "sort" | "resize" | "put" | "itemset"))
                        && let Some(name) = base_name(&attr.value)
                    {
                        self.0.insert(name);
                    }
                }
                if let Some(out) = call.arguments.find_keyword("out")
                    && let Some(name) = base_name(&out.value)
                {
                    self.0.insert(name);
                }
            }
            deep(|| ruff_python_ast::visitor::walk_expr(self, expr));
        }
    }
    let mut collect = Collect(FxHashSet::default());
    ruff_python_ast::visitor::Visitor::visit_body(&mut collect, body);
    collect.0
}

/// Module level: `HEAD = np.load("big.npy")[:100]` keeps the whole temporary array.
fn module_level(checker: &Checker, suite: &[Stmt], out: &mut Vec<Diagnostic>) {
    for stmt in suite {
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
        let Expr::Subscript(subscript) = value else {
            continue;
        };
        let Some(base) = big_source(checker, &subscript.value) else {
            continue;
        };
        if small_index(&subscript.slice, base) {
            let view = View {
                base,
                base_name: None,
                base_expr: &subscript.value,
            };
            out.push(diagnostic(
                checker,
                value.range(),
                value,
                &view,
                format!("module global `{}`", name.id),
                false,
            ));
        }
    }
}

fn diagnostic(
    checker: &Checker,
    range: TextRange,
    value: &Expr,
    view: &View,
    place: String,
    unsafe_: bool,
) -> Diagnostic {
    let value_text = checker.slice(value.range());
    let origin = checker.slice(view.base.origin.range());
    let origin = if origin.len() > 40 || origin.contains('\n') {
        let callee = match view.base.origin {
            Expr::Call(call) => checker.slice(call.func.range()),
            _ => "...",
        };
        format!("{callee}(...)")
    } else {
        origin.to_owned()
    };
    let base_text = checker.slice(view.base_expr.range());
    let base = if view.base_expr.range() == view.base.origin.range() {
        format!("`{origin}`")
    } else {
        format!("`{base_text}` (from `{origin}`)")
    };
    let message = format!(
        "{place} keeps `{value_text}`, a view of {base}: the view keeps the whole base array alive"
    );
    let range = TextRange::new(
        range.start(),
        checker.line_end(range.start()).min(range.end()),
    );
    let method = match view.base.lib {
        Lib::Numpy => "copy",
        Lib::Torch => "clone",
    };
    let content = if matches!(
        value,
        Expr::Name(_) | Expr::Attribute(_) | Expr::Call(_) | Expr::Subscript(_)
    ) {
        format!("{value_text}.{method}()")
    } else {
        format!("({value_text}).{method}()")
    };
    let edits = vec![Edit::replacement(content, value.range())];
    let message_fix = format!("Keep a copy (`.{method}()`), so the base array can be freed");
    let fix = if unsafe_ {
        Fix::unsafe_(message_fix, edits)
    } else {
        Fix::safe(message_fix, edits)
    };
    Diagnostic::new(Rule::LongLivedView, range, message).with_fix(fix)
}
