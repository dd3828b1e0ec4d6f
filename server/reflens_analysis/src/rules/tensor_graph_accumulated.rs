use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::{Diagnostic, Edit, Fix};
use crate::helpers::{deep, imports_module, last_segment, root_name};
use crate::registry::Rule;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// In a module that imports `torch`, a loop (`for` or `while`) that accumulates a tensor
    /// with autograd history into something that outlives the iteration:
    /// `total_loss += loss`, `running = running + loss`, `losses.append(loss)`,
    /// `history["loss"].append(loss)`, `self.outputs.append(out)`, `preds[i] = out`, or a
    /// `loss.clone()` kept as "the best so far" where `loss.detach()` was meant.
    ///
    /// A value has history when it comes from a loss (`criterion(...)`, `loss_fn(...)`,
    /// `F.cross_entropy(...)` and the other `torch.nn.functional` losses), from a model call
    /// (`model(x)`, `self.net(x)`, `model.forward(x)`), from a value the loop calls
    /// `.backward()` on, or from arithmetic, indexing, attributes and tensor methods on those.
    ///
    /// Not reported: values passed through `.item()`, `.detach()`, `.tolist()`, `.numpy()`,
    /// `.data`, `float(...)` or `int(...)`; arithmetic inside `with torch.no_grad():`,
    /// `torch.inference_mode()` or `torch.set_grad_enabled(...)`, and functions decorated with
    /// `@torch.no_grad()` / `@torch.inference_mode()`; accumulators that are reset inside the
    /// loop iteration; and accumulators that are themselves back-propagated (`loss += aux;
    /// loss.backward()`, `torch.stack(losses).mean().backward()`), which keep the graphs on
    /// purpose.
    ///
    /// ## Why it keeps memory alive
    /// A tensor computed with autograd enabled holds its `grad_fn`, which links to every
    /// operation (and every saved activation not yet freed by `backward()`) that produced it.
    /// `total_loss += loss` creates a new tensor whose history includes the old `total_loss` and
    /// the new `loss`: after N iterations it references N graphs. Appending `loss` to a list
    /// does the same. In an evaluation loop without `no_grad` every iteration's activations
    /// stay on the GPU until it runs out of memory; in a training loop `backward()` frees the
    /// saved tensors, but the graph nodes and the loss tensors still pile up for the whole run.
    ///
    /// ## Example
    /// ```python
    /// import torch.nn.functional as F
    ///
    /// def train(model, loader, optimizer):
    ///     total_loss = 0.0
    ///     losses = []
    ///     for x, y in loader:
    ///         optimizer.zero_grad()
    ///         loss = F.cross_entropy(model(x), y)
    ///         loss.backward()
    ///         optimizer.step()
    ///         total_loss += loss
    ///         losses.append(loss)
    ///     return total_loss / len(loader), losses
    /// ```
    ///
    /// ## Fix
    /// Accumulate the number (`.item()`) into a number, and detached tensors into containers:
    ///
    /// ```python
    ///         total_loss += loss.item()
    ///         losses.append(loss.detach())
    /// ```
    ///
    /// ## Fix safety
    /// `losses.append(loss.detach())` (and `.detach()` in any other accumulation) is safe:
    /// the values are the same, only their history is dropped, and the rule does not report
    /// accumulators that are back-propagated. `total += loss.item()` is offered when `total`
    /// starts as a number and the value is a loss (a scalar); it is safe when `total` is only
    /// used as a number afterwards, and unsafe when the function also uses it as a tensor
    /// (`total.cpu()`, returns it, passes it to `torch`), since it is now a Python float.
    /// `.item()` also synchronizes with the GPU once per iteration. `best = loss.clone()`
    /// becomes `best = loss.detach().clone()` (safe).
    pub struct TensorGraphAccumulated {
        code: "RL601",
        name: "tensor-graph-accumulated",
        summary: "A tensor with autograd history accumulated across loop iterations",
        fix: Sometimes,
    }
}

/// Words one of which a file needs for this rule to run on it (see `triggers`).
pub(crate) const TRIGGERS: Triggers = Triggers::AnyOf(&["torch"]);

