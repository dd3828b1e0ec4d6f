use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::Ranged;

use crate::checker::Checker;
use crate::declare_rule;
use crate::diagnostic::{Diagnostic, Edit, Fix};
use crate::helpers::{MethodKind, is_long_lived_class, method_kind};
use crate::helpers::{body_without_docstring, first_parameter};
use crate::registry::Rule;
use crate::triggers::Triggers;

declare_rule! {
    /// ## What it finds
    /// `functools.lru_cache` or `functools.cache` (however it is imported) on an instance method,
    /// bounded or not. Static methods, class methods and module-level functions are fine, and so
    /// are methods of enums and metaclasses, whose instances live as long as the program anyway.
    /// A bounded cache on a value type — a class that defines `__hash__` (itself or through a
    /// base class of the module), a named tuple or a frozen dataclass — is not reported either:
    /// such types (an IP address, a colour) memoize by value on purpose, and at most `maxsize`
    /// of them are kept; an unbounded cache on them still is.
    ///
    /// ## Why it keeps memory alive
    /// The cache belongs to the function object, which lives on the class, so it lives as long as
    /// the class: for the whole program. Every call stores `self` in a cache key, so every
    /// instance the method was ever called on stays alive: with `cache` or `maxsize=None` for
    /// ever, with a bound until enough other calls evict it. Everything those instances refer to
    /// (buffers, connections, large results) stays alive with them.
    ///
    /// ## Example
    /// ```python
    /// import functools
    ///
    /// class Report:
    ///     def __init__(self, rows):
    ///         self.rows = rows
    ///
    ///     @functools.lru_cache(maxsize=128)
    ///     def total(self, column):
    ///         return sum(row[column] for row in self.rows)
    /// ```
    ///
    /// ## Fix
    /// Give each instance its own cache, so that it dies with the instance: wrap the bound
    /// method in `__init__` (`self.total = functools.lru_cache(maxsize=128)(self.total)`) and
    /// drop the decorator. The instance and its cache form a cycle that the garbage collector
    /// frees. Alternatively, move the cached computation to a module-level function keyed on
    /// explicit, small values (not `self`), or use `functools.cached_property` for methods
    /// without arguments.
    ///
    /// ```python
    /// class Report:
    ///     def __init__(self, rows):
    ///         self.total = functools.lru_cache(maxsize=128)(self.total)
    ///         self.rows = rows
    ///
    ///     def total(self, column):
    ///         return sum(row[column] for row in self.rows)
    /// ```
    ///
    /// ## Fix safety
    /// Offered when the class defines `__init__` and no `__slots__`. Unsafe: results are no
    /// longer shared between equal instances, `Report.total.cache_info()` no longer exists, and
    /// calls through the class (`Report.total(report, "x")`) are not cached.
    ///
    /// For `@property` over `@cache`, the fix is `@functools.cached_property` (no `__init__`
    /// needed). Unsafe: the value becomes assignable, and it is computed without a lock.
    pub struct MethodCache {
        code: "RL101",
        name: "method-cache",
        summary: "`functools.lru_cache`/`cache` on an instance method keeps every `self` alive",
        fix: Sometimes,
    }
}

const CACHE_DECORATORS: &[&str] = &["functools.lru_cache", "functools.cache"];

/// Words one of which a file needs for this rule to run on it (see `triggers`).
pub(crate) const TRIGGERS: Triggers = Triggers::AnyOf(&["cache"]);

