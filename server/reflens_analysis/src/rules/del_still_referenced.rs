use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange};

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::Diagnostic;
use crate::helpers::{deep, root_name};
use crate::registry::Rule;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// `del x`, written to free memory, while the object `x` names is still referenced from the
    /// same scope, so that the `del` frees nothing:
    /// - it was added to a container: `items.append(x)`, `queue.put(x)`, `seen.add(x)`,
    ///   `d[k] = x`, `pairs = [x, y]`;
    /// - it was stored in an attribute: `self._last = x`;
    /// - another name still refers to it: `raw = x`, with `raw` neither deleted nor rebound;
    /// - a function or lambda keeps it as a default value: `def f(d=x)`, `cb = lambda d=x: ...`.
    ///
    /// A closure that merely uses `x` does not keep the object: `del x` empties the variable the
    /// closure shares, so that case is not reported.
    ///
    /// Only a `del` meant to free memory is checked: one followed closely by `gc.collect()` or
    /// `torch.cuda.empty_cache()`, or of a name bound to something large — the result of a
    /// loader or reader (`np.load`, `pd.read_csv`, `torch.load`, `pickle.load`, `f.read()`,
    /// `cursor.fetchall()`, `resp.json()`), a new array or tensor (`np.zeros`, `torch.cat`,
    /// `.numpy()`, `.cpu()`, `.to(device)`, `.clone()`), or a comprehension. `del` used to tidy
    /// a namespace, to break a reference cycle or to drop an exception is left alone. Nor is
    /// anything reported when the container or the other name is itself deleted, rebound or
    /// cleared before the `del` (or deleted later, for another name: `del x` then `del raw`),
    /// nor when the object holding the reference is `x` itself or is deleted in the scope too
    /// (`c2.c1 = c1` … `del c1, c2`): that is a cycle that `gc.collect()` does free.
    ///
    /// ## Why it keeps memory alive
    /// `del x` only removes the name `x`; the object is freed when its last reference goes. A
    /// container, an attribute or another name that still refers to it keeps it — and
    /// everything it refers to — alive, so the memory the `del` was written to release (often
    /// a large array, a dataframe or a model's output) stays in use, typically until the
    /// function returns or for as long as the container or object lives.
    ///
    /// ## Example
    /// ```python
    /// import gc
    /// import numpy as np
    ///
    /// def train_step(self, path):
    ///     batch = np.load(path)
    ///     self._last_batch = batch
    ///     loss = self.model.fit(batch)
    ///     del batch
    ///     gc.collect()
    ///     return loss
    /// ```
    ///
    /// ## Fix
    /// Drop the other reference too, or do not keep it in the first place (keep a summary, a
    /// copy of the small part you need, or a `weakref` for objects that support one):
    /// ```python
    /// def train_step(self, path):
    ///     batch = np.load(path)
    ///     self._last_batch_shape = batch.shape
    ///     loss = self.model.fit(batch)
    ///     del batch
    ///     gc.collect()
    ///     return loss
    /// ```
    ///
    /// ## Fix safety
    /// No automatic fix: only the author knows whether the other reference is needed. The
    /// finding is a hint that names that reference and its line.
    pub struct DelStillReferenced {
        code: "RL701",
        name: "del-still-referenced",
        summary: "`del x` while the object is still referenced in the same scope",
        fix: None,
    }
}

/// Methods that keep their argument in the receiver.
const KEEPING_METHODS: &[&str] = &[
    "append",
    "appendleft",
    "add",
    "insert",
    "put",
    "put_nowait",
    "setdefault",
    "push",
];

/// Methods whose result is large data (a file's content, a loaded model, a new array).
const LARGE_METHODS: &[&str] = &[
    "load",
    "loads",
    "read",
    "readlines",
    "read_bytes",
    "read_text",
    "fetchall",
    "read_csv",
    "read_parquet",
    "read_json",
    "read_excel",
    "read_sql",
    "read_sql_query",
    "read_sql_table",
    "read_pickle",
    "read_feather",
    "read_hdf",
    "read_table",
    "read_fwf",
    "loadtxt",
    "genfromtxt",
    "fromfile",
    "frombuffer",
    "zeros",
    "zeros_like",
    "ones",
    "ones_like",
    "empty",
    "empty_like",
    "full",
    "rand",
    "randn",
    "randint",
    "array",
    "asarray",
    "concatenate",
    "stack",
    "vstack",
    "hstack",
    "cat",
    "tensor",
    "from_numpy",
    "numpy",
    "to_numpy",
    "cpu",
    "cuda",
    "to",
    "clone",
    "detach",
    "tolist",
    "getvalue",
    "json",
    "compute",
    "collect",
    "imread",
    "open_dataset",
    "load_dataset",
    "from_pretrained",
];

