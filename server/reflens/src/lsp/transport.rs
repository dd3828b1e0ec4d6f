//! The byte stream from the editor, checked frame by frame before tower-lsp-server reads it.
//!
//! tower-lsp-server stops serving at the first frame it cannot decode (a body that is not
//! JSON, not a JSON-RPC message, or not UTF-8): its framed reader ends after any decode error,
//! and the server exits. Malformed traffic must not take the server down, so stdin is read here
//! first and passed on through an in-memory pipe:
//!
//! - a well-formed message is passed on unchanged;
//! - invalid UTF-8 is replaced with U+FFFD, so that a document sent with a stray latin-1 byte
//!   still opens (and stays in step with the editor's later changes);
//! - a body that is not a JSON-RPC message becomes a request to [`MALFORMED_METHOD`], whose
//!   handler answers with the JSON-RPC error it deserves (parse error or invalid request);
//! - a header block without a valid `Content-Length` is skipped up to the next header.

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tower_lsp_server::jsonrpc::{self, ErrorCode, Request, Response};

/// The method a malformed message is replaced with. Its handler is [`malformed`].
pub const MALFORMED_METHOD: &str = "reflens/malformedMessage";

const HEADER_END: &[u8] = b"\r\n\r\n";
const CONTENT_LENGTH: &[u8] = b"Content-Length";
/// Bytes without a header end beyond this are garbage, not a header still arriving.
const MAX_HEADER: usize = 64 * 1024;

/// What [`MALFORMED_METHOD`] is called with.
#[derive(Debug, Deserialize)]
pub struct Malformed {
    code: i64,
    message: String,
}

/// The handler of [`MALFORMED_METHOD`]: the error response for a malformed message.
pub fn malformed(params: Malformed) -> jsonrpc::Result<()> {
    Err(jsonrpc::Error {
        code: ErrorCode::from(params.code),
        message: params.message.into(),
        data: None,
    })
}

/// Copies framed messages from `input` to `output`, checking each one, until `input` ends or
/// the server stops reading `output`.
pub async fn forward(mut input: impl AsyncRead + Unpin, mut output: impl AsyncWrite + Unpin) {
    let mut buffer: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        let body = match next_frame(&mut buffer) {
            Step::Frame(body) => body,
            Step::Skipped => continue,
            Step::NeedMore => match input.read_buf(&mut buffer).await {
                Ok(0) => return, // end of input: the server sees it too and stops
                Ok(_) => continue,
                Err(err) => {
                    tracing::error!("cannot read stdin: {err}");
                    return;
                }
            },
        };
        let Some(message) = checked(body) else {
            continue;
        };
        let header = format!("Content-Length: {}\r\n\r\n", message.len());
        let written = async {
            output.write_all(header.as_bytes()).await?;
            output.write_all(&message).await?;
            output.flush().await
        };
        if written.await.is_err() {
            return; // the server has stopped reading (after `exit`)
        }
    }
}

enum Step {
    /// A complete body, removed from the buffer.
    Frame(Vec<u8>),
    /// Garbage was dropped from the buffer; look again.
    Skipped,
    /// The buffer holds no complete frame yet.
    NeedMore,
}

fn next_frame(buffer: &mut Vec<u8>) -> Step {
    let Some(end) = find(buffer, HEADER_END) else {
        if buffer.len() > MAX_HEADER {
            tracing::warn!(
                "skipping {} bytes of input that hold no message header",
                buffer.len()
            );
            // Keep what could be the start of a header end.
            buffer.drain(..buffer.len() - (HEADER_END.len() - 1));
            return Step::Skipped;
        }
        return Step::NeedMore;
    };
    let body_start = end + HEADER_END.len();
    match content_length(&buffer[..end]) {
        Some(length) => {
            let Some(body_end) = body_start.checked_add(length) else {
                return skip_header(buffer, end);
            };
            if buffer.len() < body_end {
                // Room for the rest, but never trust a huge length with one allocation.
                buffer.reserve((body_end - buffer.len()).min(1 << 20));
                return Step::NeedMore;
            }
            let body = buffer[body_start..body_end].to_vec();
            buffer.drain(..body_end);
            Step::Frame(body)
        }
        None => skip_header(buffer, end),
    }
}

/// Drops a header block without a valid `Content-Length`, or the garbage before a
/// `Content-Length` that it runs into.
fn skip_header(buffer: &mut Vec<u8>, end: usize) -> Step {
    tracing::warn!(
        "skipping a message header without a valid Content-Length: {:?}",
        String::from_utf8_lossy(&buffer[..end.min(200)])
    );
    let skip = find(buffer.get(1..end).unwrap_or_default(), CONTENT_LENGTH)
        .map_or(end + HEADER_END.len(), |at| at + 1);
    buffer.drain(..skip);
    Step::Skipped
}

