//! The context every rule runs in: the source, its syntax tree and tokens, what names are bound
//! to at module level, and helpers to build edits that fit the surrounding code.

use ruff_python_ast::token::{TokenKind, Tokens};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_source_file::{LineIndex, OneIndexed};
use ruff_text_size::{Ranged, TextLen, TextRange, TextSize};
use rustc_hash::FxHashMap;

use crate::diagnostic::{Diagnostic, Edit};
use crate::registry::Rule;
use crate::settings::Settings;
use crate::workspace::{Pending, WorkspaceFacts};

pub struct Checker<'a> {
    pub source: &'a str,
    pub suite: &'a [Stmt],
    pub tokens: &'a Tokens,
    pub line_index: &'a Lines<'a>,
    pub semantic: Semantic<'a>,
    pub settings: &'a Settings,
    /// The file's dotted module name (`pkg.mod`), or `__main__` when the caller gave none.
    pub module: &'a str,
    /// Facts from the other modules of the workspace (and this one); findings that depend on
    /// them are reported with [`Checker::report_if_workspace`].
    workspace_facts: &'a WorkspaceFacts,
    /// Findings that depend on the workspace's facts, kept to be decided later (when the
    /// workspace is not known yet), or `None` to decide them with `workspace_facts` at once.
    pending: Option<Vec<Pending>>,
    diagnostics: Vec<Diagnostic>,
    /// Start offsets of the lines that begin inside a multi-line string, sorted; computed
    /// when a fix first needs it.
    lines_in_strings: std::cell::OnceCell<Vec<TextSize>>,
    indent_unit: String,
}

impl<'a> Checker<'a> {
    pub fn new(
        source: &'a str,
        suite: &'a [Stmt],
        tokens: &'a Tokens,
        line_index: &'a Lines<'a>,
        settings: &'a Settings,
    ) -> Self {
        Self::with_semantic(
            source,
            suite,
            tokens,
            line_index,
            settings,
            Semantic::new(suite),
        )
    }

    /// [`Checker::new`] with the module's `Semantic` built already.
    pub fn with_semantic(
        source: &'a str,
        suite: &'a [Stmt],
        tokens: &'a Tokens,
        line_index: &'a Lines<'a>,
        settings: &'a Settings,
        semantic: Semantic<'a>,
    ) -> Self {
        let indent_unit = tokens
            .iter()
            .find(|token| token.kind() == TokenKind::Indent && !token.range().is_empty())
            .map(|token| source[token.range()].to_owned());
        Self {
            source,
            suite,
            tokens,
            line_index,
            semantic,
            settings,
            module: "__main__",
            workspace_facts: WorkspaceFacts::empty(),
            pending: None,
            diagnostics: Vec::new(),
            lines_in_strings: std::cell::OnceCell::new(),
            indent_unit: indent_unit.unwrap_or_else(|| "    ".to_owned()),
        }
    }

    /// Places the file in a workspace: its module name and the workspace's facts.
    pub fn in_workspace(mut self, module: &'a str, workspace: &'a WorkspaceFacts) -> Self {
        self.module = module;
        self.workspace_facts = workspace;
        self
    }

    /// Keeps the findings that depend on the workspace's facts pending (see [`Pending`]), for a
    /// checker that does not know the other modules' facts yet.
    pub fn deferring_workspace(mut self) -> Self {
        self.pending = Some(Vec::new());
        self
    }

    /// Reports `diagnostic` if `condition` holds for the workspace's facts: at once if they are
    /// known, or later (see [`Checker::deferring_workspace`]). Rules read other modules' facts
    /// only through this, and only as the last test of a finding.
    pub fn report_if_workspace(
        &mut self,
        diagnostic: Diagnostic,
        condition: impl Fn(&WorkspaceFacts) -> bool + Send + Sync + 'static,
    ) {
        if diagnostic.rule().is_some_and(|rule| !self.enabled(rule)) {
            return;
        }
        match &mut self.pending {
            Some(pending) => pending.push(Pending::new(diagnostic, Box::new(condition))),
            None => {
                if condition(self.workspace_facts) {
                    self.report(diagnostic);
                }
            }
        }
    }

