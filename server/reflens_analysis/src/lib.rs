//! reflens's analysis core: Python source text and settings in, diagnostics and fixes out.
//!
//! Nothing here does I/O or knows about the LSP; the CLI, the language server and the tests
//! are adapters around [`analyze`], [`analyze_bytes`] and [`fix::fix_all`].

pub mod checker;
pub mod diagnostic;
pub mod fix;
pub mod navigation;
pub mod registry;
pub mod rules;
pub mod settings;
pub mod source;
pub mod suppression;
pub mod workspace;

mod helpers;
pub mod triggers;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use ruff_python_ast::token::{TokenKind, Tokens};
use ruff_python_parser::{Mode, ParseOptions};
use ruff_text_size::Ranged;
use ruff_text_size::{TextRange, TextSize};

pub use crate::diagnostic::{Applicability, Diagnostic, DiagnosticKind, Edit, Fix, Related};
pub use crate::registry::{Rule, RuleSelector, RuleSet};
pub use crate::settings::Settings;
pub use crate::workspace::{ModuleFacts, Pending, WorkspaceFacts};

use crate::checker::Checker;
use crate::suppression::Suppressions;

/// The stack an analysis wants: threads that run analyses should be created with this much
/// (`std::thread::Builder::stack_size`, rayon's or tokio's `thread_stack_size`), so that no
/// per-file stack has to be mapped.
pub const ANALYSIS_STACK: usize = 64 * 1024 * 1024;

/// Files larger than this are not parsed (a generated data file, not code to review).
pub const MAX_SOURCE_BYTES: usize = 16 * 1024 * 1024;

/// CPython refuses more than 200 nested brackets and 100 indentation levels; deeper input is
/// not Python, so rules (whose walks recurse) do not run on it.
const MAX_BRACKET_DEPTH: usize = 200;
const MAX_INDENT_DEPTH: usize = 100;

/// Where a file sits: its module name and the facts of the workspace around it.
#[derive(Debug, Clone, Copy)]
pub struct FileContext<'a> {
    /// The dotted module name (`pkg.mod`; a package's `__init__.py` is `pkg` with `is_package`).
    pub module: &'a str,
    pub is_package: bool,
    /// The workspace's merged facts, this file's included. `None`: a file on its own, whose
    /// facts are extracted from it.
    pub workspace: Option<&'a WorkspaceFacts>,
}

impl FileContext<'static> {
    /// A file on its own, outside any workspace.
    pub const STANDALONE: FileContext<'static> = FileContext {
        module: "__main__",
        is_package: false,
        workspace: None,
    };
}

/// Analyses one file's text on its own and returns its diagnostics sorted by position.
pub fn analyze(source: &str, settings: &Settings) -> Vec<Diagnostic> {
    analyze_in(source, settings, &FileContext::STANDALONE)
}

/// Analyses one file's text in its workspace and returns its diagnostics sorted by position.
pub fn analyze_in(source: &str, settings: &Settings, context: &FileContext) -> Vec<Diagnostic> {
    match context.workspace {
        Some(workspace) => run(
            source,
            settings,
            context,
            &mut |_| Facts::Borrowed(workspace),
            None,
        ),
        // A file on its own is its own workspace.
        None => run(
            source,
            settings,
            context,
            &mut |own| Facts::Shared(Arc::new(WorkspaceFacts::from_modules([&own]))),
            None,
        ),
    }
}

/// Analyses a file whose facts may have just changed (an editor buffer): its facts are
/// extracted from the same parse and handed to `update`, which files them in the workspace
/// index and returns the merged facts the rules should see.
pub fn analyze_updating(
    source: &str,
    settings: &Settings,
    module: &str,
    is_package: bool,
    update: &mut dyn FnMut(ModuleFacts) -> Arc<WorkspaceFacts>,
) -> Vec<Diagnostic> {
    let context = FileContext {
        module,
        is_package,
        workspace: None,
    };
    run(
        source,
        settings,
        &context,
        &mut |own| Facts::Shared(update(own)),
        None,
    )
}

/// The workspace facts an analysis reads: given by the caller, or built for it.
enum Facts<'w> {
    Borrowed(&'w WorkspaceFacts),
    Shared(Arc<WorkspaceFacts>),
}

impl std::ops::Deref for Facts<'_> {
    type Target = WorkspaceFacts;
    fn deref(&self) -> &WorkspaceFacts {
        match self {
            Facts::Borrowed(facts) => facts,
            Facts::Shared(facts) => facts,
        }
    }
}