pub(crate) fn check(checker: &mut Checker) {
    if !imports_module(checker.suite, "torch") {
        return;
    }
    let suite = checker.suite;
    let mut found = Vec::new();
    let mut scopes: Vec<(&[Stmt], bool)> = vec![(suite, false)];
    collect_functions(checker, suite, &mut scopes);
    for (body, no_grad) in scopes {
        Scope::run(checker, body, no_grad, &mut found);
    }
    found.sort_by_key(|d: &Diagnostic| d.range.start());
    found.dedup_by_key(|d| d.range);
    for diagnostic in found {
        checker.report(diagnostic);
    }
}

/// Every function body of the module, with whether it runs without autograd.
fn collect_functions<'a>(checker: &Checker, body: &'a [Stmt], out: &mut Vec<(&'a [Stmt], bool)>) {
    struct Collect<'c, 'o, 'a> {
        checker: &'c Checker<'c>,
        out: &'o mut Vec<(&'a [Stmt], bool)>,
    }
    impl<'a> ruff_python_ast::statement_visitor::StatementVisitor<'a> for Collect<'_, '_, 'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            if let Stmt::FunctionDef(def) = stmt {
                let no_grad = def
                    .decorator_list
                    .iter()
                    .any(|d| is_no_grad(self.checker, &d.expression));
                self.out.push((&def.body, no_grad));
            }
            deep(|| ruff_python_ast::statement_visitor::walk_stmt(self, stmt));
        }
    }
    let mut collect = Collect { checker, out };
    ruff_python_ast::statement_visitor::StatementVisitor::visit_body(&mut collect, body);
}

/// `torch.no_grad()`, `torch.inference_mode()`, `torch.set_grad_enabled(...)` (unless `True`),
/// bare or called.
fn is_no_grad(checker: &Checker, expr: &Expr) -> bool {
    let (callee, call) = match expr {
        Expr::Call(call) => (&*call.func, Some(call)),
        _ => (expr, None),
    };
    match checker.semantic.qualified_name(callee).as_deref() {
        Some(
            "torch.no_grad"
            | "torch.inference_mode"
            | "torch.autograd.no_grad"
            | "torch.autograd.grad_mode.no_grad"
            | "torch.autograd.grad_mode.inference_mode",
        ) => call.is_none_or(|call| {
            // `inference_mode(False)` turns it off.
            !matches!(call.arguments.args.first(), Some(Expr::BooleanLiteral(b)) if !b.value)
        }),
        Some("torch.set_grad_enabled" | "torch.autograd.set_grad_enabled") => !matches!(
            call.and_then(|call| call.arguments.args.first()),
            Some(Expr::BooleanLiteral(b)) if b.value
        ),
        _ => false,
    }
}

/// What is known about the history of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum History {
    /// It has autograd history created in the loop at this depth (1 = outermost loop).
    Graph(usize),
    /// Known to have none: a number, a detached tensor.
    Clean,
    /// Nothing known.
    Unknown,
}

impl History {
    fn or(self, other: History) -> History {
        match (self, other) {
            (History::Graph(a), History::Graph(b)) => History::Graph(a.max(b)),
            (History::Graph(a), _) | (_, History::Graph(a)) => History::Graph(a),
            (History::Unknown, _) | (_, History::Unknown) => History::Unknown,
            _ => History::Clean,
        }
    }
}

/// Methods whose result has no history (or is no tensor).
const CLEAN_METHODS: &[&str] = &[
    "item",
    "detach",
    "detach_",
    "tolist",
    "numpy",
    "size",
    "dim",
    "numel",
    "nelement",
    "__float__",
    "__int__",
    "argmax",
    "argmin",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "isnan",
    "isinf",
    "isfinite",
    "data_ptr",
    "element_size",
    "stride",
    "type",
    "is_contiguous",
];

/// Attributes whose value has no history.
const CLEAN_ATTRIBUTES: &[&str] = &[
    "data",
    "shape",
    "dtype",
    "device",
    "grad",
    "requires_grad",
    "ndim",
    "is_cuda",
    "T_",
];

/// `torch.nn.functional` losses.
fn is_functional_loss(qualified: &str) -> bool {
    let Some(name) = qualified
        .strip_prefix("torch.nn.functional.")
        .or_else(|| qualified.strip_prefix("torch."))
    else {
        return false;
    };
    name.ends_with("_loss")
        || name.starts_with("cross_entropy")
        || name.starts_with("binary_cross_entropy")
        || name == "kl_div"
}

