//! `--output-format github`: workflow commands that GitHub Actions shows as annotations.

use std::io::Write;

use reflens_analysis::DiagnosticKind;

use super::{code_or_kind, end_location, findings, location};
use crate::check::FileResult;

pub fn write(out: &mut impl Write, results: &[FileResult]) -> anyhow::Result<()> {
    for (result, diagnostic) in findings(results) {
        let start = location(result, diagnostic);
        let end = end_location(result, diagnostic);
        let level = match diagnostic.kind {
            DiagnosticKind::Rule(_) => "warning",
            _ => "error",
        };
        let code = code_or_kind(diagnostic);
        writeln!(
            out,
            "::{level} title={},file={},line={},col={},endLine={},endColumn={}::{}",
            property(&format!("reflens ({code})")),
            property(&result.display),
            start.row,
            start.column,
            end.row,
            end.column,
            data(&format!(
                "{}:{}:{}: {code} {}",
                result.display, start.row, start.column, diagnostic.message
            )),
        )?;
    }
    Ok(())
}

/// Escapes a message for a workflow command.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value (`file=…`, `title=…`) for a workflow command.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes() {
        assert_eq!(super::data("50%\nx"), "50%25%0Ax");
        assert_eq!(super::property("a:b,c"), "a%3Ab%2Cc");
    }
}
