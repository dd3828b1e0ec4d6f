//! What the live session needs to know about the source: the expression under the cursor (the
//! object a hover asks about), the module-level names (inlay hints), and where a program or a
//! test starts (code lenses). Pure syntax, like the rest of the crate.

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_python_parser::{Mode, ParseOptions};
use ruff_text_size::{Ranged, TextRange, TextSize};

use crate::helpers::{deep, is_main_guard};

/// An expression made of a name, attributes, and literal subscripts: `cache`, `self.items`,
/// `cfg['db'][0].conn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPath {
    pub name: String,
    pub steps: Vec<PathStep>,
    /// The text the path was read from.
    pub range: TextRange,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Attribute(String),
    Index(i64),
    Key(KeyLiteral),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLiteral {
    Str(String),
    Int(i64),
    Bool(bool),
    None,
}

/// The object path under `offset`: the innermost name, attribute or subscript whose name part
/// holds the offset (hovering `items` in `self.items[0]` gives `self.items`; hovering `0` gives
/// `self.items[0]`). `None` for anything that is not such a path (a call, a literal, a keyword).
pub fn object_path_at(source: &str, offset: TextSize) -> Option<ObjectPath> {
    let parsed = ruff_python_parser::parse_unchecked(source, ParseOptions::from(Mode::Module));
    let ruff_python_ast::Mod::Module(module) = parsed.syntax() else {
        return None;
    };
    let mut finder = PathFinder { offset, best: None };
    finder.visit_body(&module.body);
    finder.best
}

struct PathFinder {
    offset: TextSize,
    best: Option<ObjectPath>,
}

impl PathFinder {
    fn consider(&mut self, expr: &Expr, hot: TextRange) {
        if !(hot.start() <= self.offset && self.offset <= hot.end()) {
            return;
        }
        if let Some(path) = object_path(expr) {
            let better = self
                .best
                .as_ref()
                .is_none_or(|best| path.range.len() <= best.range.len());
            if better {
                self.best = Some(path);
            }
        }
    }
}

impl<'a> Visitor<'a> for PathFinder {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        // `def name` / `class name`: the name is a global (or a local of the enclosing function).
        let defined = match stmt {
            Stmt::FunctionDef(def) => Some(&def.name),
            Stmt::ClassDef(class) => Some(&class.name),
            _ => None,
        };
        if let Some(identifier) = defined {
            let range = identifier.range();
            if range.start() <= self.offset && self.offset <= range.end() {
                self.best = Some(ObjectPath {
                    name: identifier.to_string(),
                    steps: Vec::new(),
                    range,
                });
            }
        }
        if stmt.range().start() <= self.offset && self.offset <= stmt.range().end() {
            deep(|| visitor::walk_stmt(self, stmt));
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if !(expr.start() <= self.offset && self.offset <= expr.end()) {
            return;
        }
        match expr {
            Expr::Name(name) => self.consider(expr, name.range),
            Expr::Attribute(attribute) => self.consider(expr, attribute.attr.range()),
            Expr::Subscript(subscript) => self.consider(expr, subscript.slice.range()),
            _ => {}
        }
        deep(|| visitor::walk_expr(self, expr));
    }

    fn visit_parameter(&mut self, parameter: &'a ast::Parameter) {
        let range = parameter.name.range();
        if range.start() <= self.offset && self.offset <= range.end() {
            self.best = Some(ObjectPath {
                name: parameter.name.to_string(),
                steps: Vec::new(),
                range,
            });
        }
        visitor::walk_parameter(self, parameter);
    }
}

/// `expr` as a path, if it is one.
fn object_path(expr: &Expr) -> Option<ObjectPath> {
    match expr {
        Expr::Name(name) => Some(ObjectPath {
            name: name.id.to_string(),
            steps: Vec::new(),
            range: name.range,
        }),
        Expr::Attribute(attribute) => {
            let mut path = object_path(&attribute.value)?;
            path.steps
                .push(PathStep::Attribute(attribute.attr.to_string()));
            path.range = TextRange::new(path.range.start(), attribute.end());
            Some(path)
        }
        Expr::Subscript(subscript) => {
            let mut path = object_path(&subscript.value)?;
            path.steps.push(literal_step(&subscript.slice)?);
            path.range = TextRange::new(path.range.start(), subscript.end());
            Some(path)
        }
        _ => None,
    }
}

fn literal_step(slice: &Expr) -> Option<PathStep> {
    match slice {
        Expr::NumberLiteral(number) => match &number.value {
            ast::Number::Int(int) => int.as_i64().map(PathStep::Index),
            _ => None,
        },
        Expr::UnaryOp(unary) if unary.op == ast::UnaryOp::USub => {
            match literal_step(&unary.operand)? {
                PathStep::Index(index) => Some(PathStep::Index(-index)),
                _ => None,
            }
        }
        Expr::StringLiteral(string) => {
            Some(PathStep::Key(KeyLiteral::Str(string.value.to_string())))
        }
        Expr::BooleanLiteral(boolean) => Some(PathStep::Key(KeyLiteral::Bool(boolean.value))),
        Expr::NoneLiteral(_) => Some(PathStep::Key(KeyLiteral::None)),
        _ => None,
    }
}