/// Analyses a file and returns its own facts too, from the same parse: the first pass of a
/// checker of many files. Findings that depend on other modules' facts are returned pending
/// ([`Collected::pending`]), to be decided once the checker knows every module's facts.
pub fn analyze_collecting(
    source: &str,
    settings: &Settings,
    module: &str,
    is_package: bool,
) -> Collected {
    let context = FileContext {
        module,
        is_package,
        workspace: None,
    };
    let mut facts = None;
    let mut pending = Vec::new();
    let diagnostics = run(
        source,
        settings,
        &context,
        // Findings that read the workspace's facts are kept pending, so the rules read none.
        &mut |own| {
            facts = Some(own);
            Facts::Borrowed(WorkspaceFacts::empty())
        },
        Some(&mut pending),
    );
    Collected {
        diagnostics,
        facts: facts.unwrap_or_else(|| ModuleFacts {
            module: module.to_owned(),
            ..ModuleFacts::default()
        }),
        pending,
    }
}

/// What [`analyze_collecting`] found.
pub struct Collected {
    /// The findings that stand whatever the other modules hold.
    pub diagnostics: Vec<Diagnostic>,
    /// The file's own facts, for the workspace.
    pub facts: ModuleFacts,
    /// The findings that stand only if the whole workspace's facts agree
    /// ([`Pending::holds_in`]), not suppressed by a comment.
    pub pending: Vec<Pending>,
}

type WorkspaceFor<'w> = dyn FnMut(ModuleFacts) -> Facts<'w> + 'w;

fn run<'w>(
    source: &str,
    settings: &Settings,
    context: &FileContext,
    workspace: &mut WorkspaceFor<'w>,
    pending: Option<&mut Vec<Pending>>,
) -> Vec<Diagnostic> {
    if source.len() > MAX_SOURCE_BYTES {
        return vec![too_large(source.len())];
    }
    // Syntax-tree walks recurse; run them on a stack of our own so that deep (but accepted)
    // input cannot overflow whatever thread the caller uses. Rules' visitors also grow the
    // stack on demand (`helpers::deep`), for expression chains thousands of levels deep.
    // A new stack is mapped only when the caller's has less than ANALYSIS_STACK / 2 left (the
    // CLI and the language server run analyses on threads with ANALYSIS_STACK of stack).
    crate::helpers::on_fresh_stack(|| {
        stacker::maybe_grow(ANALYSIS_STACK / 2, ANALYSIS_STACK, || {
            analyze_on_stack(source, settings, context, workspace, pending)
        })
    })
}

fn analyze_on_stack<'w>(
    source: &str,
    settings: &Settings,
    context: &FileContext,
    workspace: &mut WorkspaceFor<'w>,
    pending: Option<&mut Vec<Pending>>,
) -> Vec<Diagnostic> {
    let parsed = ruff_python_parser::parse_unchecked(source, ParseOptions::from(Mode::Module));
    let mut diagnostics: Vec<Diagnostic> = parsed
        .errors()
        .iter()
        .map(|error| {
            Diagnostic::syntax_error(
                clamp(error.location, source),
                format!("SyntaxError: {}", error.error),
            )
        })
        .collect();
    if let Some(problem) = too_deep(parsed.tokens()) {
        diagnostics.push(problem);
        return diagnostics;
    }
    let tokens = parsed.tokens();
    let ruff_python_ast::Mod::Module(module) = parsed.syntax() else {
        return diagnostics;
    };
    let suite = &module.body;
    let line_index = checker::Lines::new(source);

    // One pass over the text finds the rules worth running and whether the file has facts.
    // Trigger words are read in the text as written, names in the tree NFKC-normalised: they
    // differ only for names written outside ASCII (`ｗｅａｋｒｅｆ`), which make every rule run.
    let triggered = if has_non_ascii_name(source, tokens) {
        triggers::Triggered {
            rules: settings.rules,
            facts: context.workspace.is_none(),
        }
    } else {
        triggers::scan(source, settings.rules, context.workspace.is_none())
    };
    let semantic = checker::Semantic::new(suite);
    // The file's own facts come from this parse (only the caller that keeps an index needs
    // them: extraction is skipped when the workspace is given).
    let facts = if triggered.facts {
        workspace::extract_with(
            source,
            tokens,
            &semantic,
            suite,
            context.module,
            context.is_package,
        )
    } else {
        ModuleFacts {
            module: context.module.to_owned(),
            ..ModuleFacts::default()
        }
    };
    let workspace = workspace(facts);
    let mut checker =
        Checker::with_semantic(source, suite, tokens, &line_index, settings, semantic)
            .in_workspace(context.module, &workspace);
    if pending.is_some() {
        checker = checker.deferring_workspace();
    }
    // Only the rules whose words occur in the text can find anything (see `triggers`).
    for rule in triggered.rules.iter() {
        // A bug in one rule must cost that rule's findings on this file, not the process.
        let outcome = catch_unwind(AssertUnwindSafe(|| rule.check(&mut checker)));
        if let Err(payload) = outcome {
            let reason = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            diagnostics.push(Diagnostic::source_error(
                TextRange::empty(TextSize::default()),
                format!(
                    "internal error: rule {} failed on this file ({reason}); please report it",
                    rule.code()
                ),
            ));
        }
    }
    let mut undecided = checker.take_pending();
    let found = checker.into_diagnostics();
    // Suppression comments matter only to a file with findings.
    if !found.is_empty() || !undecided.is_empty() {
        let suppressions = Suppressions::from_tokens(source, tokens, line_index.get());
        diagnostics.extend(
            found
                .into_iter()
                .filter(|d| !suppressions.is_suppressed(d, line_index.get())),
        );
        undecided.retain(|p| !suppressions.is_suppressed(&p.diagnostic, line_index.get()));
    }
    if let Some(pending) = pending {
        *pending = undecided;
    }
    sort_diagnostics(&mut diagnostics);
    diagnostics
}

