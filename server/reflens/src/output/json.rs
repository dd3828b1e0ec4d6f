//! `--output-format json`: the shape of `ruff check --output-format json`, so tools that read
//! ruff's findings read reflens's too.

use reflens_analysis::Diagnostic;
use serde::Serialize;

use super::{end_location, findings, location};
use crate::check::FileResult;
use crate::positions::RowColumn;

#[derive(Debug, Serialize)]
pub struct JsonDiagnostic<'a> {
    pub cell: Option<usize>,
    pub code: Option<&'static str>,
    pub end_location: RowColumn,
    pub filename: String,
    pub fix: Option<JsonFix<'a>>,
    pub location: RowColumn,
    pub message: &'a str,
    pub noqa_row: Option<usize>,
    pub url: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct JsonFix<'a> {
    pub applicability: &'static str,
    pub edits: Vec<JsonEdit<'a>>,
    pub message: &'a str,
}

#[derive(Debug, Serialize)]
pub struct JsonEdit<'a> {
    pub content: &'a str,
    pub end_location: RowColumn,
    pub location: RowColumn,
}

pub fn json_diagnostics(results: &[FileResult]) -> Vec<JsonDiagnostic<'_>> {
    findings(results)
        .map(|(result, diagnostic)| convert(result, diagnostic))
        .collect()
}

fn convert<'a>(result: &'a FileResult, diagnostic: &'a Diagnostic) -> JsonDiagnostic<'a> {
    let at = location(result, diagnostic);
    let rule = diagnostic.rule();
    let fix = match (&diagnostic.fix, &result.text) {
        (Some(fix), Some(text)) => Some(JsonFix {
            applicability: fix.applicability.as_str(),
            edits: fix
                .edits()
                .iter()
                .map(|edit| JsonEdit {
                    content: &edit.content,
                    location: text.row_column(edit.range.start()),
                    end_location: text.row_column(edit.range.end()),
                })
                .collect(),
            message: &fix.message,
        }),
        _ => None,
    };
    JsonDiagnostic {
        cell: None,
        code: rule.map(|rule| rule.code()),
        end_location: end_location(result, diagnostic),
        filename: result.absolute.display().to_string(),
        fix,
        location: at,
        message: &diagnostic.message,
        noqa_row: rule.map(|_| at.row),
        url: rule.map(|rule| rule.url()),
    }
}
