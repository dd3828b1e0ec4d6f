//! Small AST helpers shared by rules.

use ruff_python_ast::token::{Token, TokenKind};
use ruff_python_ast::visitor::Visitor;
use ruff_python_ast::{self as ast, Expr, Stmt};

/// Stack a walk wants left before it goes one level deeper, and what a new segment gets.
const RED_ZONE: usize = 256 * 1024;
const SEGMENT: usize = 8 * 1024 * 1024;

thread_local! {
    /// The lowest usable address of the stack this thread runs on now, learnt from `stacker`
    /// (0: not known). Every place that switches stacks resets it (`deep`, `on_fresh_stack`).
    static STACK_LIMIT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// An address in the current stack frame.
#[inline(always)]
fn stack_pointer() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// Runs `f` with enough stack for one more level of a recursive walk; long expression chains
/// (`a+b+…`, `x.y.z…`) nest one level per operator.
///
/// Every walk calls this at every node, so the common case is one comparison against the
/// stack's limit, which `stacker` is asked for only once per stack.
#[inline]
pub fn deep<R>(f: impl FnOnce() -> R) -> R {
    let sp = stack_pointer();
    let limit = STACK_LIMIT.get();
    if limit != 0 && sp >= limit + RED_ZONE && sp - limit <= crate::ANALYSIS_STACK {
        return f();
    }
    deep_slow(sp, f)
}

#[cold]
fn deep_slow<R>(sp: usize, f: impl FnOnce() -> R) -> R {
    match stacker::remaining_stack() {
        Some(remaining) if remaining >= RED_ZONE => {
            STACK_LIMIT.set(sp.saturating_sub(remaining));
            f()
        }
        Some(_) => on_fresh_stack(|| stacker::grow(SEGMENT, f)),
        None => stacker::maybe_grow(RED_ZONE, SEGMENT, f),
    }
}

/// Runs `f`, which may switch to another stack, forgetting the current stack's limit while it
/// runs (the new stack's is learnt on its first `deep`) and restoring it after.
pub(crate) fn on_fresh_stack<R>(f: impl FnOnce() -> R) -> R {
    let saved = STACK_LIMIT.replace(0);
    let out = f();
    STACK_LIMIT.set(saved);
    out
}

/// Whether `predicate` holds for `expr` or an expression inside it. Like ruff's
/// `helpers::any_over_expr`, but on a stack that grows ([`deep`]): input can nest expressions
/// thousands deep.
pub fn any_over_expr(expr: &Expr, predicate: impl Fn(&Expr) -> bool) -> bool {
    let mut any = AnyOver {
        predicate,
        found: false,
    };
    any.visit_expr(expr);
    any.found
}

/// Whether `predicate` holds for an expression anywhere in `body` (nested functions and classes
/// included). Like ruff's `helpers::any_over_body`, on a stack that grows.
pub fn any_over_body(body: &[Stmt], predicate: impl Fn(&Expr) -> bool) -> bool {
    let mut any = AnyOver {
        predicate,
        found: false,
    };
    any.visit_body(body);
    any.found
}

struct AnyOver<F> {
    predicate: F,
    found: bool,
}

impl<'a, F: Fn(&Expr) -> bool> Visitor<'a> for AnyOver<F> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if !self.found {
            deep(|| ruff_python_ast::visitor::walk_stmt(self, stmt));
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if self.found {
            return;
        }
        if (self.predicate)(expr) {
            self.found = true;
            return;
        }
        deep(|| ruff_python_ast::visitor::walk_expr(self, expr));
    }
}

/// The name a simple `Name` expression binds or reads.
pub fn name_of(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Name(name) => Some(name.id.as_str()),
        _ => None,
    }
}

/// The last name of a name or attribute chain: `x` → `x`, `self.x` → `x`, `a.b.x` → `x`.
pub fn last_segment(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Name(name) => Some(name.id.as_str()),
        Expr::Attribute(attr) => Some(attr.attr.as_str()),
        _ => None,
    }
}

/// The name an attribute or subscript chain starts from: `self` in `self.a.b[k]`.
pub fn root_name(expr: &Expr) -> Option<&str> {
    let mut current = expr;
    loop {
        match current {
            Expr::Name(name) => return Some(name.id.as_str()),
            Expr::Attribute(attr) => current = &attr.value,
            Expr::Subscript(subscript) => current = &subscript.value,
            _ => return None,
        }
    }
}