const FACTORY_PREFIXES: &[&str] = &[
    "get_", "build_", "create_", "make_", "load_", "init_", "setup_", "new_", "to_", "save_",
    "is_", "has_", "set_", "reset_", "log_", "print_", "report_", "update_",
];

const MODEL_NAMES: &[&str] = &[
    "model",
    "net",
    "network",
    "module",
    "encoder",
    "decoder",
    "generator",
    "discriminator",
    "backbone",
    "classifier",
    "policy",
    "critic",
    "actor",
    "student",
    "teacher",
    "ema_model",
];

/// `criterion(...)`, `loss_fn(...)`, `self.compute_loss(...)`, `F.mse_loss(...)`.
fn is_loss_call(checker: &Checker, call: &ast::ExprCall) -> bool {
    if checker
        .semantic
        .qualified_name(&call.func)
        .is_some_and(|q| is_functional_loss(&q))
    {
        return true;
    }
    let Some(name) = last_segment(&call.func) else {
        return false;
    };
    let lower = name.to_ascii_lowercase();
    (lower.contains("loss") || lower.contains("criterion"))
        && !FACTORY_PREFIXES.iter().any(|p| lower.starts_with(p))
        && !lower.ends_with("_fn_factory")
}

/// `model(x)`, `self.net(x)`, `model.forward(x)`.
fn is_model_call(call: &ast::ExprCall) -> bool {
    let func = match &*call.func {
        Expr::Attribute(attr) if attr.attr.as_str() == "forward" => &*attr.value,
        func => func,
    };
    let Some(name) = last_segment(func) else {
        return false;
    };
    let lower = name.to_ascii_lowercase();
    MODEL_NAMES.contains(&lower.as_str())
        || ((lower.ends_with("_model") || lower.ends_with("_net"))
            && !FACTORY_PREFIXES.iter().any(|p| lower.starts_with(p)))
}

/// A model call as [`is_model_call`] knows it, for other rules.
pub(crate) fn is_model_output(call: &ast::ExprCall) -> bool {
    is_model_call(call)
}

/// One accumulation found.
struct Sink<'a> {
    /// The value accumulated.
    value: &'a Expr,
    /// Where it goes (for the message and for the accumulator checks).
    target: &'a Expr,
    kind: SinkKind,
    history: usize,
    no_grad: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SinkKind {
    /// `t += v`, `t = t + v`.
    Arithmetic,
    /// `t.append(v)`, `t[k] = v`.
    Container,
    /// `t = v.clone()`.
    Clone,
}

struct Scope<'c, 'a> {
    checker: &'c Checker<'a>,
    /// The enclosing loops' bodies, outermost first.
    loops: Vec<&'a [Stmt]>,
    /// Names that hold a value with history, with the loop depth that created it.
    graph: FxHashMap<&'a str, usize>,
    /// Names (roots) that are back-propagated somewhere in the function.
    backward: FxHashSet<&'a str>,
    no_grad: bool,
    sinks: Vec<(Sink<'a>, Vec<&'a [Stmt]>)>,
}

impl<'c, 'a> Scope<'c, 'a> {
    fn run(checker: &'c Checker<'a>, body: &'a [Stmt], no_grad: bool, out: &mut Vec<Diagnostic>) {
        let mut backward = FxHashSet::default();
        collect_backward(body, &mut backward);
        let mut scope = Scope {
            checker,
            loops: Vec::new(),
            graph: FxHashMap::default(),
            backward,
            no_grad,
            sinks: Vec::new(),
        };
        scope.body(body);
        let sinks = std::mem::take(&mut scope.sinks);
        for (sink, loops) in sinks {
            if let Some(diagnostic) = scope.judge(body, &sink, &loops) {
                out.push(diagnostic);
            }
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
            Stmt::For(for_) => {
                self.unbind(&for_.target);
                self.loops.push(&for_.body);
                self.body(&for_.body);
                self.loops.pop();
                self.body(&for_.orelse);
            }
            Stmt::While(while_) => {
                self.loops.push(&while_.body);
                self.body(&while_.body);
                self.loops.pop();
                self.body(&while_.orelse);
            }
            Stmt::With(with) => {
                let no_grad = with
                    .items
                    .iter()
                    .any(|item| is_no_grad(self.checker, &item.context_expr));
                let saved = self.no_grad;
                self.no_grad |= no_grad;
                self.body(&with.body);
                self.no_grad = saved;
            }
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
            Stmt::AugAssign(aug) => {
                if let History::Graph(depth) = self.history(&aug.value)
                    && !self.no_grad
                {
                    self.sink(&aug.value, &aug.target, SinkKind::Arithmetic, depth);
                }
                // `loss += aux` keeps (or gives) `loss` history.
                if let (Expr::Name(name), History::Graph(depth)) =
                    (&*aug.target, self.history(&aug.value))
                    && !self.no_grad
                {
                    self.graph.entry(name.id.as_str()).or_insert(depth);
                }
            }
            Stmt::Assign(assign) => {
                let value = &*assign.value;
                if let [target] = assign.targets.as_slice() {
                    self.assignment_sink(target, value);
                }
                let history = self.history(value);
                for target in &assign.targets {
                    self.bind(target, history);
                }
            }
            Stmt::AnnAssign(assign) => {
                if let Some(value) = assign.value.as_deref() {
                    self.assignment_sink(&assign.target, value);
                    let history = self.history(value);
                    self.bind(&assign.target, history);
                }
            }
            Stmt::Expr(expr) => {
                if let Expr::Call(call) = &*expr.value {
                    self.call_sink(call);
                }
            }
            _ => {}
        }
    }

