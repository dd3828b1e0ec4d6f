//! Per-rule fixture tests.
//!
//! Each rule has `tests/fixtures/<CODE>.py` with positive and negative cases. Every line that
//! must be flagged ends with `# expect: <CODE>`; the test fails if a marked line is not flagged
//! or an unmarked line is. An insta snapshot pins the messages, notes and fixes, and every fix
//! is applied to check that it parses and removes the finding.

use std::fmt::Write as _;
use std::path::PathBuf;

use reflens_analysis::fix::fix_all;
use reflens_analysis::{
    Applicability, Diagnostic, DiagnosticKind, Rule, RuleSet, Settings, analyze,
};
use ruff_source_file::{LineIndex, OneIndexed};
use ruff_text_size::Ranged;

fn fixture(rule: Rule) -> (PathBuf, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{}.py", rule.code()));
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("fixture {} missing: {err}", path.display()));
    (path, source)
}

fn only(rule: Rule) -> Settings {
    Settings::with_rules([rule].into_iter().collect::<RuleSet>())
}

/// Renders diagnostics the way a reviewer reads them: message, code frame, note, fix diff.
fn render(name: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    let index = LineIndex::from_source_text(source);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let start = index.line_column(diagnostic.start(), source);
        let end = index.line_column(diagnostic.end(), source);
        let code = diagnostic.kind.code().unwrap_or("syntax-error");
        writeln!(out, "{code} {}", diagnostic.message).unwrap();
        writeln!(out, " --> {name}:{}:{}", start.line, start.column).unwrap();
        let line_text = source_line(source, &index, start.line);
        writeln!(out, "  | {line_text}").unwrap();
        let width = if end.line == start.line {
            (end.column.get() - start.column.get()).max(1)
        } else {
            line_text
                .chars()
                .count()
                .saturating_sub(start.column.to_zero_indexed())
                .max(1)
        };
        writeln!(
            out,
            "  | {}{}",
            " ".repeat(start.column.to_zero_indexed()),
            "^".repeat(width)
        )
        .unwrap();
        for related in &diagnostic.related {
            let at = index.line_column(related.range.start(), source);
            writeln!(
                out,
                "  = related {}:{}: {}",
                at.line, at.column, related.message
            )
            .unwrap();
        }
        if let Some(note) = &diagnostic.note {
            writeln!(out, "  = note: {note}").unwrap();
        }
        for fix in diagnostic.fixes() {
            writeln!(
                out,
                "  = fix ({}): {}",
                fix.applicability.as_str(),
                fix.message
            )
            .unwrap();
            let fixed = fix.apply(source);
            let diff = similar::TextDiff::from_lines(source, &fixed);
            for hunk in diff.unified_diff().context_radius(1).iter_hunks() {
                for change in hunk.iter_changes() {
                    let sign = match change.tag() {
                        similar::ChangeTag::Delete => '-',
                        similar::ChangeTag::Insert => '+',
                        similar::ChangeTag::Equal => ' ',
                    };
                    write!(out, "    {sign} {}", change.value()).unwrap();
                    if change.missing_newline() {
                        out.push('\n');
                    }
                }
                writeln!(out, "    ~").unwrap();
            }
        }
        out.push('\n');
    }
    out
}

fn source_line<'a>(source: &'a str, index: &LineIndex, line: OneIndexed) -> &'a str {
    let range = index.line_range(line, source);
    source[range].trim_end_matches(['\n', '\r'])
}

/// Lines (1-based) marked `# expect: <CODE>`.
fn expected_lines(source: &str, rule: Rule) -> Vec<usize> {
    let marker = format!("# expect: {}", rule.code());
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| line.contains(&marker))
        .map(|(i, _)| i + 1)
        .collect()
}

