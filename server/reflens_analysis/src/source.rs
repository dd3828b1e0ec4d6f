//! Turning a file's bytes into text the way CPython does: a UTF-8 BOM, or a PEP 263 coding
//! cookie on the first or second line, or UTF-8 by default.
//!
//! Decoding never panics. Bytes that cannot be decoded give a [`DecodeError`] that says where
//! and what to do about it, so callers can report one clear diagnostic for the file.

use std::borrow::Cow;
use std::fmt;

/// The text of a source file and the encoding it was decoded from.
#[derive(Debug)]
pub struct DecodedSource<'a> {
    pub text: Cow<'a, str>,
    /// The encoding named by the coding cookie, if the file had one (normalized, e.g. `latin-1`).
    pub encoding: Option<String>,
}

/// Why a file's bytes are not text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// What went wrong, as a sentence for the user.
    pub message: String,
    /// 1-based line of the first offending byte.
    pub line: usize,
    /// 1-based byte column of the first offending byte.
    pub column: usize,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Decodes Python source bytes: BOM, then PEP 263 cookie, then UTF-8.
pub fn decode(bytes: &[u8]) -> Result<DecodedSource<'_>, DecodeError> {
    let (has_bom, body) = match bytes.strip_prefix(UTF8_BOM) {
        Some(rest) => (true, rest),
        None => (false, bytes),
    };
    let cookie = coding_cookie(body);

    if has_bom {
        if let Some(name) = &cookie
            && !is_utf8_name(name)
        {
            return Err(DecodeError {
                message: format!(
                    "the file starts with a UTF-8 byte order mark but its coding cookie says `{name}`"
                ),
                line: 1,
                column: 1,
            });
        }
        return decode_utf8(body, None);
    }

    match cookie {
        None => decode_utf8(body, None),
        Some(name) if is_utf8_name(&name) => decode_utf8(body, Some(name)),
        Some(name) if matches!(name.as_str(), "ascii" | "us-ascii" | "646") => {
            match body.iter().position(|b| !b.is_ascii()) {
                None => decode_utf8(body, Some(name)),
                Some(offset) => {
                    let (line, column) = line_column(body, offset);
                    Err(DecodeError {
                        message: format!(
                            "the file declares `{name}` in its coding cookie but byte 0x{:02X} at line {line}, column {column} is not ASCII",
                            body[offset]
                        ),
                        line,
                        column,
                    })
                }
            }
        }
        Some(name) if is_latin1_name(&name) => {
            // Python's latin-1 maps every byte to the code point of the same value; WHATWG's
            // "latin1" label is really windows-1252, so decode by hand.
            let text: String = body.iter().map(|&b| char::from(b)).collect();
            Ok(DecodedSource {
                text: Cow::Owned(text),
                encoding: Some("latin-1".to_owned()),
            })
        }
        Some(name) => {
            let Some(encoding) = whatwg_encoding(&name) else {
                return Err(DecodeError {
                    message: format!(
                        "unknown encoding `{name}` in the coding cookie (PEP 263); use an encoding Python knows, such as `utf-8` or `latin-1`"
                    ),
                    line: cookie_line(body),
                    column: 1,
                });
            };
            match encoding.decode_without_bom_handling_and_without_replacement(body) {
                Some(text) => Ok(DecodedSource {
                    text: Cow::Owned(text.into_owned()),
                    encoding: Some(name),
                }),
                None => {
                    let (line, column) = first_undecodable(encoding, body);
                    Err(DecodeError {
                        message: format!(
                            "the file declares `{name}` in its coding cookie but line {line}, column {column} is not valid `{name}`"
                        ),
                        line,
                        column,
                    })
                }
            }
        }
    }
}

fn decode_utf8(body: &[u8], cookie: Option<String>) -> Result<DecodedSource<'_>, DecodeError> {
    match std::str::from_utf8(body) {
        Ok(text) => Ok(DecodedSource {
            text: Cow::Borrowed(text),
            encoding: cookie,
        }),
        Err(err) => {
            let offset = err.valid_up_to();
            let (line, column) = line_column(body, offset);
            Err(DecodeError {
                message: format!(
                    "the file is not valid UTF-8 (byte 0x{:02X} at line {line}, column {column}) and declares no other encoding; \
                     save it as UTF-8 or add a coding cookie such as `# -*- coding: latin-1 -*-` on its first line",
                    body[offset]
                ),
                line,
                column,
            })
        }
    }
}

/// The encoding named by a PEP 263 cookie (`# -*- coding: <name> -*-`, `# vim: set fileencoding=<name> :`)
/// on line 1, or on line 2 when line 1 is blank or a comment, lower-cased with `_` as `-`.
pub fn coding_cookie(bytes: &[u8]) -> Option<String> {
    let mut lines = bytes.split(|&b| b == b'\n');
    let first = lines.next()?;
    if let Some(name) = cookie_in_line(first) {
        return Some(name);
    }
    if !is_blank_or_comment(first) {
        return None;
    }
    lines.next().and_then(cookie_in_line)
}

fn cookie_line(bytes: &[u8]) -> usize {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    if cookie_in_line(first).is_some() {
        1
    } else {
        2
    }
}

fn is_blank_or_comment(line: &[u8]) -> bool {
    let trimmed = trim_start(line);
    trimmed.is_empty() || trimmed[0] == b'#' || trimmed == b"\r"
}