    /// `t = t + v`, `t[k] = v`, `best = v.clone()`.
    fn assignment_sink(&mut self, target: &'a Expr, value: &'a Expr) {
        match target {
            Expr::Name(name) => {
                if let Expr::BinOp(binop) = value {
                    let (other, accumulated) = if is_name(&binop.left, name.id.as_str()) {
                        (&*binop.right, true)
                    } else if is_name(&binop.right, name.id.as_str()) {
                        (&*binop.left, true)
                    } else {
                        (value, false)
                    };
                    if accumulated
                        && !self.no_grad
                        && let History::Graph(depth) = self.history(other)
                    {
                        self.sink(other, target, SinkKind::Arithmetic, depth);
                        return;
                    }
                }
                self.clone_sink(target, value);
            }
            Expr::Attribute(_) => self.clone_sink(target, value),
            Expr::Subscript(subscript) => {
                if let History::Graph(depth) = self.history(value)
                    && root_name(&subscript.value).is_some()
                {
                    self.sink(value, &subscript.value, SinkKind::Container, depth);
                }
            }
            _ => {}
        }
    }

    fn clone_sink(&mut self, target: &'a Expr, value: &'a Expr) {
        if let Expr::Call(call) = value
            && let Expr::Attribute(attr) = &*call.func
            && attr.attr.as_str() == "clone"
            && let History::Graph(depth) = self.history(&attr.value)
        {
            self.sink(value, target, SinkKind::Clone, depth);
        }
    }

    /// `t.append(v)`, `t.extend([v])`, `t.insert(i, v)`, `t.add(v)`.
    fn call_sink(&mut self, call: &'a ast::ExprCall) {
        let Expr::Attribute(attr) = &*call.func else {
            return;
        };
        let value = match (attr.attr.as_str(), call.arguments.args.as_ref()) {
            ("append" | "add" | "appendleft" | "put" | "put_nowait", [value]) => value,
            ("insert", [_, value]) => value,
            ("extend", [Expr::List(list)]) if list.len() == 1 => &list.elts[0],
            ("extend", [Expr::Tuple(tuple)]) if tuple.len() == 1 => &tuple.elts[0],
            _ => return,
        };
        if root_name(&attr.value).is_none() {
            return;
        }
        if let History::Graph(depth) = self.history(value) {
            self.sink(value, &attr.value, SinkKind::Container, depth);
        }
    }

    fn sink(&mut self, value: &'a Expr, target: &'a Expr, kind: SinkKind, history: usize) {
        if self.loops.is_empty() {
            return;
        }
        self.sinks.push((
            Sink {
                value,
                target,
                kind,
                history,
                no_grad: self.no_grad,
            },
            self.loops.clone(),
        ));
    }

