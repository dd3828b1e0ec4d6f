//! A small LSP client for the end-to-end tests: it runs the real `reflens server` binary and
//! talks JSON-RPC to it over the child's stdin/stdout, framed with `Content-Length` headers.
//!
//! A reader thread turns the server's stdout into messages on a channel (and answers the
//! server's own requests, such as `client/registerCapability`, so the server never waits on
//! us); a writer thread feeds its stdin, so that a server that stops reading cannot block the
//! test on a full pipe; another thread keeps the server's stderr, which is printed when a test
//! fails. Every wait has a timeout: a misbehaving server makes a test fail, never hang.

use std::collections::VecDeque;
use std::fmt::Display;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::text::Encoding;

/// How long any single wait may take. Generous: the test machine is small and shared.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The LSP error codes the tests look for.
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_PARAMS: i64 = -32602;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const REQUEST_CANCELLED: i64 = -32800;

/// What the reader thread saw on the server's stdout.
enum Incoming {
    Message(Value),
    /// The stream ended or could not be read any more, and why.
    Closed(String),
}

/// What the writer thread is asked to do with the server's stdin.
enum Outgoing {
    Bytes(Vec<u8>),
    Close,
}

/// A running `reflens server` and the client side of its session.
pub struct Server {
    child: Child,
    outgoing: Sender<Outgoing>,
    /// The first error writing to the server, if any (writes are asynchronous).
    write_error: Arc<Mutex<Option<String>>>,
    incoming: Receiver<Incoming>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Every message received so far, in arrival order.
    received: Vec<Value>,
    /// Received messages that no wait has consumed yet, in arrival order.
    unread: VecDeque<Value>,
    /// Set once stdout is closed, with the reason.
    closed: Option<String>,
    next_id: i64,
    /// The position encoding negotiated in `initialize` (UTF-16 until then, as LSP says).
    pub encoding: Encoding,
}

impl Server {
    /// Starts `reflens server` from the binary cargo built for this test.
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Starts `reflens server` with extra environment variables.
    pub fn start_with_env(env: &[(&str, &std::ffi::OsStr)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_reflens"));
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .arg("server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start `reflens server`: {err}"));
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr_pipe = child.stderr.take().expect("stderr is piped");

        // Keep the server's log; reading it also stops a chatty server from blocking on a full pipe.
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        thread::spawn(move || {
            let mut pipe = stderr_pipe;
            let mut chunk = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                lock(&sink).extend_from_slice(&chunk[..n]);
            }
        });

        let (outgoing, to_write) = mpsc::channel();
        let write_error = Arc::new(Mutex::new(None));
        let errors = write_error.clone();
        thread::spawn(move || write_messages(stdin, &to_write, &errors));

        let (sender, incoming) = mpsc::channel();
        let replies = outgoing.clone();
        thread::spawn(move || read_messages(stdout, &sender, &replies));