fn trim_start(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b'\x0c'))
        .unwrap_or(line.len());
    &line[start..]
}

/// Matches `^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)` on one line of bytes.
fn cookie_in_line(line: &[u8]) -> Option<String> {
    let trimmed = trim_start(line);
    if trimmed.first() != Some(&b'#') {
        return None;
    }
    let mut rest = trimmed;
    while let Some(pos) = find(rest, b"coding") {
        let after = &rest[pos + b"coding".len()..];
        if let Some((&sep, tail)) = after.split_first()
            && (sep == b':' || sep == b'=')
        {
            let tail = &tail[tail
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .unwrap_or(tail.len())..];
            let len = tail
                .iter()
                .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
                .unwrap_or(tail.len());
            if len > 0 {
                let name = String::from_utf8_lossy(&tail[..len]).to_ascii_lowercase();
                return Some(name.replace('_', "-"));
            }
        }
        rest = &rest[pos + 1..];
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn is_utf8_name(name: &str) -> bool {
    matches!(
        name,
        "utf-8" | "utf8" | "utf-8-sig" | "u8" | "utf" | "cp65001"
    ) || name.starts_with("utf-8-")
}

fn is_latin1_name(name: &str) -> bool {
    matches!(
        name,
        "latin-1"
            | "latin1"
            | "latin"
            | "l1"
            | "iso-8859-1"
            | "iso8859-1"
            | "8859"
            | "cp819"
            | "iso-ir-100"
    ) || name.starts_with("iso-8859-1-")
        || name.starts_with("latin-1-")
}

/// Maps Python's codec names to the WHATWG encodings that `encoding_rs` implements.
fn whatwg_encoding(name: &str) -> Option<&'static encoding_rs::Encoding> {
    let alias = match name {
        "cp932" | "ms932" | "mskanji" | "ms-kanji" | "sjis" | "s-jis" | "shiftjis" => "shift_jis",
        "cp936" | "ms936" | "936" => "gbk",
        "cp949" | "ms949" | "uhc" => "euc-kr",
        "cp950" | "ms950" => "big5",
        "eucjp" | "ujis" | "u-jis" => "euc-jp",
        "euckr" => "euc-kr",
        "iso2022-jp" | "csiso2022jp" => "iso-2022-jp",
        "koi8r" => "koi8-r",
        "koi8u" => "koi8-u",
        other => other,
    };
    let alias = alias
        .replace("iso8859-", "iso-8859-")
        .replace("cp125", "windows-125");
    let encoding = encoding_rs::Encoding::for_label(alias.as_bytes())?;
    // `replacement` is WHATWG's sink for unsafe labels; it is never what a Python file meant.
    (encoding != encoding_rs::REPLACEMENT).then_some(encoding)
}

fn first_undecodable(encoding: &'static encoding_rs::Encoding, bytes: &[u8]) -> (usize, usize) {
    // Decode growing prefixes line by line until one fails; good enough for one error message.
    let mut offset = 0;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let end = offset + line.len();
        if encoding
            .decode_without_bom_handling_and_without_replacement(line)
            .is_none()
        {
            return line_column(bytes, offset);
        }
        offset = end;
    }
    line_column(bytes, 0)
}

fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    (line, offset - line_start + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_borrowed() {
        let decoded = decode("x = 'é'\n".as_bytes()).unwrap();
        assert!(matches!(decoded.text, Cow::Borrowed(_)));
        assert_eq!(decoded.encoding, None);
    }

    #[test]
    fn bom_is_stripped() {
        let decoded = decode(b"\xEF\xBB\xBFx = 1\n").unwrap();
        assert_eq!(decoded.text, "x = 1\n");
    }

    #[test]
    fn latin1_cookie() {
        let decoded = decode(b"# -*- coding: latin-1 -*-\nname = '\xe9t\xe9'\n").unwrap();
        assert_eq!(
            decoded.text,
            "# -*- coding: latin-1 -*-\nname = '\u{e9}t\u{e9}'\n"
        );
        assert_eq!(decoded.encoding.as_deref(), Some("latin-1"));
    }

    #[test]
    fn cookie_on_second_line_after_shebang() {
        let decoded =
            decode(b"#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\ns = '\x80'\n")
                .unwrap();
        assert!(decoded.text.contains('\u{20ac}'));
    }

    #[test]
    fn cookie_on_second_line_after_code_is_ignored() {
        assert_eq!(coding_cookie(b"x = 1\n# coding: latin-1\n"), None);
    }

    #[test]
    fn invalid_utf8_reports_position() {
        let err = decode(b"x = 1\ny = '\xe9'\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 6));
        assert!(err.message.contains("0xE9"), "{}", err.message);
    }

    #[test]
    fn unknown_cookie() {
        let err = decode(b"# coding: klingon\nx = 1\n").unwrap_err();
        assert!(err.message.contains("klingon"));
    }

    #[test]
    fn shift_jis_cookie() {
        let decoded = decode(b"# coding: shift_jis\ns = '\x82\xa0'\n").unwrap();
        assert!(decoded.text.contains('\u{3042}'));
    }

    #[test]
    fn bom_with_conflicting_cookie() {
        assert!(decode(b"\xEF\xBB\xBF# coding: latin-1\n").is_err());
    }
}
