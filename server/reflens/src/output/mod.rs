//! Printing findings in the formats people and tools read.

mod github;
mod json;
mod sarif;
mod text;

use std::io::Write;

use reflens_analysis::{Applicability, Diagnostic};
use ruff_text_size::Ranged;

use crate::check::FileResult;
use crate::positions::RowColumn;
use crate::{ColorChoice, OutputFormat};

pub struct Summary {
    pub fix_mode: bool,
    pub unsafe_fixes: bool,
    pub quiet: bool,
    pub color: ColorChoice,
}

pub fn print(
    format: OutputFormat,
    results: &[FileResult],
    summary: &Summary,
) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        OutputFormat::Text => text::write(&mut out, results, summary)?,
        OutputFormat::Concise => {
            for (result, diagnostic) in findings(results) {
                let at = location(result, diagnostic);
                writeln!(
                    out,
                    "{}:{}:{}: {} {}",
                    result.display,
                    at.row,
                    at.column,
                    code_or_kind(diagnostic),
                    diagnostic.message
                )?;
            }
            if !summary.quiet {
                text::write_summary(&mut out, results, summary)?;
            }
        }
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &json::json_diagnostics(results))?;
            writeln!(out)?;
        }
        OutputFormat::Sarif => {
            serde_json::to_writer_pretty(&mut out, &sarif::sarif(results))?;
            writeln!(out)?;
        }
        OutputFormat::Github => github::write(&mut out, results)?,
    }
    out.flush()?;
    Ok(())
}

/// Every finding with its file, in path order then position order.
pub fn findings(results: &[FileResult]) -> impl Iterator<Item = (&FileResult, &Diagnostic)> {
    results
        .iter()
        .flat_map(|result| result.diagnostics.iter().map(move |d| (result, d)))
}

pub fn location(result: &FileResult, diagnostic: &Diagnostic) -> RowColumn {
    match &result.text {
        Some(text) => text.row_column(diagnostic.start()),
        None => RowColumn { row: 1, column: 1 },
    }
}

pub fn end_location(result: &FileResult, diagnostic: &Diagnostic) -> RowColumn {
    match &result.text {
        Some(text) => text.row_column(diagnostic.end()),
        None => RowColumn { row: 1, column: 1 },
    }
}

/// The rule code, or what kind of problem a non-rule diagnostic is.
pub fn code_or_kind(diagnostic: &Diagnostic) -> &'static str {
    match diagnostic.kind {
        reflens_analysis::DiagnosticKind::Rule(rule) => rule.code(),
        reflens_analysis::DiagnosticKind::SyntaxError => "syntax-error",
        reflens_analysis::DiagnosticKind::SourceError => "source-error",
    }
}

/// Whether `--fix` (or `--fix --unsafe-fixes`) would apply this diagnostic's fix.
pub fn fixable(diagnostic: &Diagnostic, unsafe_fixes: bool) -> bool {
    diagnostic.fix.as_ref().is_some_and(|fix| {
        fix.applicability == Applicability::Safe
            || (unsafe_fixes && fix.applicability == Applicability::Unsafe)
    })
}
