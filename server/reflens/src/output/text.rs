//! The human format: each finding with a code frame and the fix on offer, like ruff.

use std::io::Write;

use annotate_snippets::renderer::DecorStyle;
use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use reflens_analysis::{Applicability, Diagnostic, DiagnosticKind};

use super::{Summary, code_or_kind, findings, fixable, location};
use crate::ColorChoice;
use crate::check::FileResult;

pub fn write(
    out: &mut impl Write,
    results: &[FileResult],
    summary: &Summary,
) -> anyhow::Result<()> {
    let styled = match summary.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stdout())
        }
    };
    let renderer = if styled {
        Renderer::styled()
    } else {
        Renderer::plain()
    }
    .decor_style(DecorStyle::Ascii);
    for (result, diagnostic) in findings(results) {
        let rendered = render(&renderer, result, diagnostic, summary.unsafe_fixes, styled);
        writeln!(out, "{rendered}\n")?;
    }
    if !summary.quiet {
        write_summary(out, results, summary)?;
    }
    Ok(())
}

fn render(
    renderer: &Renderer,
    result: &FileResult,
    diagnostic: &Diagnostic,
    unsafe_fixes: bool,
    styled: bool,
) -> String {
    let code = code_or_kind(diagnostic);
    let marker = if fixable(diagnostic, unsafe_fixes) {
        " [*]"
    } else {
        ""
    };
    let at = location(result, diagnostic);
    let name = match diagnostic.kind {
        DiagnosticKind::Rule(rule) => rule.name(),
        _ => code,
    };
    let heading = format!("{code}{marker}");
    let level = match diagnostic.kind {
        DiagnosticKind::Rule(_) => Level::WARNING.with_name(Some(heading.as_str())),
        _ => Level::ERROR.with_name(Some(heading.as_str())),
    };
    let Some(text) = &result.text else {
        // Nothing to frame: the file could not be decoded.
        return format!(
            "{}:{}:{}: {code} {}",
            result.display, at.row, at.column, diagnostic.message
        );
    };
    let source = text.text.as_str();
    let range = diagnostic.range.start().to_usize()..diagnostic.range.end().to_usize();
    let mut snippet = Snippet::source(source)
        .line_start(1)
        .path(result.display.as_str())
        .fold(true)
        .annotation(AnnotationKind::Primary.span(range).label(name));
    for related in &diagnostic.related {
        let span = related.range.start().to_usize()..related.range.end().to_usize();
        snippet = snippet.annotation(
            AnnotationKind::Context
                .span(span)
                .label(related.message.as_str()),
        );
    }
    let mut groups = vec![
        level
            .primary_title(diagnostic.message.as_str())
            .element(snippet),
    ];
    if let Some(note) = &diagnostic.note {
        groups.push(Group::with_title(
            Level::NOTE.secondary_title(note.as_str()),
        ));
    }
    let mut out = renderer.render(&groups);
    for fix in diagnostic.fixes() {
        let how = match fix.applicability {
            Applicability::Safe => "safe fix: `--fix`",
            Applicability::Unsafe => "unsafe fix: `--fix --unsafe-fixes`",
            Applicability::DisplayOnly => "suggestion",
        };
        let help = if styled {
            "\x1b[1;36mhelp\x1b[0m"
        } else {
            "help"
        };
        out.push_str(&format!("\n{help}: {} ({how})\n", fix.message));
        out.push_str(&fix_diff(source, fix, styled));
    }
    out
}

/// The lines a fix changes, as a diff with line numbers (removed `-`, added `+`).
fn fix_diff(source: &str, fix: &reflens_analysis::Fix, styled: bool) -> String {
    let fixed = fix.apply(source);
    let diff = similar::TextDiff::from_lines(source, &fixed);
    let groups = diff.grouped_ops(0);
    // Number width as the code frame above uses: the widest line number shown.
    let widest = groups
        .iter()
        .flatten()
        .map(|op| op.old_range().end.max(op.new_range().end))
        .max()
        .unwrap_or(1);
    let width = widest.to_string().len();
    let mut out = String::new();
    for group in groups {
        out.push_str(&format!("{:width$} |\n", ""));
        for op in group {
            for change in diff.iter_changes(&op) {
                let (sign, line, color) = match change.tag() {
                    similar::ChangeTag::Delete => ('-', change.old_index(), "\x1b[31m"),
                    similar::ChangeTag::Insert => ('+', change.new_index(), "\x1b[32m"),
                    similar::ChangeTag::Equal => (' ', change.old_index(), ""),
                };
                let number = line.map_or(String::new(), |l| (l + 1).to_string());
                let text = change.value().trim_end_matches(['\n', '\r']);
                if styled && !color.is_empty() {
                    out.push_str(&format!("{number:>width$} {color}{sign} {text}\x1b[0m\n"));
                } else {
                    out.push_str(&format!("{number:>width$} {sign} {text}\n"));
                }
            }
        }
    }
    out.push_str(&format!("{:width$} |", ""));
    out
}

pub fn write_summary(
    out: &mut impl Write,
    results: &[FileResult],
    summary: &Summary,
) -> anyhow::Result<()> {
    let remaining: usize = results.iter().map(|r| r.diagnostics.len()).sum();
    let fixed: usize = results.iter().map(|r| r.fixed).sum();
    let safe = findings(results).filter(|(_, d)| fixable(d, false)).count();
    let with_unsafe = findings(results).filter(|(_, d)| fixable(d, true)).count();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    if summary.fix_mode && fixed > 0 {
        writeln!(
            out,
            "Fixed {fixed} problem{}; {remaining} remaining.",
            plural(fixed)
        )?;
    } else if remaining == 0 {
        writeln!(out, "All checks passed!")?;
        return Ok(());
    } else {
        writeln!(out, "Found {remaining} problem{}.", plural(remaining))?;
    }
    if !summary.fix_mode {
        if summary.unsafe_fixes {
            if with_unsafe > 0 {
                writeln!(
                    out,
                    "[*] {with_unsafe} fixable with `--fix --unsafe-fixes`."
                )?;
            }
        } else {
            if safe > 0 {
                writeln!(out, "[*] {safe} fixable with `--fix`.")?;
            }
            if with_unsafe > safe {
                writeln!(
                    out,
                    "{} more fixable with `--fix --unsafe-fixes`; every fix is also offered as a quick fix in the editor.",
                    with_unsafe - safe
                )?;
            }
        }
    }
    Ok(())
}