/// Names bound at module level by assignments, each with the range of its first binding.
pub fn module_level_names(source: &str) -> Vec<(String, TextRange)> {
    let parsed = ruff_python_parser::parse_unchecked(source, ParseOptions::from(Mode::Module));
    let ruff_python_ast::Mod::Module(module) = parsed.syntax() else {
        return Vec::new();
    };
    let mut names: Vec<(String, TextRange)> = Vec::new();
    let mut add = |name: &ast::ExprName| {
        if !names.iter().any(|(known, _)| known == name.id.as_str()) {
            names.push((name.id.to_string(), name.range));
        }
    };
    for stmt in &module.body {
        match stmt {
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    each_name(target, &mut add);
                }
            }
            Stmt::AnnAssign(assign) if assign.value.is_some() => {
                each_name(&assign.target, &mut add)
            }
            _ => {}
        }
    }
    names
}

fn each_name(target: &Expr, add: &mut impl FnMut(&ast::ExprName)) {
    match target {
        Expr::Name(name) => add(name),
        Expr::Tuple(tuple) => tuple.iter().for_each(|elt| each_name(elt, add)),
        Expr::List(list) => list.iter().for_each(|elt| each_name(elt, add)),
        Expr::Starred(starred) => each_name(&starred.value, add),
        _ => {}
    }
}

/// A place a live session can start from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunTarget {
    /// `if __name__ == "__main__":`: run the file as a script.
    Main { range: TextRange },
    /// A test function: `test_x` or `TestClass::test_x` (append to `path::`).
    Test { range: TextRange, node: String },
}

/// Where "Run live session" lenses go: the `__main__` guard, and test functions of test files
/// (`test_*.py` / `*_test.py`: module-level `test_*` functions and `test_*` methods of `Test*`
/// classes).
pub fn run_targets(source: &str, file_name: &str) -> Vec<RunTarget> {
    let parsed = ruff_python_parser::parse_unchecked(source, ParseOptions::from(Mode::Module));
    let ruff_python_ast::Mod::Module(module) = parsed.syntax() else {
        return Vec::new();
    };
    let is_test_file = file_name.ends_with(".py")
        && (file_name.starts_with("test_") || file_name.ends_with("_test.py"));
    let mut out = Vec::new();
    for stmt in &module.body {
        match stmt {
            Stmt::If(if_) if is_main_guard(&if_.test) => {
                out.push(RunTarget::Main { range: if_.range })
            }
            Stmt::FunctionDef(def) if is_test_file && def.name.as_str().starts_with("test") => {
                out.push(RunTarget::Test {
                    range: def.name.range(),
                    node: def.name.to_string(),
                });
            }
            Stmt::ClassDef(class) if is_test_file && class.name.as_str().starts_with("Test") => {
                for member in &class.body {
                    if let Stmt::FunctionDef(def) = member
                        && def.name.as_str().starts_with("test")
                    {
                        out.push(RunTarget::Test {
                            range: def.name.range(),
                            node: format!("{}::{}", class.name, def.name),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(source: &str, marker: &str) -> Option<ObjectPath> {
        let offset = source.find(marker).unwrap() + 1;
        object_path_at(source, TextSize::try_from(offset).unwrap())
    }

    #[test]
    fn paths_under_the_cursor() {
        let source = "x = self.items[0].name\ny = cfg['db'][-1]\nz = f(a)\n";
        let path = at(source, "items").unwrap();
        assert_eq!(path.name, "self");
        assert_eq!(path.steps, vec![PathStep::Attribute("items".into())]);
        let path = at(source, "[0]").unwrap();
        assert_eq!(path.steps.len(), 2);
        assert_eq!(path.steps[1], PathStep::Index(0));
        let path = at(source, "name").unwrap();
        assert_eq!(path.steps.len(), 3);
        let path = at(source, "'db'").unwrap();
        assert_eq!(
            path.steps,
            vec![PathStep::Key(KeyLiteral::Str("db".into()))]
        );
        let path = at(source, "[-1]").unwrap();
        assert_eq!(path.steps[1], PathStep::Index(-1));
        assert_eq!(at(source, "a)").unwrap().name, "a");
        assert_eq!(
            at(source, " f(").and_then(|p| p.steps.first().cloned()),
            None
        );
        assert_eq!(at(source, "x =").unwrap().name, "x");
    }

    #[test]
    fn definitions_and_parameters() {
        let source = "def train(model, data):\n    return model\n";
        assert_eq!(at(source, "train").unwrap().name, "train");
        assert_eq!(at(source, "(model").unwrap().name, "model");
    }

    #[test]
    fn module_names_and_targets() {
        let source = "a = 1\nb, c = 2, 3\na = 4\nx: int = 5\ny: int\n\nif __name__ == '__main__':\n    main()\n";
        let names: Vec<String> = module_level_names(source)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["a", "b", "c", "x"]);
        assert!(matches!(
            run_targets(source, "app.py").as_slice(),
            [RunTarget::Main { .. }]
        ));
        let tests = "def test_one():\n    pass\n\nclass TestShop:\n    def test_two(self):\n        pass\n    def helper(self):\n        pass\n";
        let targets = run_targets(tests, "test_shop.py");
        let nodes: Vec<&str> = targets
            .iter()
            .filter_map(|t| match t {
                RunTarget::Test { node, .. } => Some(node.as_str()),
                RunTarget::Main { .. } => None,
            })
            .collect();
        assert_eq!(nodes, ["test_one", "TestShop::test_two"]);
        assert!(run_targets(tests, "shop.py").is_empty());
    }
}