/// Words one of which a file needs for this rule to run on it (see `triggers`).
// Every finding is about a `del` statement with a plain name target. After the keyword `del`
// comes whitespace, a line continuation or the opening parenthesis of `del(x)` (the only other
// token that can follow it without a space, `[`, makes a list target, never a plain name).
pub(crate) const TRIGGERS: Triggers =
    Triggers::AnyOf(&["del ", "del\t", "del(", "del\\", "del\x0c"]);

pub(crate) fn check(checker: &mut Checker) {
    let mut diagnostics = Vec::new();
    // The module, then every function (from the index `Semantic` built), each on its own.
    check_scope(checker, checker.suite, &mut diagnostics);
    for def in checker.semantic.functions() {
        check_scope(checker, &def.body, &mut diagnostics);
    }
    for diagnostic in diagnostics {
        checker.report(diagnostic);
    }
}

/// A statement of a scope with the blocks it is nested in (ids of the bodies around it).
struct Flat<'a> {
    stmt: &'a Stmt,
    path: Vec<usize>,
}

fn flatten<'a>(body: &'a [Stmt], path: &mut Vec<usize>, next: &mut usize, out: &mut Vec<Flat<'a>>) {
    let block =
        |body: &'a [Stmt], path: &mut Vec<usize>, next: &mut usize, out: &mut Vec<Flat<'a>>| {
            *next += 1;
            path.push(*next);
            deep(|| flatten(body, path, next, out));
            path.pop();
        };
    for stmt in body {
        out.push(Flat {
            stmt,
            path: path.clone(),
        });
        match stmt {
            Stmt::If(if_) => {
                block(&if_.body, path, next, out);
                for clause in &if_.elif_else_clauses {
                    block(&clause.body, path, next, out);
                }
            }
            Stmt::For(for_) => {
                block(&for_.body, path, next, out);
                block(&for_.orelse, path, next, out);
            }
            Stmt::While(while_) => {
                block(&while_.body, path, next, out);
                block(&while_.orelse, path, next, out);
            }
            Stmt::With(with) => block(&with.body, path, next, out),
            Stmt::Try(try_) => {
                block(&try_.body, path, next, out);
                for handler in &try_.handlers {
                    let ast::ExceptHandler::ExceptHandler(handler) = handler;
                    block(&handler.body, path, next, out);
                }
                block(&try_.orelse, path, next, out);
                block(&try_.finalbody, path, next, out);
            }
            Stmt::Match(match_) => {
                for case in &match_.cases {
                    block(&case.body, path, next, out);
                }
            }
            _ => {}
        }
    }
}

/// Whether `body` or a block nested in it (not a nested function or class: the blocks
/// `flatten` follows) holds `del name`.
fn deletes_a_name(body: &[Stmt]) -> bool {
    let any = |body: &[Stmt]| deep(|| deletes_a_name(body));
    body.iter().any(|stmt| match stmt {
        Stmt::Delete(delete) => delete.targets.iter().any(Expr::is_name_expr),
        Stmt::If(if_) => any(&if_.body) || if_.elif_else_clauses.iter().any(|c| any(&c.body)),
        Stmt::For(for_) => any(&for_.body) || any(&for_.orelse),
        Stmt::While(while_) => any(&while_.body) || any(&while_.orelse),
        Stmt::With(with) => any(&with.body),
        Stmt::Try(try_) => {
            any(&try_.body)
                || try_.handlers.iter().any(|handler| {
                    let ast::ExceptHandler::ExceptHandler(handler) = handler;
                    any(&handler.body)
                })
                || any(&try_.orelse)
                || any(&try_.finalbody)
        }
        Stmt::Match(match_) => match_.cases.iter().any(|case| any(&case.body)),
        _ => false,
    })
}

/// What still refers to the object.
struct Reference<'a> {
    stmt: &'a Stmt,
    holder: Holder<'a>,
}

