//! What the analysis produces: diagnostics with byte ranges into the source, and fixes made of
//! text edits. Front ends convert ranges to whatever positions their users need.

use ruff_text_size::{Ranged, TextRange, TextSize};
use serde::Serialize;

use crate::registry::Rule;

/// What a diagnostic is about: a rule of the catalog, or a problem with the file itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DiagnosticKind {
    Rule(Rule),
    /// The parser could not read part of the file; the rest was still analysed.
    SyntaxError,
    /// The file could not be analysed at all (not decodable, too large, too deeply nested).
    SourceError,
}

impl DiagnosticKind {
    /// The rule code, as users write it in `select` and suppression comments.
    pub fn code(self) -> Option<&'static str> {
        match self {
            DiagnosticKind::Rule(rule) => Some(rule.code()),
            DiagnosticKind::SyntaxError | DiagnosticKind::SourceError => None,
        }
    }

    pub fn rule(self) -> Option<Rule> {
        match self {
            DiagnosticKind::Rule(rule) => Some(rule),
            _ => None,
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub kind: DiagnosticKind,
    /// The span the finding is about; kept on one line where the construct allows it.
    pub range: TextRange,
    /// A sentence naming what keeps the object alive.
    pub message: String,
    /// The preferred fix, if the rule can offer one here.
    pub fix: Option<Fix>,
    /// Other fixes a user may prefer (offered as further code actions).
    pub alternative_fixes: Vec<Fix>,
    /// Extra explanation, e.g. why no automatic fix is offered here.
    pub note: Option<String>,
    /// Other places that take part in the finding (the container an instance is added to, …).
    pub related: Vec<Related>,
}

impl Diagnostic {
    pub fn new(rule: Rule, range: TextRange, message: impl Into<String>) -> Self {
        Self::of_kind(DiagnosticKind::Rule(rule), range, message)
    }

    pub fn syntax_error(range: TextRange, message: impl Into<String>) -> Self {
        Self::of_kind(DiagnosticKind::SyntaxError, range, message)
    }

    pub fn source_error(range: TextRange, message: impl Into<String>) -> Self {
        Self::of_kind(DiagnosticKind::SourceError, range, message)
    }

    fn of_kind(kind: DiagnosticKind, range: TextRange, message: impl Into<String>) -> Self {
        Self {
            kind,
            range,
            message: message.into(),
            fix: None,
            alternative_fixes: Vec::new(),
            note: None,
            related: Vec::new(),
        }
    }

    #[must_use]
    pub fn with_fix(mut self, fix: Fix) -> Self {
        self.fix = Some(fix);
        self
    }

    #[must_use]
    pub fn with_fix_opt(mut self, fix: Option<Fix>) -> Self {
        self.fix = fix;
        self
    }

    #[must_use]
    pub fn with_alternative(mut self, fix: Fix) -> Self {
        self.alternative_fixes.push(fix);
        self
    }

    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    #[must_use]
    pub fn with_related(mut self, range: TextRange, message: impl Into<String>) -> Self {
        self.related.push(Related {
            range,
            message: message.into(),
        });
        self
    }

    pub fn rule(&self) -> Option<Rule> {
        self.kind.rule()
    }

    /// All fixes, the preferred one first.
    pub fn fixes(&self) -> impl Iterator<Item = &Fix> {
        self.fix.iter().chain(&self.alternative_fixes)
    }
}

impl Ranged for Diagnostic {
    fn range(&self) -> TextRange {
        self.range
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    pub range: TextRange,
    pub message: String,
}

/// Whether a fix keeps the program's behaviour (ruff's terms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Applicability {
    /// Offered as a code action only, never applied by `--fix`.
    DisplayOnly,
    /// Changes behaviour in a way the user should review: applied only with `--unsafe-fixes`.
    Unsafe,
    /// Keeps behaviour: applied by `--fix`.
    Safe,
}

impl Applicability {
    pub fn as_str(self) -> &'static str {
        match self {
            Applicability::DisplayOnly => "display-only",
            Applicability::Unsafe => "unsafe",
            Applicability::Safe => "safe",
        }
    }
}

/// A set of edits that together rewrite the code, with a message saying what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub message: String,
    pub applicability: Applicability,
    /// Sorted by start, non-overlapping.
    edits: Vec<Edit>,
}

impl Fix {
    pub fn new(
        message: impl Into<String>,
        applicability: Applicability,
        mut edits: Vec<Edit>,
    ) -> Self {
        edits.sort_by_key(|edit| (edit.range.start(), edit.range.end()));
        edits.dedup();
        Self {
            message: message.into(),
            applicability,
            edits,
        }
    }

    pub fn safe(message: impl Into<String>, edits: Vec<Edit>) -> Self {
        Self::new(message, Applicability::Safe, edits)
    }

    pub fn unsafe_(message: impl Into<String>, edits: Vec<Edit>) -> Self {
        Self::new(message, Applicability::Unsafe, edits)
    }

    pub fn edits(&self) -> &[Edit] {
        &self.edits
    }

    /// The smallest range that covers every edit.
    pub fn range(&self) -> Option<TextRange> {
        let first = self.edits.first()?;
        let last = self.edits.iter().map(|edit| edit.range.end()).max()?;
        Some(TextRange::new(first.range.start(), last))
    }

    /// Applies this fix alone to `source`.
    pub fn apply(&self, source: &str) -> String {
        crate::fix::apply_edits(source, self.edits.iter())
    }
}

/// Replace `range` with `content`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Edit {
    pub range: TextRange,
    pub content: String,
}

impl Edit {
    pub fn replacement(content: impl Into<String>, range: TextRange) -> Self {
        Self {
            range,
            content: content.into(),
        }
    }

    pub fn insertion(content: impl Into<String>, at: TextSize) -> Self {
        Self {
            range: TextRange::empty(at),
            content: content.into(),
        }
    }

    pub fn deletion(range: TextRange) -> Self {
        Self {
            range,
            content: String::new(),
        }
    }
}

impl Ranged for Edit {
    fn range(&self) -> TextRange {
        self.range
    }
}