    fn bind(&mut self, target: &'a Expr, history: History) {
        match target {
            Expr::Name(name) => {
                let name = name.id.as_str();
                match history {
                    History::Graph(depth) => {
                        self.graph.insert(name, depth);
                    }
                    // A value that is back-propagated has history, whatever produced it.
                    History::Unknown if self.backward.contains(name) && !self.no_grad => {
                        self.graph.insert(name, self.loops.len());
                    }
                    _ => {
                        self.graph.remove(name);
                    }
                }
            }
            // `out, aux = model(x)`.
            Expr::Tuple(tuple) => {
                for element in tuple {
                    self.bind(element, history);
                }
            }
            Expr::List(list) => {
                for element in list {
                    self.bind(element, history);
                }
            }
            Expr::Starred(starred) => self.bind(&starred.value, history),
            _ => {}
        }
    }

    fn unbind(&mut self, target: &'a Expr) {
        self.bind(target, History::Clean);
    }

    /// The history of the value of `expr` at this point of the walk.
    fn history(&self, expr: &'a Expr) -> History {
        deep(|| self.history_inner(expr))
    }

    fn history_inner(&self, expr: &'a Expr) -> History {
        let created = if self.no_grad || self.loops.is_empty() {
            History::Clean
        } else {
            History::Graph(self.loops.len())
        };
        match expr {
            Expr::Name(name) => match self.graph.get(name.id.as_str()) {
                Some(depth) => History::Graph(*depth),
                None => History::Unknown,
            },
            Expr::NumberLiteral(_)
            | Expr::BooleanLiteral(_)
            | Expr::NoneLiteral(_)
            | Expr::StringLiteral(_)
            | Expr::FString(_)
            | Expr::Compare(_)
            | Expr::BoolOp(_) => History::Clean,
            Expr::BinOp(binop) => {
                let history = self.history(&binop.left).or(self.history(&binop.right));
                match history {
                    History::Graph(_) if self.no_grad => History::Clean,
                    history => history,
                }
            }
            Expr::UnaryOp(unary) => self.history(&unary.operand),
            Expr::Attribute(attr) => {
                if CLEAN_ATTRIBUTES.contains(&attr.attr.as_str()) {
                    History::Clean
                } else {
                    // `outputs.loss`, `out.logits`.
                    self.history(&attr.value)
                }
            }
            Expr::Subscript(subscript) => self.history(&subscript.value),
            Expr::Call(call) => {
                let qualified = self.checker.semantic.qualified_name(&call.func);
                if let Some(
                    "builtins.float" | "builtins.int" | "builtins.bool" | "builtins.str"
                    | "builtins.len" | "builtins.repr" | "math.isnan" | "math.isfinite",
                ) = qualified.as_deref()
                {
                    return History::Clean;
                }
                if is_loss_call(self.checker, call) || is_model_call(call) {
                    return created;
                }
                if let Some(function) = qualified.as_deref().and_then(|q| q.strip_prefix("torch."))
                {
                    let last = function.rsplit('.').next().unwrap_or(function);
                    if CLEAN_METHODS.contains(&last) || matches!(last, "tensor" | "no_grad") {
                        return History::Clean;
                    }
                    return self.torch_function(call);
                }
                if let Expr::Attribute(attr) = &*call.func {
                    let method = attr.attr.as_str();
                    if CLEAN_METHODS.contains(&method) {
                        return History::Clean;
                    }
                    // A tensor method: `loss.mean()`, `out.sum()`, `loss.clone()`, `x.to(d)`.
                    return match self.history(&attr.value) {
                        History::Graph(_) if self.no_grad => History::Clean,
                        history => history,
                    };
                }
                History::Unknown
            }
            _ => History::Unknown,
        }
    }

    /// `torch.stack(losses)`, `torch.cat([a, b])`: history when an argument has it.
    fn torch_function(&self, call: &'a ast::ExprCall) -> History {
        if self.no_grad {
            return History::Clean;
        }
        let mut history = History::Unknown;
        for arg in &*call.arguments.args {
            let arg_history = match arg {
                Expr::List(list) => list
                    .iter()
                    .fold(History::Clean, |h, e| h.or(self.history(e))),
                Expr::Tuple(tuple) => tuple
                    .iter()
                    .fold(History::Clean, |h, e| h.or(self.history(e))),
                _ => self.history(arg),
            };
            if let History::Graph(_) = arg_history {
                history = history.or(arg_history);
            }
        }
        history
    }