pub(crate) fn check(checker: &mut Checker) {
    // Every spelling of `lru_cache`/`cache` has "cache" somewhere in the file (the import).
    let mut found = Vec::new();
    checker.walk_classes(&mut |class| {
        if is_long_lived_class(checker, class) {
            return;
        }
        for stmt in &class.body {
            let Stmt::FunctionDef(def) = stmt else {
                continue;
            };
            if method_kind(checker, def) != MethodKind::Instance || first_parameter(def).is_none() {
                continue;
            }
            for decorator in &def.decorator_list {
                let callee = ruff_python_ast::helpers::map_callable(&decorator.expression);
                if let Some(qualified) = checker.semantic.qualified_name(callee)
                    && CACHE_DECORATORS.contains(&qualified.as_str())
                {
                    // A bounded cache on a value type (one that defines how its instances hash)
                    // memoizes by value on purpose: equal instances share entries, and at
                    // most `maxsize` small values are kept.
                    let short = qualified.trim_start_matches("functools.");
                    if defines_hash(checker, class, 0)
                        && !is_unbounded(&decorator.expression, short)
                    {
                        continue;
                    }
                    found.push(diagnostic(checker, class, def, decorator, &qualified));
                }
            }
        }
    });
    for diagnostic in found {
        checker.report(diagnostic);
    }
}

fn diagnostic(
    checker: &Checker,
    class: &ast::StmtClassDef,
    def: &ast::StmtFunctionDef,
    decorator: &ast::Decorator,
    qualified: &str,
) -> Diagnostic {
    let short = qualified.trim_start_matches("functools.");
    let unbounded = is_unbounded(&decorator.expression, short);
    let lifetime = if unbounded {
        "for as long as the class exists"
    } else {
        "until later calls evict them"
    };
    let message = format!(
        "`{short}` on method `{class}.{method}` keeps every `self` it is called with (and all it refers to) alive {lifetime}: the cache lives on the class",
        class = class.name,
        method = def.name,
    );
    let diagnostic = Diagnostic::new(Rule::MethodCache, decorator.range(), message);
    match per_instance_fix(checker, class, def, decorator) {
        Ok(fix) => diagnostic.with_fix(fix),
        Err(reason) => diagnostic.with_note(reason),
    }
}

/// Whether the class is a value type: it, or a base class of this module, defines `__hash__`,
/// or it is a named tuple or a frozen dataclass.
fn defines_hash(checker: &Checker, class: &ast::StmtClassDef, depth: usize) -> bool {
    let here = class.body.iter().any(|stmt| match stmt {
        Stmt::FunctionDef(def) => def.name.as_str() == "__hash__",
        Stmt::Assign(assign) => assign
            .targets
            .iter()
            .any(|t| matches!(t, Expr::Name(n) if n.id.as_str() == "__hash__")),
        _ => false,
    });
    // Named tuples and frozen dataclasses hash by value too.
    let tuple_like = class.bases().iter().any(|base| {
        checker
            .semantic
            .resolves_to(base, &["typing.NamedTuple", "builtins.tuple"])
            || matches!(base, Expr::Call(call) if checker.semantic.resolves_to(&call.func, &["collections.namedtuple", "typing.NamedTuple"]))
    });
    let frozen_dataclass = class.decorator_list.iter().any(|decorator| {
        matches!(&decorator.expression, Expr::Call(call)
            if checker.semantic.resolves_to(&call.func, &["dataclasses.dataclass"])
                && call.arguments.find_keyword("frozen").is_some_and(|k| matches!(&k.value, Expr::BooleanLiteral(b) if b.value)))
    });
    here || tuple_like
        || frozen_dataclass
        || (depth < 8
            && class.bases().iter().any(|base| match base {
                Expr::Name(name) => matches!(
                    checker.semantic.module_bindings(name.id.as_str()),
                    [Stmt::ClassDef(base)] if defines_hash(checker, base, depth + 1)
                ),
                _ => false,
            }))
}

/// `@cache`, `@lru_cache(maxsize=None)` and `@lru_cache(None)` never evict.
fn is_unbounded(expr: &Expr, short: &str) -> bool {
    if short == "cache" {
        return true;
    }
    let Expr::Call(call) = expr else {
        return false; // bare `@lru_cache` defaults to maxsize=128
    };
    let maxsize = call.arguments.find_argument_value("maxsize", 0);
    matches!(maxsize, Some(Expr::NoneLiteral(_)))
}

