//! Byte offsets ↔ the positions users and editors count in.

use ruff_source_file::{LineIndex, OneIndexed, PositionEncoding, SourceLocation};
use ruff_text_size::{TextRange, TextSize};

/// A document's text with its line index, for position conversions.
#[derive(Debug, Clone)]
pub struct IndexedText {
    pub text: String,
    pub index: LineIndex,
}

/// A 1-based row and 1-based column counted in characters (what ruff prints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RowColumn {
    pub row: usize,
    pub column: usize,
}

impl IndexedText {
    pub fn new(text: String) -> Self {
        let index = LineIndex::from_source_text(&text);
        Self { text, index }
    }

    pub fn row_column(&self, offset: TextSize) -> RowColumn {
        let location = self.index.line_column(offset.min(self.len()), &self.text);
        RowColumn {
            row: location.line.get(),
            column: location.column.get(),
        }
    }

    fn len(&self) -> TextSize {
        TextSize::try_from(self.text.len()).unwrap_or_default()
    }

    /// A 0-based (line, character) in the given encoding, as LSP counts.
    pub fn lsp_position(&self, offset: TextSize, encoding: PositionEncoding) -> (u32, u32) {
        let location = self
            .index
            .source_location(offset.min(self.len()), &self.text, encoding);
        (
            u32::try_from(location.line.to_zero_indexed()).unwrap_or(u32::MAX),
            u32::try_from(location.character_offset.to_zero_indexed()).unwrap_or(u32::MAX),
        )
    }

    /// The offset of a 0-based (line, character) position; positions past the end of a line
    /// or of the text are clamped to it, as LSP asks.
    pub fn offset(&self, line: u32, character: u32, encoding: PositionEncoding) -> TextSize {
        let line = line as usize;
        if line >= self.index.line_count() {
            return self.len();
        }
        let one = OneIndexed::from_zero_indexed(line);
        let offset = self.index.offset(
            SourceLocation {
                line: one,
                character_offset: OneIndexed::from_zero_indexed(character as usize),
            },
            &self.text,
            encoding,
        );
        // Never land inside the line break.
        let end = self.line_end(one);
        offset.min(end)
    }

    /// The end of a line's content, before its line break.
    fn line_end(&self, line: OneIndexed) -> TextSize {
        let range = self.index.line_range(line, &self.text);
        let content = &self.text[range];
        let trimmed = content.trim_end_matches(['\n', '\r']);
        range.start() + TextSize::try_from(trimmed.len()).unwrap_or_default()
    }

    pub fn range_of(
        &self,
        start: (u32, u32),
        end: (u32, u32),
        encoding: PositionEncoding,
    ) -> TextRange {
        let start = self.offset(start.0, start.1, encoding);
        let end = self.offset(end.0, end.1, encoding).max(start);
        TextRange::new(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns_count_surrogate_pairs() {
        let text = IndexedText::new("x = '😀'; f = open(p)\n".to_owned());
        let offset = TextSize::try_from(text.text.find("open").unwrap()).unwrap();
        // 13 characters precede `open`; the emoji is 2 UTF-16 units and 4 UTF-8 bytes.
        assert_eq!(text.lsp_position(offset, PositionEncoding::Utf16), (0, 14));
        assert_eq!(text.lsp_position(offset, PositionEncoding::Utf8), (0, 16));
        assert_eq!(text.row_column(offset), RowColumn { row: 1, column: 14 });
        assert_eq!(text.offset(0, 14, PositionEncoding::Utf16), offset);
        assert_eq!(text.offset(0, 16, PositionEncoding::Utf8), offset);
    }

    #[test]
    fn positions_past_the_end_are_clamped() {
        let text = IndexedText::new("ab\r\ncd".to_owned());
        assert_eq!(
            text.offset(0, 99, PositionEncoding::Utf16),
            TextSize::new(2)
        );
        assert_eq!(text.offset(9, 0, PositionEncoding::Utf16), TextSize::new(6));
        assert_eq!(text.offset(1, 1, PositionEncoding::Utf16), TextSize::new(5));
    }
}