    /// The findings kept pending (taken out).
    pub fn take_pending(&mut self) -> Vec<Pending> {
        self.pending.take().unwrap_or_default()
    }

    /// Calls `f` on every class definition of the file, at any depth, outermost first (from the
    /// index `Semantic` built: the module is not walked again).
    pub fn walk_classes(&self, f: &mut dyn FnMut(&'a ast::StmtClassDef)) {
        for &class in self.semantic.classes() {
            f(class);
        }
    }

    /// Calls `f` on every function definition of the file (methods and nested functions
    /// included), at any depth, outermost first (from the index `Semantic` built).
    pub fn walk_functions(&self, f: &mut dyn FnMut(&'a ast::StmtFunctionDef)) {
        for &def in self.semantic.functions() {
            f(def);
        }
    }

    pub fn enabled(&self, rule: Rule) -> bool {
        self.settings.rules.contains(rule)
    }

    pub fn report(&mut self, diagnostic: Diagnostic) {
        if diagnostic.rule().is_none_or(|rule| self.enabled(rule)) {
            self.diagnostics.push(diagnostic);
        }
    }

    pub fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }

    // ---- text helpers ----------------------------------------------------------------------

    pub fn slice<T: Ranged>(&self, ranged: T) -> &'a str {
        &self.source[ranged.range()]
    }

    /// Offset of the start of the line containing `offset`.
    pub fn line_start(&self, offset: TextSize) -> TextSize {
        let before = &self.source[..offset.to_usize()];
        match before.rfind(['\n', '\r']) {
            Some(pos) => TextSize::try_from(pos + 1).unwrap_or_default(),
            None => TextSize::default(),
        }
    }

    /// Offset of the end of the line containing `offset`, before its line break.
    pub fn line_end(&self, offset: TextSize) -> TextSize {
        let after = &self.source[offset.to_usize()..];
        match after.find(['\n', '\r']) {
            Some(pos) => offset + TextSize::try_from(pos).unwrap_or_default(),
            None => self.source.text_len(),
        }
    }

    /// Offset just after the line break that ends the line containing `offset`.
    pub fn full_line_end(&self, offset: TextSize) -> TextSize {
        let end = self.line_end(offset);
        let rest = &self.source[end.to_usize()..];
        if rest.starts_with("\r\n") {
            end + TextSize::new(2)
        } else if rest.starts_with(['\n', '\r']) {
            end + TextSize::new(1)
        } else {
            end
        }
    }