    /// Whether the finding holds, and the diagnostic.
    fn judge(&self, body: &'a [Stmt], sink: &Sink<'a>, loops: &[&'a [Stmt]]) -> Option<Diagnostic> {
        let root = root_name(sink.target)?;
        if self.backward.contains(root) || sink.history == 0 {
            return None;
        }
        if let Expr::Attribute(attr) = sink.target
            && self.backward.contains(attr.attr.as_str())
        {
            return None;
        }
        // The loop whose iterations create the history.
        let depth = sink.history.clamp(1, loops.len());
        let loop_body = loops[depth - 1];
        let target_text = self.checker.slice(sink.target.range());
        let reset = match sink.target {
            // `best = loss.clone()` outlives the iteration when `best` is also bound before
            // the loop (`best = None`).
            Expr::Name(_) if sink.kind == SinkKind::Clone => {
                count_assignments(body, root, false) <= count_assignments(loop_body, root, false)
            }
            // `self.best = loss.clone()` outlives the call.
            _ if sink.kind == SinkKind::Clone => false,
            Expr::Name(_) => assigns_name(loop_body, root, sink.kind == SinkKind::Arithmetic),
            _ => {
                assigns_text(self.checker, loop_body, target_text)
                    || (root != "self" && assigns_name(loop_body, root, false))
            }
        };
        if reset {
            return None;
        }
        if sink.kind == SinkKind::Arithmetic && sink.no_grad {
            return None;
        }
        let value_text = self.checker.slice(sink.value.range());
        let (message, fixes) = match sink.kind {
            SinkKind::Arithmetic => (
                format!(
                    "`{target_text}` accumulates `{value_text}` across iterations with its autograd history: `{target_text}` keeps the graph of every iteration alive"
                ),
                self.arithmetic_fixes(body, sink, root),
            ),
            SinkKind::Container => (
                format!(
                    "`{target_text}` collects `{value_text}` with its autograd history: it keeps the graph of every iteration alive"
                ),
                vec![detach_fix(self.checker, sink.value, "Store")],
            ),
            SinkKind::Clone => {
                let Expr::Call(call) = sink.value else {
                    return None;
                };
                let Expr::Attribute(attr) = &*call.func else {
                    return None;
                };
                let fix = Fix::safe(
                    "Use `.detach().clone()`, which drops the history",
                    vec![Edit::insertion(".detach()", attr.value.end())],
                );
                (
                    format!(
                        "`{target_text}` keeps `{value_text}`, and a clone still carries the autograd graph: `{target_text}` keeps that graph alive until it is replaced"
                    ),
                    vec![fix],
                )
            }
        };
        let range = single_line(self.checker, sink.value.range());
        let mut diagnostic = Diagnostic::new(Rule::TensorGraphAccumulated, range, message);
        let mut fixes = fixes.into_iter();
        diagnostic = diagnostic.with_fix_opt(fixes.next());
        for fix in fixes {
            diagnostic = diagnostic.with_alternative(fix);
        }
        Some(diagnostic)
    }

    fn arithmetic_fixes(&self, body: &'a [Stmt], sink: &Sink<'a>, root: &str) -> Vec<Fix> {
        let detach = detach_fix(self.checker, sink.value, "Accumulate");
        let scalar = is_scalar_loss(self, sink.value);
        let numeric = matches!(sink.target, Expr::Name(_)) && initialised_to_number(body, root);
        if !(scalar && numeric) {
            return vec![detach];
        }
        let text = self.checker.slice(sink.value.range());
        let content = if is_atom(sink.value) {
            format!("{text}.item()")
        } else {
            format!("({text}).item()")
        };
        let edit = Edit::replacement(content, sink.value.range());
        let message = "Accumulate the number (`.item()`)".to_owned();
        let item = if used_as_tensor(body, root) {
            Fix::unsafe_(message, vec![edit])
        } else {
            Fix::safe(message, vec![edit])
        };
        vec![item, detach]
    }
}

fn single_line(checker: &Checker, range: TextRange) -> TextRange {
    let end = checker.line_end(range.start()).min(range.end());
    TextRange::new(range.start(), end)
}

fn is_name(expr: &Expr, name: &str) -> bool {
    matches!(expr, Expr::Name(n) if n.id.as_str() == name)
}

fn is_atom(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Name(_) | Expr::Attribute(_) | Expr::Call(_) | Expr::Subscript(_)
    )
}