enum Holder<'a> {
    /// A container named by a local or global name (`items.append(x)`, `d[k] = x`).
    Container(&'a str),
    /// A container reached through an attribute or subscript (`self.items.append(x)`), with
    /// the name the chain starts from.
    Other(Option<&'a str>),
    /// An attribute (`self._last = x`): the name the chain starts from, and the attribute.
    Attribute(Option<&'a str>, &'a str),
    /// Another name (`raw = x`), or a function keeping a default value.
    Name(&'a str),
}

fn check_scope<'a>(checker: &Checker<'a>, body: &'a [Stmt], out: &mut Vec<Diagnostic>) {
    // Only a `del` of a plain name, in this scope's own blocks, is checked.
    if !deletes_a_name(body) {
        return;
    }
    let mut flat = Vec::new();
    flatten(body, &mut Vec::new(), &mut 0, &mut flat);
    for (index, entry) in flat.iter().enumerate() {
        let Stmt::Delete(delete) = entry.stmt else {
            continue;
        };
        for target in &delete.targets {
            let Expr::Name(name) = target else { continue };
            let x = name.id.as_str();
            if let Some(diagnostic) = check_del(checker, &flat, index, delete, name, x) {
                out.push(diagnostic);
            }
        }
    }
}

fn check_del<'a>(
    checker: &Checker<'a>,
    flat: &[Flat<'a>],
    index: usize,
    delete: &'a ast::StmtDelete,
    name: &'a ast::ExprName,
    x: &'a str,
) -> Option<Diagnostic> {
    let path = &flat[index].path;
    let visible = |entry: &Flat| path.starts_with(&entry.path);
    // The binding of `x` the `del` removes: the last one before it.
    let binding = (0..index).rev().find(|&i| binds(flat[i].stmt, x))?;
    let large = bound_to_large(checker, flat[binding].stmt, x);
    let collects = flat[index + 1..]
        .iter()
        .take(4)
        .any(|entry| calls_gc(checker, entry.stmt));
    if !large && !collects {
        return None;
    }
    // References made after that binding, in blocks that enclose the `del`.
    let mut found: Option<Reference> = None;
    for i in binding + 1..index {
        let entry = &flat[i];
        if !visible(entry) {
            continue;
        }
        for holder in keeps(entry.stmt, x) {
            let later = &flat[i + 1..index];
            let dropped = match &holder {
                Holder::Container(c) | Holder::Name(c) => {
                    later.iter().any(|e| drops_name(e.stmt, c))
                        || delete
                            .targets
                            .iter()
                            .any(|t| matches!(t, Expr::Name(n) if n.id.as_str() == *c))
                        || (matches!(holder, Holder::Name(_))
                            && flat[index + 1..].iter().any(|e| deletes_name(e.stmt, c)))
                }
                Holder::Attribute(base, attr) => {
                    later.iter().any(|e| drops_attribute(checker, e.stmt, attr))
                        || base_dropped(flat, delete, *base, x)
                }
                Holder::Other(base) => base_dropped(flat, delete, *base, x),
            };
            if !dropped {
                found = Some(Reference {
                    stmt: entry.stmt,
                    holder,
                });
            }
        }
    }
    let reference = found?;
    let line = checker.line_index.line_index(reference.stmt.start());
    let mut text = checker
        .slice(reference.stmt)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if text.chars().count() > 60 {
        text = text.chars().take(57).collect::<String>() + "...";
    }
    let through = match reference.holder {
        Holder::Name(other) => format!(" (through `{other}`)"),
        _ => String::new(),
    };
    let message =
        format!("`del {x}` frees nothing: `{text}` on line {line} still refers to it{through}");
    let range: TextRange = name.range();
    Some(
        Diagnostic::new(Rule::DelStillReferenced, range, message)
            .with_related(reference.stmt.range(), format!("still refers to `{x}`"))
            .with_note("No automatic fix: only you know whether the other reference is needed; drop it too, or keep something smaller."),
    )
}

/// Whether `stmt` (as a flat entry: compound statements only by their header) binds `x`.
fn binds(stmt: &Stmt, x: &str) -> bool {
    let mut names = Vec::new();
    match stmt {
        Stmt::Assign(assign) => assign
            .targets
            .iter()
            .for_each(|t| target_names(t, &mut names)),
        Stmt::AnnAssign(assign) if assign.value.is_some() => {
            target_names(&assign.target, &mut names)
        }
        Stmt::AugAssign(assign) => target_names(&assign.target, &mut names),
        Stmt::For(for_) => target_names(&for_.target, &mut names),
        Stmt::With(with) => with
            .items
            .iter()
            .filter_map(|item| item.optional_vars.as_deref())
            .for_each(|t| target_names(t, &mut names)),
        Stmt::FunctionDef(def) => names.push(def.name.as_str()),
        Stmt::ClassDef(def) => names.push(def.name.as_str()),
        Stmt::Import(_) | Stmt::ImportFrom(_) => return checker_free_import_binds(stmt, x),
        _ => {}
    }
    names.contains(&x)
}

fn checker_free_import_binds(stmt: &Stmt, x: &str) -> bool {
    match stmt {
        Stmt::Import(import) => import.names.iter().any(|alias| {
            alias.asname.as_ref().map_or_else(
                || alias.name.as_str().split('.').next() == Some(x),
                |asname| asname.as_str() == x,
            )
        }),
        Stmt::ImportFrom(import) => import
            .names
            .iter()
            .any(|alias| alias.asname.as_ref().unwrap_or(&alias.name).as_str() == x),
        _ => false,
    }
}

fn target_names<'a>(target: &'a Expr, out: &mut Vec<&'a str>) {
    match target {
        Expr::Name(name) => out.push(name.id.as_str()),
        Expr::Tuple(tuple) => tuple.iter().for_each(|e| target_names(e, out)),
        Expr::List(list) => list.iter().for_each(|e| target_names(e, out)),
        Expr::Starred(starred) => target_names(&starred.value, out),
        _ => {}
    }
}