    /// The line break the file uses (for inserted lines).
    pub fn line_ending(&self) -> &'static str {
        match self.source.find(['\n', '\r']) {
            Some(pos) if self.source[pos..].starts_with("\r\n") => "\r\n",
            Some(pos) if self.source[pos..].starts_with('\r') => "\r",
            _ => "\n",
        }
    }

    /// The whitespace that starts the line containing `offset`.
    pub fn indentation(&self, offset: TextSize) -> &'a str {
        let start = self.line_start(offset);
        let line = &self.source[start.to_usize()..self.line_end(offset).to_usize()];
        let len = line.len() - line.trim_start_matches([' ', '\t', '\x0c']).len();
        &line[..len]
    }

    /// One level of indentation as the file writes it (four spaces if the file never indents).
    pub fn indent_unit(&self) -> &str {
        &self.indent_unit
    }

    /// True if `stmt` starts its line (it is not `a = 1; <stmt>`).
    pub fn starts_line(&self, stmt: &impl Ranged) -> bool {
        let start = self.line_start(stmt.start());
        self.source[start.to_usize()..stmt.start().to_usize()]
            .chars()
            .all(|c| matches!(c, ' ' | '\t' | '\x0c'))
    }

    /// True if something other than a comment follows `stmt` on its last line (`<stmt>; b = 2`).
    pub fn followed_on_line(&self, stmt: &impl Ranged) -> bool {
        let rest = &self.source[stmt.end().to_usize()..self.line_end(stmt.end()).to_usize()];
        let rest = rest.trim_start();
        !(rest.is_empty() || rest.starts_with('#'))
    }

    /// The full lines covering `range`, from the start of its first line to after the line
    /// break of its last line.
    pub fn full_lines(&self, range: TextRange) -> TextRange {
        TextRange::new(
            self.line_start(range.start()),
            self.full_line_end(range.end()),
        )
    }

    /// Copies the lines of `range` (which must be full lines) with `extra` added to each
    /// line's indentation, leaving lines inside multi-line strings untouched.
    pub fn indent_lines(&self, range: TextRange, extra: &str) -> String {
        let text = &self.source[range];
        let mut out = String::with_capacity(text.len() + extra.len() * 8);
        let mut offset = range.start();
        // Universal newlines: `\n`, `\r\n` and a lone `\r` all end a line.
        for line in split_lines_inclusive(text) {
            let blank = line.trim().is_empty();
            if !blank && self.lines_in_strings().binary_search(&offset).is_err() {
                out.push_str(extra);
            }
            out.push_str(line);
            offset += line.text_len();
        }
        out
    }

    fn lines_in_strings(&self) -> &[TextSize] {
        self.lines_in_strings.get_or_init(|| {
            let mut lines = Vec::new();
            for token in self.tokens.iter() {
                if !matches!(
                    token.kind(),
                    TokenKind::String | TokenKind::FStringMiddle | TokenKind::TStringMiddle
                ) {
                    continue;
                }
                let text = &self.source[token.range()];
                if !text.contains(['\n', '\r']) {
                    continue;
                }
                for (pos, ch) in text.char_indices() {
                    if ch == '\n' || (ch == '\r' && !text[pos + 1..].starts_with('\n')) {
                        let line_start =
                            token.start() + TextSize::try_from(pos + 1).unwrap_or_default();
                        if line_start < token.end() {
                            lines.push(line_start);
                        }
                    }
                }
            }
            lines.sort_unstable();
            lines.dedup();
            lines
        })
    }

    /// True if the line starting at `offset` begins inside a multi-line string.
    pub fn line_in_string(&self, line_start: TextSize) -> bool {
        self.lines_in_strings().binary_search(&line_start).is_ok()
    }

    /// An edit that makes `module` importable as written in a fix, and the text to refer to it:
    /// (`"weakref"`, insert `import weakref`) or (`"weakref"`, nothing) if already imported.
    /// With `member`, reuses `from module import member` when the file has it.
    pub fn import_edit(&self, module: &str, member: &str) -> (String, Option<Edit>) {
        if let Some(bound) = self.semantic.module_alias_for(module) {
            return (format!("{bound}.{member}"), None);
        }
        if let Some(bound) = self.semantic.member_alias_for(module, member) {
            return (bound.to_owned(), None);
        }
        let at = self.import_insertion_point();
        // If the module binds the name to something else, import under another name.
        let bound = if self.semantic.is_module_level(module) {
            format!("_{module}")
        } else {
            module.to_owned()
        };
        let statement = if bound == module {
            format!("import {module}")
        } else {
            format!("import {module} as {bound}")
        };
        let edit = Edit::insertion(format!("{statement}{}", self.line_ending()), at);
        (format!("{bound}.{member}"), Some(edit))
    }

    /// Where a new top-level `import` goes: after the leading block of imports (or after the
    /// docstring and `__future__` imports), at the start of a line.
    fn import_insertion_point(&self) -> TextSize {
        let mut after: Option<&Stmt> = None;
        for (index, stmt) in self.suite.iter().enumerate() {
            match stmt {
                Stmt::Expr(ast::StmtExpr { value, .. })
                    if index == 0 && value.is_string_literal_expr() =>
                {
                    after = Some(stmt);
                }
                Stmt::Import(_) | Stmt::ImportFrom(_) => after = Some(stmt),
                _ => break,
            }
        }
        match after {
            Some(stmt) => self.full_line_end(stmt.end()),
            None => {
                // Keep a shebang and coding cookie first.
                let mut offset = TextSize::default();
                for line in self.source.split_inclusive('\n') {
                    let trimmed = line.trim_start();
                    if trimmed.starts_with("#!")
                        || (trimmed.starts_with('#') && trimmed.contains("coding"))
                    {
                        offset += line.text_len();
                    } else {
                        break;
                    }
                }
                offset
            }
        }
    }

    /// Whether any comment lies within `range` (a fix that deletes it would lose it).
    pub fn has_comments(&self, range: TextRange) -> bool {
        self.tokens
            .in_range_clamped(range)
            .iter()
            .any(|token| token.kind() == TokenKind::Comment)
    }
}

