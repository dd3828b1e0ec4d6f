//! Open documents: their text as the editor has it, kept in step with incremental changes.

use std::sync::Arc;

use ruff_source_file::PositionEncoding;
use tower_lsp_server::ls_types::TextDocumentContentChangeEvent;

use crate::positions::IndexedText;

/// One open document. The text is shared with analyses running on it.
#[derive(Debug, Clone)]
pub struct Document {
    pub text: Arc<IndexedText>,
    pub version: i32,
}

impl Document {
    pub fn new(text: String, version: i32) -> Self {
        Self {
            text: Arc::new(IndexedText::new(text)),
            version,
        }
    }

    /// Applies one `didChange` notification's changes, in order.
    pub fn apply(
        &mut self,
        changes: Vec<TextDocumentContentChangeEvent>,
        version: i32,
        encoding: PositionEncoding,
    ) {
        let mut text = self.text.text.clone();
        let mut indexed: Option<IndexedText> = None;
        for change in changes {
            match change.range {
                None => {
                    text = change.text;
                    indexed = None;
                }
                Some(range) => {
                    // Positions of each change refer to the text after the previous change.
                    let current = indexed
                        .take()
                        .unwrap_or_else(|| IndexedText::new(std::mem::take(&mut text)));
                    let target = current.range_of(
                        (range.start.line, range.start.character),
                        (range.end.line, range.end.character),
                        encoding,
                    );
                    let mut next = current.text;
                    next.replace_range(
                        target.start().to_usize()..target.end().to_usize(),
                        &change.text,
                    );
                    indexed = Some(IndexedText::new(next));
                }
            }
        }
        self.text = Arc::new(match indexed {
            Some(indexed) => indexed,
            None => IndexedText::new(text),
        });
        self.version = version;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_lsp_server::ls_types::{Position, Range};

    fn change(start: (u32, u32), end: (u32, u32), text: &str) -> TextDocumentContentChangeEvent {
        TextDocumentContentChangeEvent {
            range: Some(Range::new(
                Position::new(start.0, start.1),
                Position::new(end.0, end.1),
            )),
            range_length: None,
            text: text.to_owned(),
        }
    }

    #[test]
    fn incremental_changes_apply_in_order() {
        let mut doc = Document::new("a = 1\nb = 2\n".to_owned(), 1);
        doc.apply(
            vec![
                change((0, 4), (0, 5), "10"),
                change((1, 0), (1, 0), "# x\n"),
            ],
            2,
            PositionEncoding::Utf16,
        );
        assert_eq!(doc.text.text, "a = 10\n# x\nb = 2\n");
        assert_eq!(doc.version, 2);
    }

    #[test]
    fn utf16_positions_after_emoji() {
        let mut doc = Document::new("s = '😀'\n".to_owned(), 1);
        // The closing quote is at UTF-16 column 7 (the emoji counts 2).
        doc.apply(
            vec![change((0, 7), (0, 8), "\"")],
            2,
            PositionEncoding::Utf16,
        );
        assert_eq!(doc.text.text, "s = '😀\"\n");
    }

    #[test]
    fn out_of_range_positions_are_clamped() {
        let mut doc = Document::new("x\n".to_owned(), 1);
        doc.apply(
            vec![change((5, 0), (9, 9), "y")],
            2,
            PositionEncoding::Utf16,
        );
        assert_eq!(doc.text.text, "x\ny");
    }
}