/// Whether the statement binding `x` gives it something large.
fn bound_to_large(checker: &Checker, stmt: &Stmt, x: &str) -> bool {
    let value = match stmt {
        Stmt::Assign(assign)
            if assign
                .targets
                .iter()
                .any(|t| matches!(t, Expr::Name(n) if n.id.as_str() == x)) =>
        {
            &*assign.value
        }
        Stmt::AnnAssign(assign) => match (&*assign.target, assign.value.as_deref()) {
            (Expr::Name(n), Some(value)) if n.id.as_str() == x => value,
            _ => return false,
        },
        _ => return false,
    };
    is_large(checker, value)
}

fn is_large(checker: &Checker, value: &Expr) -> bool {
    match value {
        Expr::ListComp(_) | Expr::DictComp(_) | Expr::SetComp(_) => true,
        Expr::Await(await_) => is_large(checker, &await_.value),
        Expr::Call(call) => {
            let method = match &*call.func {
                Expr::Attribute(attr) => attr.attr.as_str(),
                Expr::Name(name) => {
                    // `load(...)` imported from a module: use the qualified name's last part.
                    return checker
                        .semantic
                        .qualified_name(&call.func)
                        .is_some_and(|q| {
                            q.contains('.')
                                && !q.starts_with("builtins.")
                                && LARGE_METHODS.contains(&q.rsplit('.').next().unwrap_or_default())
                        })
                        || name.id.as_str() == "bytearray";
                }
                _ => return false,
            };
            // `.to(...)` only with an argument (a device or dtype).
            if method == "to" && call.arguments.is_empty() {
                return false;
            }
            LARGE_METHODS.contains(&method)
        }
        _ => false,
    }
}

/// `gc.collect()`, `torch.cuda.empty_cache()`.
fn calls_gc(checker: &Checker, stmt: &Stmt) -> bool {
    let Stmt::Expr(expr) = stmt else {
        return false;
    };
    let Expr::Call(call) = &*expr.value else {
        return false;
    };
    checker
        .semantic
        .resolves_to(&call.func, &["gc.collect", "torch.cuda.empty_cache"])
}

/// Whether `expr` is the name `x`, or a display that holds it directly.
fn holds(expr: &Expr, x: &str) -> bool {
    match expr {
        Expr::Name(name) => name.id.as_str() == x,
        Expr::List(list) => list
            .iter()
            .any(|e| matches!(e, Expr::Name(n) if n.id.as_str() == x)),
        Expr::Tuple(tuple) => tuple
            .iter()
            .any(|e| matches!(e, Expr::Name(n) if n.id.as_str() == x)),
        Expr::Set(set) => set
            .iter()
            .any(|e| matches!(e, Expr::Name(n) if n.id.as_str() == x)),
        Expr::Dict(dict) => dict
            .iter()
            .any(|item| matches!(&item.value, Expr::Name(n) if n.id.as_str() == x)),
        _ => false,
    }
}