trait TokensExt {
    fn in_range_clamped(&self, range: TextRange) -> &[ruff_python_ast::token::Token];
}

impl TokensExt for Tokens {
    fn in_range_clamped(&self, range: TextRange) -> &[ruff_python_ast::token::Token] {
        let start = self.partition_point(|token| token.start() < range.start());
        let end = self.partition_point(|token| token.end() <= range.end());
        if start <= end { &self[start..end] } else { &[] }
    }
}

/// A file's line index, built when first asked for: most files have no finding, and then
/// neither the rules nor the suppression comments need one.
pub struct Lines<'a> {
    source: &'a str,
    index: std::cell::OnceCell<LineIndex>,
}

impl<'a> Lines<'a> {
    pub fn new(source: &'a str) -> Self {
        Self {
            source,
            index: std::cell::OnceCell::new(),
        }
    }

    pub fn get(&self) -> &LineIndex {
        self.index
            .get_or_init(|| LineIndex::from_source_text(self.source))
    }

    /// The one-based line of `offset`.
    pub fn line_index(&self, offset: TextSize) -> OneIndexed {
        self.get().line_index(offset)
    }
}

/// What names are bound to at module level, and how imports spell qualified names.
pub struct Semantic<'a> {
    /// Local name → the qualified name it imports (`lc` → `functools.lru_cache`).
    imports: FxHashMap<&'a str, String>,
    /// Module-level statements that bind each name, in source order.
    module_bindings: FxHashMap<&'a str, Vec<&'a Stmt>>,
    /// Every class definition at any depth, outermost first (a class before the classes in its
    /// body), found by the same walk as the nested imports: rules that look at classes or
    /// functions iterate these instead of walking the module each.
    classes: Vec<&'a ast::StmtClassDef>,
    /// Every function definition at any depth, outermost first.
    functions: Vec<&'a ast::StmtFunctionDef>,
}

impl<'a> Semantic<'a> {
    pub(crate) fn new(suite: &'a [Stmt]) -> Self {
        let mut semantic = Semantic {
            imports: FxHashMap::default(),
            module_bindings: FxHashMap::default(),
            classes: Vec::new(),
            functions: Vec::new(),
        };
        semantic.collect_module(suite);
        // Imports inside functions and classes count too, unless the module binds the name.
        let mut index = StatementIndex::default();
        ruff_python_ast::statement_visitor::StatementVisitor::visit_body(&mut index, suite);
        for stmt in index.imports {
            for (name, qualified) in import_bindings(stmt) {
                semantic.imports.entry(name).or_insert(qualified);
            }
        }
        semantic.classes = index.classes;
        semantic.functions = index.functions;
        semantic
    }

