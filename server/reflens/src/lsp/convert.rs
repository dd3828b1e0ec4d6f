//! reflens diagnostics and fixes as LSP values, and the hover text that explains them.

use std::collections::HashMap;
use std::fmt::Write as _;

use reflens_analysis::{Applicability, Diagnostic, DiagnosticKind, Edit, Fix};
use ruff_source_file::PositionEncoding;
use ruff_text_size::{Ranged, TextRange, TextSize};
use tower_lsp_server::ls_types::{
    self as lsp, CodeDescription, DiagnosticRelatedInformation, DiagnosticSeverity, Location,
    NumberOrString, OptionalVersionedTextDocumentIdentifier, Position, TextDocumentEdit, TextEdit,
    Uri, WorkspaceEdit,
};

use crate::positions::IndexedText;

pub fn range(text: &IndexedText, range: TextRange, encoding: PositionEncoding) -> lsp::Range {
    let (start_line, start_character) = text.lsp_position(range.start(), encoding);
    let (end_line, end_character) = text.lsp_position(range.end(), encoding);
    lsp::Range::new(
        Position::new(start_line, start_character),
        Position::new(end_line, end_character),
    )
}

pub fn offset(text: &IndexedText, position: Position, encoding: PositionEncoding) -> TextSize {
    text.offset(position.line, position.character, encoding)
}

pub fn to_lsp_range(
    text: &IndexedText,
    lsp_range: lsp::Range,
    encoding: PositionEncoding,
) -> TextRange {
    text.range_of(
        (lsp_range.start.line, lsp_range.start.character),
        (lsp_range.end.line, lsp_range.end.character),
        encoding,
    )
}

pub fn diagnostic(
    uri: &Uri,
    text: &IndexedText,
    diagnostic: &Diagnostic,
    encoding: PositionEncoding,
) -> lsp::Diagnostic {
    let rule = diagnostic.rule();
    let related: Vec<DiagnosticRelatedInformation> = diagnostic
        .related
        .iter()
        .map(|related| DiagnosticRelatedInformation {
            location: Location::new(uri.clone(), range(text, related.range, encoding)),
            message: related.message.clone(),
        })
        .collect();
    lsp::Diagnostic {
        range: range(text, diagnostic.range, encoding),
        severity: Some(match diagnostic.kind {
            DiagnosticKind::Rule(_) => DiagnosticSeverity::WARNING,
            DiagnosticKind::SyntaxError | DiagnosticKind::SourceError => DiagnosticSeverity::ERROR,
        }),
        code: Some(NumberOrString::String(rule.map_or_else(
            || crate::output::code_or_kind(diagnostic).to_owned(),
            |r| r.code().to_owned(),
        ))),
        code_description: rule
            .and_then(|rule| rule.url().parse().ok().map(|href| CodeDescription { href })),
        source: Some("reflens".to_owned()),
        message: diagnostic.message.clone(),
        related_information: (!related.is_empty()).then_some(related),
        tags: None,
        data: None,
    }
}

pub fn text_edit(text: &IndexedText, edit: &Edit, encoding: PositionEncoding) -> TextEdit {
    TextEdit::new(range(text, edit.range, encoding), edit.content.clone())
}

/// A workspace edit for `edits` on one document version.
pub fn workspace_edit(
    uri: &Uri,
    version: i32,
    edits: Vec<TextEdit>,
    versioned: bool,
) -> WorkspaceEdit {
    if versioned {
        WorkspaceEdit {
            document_changes: Some(lsp::DocumentChanges::Edits(vec![TextDocumentEdit {
                text_document: OptionalVersionedTextDocumentIdentifier {
                    uri: uri.clone(),
                    version: Some(version),
                },
                edits: edits.into_iter().map(lsp::OneOf::Left).collect(),
            }])),
            ..WorkspaceEdit::default()
        }
    } else {
        WorkspaceEdit {
            changes: Some(HashMap::from([(uri.clone(), edits)])),
            ..WorkspaceEdit::default()
        }
    }
}

pub fn fix_title(fix: &Fix) -> String {
    match fix.applicability {
        Applicability::Safe => fix.message.clone(),
        Applicability::Unsafe => format!("{} (unsafe: review the change)", fix.message),
        Applicability::DisplayOnly => fix.message.clone(),
    }
}

