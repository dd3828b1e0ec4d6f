//! Suppression comments on the line a diagnostic starts on:
//! `# reflens: ignore`, `# reflens: ignore[RL101, RL103]`, `# noqa`, `# noqa: RL101`.
//! A `# noqa: E501` that names only other tools' codes does not silence reflens.

use ruff_python_ast::token::{TokenKind, Tokens};
use ruff_source_file::LineIndex;
use ruff_text_size::{Ranged, TextRange};
use rustc_hash::FxHashMap;

use crate::diagnostic::Diagnostic;
use crate::registry::Rule;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suppression {
    All,
    Codes(Vec<Rule>),
}

impl Suppression {
    fn covers(&self, rule: Rule) -> bool {
        match self {
            Suppression::All => true,
            Suppression::Codes(codes) => codes.contains(&rule),
        }
    }

    fn merge(&mut self, other: Suppression) {
        match (&mut *self, other) {
            (Suppression::All, _) => {}
            (_, Suppression::All) => *self = Suppression::All,
            (Suppression::Codes(mine), Suppression::Codes(theirs)) => mine.extend(theirs),
        }
    }
}

/// The suppressions of a file, by zero-based line.
#[derive(Debug, Default)]
pub struct Suppressions {
    by_line: FxHashMap<usize, (Suppression, TextRange)>,
}

impl Suppressions {
    pub fn from_tokens(source: &str, tokens: &Tokens, line_index: &LineIndex) -> Self {
        let mut by_line: FxHashMap<usize, (Suppression, TextRange)> = FxHashMap::default();
        for token in tokens.iter().filter(|t| t.kind() == TokenKind::Comment) {
            if let Some(suppression) = parse_comment(&source[token.range()]) {
                let line = line_index.line_index(token.start()).to_zero_indexed();
                match by_line.get_mut(&line) {
                    Some((existing, _)) => existing.merge(suppression),
                    None => {
                        by_line.insert(line, (suppression, token.range()));
                    }
                }
            }
        }
        Self { by_line }
    }

    pub fn is_suppressed(&self, diagnostic: &Diagnostic, line_index: &LineIndex) -> bool {
        let Some(rule) = diagnostic.rule() else {
            return false;
        };
        let line = line_index.line_index(diagnostic.start()).to_zero_indexed();
        self.by_line
            .get(&line)
            .is_some_and(|(suppression, _)| suppression.covers(rule))
    }
}

/// Parses every suppression directive in one comment (`# noqa: RL101  # reflens: ignore[RL103]`).
pub fn parse_comment(comment: &str) -> Option<Suppression> {
    let mut result: Option<Suppression> = None;
    for part in comment.split('#').skip(1) {
        let part = part.trim();
        let directive = if let Some(rest) = strip_prefix_ci(part, "reflens:") {
            let rest = rest.trim_start();
            strip_prefix_ci(rest, "ignore").map(|rest| parse_bracketed(rest.trim_start()))
        } else if let Some(rest) = strip_prefix_ci(part, "noqa") {
            parse_noqa(rest)
        } else {
            None
        };
        if let Some(directive) = directive {
            match &mut result {
                Some(existing) => existing.merge(directive),
                None => result = Some(directive),
            }
        }
    }
    result.filter(|s| !matches!(s, Suppression::Codes(codes) if codes.is_empty()))
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// `ignore` alone silences everything; `ignore[RL101,RL103]` the named rules.
fn parse_bracketed(rest: &str) -> Suppression {
    match rest.strip_prefix('[') {
        Some(inner) => {
            let inner = inner.split(']').next().unwrap_or_default();
            Suppression::Codes(codes(inner))
        }
        None => Suppression::All,
    }
}

/// `noqa` alone silences everything; `noqa: RL101, E501` the named reflens rules only.
fn parse_noqa(rest: &str) -> Option<Suppression> {
    if rest.is_empty()
        || rest.starts_with(char::is_whitespace) && !rest.trim_start().starts_with(':')
    {
        return Some(Suppression::All);
    }
    let rest = rest.trim_start();
    let list = rest.strip_prefix(':')?;
    Some(Suppression::Codes(codes(list)))
}

fn codes(list: &str) -> Vec<Rule> {
    list.split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|code| !code.is_empty())
        .filter_map(Rule::from_code)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives() {
        assert_eq!(parse_comment("# reflens: ignore"), Some(Suppression::All));
        assert_eq!(
            parse_comment("# reflens: ignore[RL101, RL103]"),
            Some(Suppression::Codes(vec![
                Rule::MethodCache,
                Rule::InstanceRegistry
            ]))
        );
        assert_eq!(parse_comment("# noqa"), Some(Suppression::All));
        assert_eq!(parse_comment("# NOQA"), Some(Suppression::All));
        assert_eq!(
            parse_comment("# noqa: RL101"),
            Some(Suppression::Codes(vec![Rule::MethodCache]))
        );
        assert_eq!(
            parse_comment("# noqa:RL101,RL104"),
            Some(Suppression::Codes(vec![
                Rule::MethodCache,
                Rule::MutableDefaultCache
            ]))
        );
        // Other tools' codes do not silence reflens.
        assert_eq!(parse_comment("# noqa: E501"), None);
        assert_eq!(parse_comment("# type: ignore"), None);
        assert_eq!(
            parse_comment("# noqa: E501  # reflens: ignore[RL401]"),
            Some(Suppression::Codes(vec![Rule::UnclosedResource]))
        );
        assert_eq!(parse_comment("# a comment about noqa"), None);
    }
}