    fn collect_module(&mut self, body: &'a [Stmt]) {
        for stmt in body {
            match stmt {
                Stmt::Import(_) | Stmt::ImportFrom(_) => {
                    for (name, qualified) in import_bindings(stmt) {
                        self.imports.entry(name).or_insert(qualified);
                        self.module_bindings.entry(name).or_default().push(stmt);
                    }
                }
                Stmt::FunctionDef(def) => self.bind(def.name.as_str(), stmt),
                Stmt::ClassDef(def) => self.bind(def.name.as_str(), stmt),
                Stmt::Assign(assign) => {
                    for target in &assign.targets {
                        self.bind_target(target, stmt);
                    }
                }
                Stmt::AnnAssign(assign) => self.bind_target(&assign.target, stmt),
                Stmt::AugAssign(assign) => self.bind_target(&assign.target, stmt),
                Stmt::For(for_) => {
                    self.bind_target(&for_.target, stmt);
                    self.collect_module(&for_.body);
                    self.collect_module(&for_.orelse);
                }
                Stmt::While(while_) => {
                    self.collect_module(&while_.body);
                    self.collect_module(&while_.orelse);
                }
                Stmt::If(if_) => {
                    self.collect_module(&if_.body);
                    for clause in &if_.elif_else_clauses {
                        self.collect_module(&clause.body);
                    }
                }
                Stmt::With(with) => {
                    for item in &with.items {
                        if let Some(vars) = &item.optional_vars {
                            self.bind_target(vars, stmt);
                        }
                    }
                    self.collect_module(&with.body);
                }
                Stmt::Try(try_) => {
                    self.collect_module(&try_.body);
                    for handler in &try_.handlers {
                        let ast::ExceptHandler::ExceptHandler(handler) = handler;
                        self.collect_module(&handler.body);
                    }
                    self.collect_module(&try_.orelse);
                    self.collect_module(&try_.finalbody);
                }
                Stmt::Match(match_) => {
                    for case in &match_.cases {
                        self.collect_module(&case.body);
                    }
                }
                _ => {}
            }
        }
    }

    fn bind(&mut self, name: &'a str, stmt: &'a Stmt) {
        self.module_bindings.entry(name).or_default().push(stmt);
    }

    fn bind_target(&mut self, target: &'a Expr, stmt: &'a Stmt) {
        match target {
            Expr::Name(name) => self.bind(name.id.as_str(), stmt),
            Expr::Tuple(tuple) => tuple.iter().for_each(|elt| self.bind_target(elt, stmt)),
            Expr::List(list) => list.iter().for_each(|elt| self.bind_target(elt, stmt)),
            Expr::Starred(starred) => self.bind_target(&starred.value, stmt),
            _ => {}
        }
    }

    /// Every class definition of the module at any depth, outermost first.
    pub fn classes(&self) -> &[&'a ast::StmtClassDef] {
        &self.classes
    }

    /// Every function definition of the module at any depth, outermost first.
    pub fn functions(&self) -> &[&'a ast::StmtFunctionDef] {
        &self.functions
    }