        Self {
            child,
            outgoing,
            write_error,
            incoming,
            stderr,
            received: Vec::new(),
            unread: VecDeque::new(),
            closed: None,
            next_id: 1,
            encoding: Encoding::Utf16,
        }
    }

    /// Sends a request and returns its id (the response is awaited separately).
    pub fn request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&message(Some(id), method, params));
        id
    }

    /// Sends a request and waits for its successful result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.request(method, params);
        let response = self.response(id);
        match response.get("result") {
            Some(result) => result.clone(),
            None => self.fail(format!("`{method}` failed: {response}")),
        }
    }

    /// Sends a request and waits for its error (fails if it succeeds).
    pub fn call_error(&mut self, method: &str, params: Value) -> Value {
        let id = self.request(method, params);
        let response = self.response(id);
        match response.get("error") {
            Some(error) => error.clone(),
            None => self.fail(format!(
                "`{method}` was expected to fail but answered {response}"
            )),
        }
    }

    /// Waits for the response to request `id` (result or error).
    pub fn response(&mut self, id: i64) -> Value {
        self.wait_for(&format!("the response to request {id}"), |message| {
            message.get("method").is_none() && message.get("id") == Some(&json!(id))
        })
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&message(None, method, params));
    }

    /// Waits for the next notification `method` whose params satisfy `accept`; returns the params.
    pub fn notification(&mut self, method: &str, accept: impl Fn(&Value) -> bool) -> Value {
        let message = self.wait_for(&format!("a `{method}` notification"), |message| {
            message.get("id").is_none()
                && message.get("method").and_then(Value::as_str) == Some(method)
                && accept(&message["params"])
        });
        message["params"].clone()
    }

    /// Waits for `publishDiagnostics` for this version of the document; returns its diagnostics.
    pub fn diagnostics(&mut self, uri: &str, version: i32) -> Vec<Value> {
        let params = self.notification("textDocument/publishDiagnostics", |params| {
            params["uri"] == uri && params["version"] == version
        });
        params["diagnostics"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits for a message that satisfies `accept`, looking first at the messages received
    /// earlier that no wait consumed. Other messages are kept, in order, for later waits.
    pub fn wait_for(&mut self, what: &str, accept: impl Fn(&Value) -> bool) -> Value {
        if let Some(index) = self.unread.iter().position(&accept) {
            return self.unread.remove(index).expect("index is in bounds");
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(reason) = &self.closed {
                self.fail(format!(
                    "waiting for {what}, but the server's output is closed: {reason}"
                ));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.incoming.recv_timeout(left) {
                Ok(Incoming::Message(message)) => {
                    self.received.push(message.clone());
                    if accept(&message) {
                        return message;
                    }
                    self.unread.push_back(message);
                }
                Ok(Incoming::Closed(reason)) => self.closed = Some(reason),
                Err(RecvTimeoutError::Timeout) => {
                    self.fail(format!("timed out after {TIMEOUT:?} waiting for {what}"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.closed = Some("the reader thread stopped".to_owned())
                }
            }
        }
    }

    /// Drops the messages no wait has consumed yet (older publishes a later wait must not see).
    pub fn forget_unread(&mut self) {
        self.unread.clear();
    }

    /// Every message received so far, in arrival order.
    pub fn received(&self) -> &[Value] {
        &self.received
    }

    /// Serializes and frames one message.
    pub fn send(&mut self, message: &Value) {
        let body = serde_json::to_vec(message).expect("a JSON value serializes");
        self.send_body(&body);
    }

    /// Frames arbitrary bytes as a message body (which need not be JSON, nor UTF-8).
    pub fn send_body(&mut self, body: &[u8]) {
        let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        frame.extend_from_slice(body);
        self.send_bytes(&frame);
    }

    /// Writes bytes to the server's stdin as they are, without framing.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        if let Some(err) = lock(&self.write_error).clone() {
            self.fail(format!("cannot write to the server: {err}"));
        }
        if self.outgoing.send(Outgoing::Bytes(bytes.to_vec())).is_err() {
            self.fail("cannot write to the server: its stdin is closed");
        }
    }

    /// Closes the server's stdin (end of input), after what was sent before.
    pub fn close_stdin(&mut self) {
        let _ = self.outgoing.send(Outgoing::Close);
    }

    /// Waits for the process to exit and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                Ok(None) => self.fail(format!("the server did not exit within {TIMEOUT:?}")),
                Err(err) => self.fail(format!("cannot wait for the server: {err}")),
            }
        }
    }

    /// The server's log so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&lock(&self.stderr)).into_owned()
    }

    /// Fails the test with `message` and the last messages of the session (the server's log is
    /// printed by `Drop`, for every kind of failure).
    #[track_caller]
    pub fn fail(&self, message: impl Display) -> ! {
        let recent: Vec<String> = self
            .received
            .iter()
            .rev()
            .take(8)
            .rev()
            .map(|m| abbreviate(&m.to_string(), 400))
            .collect();
        let write_error = lock(&self.write_error)
            .as_ref()
            .map(|err| format!("\n(writing to the server failed: {err})"))
            .unwrap_or_default();
        panic!(
            "{message}{write_error}\n--- the last messages from the server (of {}) ---\n{}",
            self.received.len(),
            recent.join("\n")
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Never leave a server behind, whatever the test did.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if thread::panicking() {
            eprintln!(
                "--- reflens server log ---\n{}--- end of log ---",
                self.stderr()
            );
        }
    }
}