fn per_instance_fix(
    checker: &Checker,
    class: &ast::StmtClassDef,
    def: &ast::StmtFunctionDef,
    decorator: &ast::Decorator,
) -> Result<Fix, String> {
    let defines_slots = class.body.iter().any(|stmt| match stmt {
        Stmt::Assign(assign) => assign
            .targets
            .iter()
            .any(|t| matches!(t, Expr::Name(n) if n.id.as_str() == "__slots__")),
        Stmt::AnnAssign(assign) => {
            matches!(&*assign.target, Expr::Name(n) if n.id.as_str() == "__slots__")
        }
        _ => false,
    });
    if defines_slots {
        return Err(format!(
            "No automatic fix: `{}` defines `__slots__`, so a per-instance cache needs a slot of its own.",
            class.name
        ));
    }
    let init = class.body.iter().find_map(|stmt| match stmt {
        Stmt::FunctionDef(init) if init.name.as_str() == "__init__" && !init.is_async => Some(init),
        _ => None,
    });
    let Some(init) = init else {
        return Err(format!(
            "No automatic fix: `{}` has no `__init__` of its own to create a per-instance cache in.",
            class.name
        ));
    };
    let Some(init_self) = first_parameter(init) else {
        return Err("No automatic fix: `__init__` takes no `self`.".to_owned());
    };
    if let Some(fix) = cached_property_fix(checker, def, decorator) {
        return Ok(fix);
    }
    if def.decorator_list.len() != 1 {
        return Err(format!(
            "No automatic fix: `{}` has other decorators whose order with the cache matters.",
            def.name
        ));
    }
    if !checker.starts_line(decorator) {
        return Err("No automatic fix: the decorator does not start its line.".to_owned());
    }

    // Insert the wrapping assignment as the first statement of `__init__` (after its
    // docstring): the bound method exists before anything else runs.
    let body = body_without_docstring(&init.body);
    let Some(first) = body.first().or(init.body.first()) else {
        return Err("No automatic fix: `__init__` has no body.".to_owned());
    };
    if !checker.starts_line(first) {
        return Err("No automatic fix: `__init__` is written on one line.".to_owned());
    }
    let indentation = checker.indentation(first.start());
    let wrapper = checker.slice(decorator.expression.range());
    let line = format!(
        "{indentation}{init_self}.{name} = {wrapper}({init_self}.{name}){eol}",
        name = def.name,
        eol = checker.line_ending(),
    );
    let insert_at = if !body.is_empty() {
        checker.line_start(first.start())
    } else {
        checker.full_line_end(first.end())
    };
    // The decorator's range starts at its `@`.
    let remove_decorator = Edit::deletion(checker.full_lines(decorator.range()));
    Ok(Fix::unsafe_(
        format!("Give each `{}` its own cache in `__init__`", class.name),
        vec![Edit::insertion(line, insert_at), remove_decorator],
    ))
}

/// `@property` over `@cache`: `functools.cached_property` stores the value on the instance.
fn cached_property_fix(
    checker: &Checker,
    def: &ast::StmtFunctionDef,
    decorator: &ast::Decorator,
) -> Option<Fix> {
    let [first, second] = def.decorator_list.as_slice() else {
        return None;
    };
    if second != decorator
        || !checker
            .semantic
            .resolves_to(&first.expression, &["builtins.property"])
        || matches!(decorator.expression, Expr::Call(_))
        || !checker.starts_line(first)
    {
        return None;
    }
    let (binding, import) = checker.import_edit("functools", "cached_property");
    let mut edits = vec![
        Edit::replacement(format!("@{binding}"), first.range()),
        Edit::deletion(checker.full_lines(decorator.range())),
    ];
    edits.extend(import);
    Some(Fix::unsafe_(
        format!("Use `{binding}`, which stores the value on the instance"),
        edits,
    ))
}