/// `__name__ == "__main__"` (either way round).
pub fn is_main_guard(test: &Expr) -> bool {
    let Expr::Compare(compare) = test else {
        return false;
    };
    let [right] = &*compare.comparators else {
        return false;
    };
    let is_name = |e: &Expr| matches!(e, Expr::Name(n) if n.id.as_str() == "__name__");
    let is_main = |e: &Expr| matches!(e, Expr::StringLiteral(s) if s.value.to_str() == "__main__");
    compare.ops.len() == 1
        && compare.ops[0] == ast::CmpOp::Eq
        && ((is_name(&compare.left) && is_main(right))
            || (is_main(&compare.left) && is_name(right)))
}

/// True if `expr` is the bare name `name`.
pub fn is_name(expr: &Expr, name: &str) -> bool {
    name_of(expr) == Some(name)
}

/// The first parameter of a function (`self` for methods), positional-only ones included.
pub fn first_parameter(def: &ast::StmtFunctionDef) -> Option<&str> {
    def.parameters
        .posonlyargs
        .iter()
        .chain(&def.parameters.args)
        .next()
        .map(|p| p.parameter.name.as_str())
}

/// Iterates over a body's statements, skipping a leading docstring.
pub fn body_without_docstring(body: &[Stmt]) -> &[Stmt] {
    ruff_python_ast::helpers::body_without_leading_docstring(body)
}

/// Calls `f` on every statement of `body` and every statement nested in them, not entering
/// nested functions and classes.
pub fn walk_statements<'a>(body: &'a [Stmt], f: &mut dyn FnMut(&'a Stmt)) {
    struct Walker<'f, 'a>(&'f mut dyn FnMut(&'a Stmt));
    impl<'a> ruff_python_ast::statement_visitor::StatementVisitor<'a> for Walker<'_, 'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            (self.0)(stmt);
            if !matches!(stmt, Stmt::FunctionDef(_) | Stmt::ClassDef(_)) {
                deep(|| ruff_python_ast::statement_visitor::walk_stmt(self, stmt));
            }
        }
    }
    ruff_python_ast::statement_visitor::StatementVisitor::visit_body(&mut Walker(f), body);
}

/// Whether the file is test code, which captures frames, exceptions and records on purpose:
/// a test module by name, or (when the caller gave no module name, as for files checked on
/// their own) a file that defines test functions or test methods (`def test_...` at module
/// level or in a class).
pub fn is_test_code(checker: &crate::checker::Checker) -> bool {
    if is_test_module(checker.module) {
        return true;
    }
    let is_test = |stmt: &Stmt| matches!(stmt, Stmt::FunctionDef(def) if def.name.as_str().starts_with("test_"));
    checker.suite.iter().any(|stmt| {
        is_test(stmt) || matches!(stmt, Stmt::ClassDef(class) if class.body.iter().any(is_test))
    })
}

/// Whether the module is a test module.
pub fn is_test_module(module: &str) -> bool {
    module.split('.').any(|segment| {
        segment.starts_with("test_")
            || segment.ends_with("_test")
            || segment.ends_with("_tests")
            || matches!(segment, "test" | "tests" | "testing" | "conftest")
    })
}

/// How a function defined in a class body is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodKind {
    Instance,
    Class,
    Static,
}

/// Static and class methods by their decorators (any spelling of the builtins); everything
/// else defined in a class body is an instance method.
pub fn method_kind(checker: &crate::checker::Checker, def: &ast::StmtFunctionDef) -> MethodKind {
    // Implicit class methods.
    if matches!(
        def.name.as_str(),
        "__new__" | "__init_subclass__" | "__class_getitem__"
    ) {
        return if def.name.as_str() == "__new__" {
            MethodKind::Static
        } else {
            MethodKind::Class
        };
    }
    for decorator in &def.decorator_list {
        let callee = ruff_python_ast::helpers::map_callable(&decorator.expression);
        match checker.semantic.qualified_name(callee).as_deref() {
            Some("builtins.staticmethod") => return MethodKind::Static,
            Some("builtins.classmethod") => return MethodKind::Class,
            _ => {}
        }
    }
    MethodKind::Instance
}

/// A new mutable container that an expression creates each time it is evaluated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NewContainer<'a> {
    List,
    Set,
    Dict,
    OrderedDict,
    /// `defaultdict(factory)`, with its factory when given.
    DefaultDict {
        factory: Option<&'a Expr>,
    },
    Counter,
    /// A `deque` without `maxlen` (a bounded deque drops old items: it cannot grow for ever).
    Deque,
    ByteArray,
}

