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
            "originalUriBaseIds": srcroot(),
            "results": results,
        }]
    })
}

/// The base that relative artifact URIs are resolved against: the working directory.
const SRCROOT: &str = "%SRCROOT%";

fn percent_encode(path: &str) -> String {
    let mut out = String::new();
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// A file's location: relative to the working directory when inside it (what code-scanning
/// services expect), else an absolute `file://` URI.
fn artifact_location(result: &FileResult) -> Value {
    let cwd = std::env::current_dir().unwrap_or_default();
    match result.absolute.strip_prefix(&cwd) {
        Ok(relative) => {
            json!({ "uri": percent_encode(&relative.display().to_string()), "uriBaseId": SRCROOT })
        }
        Err(_) => {
            json!({ "uri": format!("file://{}", percent_encode(&result.absolute.display().to_string())) })
        }
    }
}

fn srcroot() -> Value {
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut uri = format!("file://{}", percent_encode(&cwd.display().to_string()));
    if !uri.ends_with('/') {
        uri.push('/');
    }
    json!({ SRCROOT: { "uri": uri } })
}

fn region(
    result: &FileResult,
    start: ruff_text_size::TextSize,
    end: ruff_text_size::TextSize,
) -> Value {
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
            "artifactLocation": artifact_location(result),
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
                    "artifactLocation": artifact_location(result),
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
    match diagnostic.rule() {
        Some(rule) => {
            value["ruleId"] = json!(rule.code());
            value["ruleIndex"] = json!(
                Rule::ALL
                    .iter()
                    .position(|r| *r == rule)
                    .unwrap_or_default()
            );
        }
        // SARIF wants a rule id on every result; problems with the file itself get their own.
        None => value["ruleId"] = json!(super::code_or_kind(diagnostic)),
    }
    if !fixes.is_empty() {
        value["fixes"] = json!(fixes);
    }
    value
}
