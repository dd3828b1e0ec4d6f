//! `--output-format sarif`: SARIF 2.1.0, the format code-scanning services import.

use reflens_analysis::{Diagnostic, Rule};
use serde_json::{Value, json};

use super::{end_location, findings, location};
use crate::check::FileResult;

pub fn sarif(results: &[FileResult]) -> Value {
    let rules: Vec<Value> = Rule::ALL
        .iter()
        .map(|rule| {
            json!({
                "id": rule.code(),
                "name": rule.name(),
                "shortDescription": { "text": rule.summary() },
                "fullDescription": { "text": rule.doc() },
                "help": { "text": rule.summary(), "markdown": rule.doc() },
                "helpUri": rule.url(),
                "defaultConfiguration": { "level": "warning" },
                "properties": { "tags": ["memory", "leak"] },
            })
        })
        .collect();
    let results: Vec<Value> = findings(results)
        .map(|(result, diagnostic)| sarif_result(result, diagnostic))
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "reflens",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://github.com/reflens/reflens",
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

fn uri(result: &FileResult) -> String {
    let path = result.absolute.display().to_string();
    let mut out = String::from("file://");
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

fn region(result: &FileResult, start: ruff_text_size::TextSize, end: ruff_text_size::TextSize) -> Value {
    let (start, end) = match &result.text {
        Some(text) => (text.row_column(start), text.row_column(end)),
        None => (
            crate::positions::RowColumn { row: 1, column: 1 },
            crate::positions::RowColumn { row: 1, column: 1 },
        ),
    };
    json!({
        "startLine": start.row,
        "startColumn": start.column,
        "endLine": end.row,
        "endColumn": end.column,
    })
}

fn sarif_result(result: &FileResult, diagnostic: &Diagnostic) -> Value {
    let start = location(result, diagnostic);
    let end = end_location(result, diagnostic);
    let location = json!({
        "physicalLocation": {
            "artifactLocation": { "uri": uri(result) },
            "region": {
                "startLine": start.row,
                "startColumn": start.column,
                "endLine": end.row,
                "endColumn": end.column,
            }
        }
    });
    let fixes: Vec<Value> = diagnostic
        .fixes()
        .map(|fix| {
            let replacements: Vec<Value> = fix
                .edits()
                .iter()
                .map(|edit| {
                    json!({
                        "deletedRegion": region(result, edit.range.start(), edit.range.end()),
                        "insertedContent": { "text": edit.content },
                    })
                })
                .collect();
            json!({
                "description": { "text": fix.message },
                "artifactChanges": [{
                    "artifactLocation": { "uri": uri(result) },
                    "replacements": replacements,
                }],
            })
        })
        .collect();
    let mut value = json!({
        "level": if diagnostic.rule().is_some() { "warning" } else { "error" },
        "message": { "text": diagnostic.message },
        "locations": [location],
    });
    if let Some(rule) = diagnostic.rule() {
        value["ruleId"] = json!(rule.code());
        value["ruleIndex"] = json!(Rule::ALL.iter().position(|r| *r == rule).unwrap_or_default());
    }
    if !fixes.is_empty() {
        value["fixes"] = json!(fixes);
    }
    value
}