/// Displays, comprehensions and the constructors of the standard containers, however they
/// are imported: `[]`, `{}`, `{x for x in y}`, `list()`, `dict.fromkeys(...)`,
/// `collections.defaultdict(list)`, `deque()` (not `deque(maxlen=n)`), ...
pub fn new_container<'a>(
    checker: &crate::checker::Checker,
    expr: &'a Expr,
) -> Option<NewContainer<'a>> {
    match expr {
        Expr::List(_) | Expr::ListComp(_) => Some(NewContainer::List),
        Expr::Set(_) | Expr::SetComp(_) => Some(NewContainer::Set),
        Expr::Dict(_) | Expr::DictComp(_) => Some(NewContainer::Dict),
        Expr::Call(call) => {
            let qualified = checker.semantic.qualified_name(&call.func)?;
            match qualified.as_str() {
                "builtins.list" => Some(NewContainer::List),
                "builtins.set" => Some(NewContainer::Set),
                "builtins.dict" | "builtins.dict.fromkeys" => Some(NewContainer::Dict),
                "builtins.bytearray" => Some(NewContainer::ByteArray),
                "collections.OrderedDict"
                | "collections.OrderedDict.fromkeys"
                | "typing.OrderedDict" => Some(NewContainer::OrderedDict),
                "collections.defaultdict" | "typing.DefaultDict" => {
                    Some(NewContainer::DefaultDict {
                        factory: call.arguments.find_argument_value("default_factory", 0),
                    })
                }
                "collections.Counter" | "typing.Counter" => Some(NewContainer::Counter),
                "collections.deque" | "typing.Deque" => {
                    match call.arguments.find_argument_value("maxlen", 1) {
                        None | Some(Expr::NoneLiteral(_)) => Some(NewContainer::Deque),
                        Some(_) => None,
                    }
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// True if a module-level statement creates an instance of `class` (`manager = Manager()`,
/// `Logger.manager = Manager(root)`, a bare `Registry()`): it is created once, at import, so
/// whatever it keeps is bounded by that one instance.
pub fn instantiated_at_module_level(
    checker: &crate::checker::Checker,
    class: &ast::StmtClassDef,
) -> bool {
    checker.suite.iter().any(|stmt| {
        let value = match stmt {
            Stmt::Assign(assign) => &*assign.value,
            Stmt::AnnAssign(ast::StmtAnnAssign {
                value: Some(value), ..
            }) => &**value,
            Stmt::Expr(expr) => &*expr.value,
            _ => return false,
        };
        matches!(value, Expr::Call(call) if name_of(&call.func) == Some(class.name.as_str()))
    })
}

/// Whether the module imports `module` or a submodule of it (at any depth, any spelling).
pub fn imports_module(suite: &[Stmt], module: &str) -> bool {
    struct Find<'m> {
        module: &'m str,
        found: bool,
    }
    impl<'a> ruff_python_ast::statement_visitor::StatementVisitor<'a> for Find<'_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            let matches = |name: &str| {
                name == self.module
                    || name
                        .strip_prefix(self.module)
                        .is_some_and(|rest| rest.starts_with('.'))
            };
            match stmt {
                Stmt::Import(import) => {
                    if import
                        .names
                        .iter()
                        .any(|alias| matches(alias.name.as_str()))
                    {
                        self.found = true;
                    }
                }
                Stmt::ImportFrom(import) => {
                    if import.level == 0
                        && import.module.as_ref().is_some_and(|m| matches(m.as_str()))
                    {
                        self.found = true;
                    }
                }
                _ => deep(|| ruff_python_ast::statement_visitor::walk_stmt(self, stmt)),
            }
        }
    }
    let mut find = Find {
        module,
        found: false,
    };
    ruff_python_ast::statement_visitor::StatementVisitor::visit_body(&mut find, suite);
    find.found
}

/// Classes whose instances live as long as the program anyway: enums and metaclasses.
pub fn is_long_lived_class(checker: &crate::checker::Checker, class: &ast::StmtClassDef) -> bool {
    class.bases().iter().any(|base| {
        checker.semantic.resolves_to(
            base,
            &[
                "builtins.type",
                "abc.ABCMeta",
                "enum.EnumMeta",
                "enum.EnumType",
                "enum.Enum",
                "enum.IntEnum",
                "enum.StrEnum",
                "enum.Flag",
                "enum.IntFlag",
                "enum.ReprEnum",
            ],
        ) || is_name(base, "type")
    })
}

// ---- token shapes --------------------------------------------------------------------------
// Pre-checks that read how a name is written (`C.append(`, `C[k] =`) before any walk.

/// The `(`s opened right before a name (`(C).append(x)`), and the kind of the first other
/// non-trivia token before them (`None` at the start of the file).
pub fn parens_before(before: &[Token]) -> (usize, Option<TokenKind>) {
    let mut open = 0usize;
    for token in before.iter().rev() {
        match token.kind() {
            TokenKind::Lpar => open += 1,
            kind if kind.is_trivia() => {}
            kind => return (open, Some(kind)),
        }
    }
    (open, None)
}