fn detach_fix(checker: &Checker, value: &Expr, verb: &str) -> Fix {
    let text = checker.slice(value.range());
    let content = if is_atom(value) {
        format!("{text}.detach()")
    } else {
        format!("({text}).detach()")
    };
    Fix::safe(
        format!("{verb} a detached tensor (`.detach()`)"),
        vec![Edit::replacement(content, value.range())],
    )
}

/// A loss: a loss call, or a name back-propagated (which must be a scalar), or arithmetic on
/// those with numbers.
fn is_scalar_loss(scope: &Scope, value: &Expr) -> bool {
    match value {
        Expr::Name(name) => scope.backward.contains(name.id.as_str()),
        Expr::Call(call) => is_loss_call(scope.checker, call),
        Expr::Attribute(attr) => attr.attr.as_str() == "loss",
        Expr::BinOp(binop) => {
            let number = |e: &Expr| matches!(e, Expr::NumberLiteral(_));
            (is_scalar_loss(scope, &binop.left)
                && (number(&binop.right) || is_scalar_loss(scope, &binop.right)))
                || (number(&binop.left) && is_scalar_loss(scope, &binop.right))
        }
        _ => false,
    }
}

/// Names back-propagated in a body: roots of `x.backward()`'s receiver,
/// `torch.autograd.backward(x)`, `accelerator.backward(x)`, `self.manual_backward(x)`.
fn collect_backward<'a>(body: &'a [Stmt], out: &mut FxHashSet<&'a str>) {
    struct Collect<'o, 'a>(&'o mut FxHashSet<&'a str>);
    impl<'a> ruff_python_ast::visitor::Visitor<'a> for Collect<'_, 'a> {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Call(call) = expr
                && let Expr::Attribute(attr) = &*call.func
                && matches!(attr.attr.as_str(), "backward" | "manual_backward" | "grad")
            {
                if attr.attr.as_str() == "backward" {
                    names_in(&attr.value, self.0);
                }
                if let Some(first) = call.arguments.args.first() {
                    names_in(first, self.0);
                }
            }
            deep(|| ruff_python_ast::visitor::walk_expr(self, expr));
        }
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            deep(|| ruff_python_ast::visitor::walk_stmt(self, stmt));
        }
    }
    let mut collect = Collect(out);
    ruff_python_ast::visitor::Visitor::visit_body(&mut collect, body);
}

/// Every name read in `expr` (`self.x` counts as `self`... and also `x` for attributes).
fn names_in<'a>(expr: &'a Expr, out: &mut FxHashSet<&'a str>) {
    struct Names<'o, 'a>(&'o mut FxHashSet<&'a str>);
    impl<'a> ruff_python_ast::visitor::Visitor<'a> for Names<'_, 'a> {
        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::Name(name) => {
                    self.0.insert(name.id.as_str());
                }
                Expr::Attribute(attr) => {
                    self.0.insert(attr.attr.as_str());
                }
                _ => {}
            }
            deep(|| ruff_python_ast::visitor::walk_expr(self, expr));
        }
    }
    ruff_python_ast::visitor::Visitor::visit_expr(&mut Names(out), expr);
}

/// Whether a loop body (re)binds `name` (other than by accumulating into it).
fn assigns_name(body: &[Stmt], name: &str, skip_accumulation: bool) -> bool {
    count_assignments(body, name, skip_accumulation) > 0
}

