//! Small AST helpers shared by rules.

use ruff_python_ast::{self as ast, Expr, Stmt};

/// Runs `f` with enough stack for one more level of a recursive walk; long expression chains
/// (`a+b+…`, `x.y.z…`) nest one level per operator.
#[inline]
pub fn deep<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(256 * 1024, 8 * 1024 * 1024, f)
}

/// The name a simple `Name` expression binds or reads.
pub fn name_of(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Name(name) => Some(name.id.as_str()),
        _ => None,
    }
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

/// Calls `f` on every class definition in `suite`, at any depth, outermost first.
pub fn walk_classes<'a>(suite: &'a [Stmt], f: &mut dyn FnMut(&'a ast::StmtClassDef)) {
    struct Walker<'f, 'a> {
        f: &'f mut dyn FnMut(&'a ast::StmtClassDef),
    }
    impl<'a> ruff_python_ast::statement_visitor::StatementVisitor<'a> for Walker<'_, 'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            if let Stmt::ClassDef(class) = stmt {
                (self.f)(class);
            }
            deep(|| ruff_python_ast::statement_visitor::walk_stmt(self, stmt));
        }
    }
    let mut walker = Walker { f };
    ruff_python_ast::statement_visitor::StatementVisitor::visit_body(&mut walker, suite);
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