    /// The module-level statements that bind `name`.
    pub fn module_bindings(&self, name: &str) -> &[&'a Stmt] {
        self.module_bindings.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn is_module_level(&self, name: &str) -> bool {
        self.module_bindings.contains_key(name)
    }

    /// Whether the file imports `module` or something from it (at any depth): without that, no
    /// expression resolves to a name in it.
    pub fn imports_from(&self, module: &str) -> bool {
        self.imports.values().any(|qualified| {
            qualified
                .strip_prefix(module)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        })
    }

    /// The dotted, fully qualified name an expression refers to through the file's imports:
    /// `lc` → `functools.lru_cache`, `ft.cache` → `functools.cache`, `open` → `builtins.open`.
    pub fn qualified_name(&self, expr: &Expr) -> Option<String> {
        let mut segments = Vec::new();
        let mut current = expr;
        loop {
            match current {
                Expr::Attribute(attr) => {
                    segments.push(attr.attr.as_str());
                    current = &attr.value;
                }
                Expr::Name(name) => {
                    let root = name.id.as_str();
                    let mut out = if let Some(imported) = self.imports.get(root) {
                        imported.clone()
                    } else if !self.module_bindings.contains_key(root) && is_builtin(root) {
                        format!("builtins.{root}")
                    } else {
                        return None;
                    };
                    for segment in segments.iter().rev() {
                        out.push('.');
                        out.push_str(segment);
                    }
                    return Some(out);
                }
                _ => return None,
            }
        }
    }

    /// True if `expr` refers to one of `names` (fully qualified, e.g. `functools.cache`).
    ///
    /// Rules ask this of nearly every call, so it compares piece by piece instead of building
    /// the qualified name ([`Semantic::qualified_name`] gives the same answer, allocating).
    pub fn resolves_to(&self, expr: &Expr, names: &[&str]) -> bool {
        // The attribute names after the root, innermost last (`a.b.c` → `c`, `b`).
        const MAX_SEGMENTS: usize = 16;
        let mut segments = [""; MAX_SEGMENTS];
        let mut count = 0;
        let mut current = expr;
        let root = loop {
            match current {
                Expr::Attribute(attr) => {
                    if count == MAX_SEGMENTS {
                        return self
                            .qualified_name(expr)
                            .is_some_and(|qualified| names.contains(&qualified.as_str()));
                    }
                    segments[count] = attr.attr.as_str();
                    count += 1;
                    current = &attr.value;
                }
                Expr::Name(name) => break name.id.as_str(),
                _ => return false,
            }
        };
        // Most calls are to none of the names: their last attribute tells, without a lookup.
        if count > 0
            && !names.iter().any(|name| {
                name.len() > segments[0].len()
                    && name.ends_with(segments[0])
                    && name.as_bytes()[name.len() - segments[0].len() - 1] == b'.'
            })
        {
            return false;
        }
        let head: [&str; 2] = if let Some(imported) = self.imports.get(root) {
            [imported.as_str(), ""]
        } else if !self.module_bindings.contains_key(root) && is_builtin(root) {
            ["builtins", root]
        } else {
            return false;
        };
        let pieces = head
            .into_iter()
            .filter(|piece| !piece.is_empty())
            .chain(segments[..count].iter().rev().copied());
        names.iter().any(|name| {
            let mut rest = *name;
            for (i, piece) in pieces.clone().enumerate() {
                if i > 0 {
                    match rest.strip_prefix('.') {
                        Some(after) => rest = after,
                        None => return false,
                    }
                }
                match rest.strip_prefix(piece) {
                    Some(after) => rest = after,
                    None => return false,
                }
            }
            rest.is_empty()
        })
    }

    /// The name under which `module` is imported whole (`import weakref` / `import weakref as wr`).
    fn module_alias_for(&self, module: &str) -> Option<&'a str> {
        self.imports
            .iter()
            .filter(|(name, qualified)| qualified.as_str() == module && self.is_module_level(name))
            .map(|(name, _)| *name)
            // Prefer the plain module name over an alias.
            .min_by_key(|name| (*name != module, *name))
    }

    /// The name under which `module.member` is imported (`from weakref import WeakSet`).
    fn member_alias_for(&self, module: &str, member: &str) -> Option<&'a str> {
        let wanted = format!("{module}.{member}");
        self.imports
            .iter()
            .filter(|(name, qualified)| **qualified == wanted && self.is_module_level(name))
            .map(|(name, _)| *name)
            .min()
    }
}

/// One walk over every statement: the imports, classes and functions at any depth, in order.
#[derive(Default)]
struct StatementIndex<'a> {
    imports: Vec<&'a Stmt>,
    classes: Vec<&'a ast::StmtClassDef>,
    functions: Vec<&'a ast::StmtFunctionDef>,
}

