//! The client's side of positions and edits: LSP (line, character) positions in the negotiated
//! encoding ↔ byte offsets, and applying `TextEdit`s / `WorkspaceEdit`s to the client's copy
//! of a document. Written independently of the server's code, so the tests check it.

use serde_json::{Value, json};

/// A position encoding, as negotiated in `initialize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
    Utf32,
}

impl Encoding {
    /// From the server's `positionEncoding` (absent means UTF-16).
    pub fn from_lsp(name: Option<&str>) -> Self {
        match name {
            Some("utf-8") => Self::Utf8,
            Some("utf-32") => Self::Utf32,
            _ => Self::Utf16,
        }
    }

    fn units(self, c: char) -> usize {
        match self {
            Self::Utf8 => c.len_utf8(),
            Self::Utf16 => c.len_utf16(),
            Self::Utf32 => 1,
        }
    }
}

/// The byte ranges of each line's content (without its terminator). LSP ends lines at `\n`,
/// `\r\n` and `\r`; a text ending in a terminator has an empty last line.
fn lines(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push((start, i));
                start = i + 1;
            }
            b'\r' => {
                lines.push((start, i));
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    lines.push((start, text.len()));
    lines
}

/// The byte offset of a position. Positions past the end of a line or of the text are
/// clamped, as LSP asks.
pub fn offset(text: &str, line: u64, character: u64, encoding: Encoding) -> usize {
    let lines = lines(text);
    let Some(&(start, end)) = usize::try_from(line).ok().and_then(|line| lines.get(line)) else {
        return text.len();
    };
    let mut units = 0u64;
    for (at, c) in text[start..end].char_indices() {
        if units >= character {
            return start + at;
        }
        units += encoding.units(c) as u64;
    }
    end
}

/// The position of a byte offset (which must be on a character boundary).
pub fn position(text: &str, offset: usize, encoding: Encoding) -> Value {
    let lines = lines(text);
    let line = lines
        .iter()
        .rposition(|&(start, _)| start <= offset)
        .unwrap_or(0);
    let start = lines[line].0;
    let character: usize = text[start..offset].chars().map(|c| encoding.units(c)).sum();
    json!({"line": line, "character": character})
}

/// The LSP range of the first occurrence of `needle` (panics if absent: a broken test fixture).
pub fn range_of(text: &str, needle: &str, encoding: Encoding) -> Value {
    let start = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} is not in the text:\n{text}"));
    span(text, start, start + needle.len(), encoding)
}

/// The LSP range of a byte range.
pub fn span(text: &str, start: usize, end: usize, encoding: Encoding) -> Value {
    json!({"start": position(text, start, encoding), "end": position(text, end, encoding)})
}

/// The byte range of an LSP range.
pub fn byte_range(text: &str, range: &Value, encoding: Encoding) -> (usize, usize) {
    let at = |position: &Value| {
        let line = position["line"]
            .as_u64()
            .unwrap_or_else(|| panic!("bad position {position}"));
        let character = position["character"]
            .as_u64()
            .unwrap_or_else(|| panic!("bad position {position}"));
        offset(text, line, character, encoding)
    };
    let start = at(&range["start"]);
    (start, at(&range["end"]).max(start))
}

/// Applies `TextEdit`s (or `AnnotatedTextEdit`s): all their ranges refer to the original text,
/// so they are applied from the last to the first.
pub fn apply_edits(text: &str, edits: &[Value], encoding: Encoding) -> String {
    let mut spans: Vec<(usize, usize, &str)> = edits
        .iter()
        .map(|edit| {
            let (start, end) = byte_range(text, &edit["range"], encoding);
            let new_text = edit["newText"]
                .as_str()
                .unwrap_or_else(|| panic!("an edit without newText: {edit}"));
            (start, end, new_text)
        })
        .collect();
    // Stable sort: inserts at the same offset keep their order.
    spans.sort_by_key(|&(start, end, _)| (start, end));
    let mut out = text.to_owned();
    for &(start, end, new_text) in spans.iter().rev() {
        out.replace_range(start..end, new_text);
    }
    out
}

/// The edits a `WorkspaceEdit` makes to one document, whichever form the server chose:
/// `changes` (a map from URI to edits) or `documentChanges` (versioned `TextDocumentEdit`s).
/// Also returns the document version the edit was computed for, if it says.
pub fn edits_for(workspace_edit: &Value, uri: &str) -> (Vec<Value>, Option<i64>) {
    if let Some(changes) = workspace_edit["changes"].as_object() {
        let edits = changes
            .get(uri)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        return (edits, None);
    }
    let mut edits = Vec::new();
    let mut version = None;
    for change in workspace_edit["documentChanges"]
        .as_array()
        .into_iter()
        .flatten()
    {
        // Resource operations (create/rename/delete) have a `kind`; the tests expect none.
        assert!(
            change.get("kind").is_none(),
            "unexpected resource operation: {change}"
        );
        if change["textDocument"]["uri"] == uri {
            version = change["textDocument"]["version"].as_i64();
            edits.extend(change["edits"].as_array().cloned().unwrap_or_default());
        }
    }
    (edits, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_in_each_encoding() {
        let text = "a\r\nx = '😀é'; y\rz";
        let y = text.find('y').unwrap();
        assert_eq!(
            position(text, y, Encoding::Utf8),
            json!({"line": 1, "character": 14})
        );
        assert_eq!(
            position(text, y, Encoding::Utf16),
            json!({"line": 1, "character": 11})
        );
        assert_eq!(
            position(text, y, Encoding::Utf32),
            json!({"line": 1, "character": 10})
        );
        assert_eq!(offset(text, 1, 11, Encoding::Utf16), y);
        assert_eq!(offset(text, 2, 0, Encoding::Utf16), text.find('z').unwrap());
        assert_eq!(offset(text, 0, 99, Encoding::Utf16), 1);
        assert_eq!(offset(text, 9, 0, Encoding::Utf16), text.len());
    }

    #[test]
    fn edits_apply_against_the_original_text() {
        let text = "one\ntwo\n";
        let edits = [
            json!({"range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 3}}, "newText": "2"}),
            json!({"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 3}}, "newText": "1"}),
        ];
        assert_eq!(apply_edits(text, &edits, Encoding::Utf16), "1\n2\n");
    }
}