/// The `Content-Length` of a header block (header names are case-insensitive).
fn content_length(headers: &[u8]) -> Option<usize> {
    headers.split(|&b| b == b'\n').find_map(|line| {
        let line = std::str::from_utf8(line).ok()?;
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

/// The message to pass on for a body: itself if it is a JSON-RPC message (with invalid UTF-8
/// replaced), else a request to [`MALFORMED_METHOD`]. `None` for an empty body, which
/// tower-lsp-server ignores too.
fn checked(body: Vec<u8>) -> Option<Vec<u8>> {
    let text = match String::from_utf8(body) {
        Ok(text) => text,
        Err(err) => {
            let error = err.utf8_error();
            tracing::warn!(
                "a message is not valid UTF-8 ({error}): the invalid bytes are replaced with U+FFFD"
            );
            String::from_utf8_lossy(err.as_bytes()).into_owned()
        }
    };
    if text.trim().is_empty() {
        return None;
    }
    // What tower-lsp-server decodes: a request or notification, or a response.
    if serde_json::from_str::<Request>(&text).is_ok()
        || serde_json::from_str::<Response>(&text).is_ok()
    {
        return Some(text.into_bytes());
    }
    let (code, message, id) = match serde_json::from_str::<Value>(&text) {
        Err(err) => (
            ErrorCode::ParseError,
            format!("Parse error: {err}"),
            Value::Null,
        ),
        Ok(value) => {
            // Answer a request whose id can be read with that id, so its sender stops waiting;
            // otherwise `null`, as JSON-RPC says.
            let id = match value.get("id") {
                Some(id) if value.get("method").is_some() && (id.is_i64() || id.is_string()) => {
                    id.clone()
                }
                _ => Value::Null,
            };
            (
                ErrorCode::InvalidRequest,
                "Invalid request: not a JSON-RPC 2.0 message".to_owned(),
                id,
            )
        }
    };
    tracing::warn!("{message}: {:?}", abbreviate(&text, 200));
    let request = json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": MALFORMED_METHOD,
        "params": {"code": code.code(), "message": message},
    });
    Some(request.to_string().into_bytes())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn abbreviate(text: &str, max: usize) -> &str {
    text.char_indices()
        .nth(max)
        .map_or(text, |(cut, _)| &text[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<Vec<u8>> {
        let mut buffer = input.to_vec();
        let mut out = Vec::new();
        loop {
            match next_frame(&mut buffer) {
                Step::Frame(body) => out.push(body),
                Step::Skipped => {}
                Step::NeedMore => return out,
            }
        }
    }

    #[test]
    fn frames_are_split_and_garbage_is_skipped() {
        let input = b"\r\n\r\nContent-Length: 2\r\n\r\n{}content-length:3\r\nContent-Type: x\r\n\r\n[1]\
                      Content-Type: y\r\n\r\ngarbageContent-Length: 1\r\n\r\n1Content-Length: 5\r\n\r\n12";
        assert_eq!(
            frames(input),
            [b"{}".to_vec(), b"[1]".to_vec(), b"1".to_vec()]
        );
    }

    #[test]
    fn a_huge_length_waits_for_more_without_allocating_it() {
        let mut buffer = b"Content-Length: 99999999999999\r\n\r\n{}".to_vec();
        assert!(matches!(next_frame(&mut buffer), Step::NeedMore));
        assert!(buffer.capacity() < 4 << 20);
    }

    #[test]
    fn malformed_bodies_become_error_requests() {
        let valid = br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#.to_vec();
        assert_eq!(checked(valid.clone()), Some(valid));
        assert_eq!(checked(b"  ".to_vec()), None);

        let parse_error: Value =
            serde_json::from_slice(&checked(b"nope".to_vec()).unwrap()).unwrap();
        assert_eq!(parse_error["method"], MALFORMED_METHOD);
        assert_eq!(parse_error["id"], Value::Null);
        assert_eq!(parse_error["params"]["code"], -32700);

        let bad_version = br#"{"jsonrpc":"1.0","id":7,"method":"x"}"#.to_vec();
        let invalid: Value = serde_json::from_slice(&checked(bad_version).unwrap()).unwrap();
        assert_eq!(invalid["id"], 7);
        assert_eq!(invalid["params"]["code"], -32600);
        // What is passed on must itself be a message tower-lsp-server can decode.
        assert!(serde_json::from_value::<Request>(invalid).is_ok());
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let body =
            b"{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"text\":\"caf\xe9\"}}".to_vec();
        let passed: Value = serde_json::from_slice(&checked(body).unwrap()).unwrap();
        assert_eq!(passed["params"]["text"], "caf\u{FFFD}");
    }
}