/// Puts diagnostics in the order analyses return them (by position) and drops duplicates.
pub fn sort_diagnostics(diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.sort_by(|a, b| {
        (a.range.start(), a.kind, a.range.end()).cmp(&(b.range.start(), b.kind, b.range.end()))
    });
    diagnostics.dedup();
}

/// Whether a name token is written with a letter outside ASCII.
fn has_non_ascii_name(source: &str, tokens: &Tokens) -> bool {
    !source.is_ascii()
        && tokens
            .iter()
            .any(|token| token.kind() == TokenKind::Name && !source[token.range()].is_ascii())
}

/// Finds nesting that CPython would refuse (and that our walks should not attempt).
pub(crate) fn too_deep(tokens: &Tokens) -> Option<Diagnostic> {
    let mut brackets = 0usize;
    let mut indents = 0usize;
    for token in tokens.iter() {
        let problem = match token.kind() {
            TokenKind::Lpar | TokenKind::Lsqb | TokenKind::Lbrace => {
                brackets += 1;
                (brackets > MAX_BRACKET_DEPTH).then_some("brackets are nested more than 200 deep")
            }
            TokenKind::Rpar | TokenKind::Rsqb | TokenKind::Rbrace => {
                brackets = brackets.saturating_sub(1);
                None
            }
            TokenKind::Indent => {
                indents += 1;
                (indents > MAX_INDENT_DEPTH).then_some("blocks are nested more than 100 deep")
            }
            TokenKind::Dedent => {
                indents = indents.saturating_sub(1);
                None
            }
            _ => None,
        };
        if let Some(what) = problem {
            return Some(Diagnostic::source_error(
                token.range(),
                format!("file not analysed: {what} (CPython would refuse it too)"),
            ));
        }
    }
    None
}

/// The text of a file read from disk, and its diagnostics.
#[derive(Debug)]
pub struct FileAnalysis {
    /// The decoded text, or `None` if the bytes could not be decoded.
    pub text: Option<String>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Decodes a file's bytes (BOM, PEP 263 cookie, UTF-8) and analyses the text; undecodable
/// bytes give one diagnostic that says where and what to do.
pub fn analyze_bytes(bytes: &[u8], settings: &Settings) -> FileAnalysis {
    analyze_bytes_in(bytes, settings, &FileContext::STANDALONE)
}

/// [`analyze_bytes`] for a file in a workspace.
pub fn analyze_bytes_in(bytes: &[u8], settings: &Settings, context: &FileContext) -> FileAnalysis {
    if bytes.len() > MAX_SOURCE_BYTES {
        return FileAnalysis {
            text: None,
            diagnostics: vec![too_large(bytes.len())],
        };
    }
    match source::decode(bytes) {
        Ok(decoded) => {
            let text = decoded.text.into_owned();
            let diagnostics = analyze_in(&text, settings, context);
            FileAnalysis {
                text: Some(text),
                diagnostics,
            }
        }
        Err(error) => FileAnalysis {
            text: None,
            diagnostics: vec![Diagnostic::source_error(
                TextRange::empty(TextSize::default()),
                format!("cannot read the file as text: {error}"),
            )],
        },
    }
}

fn too_large(len: usize) -> Diagnostic {
    Diagnostic::source_error(
        TextRange::empty(TextSize::default()),
        format!(
            "file not analysed: it is {:.1} MiB, over reflens's limit of {} MiB",
            len as f64 / (1024.0 * 1024.0),
            MAX_SOURCE_BYTES / (1024 * 1024)
        ),
    )
}

fn clamp(range: TextRange, source: &str) -> TextRange {
    let len = TextSize::try_from(source.len()).unwrap_or_default();
    TextRange::new(range.start().min(len), range.end().min(len))
}