/// Markdown explaining the findings at a position: what keeps the object alive, why it
/// matters, and the fix on offer.
pub fn hover_markdown(diagnostics: &[&Diagnostic]) -> String {
    let mut out = String::new();
    for (index, diagnostic) in diagnostics.iter().enumerate() {
        if index > 0 {
            out.push_str("\n---\n\n");
        }
        match diagnostic.kind {
            DiagnosticKind::Rule(rule) => {
                let _ = writeln!(
                    out,
                    "**{}** `{}`: {}\n",
                    rule.code(),
                    rule.name(),
                    rule.summary()
                );
                let _ = writeln!(out, "{}\n", diagnostic.message);
                if let Some(why) = section(&rule.doc(), "## Why it keeps memory alive") {
                    let _ = writeln!(out, "*Why it matters:* {why}\n");
                }
                if let Some(note) = &diagnostic.note {
                    let _ = writeln!(out, "{note}\n");
                }
                for fix in diagnostic.fixes() {
                    let _ = writeln!(
                        out,
                        "*Quick fix:* {} ({})\n",
                        fix.message,
                        match fix.applicability {
                            Applicability::Safe => "safe",
                            Applicability::Unsafe => "unsafe: review the change",
                            Applicability::DisplayOnly => "suggestion",
                        }
                    );
                }
                let _ = writeln!(
                    out,
                    "Silence it with `# reflens: ignore[{}]` on the line. [Documentation]({})",
                    rule.code(),
                    rule.url()
                );
            }
            DiagnosticKind::SyntaxError | DiagnosticKind::SourceError => {
                let _ = writeln!(out, "**reflens**: {}", diagnostic.message);
            }
        }
    }
    out
}

/// The first paragraph of a `## Heading` section of a rule's doc, on one line.
fn section(doc: &str, heading: &str) -> Option<String> {
    let start = doc.find(heading)? + heading.len();
    let rest = doc[start..].trim_start();
    let paragraph = rest.split("\n\n").next()?;
    let text = paragraph
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    (!text.is_empty() && !text.starts_with('#')).then_some(text)
}

/// An edit that adds `# reflens: ignore[CODE]` to the line a diagnostic starts on, or adds the
/// code to a `# reflens: ignore[...]` comment already there.
pub fn suppression_edit(text: &IndexedText, diagnostic: &Diagnostic) -> Option<Edit> {
    let rule = diagnostic.rule()?;
    let source = text.text.as_str();
    let start = diagnostic.start().to_usize();
    let line_start = source[..start].rfind('\n').map_or(0, |p| p + 1);
    let line_end = source[start..]
        .find(['\n', '\r'])
        .map_or(source.len(), |p| start + p);
    let line = &source[line_start..line_end];
    if let Some(pos) = line.find("# reflens: ignore[") {
        let open = line_start + pos + "# reflens: ignore[".len();
        let close = open + source[open..line_end].find(']')?;
        let existing = &source[open..close];
        if existing.split(',').any(|code| code.trim() == rule.code()) {
            return None;
        }
        let at = TextSize::try_from(close).ok()?;
        return Some(Edit::insertion(format!(", {}", rule.code()), at));
    }
    if line.contains("# reflens: ignore") && !line.contains("# reflens: ignore[") {
        return None; // already silenced entirely
    }
    // A line that ends inside a multi-line string cannot take a comment.
    if quote_balance_is_open(line) {
        return None;
    }
    let at = TextSize::try_from(line_end).ok()?;
    let separator = if line.trim_end().len() < line.len() || line.is_empty() {
        ""
    } else {
        "  "
    };
    Some(Edit::insertion(
        format!("{separator}# reflens: ignore[{}]", rule.code()),
        at,
    ))
}

/// A rough check that a line does not end inside a triple-quoted string.
fn quote_balance_is_open(line: &str) -> bool {
    let code = line.split('#').next().unwrap_or(line);
    code.matches("\"\"\"").count() % 2 == 1 || code.matches("'''").count() % 2 == 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use reflens_analysis::Rule;

    #[test]
    fn suppression_comment_is_added_or_extended() {
        let text = IndexedText::new("x = open(p)\ny = 1  # reflens: ignore[RL101]\n".to_owned());
        let first = Diagnostic::new(
            Rule::UnclosedResource,
            TextRange::new(4.into(), 8.into()),
            "m",
        );
        let edit = suppression_edit(&text, &first).unwrap();
        assert_eq!(edit.content, "  # reflens: ignore[RL401]");
        assert_eq!(edit.range.start(), TextSize::new(11));

        let second = Diagnostic::new(
            Rule::UnclosedResource,
            TextRange::new(12.into(), 13.into()),
            "m",
        );
        let edit = suppression_edit(&text, &second).unwrap();
        assert_eq!(edit.content, ", RL401");
        let fixed = reflens_analysis::fix::apply_edits(&text.text, [&edit]);
        assert!(fixed.contains("# reflens: ignore[RL101, RL401]"));
    }

    #[test]
    fn hover_explains_the_rule() {
        let diagnostic = Diagnostic::new(
            Rule::MethodCache,
            TextRange::default(),
            "`cache` on method `A.f` keeps self",
        );
        let text = hover_markdown(&[&diagnostic]);
        assert!(text.contains("**RL101** `method-cache`"));
        assert!(text.contains("keeps self"));
        assert!(text.contains("*Why it matters:*"));
        assert!(text.contains("# reflens: ignore[RL101]"));
    }
}