fn check_rule(rule: Rule) {
    let (path, source) = fixture(rule);
    let settings = only(rule);
    let diagnostics = analyze(&source, &settings);
    let index = LineIndex::from_source_text(&source);

    let syntax: Vec<_> = diagnostics
        .iter()
        .filter(|d| d.kind != DiagnosticKind::Rule(rule))
        .collect();
    assert!(
        syntax.is_empty(),
        "fixture {} has problems: {syntax:#?}",
        path.display()
    );

    // Marked lines and flagged lines agree.
    let mut flagged: Vec<usize> = diagnostics
        .iter()
        .map(|d| index.line_index(d.start()).get())
        .collect();
    flagged.dedup();
    let expected = expected_lines(&source, rule);
    assert!(
        !expected.is_empty(),
        "fixture for {rule} has no positive case"
    );
    let missed: Vec<_> = expected.iter().filter(|l| !flagged.contains(l)).collect();
    let spurious: Vec<_> = flagged.iter().filter(|l| !expected.contains(l)).collect();
    assert!(
        missed.is_empty() && spurious.is_empty(),
        "{rule}: lines marked but not flagged: {missed:?}; flagged but not marked: {spurious:?}\n{}",
        render(&format!("{}.py", rule.code()), &source, &diagnostics)
    );

    let name = format!("{}.py", rule.code());
    insta::assert_snapshot!(rule.code(), render(&name, &source, &diagnostics));

    // Each fix alone: the result parses and has fewer findings of this rule.
    let before = diagnostics.len();
    for diagnostic in &diagnostics {
        for fix in diagnostic.fixes() {
            let fixed = fix.apply(&source);
            let after = analyze(&fixed, &settings);
            let errors: Vec<_> = after
                .iter()
                .filter(|d| d.kind == DiagnosticKind::SyntaxError)
                .collect();
            assert!(
                errors.is_empty(),
                "{rule}: fix `{}` for line {} breaks the syntax: {errors:?}\n{fixed}",
                fix.message,
                index.line_index(diagnostic.start())
            );
            assert!(
                after.len() < before,
                "{rule}: fix `{}` for line {} leaves the finding in place:\n{fixed}",
                fix.message,
                index.line_index(diagnostic.start())
            );
        }
    }

    // All preferred fixes together: only the findings without a fix remain.
    let fixed = fix_all(&source, &settings, Applicability::Unsafe);
    assert!(fixed.error.is_none(), "{rule}: {:?}", fixed.error);
    let remaining = analyze(&fixed.source, &settings);
    let unfixable = diagnostics.iter().filter(|d| d.fix.is_none()).count();
    assert_eq!(
        remaining.len(),
        unfixable,
        "{rule}: after fixing everything, expected only the {unfixable} unfixable findings:\n{}",
        render(&name, &fixed.source, &remaining)
    );
    insta::assert_snapshot!(format!("{}_fixed", rule.code()), fixed.source);
}

#[test]
fn method_cache() {
    check_rule(Rule::MethodCache);
}

#[test]
fn instance_registry() {
    check_rule(Rule::InstanceRegistry);
}

#[test]
fn mutable_default_cache() {
    check_rule(Rule::MutableDefaultCache);
}

#[test]
fn del_finalizer() {
    check_rule(Rule::DelFinalizer);
}

#[test]
fn stored_exception() {
    check_rule(Rule::StoredException);
}

#[test]
fn unclosed_resource() {
    check_rule(Rule::UnclosedResource);
}

#[test]
fn unbounded_module_cache() {
    check_rule(Rule::UnboundedModuleCache);
}

#[test]
fn back_reference_cycle() {
    check_rule(Rule::BackReferenceCycle);
}

#[test]
fn strong_observer_list() {
    check_rule(Rule::StrongObserverList);
}

#[test]
fn gc_not_reenabled() {
    check_rule(Rule::GcNotReenabled);
}

#[test]
fn slots_without_weakref() {
    check_rule(Rule::SlotsWithoutWeakref);
}

#[test]
fn unchecked_weakref() {
    check_rule(Rule::UncheckedWeakref);
}

#[test]
fn exc_info_local() {
    check_rule(Rule::ExcInfoLocal);
}

#[test]
fn handler_keeps_records() {
    check_rule(Rule::HandlerKeepsRecords);
}

#[test]
fn stored_frame() {
    check_rule(Rule::StoredFrame);
}

#[test]
fn stored_suspended_frame() {
    check_rule(Rule::StoredSuspendedFrame);
}

#[test]
fn resource_owner_without_close() {
    check_rule(Rule::ResourceOwnerWithoutClose);
}

#[test]
fn thread_local_not_cleared() {
    check_rule(Rule::ThreadLocalNotCleared);
}

#[test]
fn bound_method_registered() {
    check_rule(Rule::BoundMethodRegistered);
}

#[test]
fn tensor_graph_accumulated() {
    check_rule(Rule::TensorGraphAccumulated);
}

#[test]
fn long_lived_view() {
    check_rule(Rule::LongLivedView);
}

#[test]
fn del_still_referenced() {
    check_rule(Rule::DelStillReferenced);
}
