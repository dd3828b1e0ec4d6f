//! Applying fixes: one at a time (a code action) or all at once (`--fix`, `source.fixAll`),
//! re-analysing between rounds the way ruff does, so that fixes that touch the same code are
//! applied one after the other instead of clobbering each other.

use std::collections::BTreeMap;

use ruff_text_size::{TextRange, TextSize};

use crate::diagnostic::{Applicability, Diagnostic, DiagnosticKind, Edit, Fix};
use crate::registry::Rule;
use crate::settings::Settings;

/// Applies sorted, non-overlapping edits.
pub fn apply_edits<'e>(source: &str, edits: impl IntoIterator<Item = &'e Edit>) -> String {
    let mut out = String::with_capacity(source.len());
    let mut last = 0usize;
    for edit in edits {
        let start = edit.range.start().to_usize();
        let end = edit.range.end().to_usize();
        if start < last || end > source.len() {
            continue;
        }
        out.push_str(&source[last..start]);
        out.push_str(&edit.content);
        last = end;
    }
    out.push_str(&source[last..]);
    out
}

/// The outcome of fixing a file.
#[derive(Debug, Clone, Default)]
pub struct FixedSource {
    pub source: String,
    /// How many fixes of each rule were applied.
    pub fixed: BTreeMap<Rule, usize>,
    /// Set when a round of fixes would have broken the file's syntax; that round was dropped.
    pub error: Option<String>,
}

impl FixedSource {
    pub fn count(&self) -> usize {
        self.fixed.values().sum()
    }
}

const MAX_ROUNDS: usize = 10;

/// Applies every fix at or above `threshold` until none is left (or ten rounds pass).
pub fn fix_all(source: &str, settings: &Settings, threshold: Applicability) -> FixedSource {
    fix_all_in(source, settings, threshold, &crate::FileContext::STANDALONE)
}

/// [`fix_all`] for a file in a workspace.
pub fn fix_all_in(
    source: &str,
    settings: &Settings,
    threshold: Applicability,
    context: &crate::FileContext,
) -> FixedSource {
    let mut result = FixedSource {
        source: source.to_owned(),
        ..FixedSource::default()
    };
    let initial_syntax_errors = count_syntax_errors(&crate::analyze_in(source, settings, context));
    for _ in 0..MAX_ROUNDS {
        let diagnostics = crate::analyze_in(&result.source, settings, context);
        let Some((fixed_source, applied)) = apply_fixes(&result.source, &diagnostics, threshold)
        else {
            break;
        };
        let after = crate::analyze_in(&fixed_source, settings, context);
        if count_syntax_errors(&after) > initial_syntax_errors {
            result.error = Some(format!(
                "fixing {} would have introduced a syntax error; those fixes were not applied (please report this)",
                applied
                    .keys()
                    .map(|rule| rule.code())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            break;
        }
        for (rule, count) in applied {
            *result.fixed.entry(rule).or_default() += count;
        }
        result.source = fixed_source;
    }
    result
}

fn count_syntax_errors(diagnostics: &[Diagnostic]) -> usize {
    diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::SyntaxError)
        .count()
}

/// One round: applies the fixes whose edits do not overlap an earlier accepted fix.
/// Identical edits (two fixes adding the same `import weakref`) are applied once.
pub fn apply_fixes(
    source: &str,
    diagnostics: &[Diagnostic],
    threshold: Applicability,
) -> Option<(String, BTreeMap<Rule, usize>)> {
    let mut candidates: Vec<(&Fix, Rule)> = diagnostics
        .iter()
        .filter_map(|d| Some((d.fix.as_ref()?, d.rule()?)))
        .filter(|(fix, _)| fix.applicability >= threshold && !fix.edits().is_empty())
        .collect();
    candidates.sort_by_key(|(fix, rule)| (fix.range().map(TextRange::start), *rule));

    let mut accepted: Vec<&Edit> = Vec::new();
    let mut applied: BTreeMap<Rule, usize> = BTreeMap::new();
    'fixes: for (fix, rule) in candidates {
        let mut new_edits = Vec::new();
        for edit in fix.edits() {
            if accepted.contains(&edit) {
                continue;
            }
            if accepted.iter().any(|other| conflicts(edit, other)) {
                continue 'fixes;
            }
            new_edits.push(edit);
        }
        accepted.extend(new_edits);
        *applied.entry(rule).or_default() += 1;
    }
    if applied.is_empty() {
        return None;
    }
    accepted.sort_by_key(|edit| (edit.range.start(), edit.range.end()));
    Some((apply_edits(source, accepted), applied))
}

/// Two edits conflict if they overlap, or if both insert at the same offset (their order
/// would be arbitrary).
fn conflicts(a: &Edit, b: &Edit) -> bool {
    let touches = |x: TextRange, y: TextRange| x.start() < y.end() && y.start() < x.end();
    if a.range.is_empty() && b.range.is_empty() {
        return a.range.start() == b.range.start();
    }
    if a.range.is_empty() {
        return strictly_inside(a.range.start(), b.range);
    }
    if b.range.is_empty() {
        return strictly_inside(b.range.start(), a.range);
    }
    touches(a.range, b.range)
}

fn strictly_inside(offset: TextSize, range: TextRange) -> bool {
    range.start() < offset && offset < range.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_sorted_edits() {
        let source = "abcdef";
        let edits = [
            Edit::replacement("X", TextRange::new(1.into(), 2.into())),
            Edit::insertion("Y", 4.into()),
        ];
        assert_eq!(apply_edits(source, edits.iter()), "aXcdYef");
    }

    #[test]
    fn same_offset_insertions_conflict() {
        let a = Edit::insertion("a", 3.into());
        let b = Edit::insertion("b", 3.into());
        assert!(conflicts(&a, &b));
        let c = Edit::replacement("c", TextRange::new(3.into(), 5.into()));
        assert!(!conflicts(&a, &c));
    }
}