impl<'a> ruff_python_ast::statement_visitor::StatementVisitor<'a> for StatementIndex<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Import(_) | Stmt::ImportFrom(_) => {
                self.imports.push(stmt);
                return;
            }
            Stmt::ClassDef(class) => self.classes.push(class),
            Stmt::FunctionDef(def) => self.functions.push(def),
            _ => {}
        }
        crate::helpers::deep(|| ruff_python_ast::statement_visitor::walk_stmt(self, stmt));
    }
}

/// The names an import statement binds and the qualified names they stand for.
fn import_bindings(stmt: &Stmt) -> Vec<(&str, String)> {
    match stmt {
        Stmt::Import(import) => import
            .names
            .iter()
            .map(|alias| match &alias.asname {
                Some(asname) => (asname.as_str(), alias.name.to_string()),
                // `import os.path` binds `os`.
                None => {
                    let root = alias.name.as_str().split('.').next().unwrap_or_default();
                    (root, root.to_owned())
                }
            })
            .collect(),
        Stmt::ImportFrom(import) => {
            let module = import.module.as_ref().map_or("", |m| m.as_str());
            let prefix = ".".repeat(import.level as usize);
            import
                .names
                .iter()
                .filter(|alias| alias.name.as_str() != "*")
                .map(|alias| {
                    let bound = alias.asname.as_ref().unwrap_or(&alias.name).as_str();
                    let qualified = if module.is_empty() {
                        format!("{prefix}{}", alias.name)
                    } else {
                        format!("{prefix}{module}.{}", alias.name)
                    };
                    (bound, qualified)
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Builtins that rules care about; a name is only a builtin if the module does not rebind it.
fn is_builtin(name: &str) -> bool {
    matches!(
        name,
        "open"
            | "print"
            | "len"
            | "list"
            | "dict"
            | "set"
            | "tuple"
            | "frozenset"
            | "bytearray"
            | "staticmethod"
            | "classmethod"
            | "property"
            | "super"
            | "type"
            | "object"
            | "isinstance"
            | "iter"
            | "next"
            | "repr"
            | "str"
            | "id"
            | "hash"
            | "getattr"
            | "setattr"
            | "hasattr"
            | "delattr"
            | "vars"
            | "callable"
            | "sorted"
            | "reversed"
            | "enumerate"
            | "zip"
            | "map"
            | "filter"
            | "min"
            | "max"
            | "sum"
            | "any"
            | "all"
            | "Exception"
            | "BaseException"
            | "int"
            | "float"
            | "complex"
            | "bool"
            | "bytes"
            | "memoryview"
            | "range"
            | "slice"
            | "NotImplementedError"
    )
}

/// Splits after each `\n`, `\r\n` or lone `\r`, keeping the line breaks.
fn split_lines_inclusive(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let mut end = start;
        while end < bytes.len() {
            match bytes[end] {
                b'\n' => {
                    end += 1;
                    break;
                }
                b'\r' => {
                    end += if bytes.get(end + 1) == Some(&b'\n') {
                        2
                    } else {
                        1
                    };
                    break;
                }
                _ => end += 1,
            }
        }
        let line = &text[start..end];
        start = end;
        Some(line)
    })
}

impl Semantic<'_> {
    /// Whether an import binds a name other than the last segment of what it imports
    /// (`from subprocess import Popen as P`), for an imported last segment that satisfies
    /// `matches`. Without one, a bare name that resolves to `module.member` is `member`.
    pub fn imports_renamed(&self, matches: impl Fn(&str) -> bool) -> bool {
        self.imports.iter().any(|(name, qualified)| {
            let last = qualified.rsplit('.').next().unwrap_or(qualified);
            *name != last && matches(last)
        })
    }
}

impl<'a> Semantic<'a> {
    /// The local names that imports bind (at module level or nested, as
    /// [`Semantic::qualified_name`] resolves them), each with the qualified name it stands for.
    /// A name that resolves to `m.f` (not a builtin) starts with one of these whose qualified
    /// name is `m.f` or a prefix of it by whole segments.
    pub fn imported_names(&self) -> impl Iterator<Item = (&'a str, &str)> + '_ {
        self.imports
            .iter()
            .map(|(local, qualified)| (*local, qualified.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruff_python_parser::{Mode, ParseOptions, parse_unchecked};

    fn with_checker(source: &str, f: impl FnOnce(&Checker)) {
        let parsed = parse_unchecked(source, ParseOptions::from(Mode::Module));
        let tokens = parsed.tokens().clone();
        let module = parsed.try_into_module().unwrap();
        let index = Lines::new(source);
        let settings = Settings::default();
        let checker = Checker::new(source, module.suite(), &tokens, &index, &settings);
        f(&checker);
    }

    #[test]
    fn import_edit_reuses_or_adds_imports() {
        with_checker(
            "\"\"\"Doc.\"\"\"\nimport os\nimport weakref as wr\nx = 1\n",
            |checker| {
                assert_eq!(
                    checker.import_edit("weakref", "WeakSet"),
                    ("wr.WeakSet".to_owned(), None)
                );
                let (name, edit) = checker.import_edit("traceback", "format_exc");
                assert_eq!(name, "traceback.format_exc");
                let edit = edit.unwrap();
                assert_eq!(edit.content, "import traceback\n");
                assert_eq!(
                    edit.range.start(),
                    TextSize::new(42),
                    "after the last leading import"
                );
            },
        );
        with_checker("from weakref import WeakSet\n", |checker| {
            assert_eq!(
                checker.import_edit("weakref", "WeakSet"),
                ("WeakSet".to_owned(), None)
            );
        });
        with_checker(
            "#!/usr/bin/env python\n# -*- coding: utf-8 -*-\nweakref = None\n",
            |checker| {
                let (name, edit) = checker.import_edit("weakref", "ref");
                assert_eq!(name, "_weakref.ref");
                let edit = edit.unwrap();
                assert_eq!(edit.content, "import weakref as _weakref\n");
                assert_eq!(
                    edit.range.start(),
                    TextSize::new(46),
                    "after the shebang and the cookie"
                );
            },
        );
    }

    #[test]
    fn resolves_to_agrees_with_qualified_name() {
        let source = "import os.path\nimport weakref as wr\nfrom functools import lru_cache as lc\nfrom . import sibling\nlist = 3\nos.path.join, wr.ref, lc, open, list, sibling.x, unknown.y, wr.ref.x.y, f().a, os\n";
        with_checker(source, |checker| {
            let Stmt::Expr(last) = checker.suite.last().unwrap() else {
                panic!()
            };
            let Expr::Tuple(exprs) = &*last.value else {
                panic!()
            };
            let names = [
                "os.path.join",
                "os.path",
                "os",
                "weakref.ref",
                "weakref",
                "wr.ref",
                "functools.lru_cache",
                "builtins.open",
                "builtins.list",
                ".sibling.x",
                "unknown.y",
                "weakref.ref.x.y",
                "weakref.ref.x",
                "",
            ];
            for expr in exprs.iter() {
                let qualified = checker.semantic.qualified_name(expr);
                for name in names {
                    assert_eq!(
                        checker.semantic.resolves_to(expr, &[name]),
                        qualified.as_deref() == Some(name),
                        "{} against {name}",
                        checker.slice(expr)
                    );
                }
            }
        });
    }

    #[test]
    fn indent_lines_handles_every_line_break_and_leaves_strings_alone() {
        let source = "def f():\r    a = 1\r    b = '''x\r  y'''\r";
        with_checker(source, |checker| {
            let start = TextSize::new(9);
            let out = checker.indent_lines(TextRange::new(start, source.text_len()), "    ");
            assert_eq!(out, "        a = 1\r        b = '''x\r  y'''\r");
        });
    }
}