/// Skips trivia and up to `open` closing parentheses.
pub fn skip_closing(rest: &mut &[Token], open: &mut usize) {
    while let Some(token) = rest.first() {
        match token.kind() {
            TokenKind::Rpar if *open > 0 => *open -= 1,
            kind if kind.is_trivia() => {}
            _ => return,
        }
        *rest = &rest[1..];
    }
}

/// After a `.`: the attribute's name (`None` when it is not a plain name), skipping it.
pub fn name_after_dot<'a>(source: &'a str, rest: &mut &[Token]) -> Option<&'a str> {
    while rest.first().is_some_and(|token| token.kind().is_trivia()) {
        *rest = &rest[1..];
    }
    let token = rest.first()?;
    if token.kind() != TokenKind::Name {
        return None;
    }
    *rest = &rest[1..];
    Some(&source[ruff_text_size::Ranged::range(token)])
}

/// Skips trivia, then the bracketed group starting with `open` (`false` if there is none or it
/// does not close).
pub fn skip_balanced(rest: &mut &[Token], open: TokenKind, close: TokenKind) -> bool {
    while rest.first().is_some_and(|token| token.kind().is_trivia()) {
        *rest = &rest[1..];
    }
    if rest.first().map(Token::kind) != Some(open) {
        return false;
    }
    let mut depth = 0usize;
    for (i, token) in rest.iter().enumerate() {
        if token.kind() == open {
            depth += 1;
        } else if token.kind() == close {
            depth -= 1;
            if depth == 0 {
                *rest = &rest[i + 1..];
                return true;
            }
        }
    }
    false
}

// ---- word positions ------------------------------------------------------------------------
// Pre-checks that skip the parts of a walk whose text cannot hold a name (a statement or an
// expression contains the text of everything inside it).

/// A fixed set of words to look for in text, declared as a `static` (`static W: Words =
/// Words::new(&[...])`): a packed (SIMD) search built on first use, or a plain one where that
/// is unavailable.
pub struct Words {
    words: &'static [&'static str],
    packed: std::sync::OnceLock<Option<aho_corasick::packed::Searcher>>,
}

impl Words {
    pub const fn new(words: &'static [&'static str]) -> Self {
        Self {
            words,
            packed: std::sync::OnceLock::new(),
        }
    }

    fn packed(&self) -> Option<&aho_corasick::packed::Searcher> {
        self.packed
            .get_or_init(|| aho_corasick::packed::Searcher::new(self.words))
            .as_ref()
    }

    /// Whether `text` spells one of the words.
    pub fn in_text(&self, text: &str) -> bool {
        match self.packed() {
            Some(searcher) => searcher.find(text).is_some(),
            None => self.words.iter().any(|word| text.contains(word)),
        }
    }

    /// Where `source` spells one of the words (every start, overlapping ones included), in
    /// order.
    pub fn positions(&self, source: &str) -> Vec<ruff_text_size::TextSize> {
        let mut out = Vec::new();
        match self.packed() {
            Some(searcher) => {
                let mut at = 0;
                while at < source.len()
                    && let Some(found) =
                        searcher.find_in(source, aho_corasick::Span::from(at..source.len()))
                {
                    out.push(ruff_text_size::TextSize::new(found.start() as u32));
                    at = found.start() + 1;
                }
            }
            None => {
                for (pos, _) in source.char_indices() {
                    if self
                        .words
                        .iter()
                        .any(|word| source[pos..].starts_with(word))
                    {
                        out.push(ruff_text_size::TextSize::new(pos as u32));
                    }
                }
            }
        }
        out
    }
}

/// Whether one of `positions` (sorted) lies in `range`.
pub fn any_within(
    positions: &[ruff_text_size::TextSize],
    range: ruff_text_size::TextRange,
) -> bool {
    let i = positions.partition_point(|&pos| pos < range.start());
    positions.get(i).is_some_and(|&pos| pos < range.end())
}

/// The index of the token that spells the text starting at `at` (skipping the empty tokens, a
/// `Dedent`, that start there too), if one starts there.
pub fn token_at(tokens: &[Token], at: ruff_text_size::TextSize) -> Option<usize> {
    use ruff_text_size::Ranged;
    let mut i = tokens.partition_point(|token| token.start() < at);
    while let Some(token) = tokens.get(i) {
        if token.start() != at {
            return None;
        }
        if !token.range().is_empty() {
            return Some(i);
        }
        i += 1;
    }
    None
}