/// A request (with an id) or a notification; `null` params are left out (`shutdown`, `exit`).
fn message(id: Option<i64>, method: &str, params: Value) -> Value {
    let mut message = json!({"jsonrpc": "2.0", "method": method});
    if let Some(id) = id {
        message["id"] = json!(id);
    }
    if !params.is_null() {
        message["params"] = params;
    }
    message
}

/// The writer thread: writes what the test (and the reader thread) send, until told to close
/// stdin or a write fails (the first error is kept for the failure report).
fn write_messages(
    mut stdin: ChildStdin,
    to_write: &Receiver<Outgoing>,
    error: &Mutex<Option<String>>,
) {
    while let Ok(Outgoing::Bytes(bytes)) = to_write.recv() {
        if let Err(err) = stdin.write_all(&bytes).and_then(|()| stdin.flush()) {
            *lock(error) = Some(err.to_string());
            return;
        }
    }
    // `Close`, or the test is over: dropping stdin closes it.
}

/// The reader thread: frames from the server's stdout, until it closes.
fn read_messages(stdout: impl Read, sender: &Sender<Incoming>, replies: &Sender<Outgoing>) {
    let mut reader = BufReader::new(stdout);
    loop {
        let message = match read_frame(&mut reader) {
            Ok(Some(body)) => match serde_json::from_slice::<Value>(&body) {
                Ok(message) => message,
                Err(err) => {
                    let text = String::from_utf8_lossy(&body);
                    let _ = sender.send(Incoming::Closed(format!(
                        "the server sent a body that is not JSON ({err}): {text}"
                    )));
                    return;
                }
            },
            Ok(None) => {
                let _ = sender.send(Incoming::Closed("end of stream".to_owned()));
                return;
            }
            Err(reason) => {
                let _ = sender.send(Incoming::Closed(reason));
                return;
            }
        };
        if let (Some(id), Some(method)) = (
            message.get("id"),
            message.get("method").and_then(Value::as_str),
        ) {
            answer_server_request(replies, id, method, &message["params"]);
        }
        if sender.send(Incoming::Message(message)).is_err() {
            return; // the test is over
        }
    }
}

/// Reads one `Content-Length`-framed body; `Ok(None)` at a clean end of stream.
fn read_frame(reader: &mut impl BufRead) -> Result<Option<Vec<u8>>, String> {
    let mut length = None;
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|err| format!("cannot read a header: {err}"))?;
        if n == 0 {
            return if length.is_none() {
                Ok(None)
            } else {
                Err("end of stream inside a header".to_owned())
            };
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| format!("malformed header {header:?}"))?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            let value = value
                .trim()
                .parse::<usize>()
                .map_err(|err| format!("bad Content-Length {value:?}: {err}"))?;
            length = Some(value);
        }
    }
    let length = length.ok_or("a message without Content-Length")?;
    let mut body = vec![0; length];
    reader
        .read_exact(&mut body)
        .map_err(|err| format!("cannot read a {length}-byte body: {err}"))?;
    Ok(Some(body))
}

/// Answers a request from the server the way a plain editor would: no configuration, and
/// `null` (success) for registrations, refreshes and progress tokens.
fn answer_server_request(replies: &Sender<Outgoing>, id: &Value, method: &str, params: &Value) {
    let result = match method {
        "workspace/configuration" => {
            let items = params["items"].as_array().map_or(0, Vec::len);
            Value::Array(vec![Value::Null; items])
        }
        _ => Value::Null,
    };
    let body = json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string();
    let frame = format!("Content-Length: {}\r\n\r\n{body}", body.len());
    // If the server is gone the test notices through its own waits.
    let _ = replies.send(Outgoing::Bytes(frame.into_bytes()));
}

/// Runs a command to completion like `Command::output`, but kills it and fails after `TIMEOUT`.
pub fn output_within_timeout(mut command: Command) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    // Drain both pipes while waiting, so a large output cannot block the child.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{command:?} did not finish within {TIMEOUT:?}");
            }
            Err(err) => panic!("cannot wait for {command:?}: {err}"),
        }
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn abbreviate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
        None => text.to_owned(),
    }
}

/// A `file://` URI for an absolute path (percent-encoding what a URI path cannot hold).
pub fn file_uri(path: &std::path::Path) -> String {
    let mut uri = "file://".to_owned();
    for byte in path.to_string_lossy().bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}