/// How many statements of a body bind `name`.
fn count_assignments(body: &[Stmt], name: &str, skip_accumulation: bool) -> usize {
    struct Find<'n> {
        name: &'n str,
        skip_accumulation: bool,
        found: usize,
    }
    impl Find<'_> {
        fn target(&mut self, target: &Expr) {
            match target {
                Expr::Name(n) if n.id.as_str() == self.name => self.found += 1,
                Expr::Tuple(tuple) => tuple.iter().for_each(|e| self.target(e)),
                Expr::List(list) => list.iter().for_each(|e| self.target(e)),
                Expr::Starred(starred) => self.target(&starred.value),
                _ => {}
            }
        }
    }
    impl<'a> ruff_python_ast::statement_visitor::StatementVisitor<'a> for Find<'_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(_) | Stmt::ClassDef(_) => return,
                Stmt::Assign(assign) => {
                    let accumulation = matches!(&*assign.value, Expr::BinOp(binop)
                        if is_name(&binop.left, self.name) || is_name(&binop.right, self.name));
                    if !(accumulation && self.skip_accumulation) {
                        assign.targets.iter().for_each(|t| self.target(t));
                    }
                }
                Stmt::AnnAssign(assign) if assign.value.is_some() => self.target(&assign.target),
                Stmt::For(for_) => self.target(&for_.target),
                Stmt::With(with) => {
                    for item in &with.items {
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
    let mut find = Find {
        name,
        skip_accumulation,
        found: 0,
    };
    ruff_python_ast::statement_visitor::StatementVisitor::visit_body(&mut find, body);
    find.found
}

/// Whether a loop body assigns to the attribute or item spelled `text` (`self.losses = []`).
fn assigns_text(checker: &Checker, body: &[Stmt], text: &str) -> bool {
    struct Find<'c, 't> {
        checker: &'c Checker<'c>,
        text: &'t str,
        found: bool,
    }
    impl<'a> ruff_python_ast::statement_visitor::StatementVisitor<'a> for Find<'_, '_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(_) | Stmt::ClassDef(_) => return,
                Stmt::Assign(assign)
                    if assign
                        .targets
                        .iter()
                        .any(|t| self.checker.slice(t.range()) == self.text) =>
                {
                    self.found = true;
                }
                _ => {}
            }
            deep(|| ruff_python_ast::statement_visitor::walk_stmt(self, stmt));
        }
    }
    // The root of `history["loss"]` may itself be reset in the loop (`history = {...}`).
    let mut find = Find {
        checker,
        text,
        found: false,
    };
    ruff_python_ast::statement_visitor::StatementVisitor::visit_body(&mut find, body);
    find.found
}

/// `total = 0` / `total = 0.0` somewhere in the function.
fn initialised_to_number(body: &[Stmt], name: &str) -> bool {
    struct Find<'n> {
        name: &'n str,
        number: bool,
        other: bool,
    }
    impl<'a> ruff_python_ast::statement_visitor::StatementVisitor<'a> for Find<'_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::FunctionDef(_) | Stmt::ClassDef(_) => return,
                Stmt::Assign(assign) => {
                    for target in &assign.targets {
                        if is_name(target, self.name) {
                            match &*assign.value {
                                Expr::NumberLiteral(_) => self.number = true,
                                Expr::BinOp(binop)
                                    if is_name(&binop.left, self.name)
                                        || is_name(&binop.right, self.name) => {}
                                _ => self.other = true,
                            }
                        }
                    }
                }
                _ => {}
            }
            deep(|| ruff_python_ast::statement_visitor::walk_stmt(self, stmt));
        }
    }
    let mut find = Find {
        name,
        number: false,
        other: false,
    };
    ruff_python_ast::statement_visitor::StatementVisitor::visit_body(&mut find, body);
    find.number && !find.other
}

/// Whether the function uses `name` as a tensor: `name.attr`, returns or yields it, or
/// passes it to a `torch` function.
fn used_as_tensor(body: &[Stmt], name: &str) -> bool {
    struct Find<'n> {
        name: &'n str,
        found: bool,
    }
    impl<'a> ruff_python_ast::visitor::Visitor<'a> for Find<'_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            if let Stmt::Return(ret) = stmt
                && ret.value.as_deref().is_some_and(|v| mentions(v, self.name))
            {
                self.found = true;
            }
            deep(|| ruff_python_ast::visitor::walk_stmt(self, stmt));
        }
        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::Attribute(attr) if is_name(&attr.value, self.name) => self.found = true,
                Expr::Yield(y) if y.value.as_deref().is_some_and(|v| mentions(v, self.name)) => {
                    self.found = true;
                }
                Expr::Call(call)
                    if callee_root_is_torch(&call.func)
                        && call.arguments.args.iter().any(|a| mentions(a, self.name)) =>
                {
                    self.found = true;
                }
                _ => {}
            }
            deep(|| ruff_python_ast::visitor::walk_expr(self, expr));
        }
    }
    let mut find = Find { name, found: false };
    ruff_python_ast::visitor::Visitor::visit_body(&mut find, body);
    find.found
}

fn callee_root_is_torch(func: &Expr) -> bool {
    root_name(func).is_some_and(|root| root == "torch" || root == "F" || root == "nn")
}

fn mentions(expr: &Expr, name: &str) -> bool {
    crate::helpers::any_over_expr(expr, |e: &Expr| is_name(e, name))
}