/// What a statement makes keep a reference to `x`.
fn keeps<'a>(stmt: &'a Stmt, x: &str) -> Vec<Holder<'a>> {
    let mut out = Vec::new();
    match stmt {
        Stmt::Expr(expr) => {
            if let Expr::Call(call) = &*expr.value
                && let Expr::Attribute(method) = &*call.func
                && KEEPING_METHODS.contains(&method.attr.as_str())
                && call
                    .arguments
                    .args
                    .iter()
                    .any(|a| matches!(a, Expr::Name(n) if n.id.as_str() == x))
            {
                out.push(match &*method.value {
                    Expr::Name(container) => Holder::Container(container.id.as_str()),
                    other => Holder::Other(root_name(other)),
                });
            }
        }
        Stmt::Assign(assign) if holds(&assign.value, x) => {
            // `a, b = x, y` unpacks: no display is kept.
            if assign
                .targets
                .iter()
                .any(|t| t.is_tuple_expr() || t.is_list_expr())
            {
                return out;
            }
            for target in &assign.targets {
                match target {
                    Expr::Name(name) if name.id.as_str() != x => {
                        out.push(Holder::Name(name.id.as_str()));
                    }
                    Expr::Subscript(subscript) => out.push(match &*subscript.value {
                        Expr::Name(container) => Holder::Container(container.id.as_str()),
                        other => Holder::Other(root_name(other)),
                    }),
                    Expr::Attribute(attr) => {
                        out.push(Holder::Attribute(
                            root_name(&attr.value),
                            attr.attr.as_str(),
                        ));
                    }
                    _ => {}
                }
            }
        }
        Stmt::AnnAssign(assign) if assign.value.as_deref().is_some_and(|v| holds(v, x)) => {
            match &*assign.target {
                Expr::Name(name) if name.id.as_str() != x => {
                    out.push(Holder::Name(name.id.as_str()))
                }
                Expr::Attribute(attr) => {
                    out.push(Holder::Attribute(
                        root_name(&attr.value),
                        attr.attr.as_str(),
                    ));
                }
                _ => {}
            }
        }
        Stmt::FunctionDef(def)
            if def
                .parameters
                .iter_non_variadic_params()
                .filter_map(|p| p.default.as_deref())
                .any(|d| matches!(d, Expr::Name(n) if n.id.as_str() == x)) =>
        {
            out.push(Holder::Name(def.name.as_str()));
        }
        _ => {}
    }
    // `cb = lambda d=x: ...`
    if let Stmt::Assign(assign) = stmt
        && let [Expr::Name(target)] = assign.targets.as_slice()
        && let Expr::Lambda(lambda) = &*assign.value
        && lambda.parameters.as_ref().is_some_and(|parameters| {
            parameters
                .iter_non_variadic_params()
                .filter_map(|p| p.default.as_deref())
                .any(|d| matches!(d, Expr::Name(n) if n.id.as_str() == x))
        })
    {
        out.push(Holder::Name(target.id.as_str()));
    }
    out
}

/// Whether the object holding the reference is itself garbage: it is `x` (a self-reference),
/// or a name that the scope deletes too (`c2.c1 = c1` … `del c1, c2`), so that
/// `gc.collect()` frees the whole cycle.
fn base_dropped(flat: &[Flat], delete: &ast::StmtDelete, base: Option<&str>, x: &str) -> bool {
    let Some(base) = base else {
        return false;
    };
    base == x
        || delete
            .targets
            .iter()
            .any(|t| matches!(t, Expr::Name(n) if n.id.as_str() == base))
        || flat.iter().any(|e| deletes_name(e.stmt, base))
}

/// Whether `stmt` deletes, rebinds or empties the name `c`.
fn drops_name(stmt: &Stmt, c: &str) -> bool {
    if deletes_name(stmt, c) || binds(stmt, c) {
        return true;
    }
    if let Stmt::Expr(expr) = stmt
        && let Expr::Call(call) = &*expr.value
        && let Expr::Attribute(method) = &*call.func
        && matches!(&*method.value, Expr::Name(n) if n.id.as_str() == c)
        && matches!(
            method.attr.as_str(),
            "clear" | "pop" | "popleft" | "popitem" | "remove" | "discard" | "get" | "get_nowait"
        )
    {
        return true;
    }
    false
}

fn deletes_name(stmt: &Stmt, c: &str) -> bool {
    matches!(stmt, Stmt::Delete(delete) if delete.targets.iter().any(|t| match t {
        Expr::Name(n) => n.id.as_str() == c,
        Expr::Subscript(s) => matches!(&*s.value, Expr::Name(n) if n.id.as_str() == c),
        _ => false,
    }))
}

/// Whether `stmt` rebinds or deletes an attribute named `attr`.
fn drops_attribute(_checker: &Checker, stmt: &Stmt, attr: &str) -> bool {
    let is_it = |t: &Expr| matches!(t, Expr::Attribute(a) if a.attr.as_str() == attr);
    match stmt {
        Stmt::Assign(assign) => assign.targets.iter().any(is_it),
        Stmt::AnnAssign(assign) => is_it(&assign.target),
        Stmt::Delete(delete) => delete.targets.iter().any(is_it),
        _ => false,
    }
}
