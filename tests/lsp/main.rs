//! End-to-end tests of the language server: each test runs the real `reflens server` binary
//! and drives it over stdio with the small client in `client.rs`, the way an editor would.
//!
//! The examples use RL401 (unclosed resource) and RL101 (cache on a method), whose behaviour
//! is stable. Positions the tests expect are computed from the text with `text.rs`, in the
//! encoding the server negotiated, never taken from the server.

mod client;
mod text;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use tempfile::TempDir;

use client::{INVALID_PARAMS, METHOD_NOT_FOUND, PARSE_ERROR, REQUEST_CANCELLED, Server, file_uri};
use text::{Encoding, apply_edits, edits_for, position, range_of, span};

// ---- fixtures ---------------------------------------------------------------------------

/// One RL401 finding: `f` is never closed.
const LEAK: &str = "\
import json


def load(path):
    f = open(path)
    data = json.load(f)
    return data
";

/// `LEAK` after its quick fix.
const LEAK_FIXED: &str = "\
import json


def load(path):
    with open(path) as f:
        data = json.load(f)
    return data
";

const LEAK_MESSAGE: &str = "file `f` opened by `open(...)` is never closed in `load()`: it stays open until it is garbage-collected";

/// An RL101 finding (unsafe fix), two RL401 findings with safe fixes and one RL401 with an
/// unsafe fix (`Popen`).
const MIXED: &str = "\
import functools
import subprocess


class Report:
    @functools.lru_cache(maxsize=None)
    def total(self):
        return 1


def read(path):
    f = open(path)
    return f.read()


def lines(path):
    g = open(path, encoding=\"utf-8\")
    text = g.read()
    return text.splitlines()


def run(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    first = proc.stdout.readline()
    return first
";

// ---- helpers ----------------------------------------------------------------------------

/// How the test client presents itself in `initialize`.
#[derive(Default)]
struct Setup {
    /// Declare `textDocument.diagnostic` (pull diagnostics).
    pull: bool,
    /// Declare `workspace.workspaceEdit.documentChanges` (versioned edits).
    document_changes: bool,
    /// Declare `workspace.didChangeWatchedFiles.dynamicRegistration`.
    watch_files: bool,
    /// `general.positionEncodings`, if declared at all.
    position_encodings: Option<&'static [&'static str]>,
    initialization_options: Option<Value>,
}

/// Starts a server and runs `initialize` / `initialized` with `root` as the workspace folder.
/// Returns the server and the `InitializeResult`.
fn start(setup: &Setup, root: &Path) -> (Server, Value) {
    let mut server = Server::start();
    let mut text_document = json!({
        "synchronization": {"dynamicRegistration": false, "didSave": false},
        "hover": {"contentFormat": ["markdown", "plaintext"]},
        "codeAction": {
            "codeActionLiteralSupport": {
                "codeActionKind": {"valueSet": ["quickfix", "source", "source.fixAll"]}
            }
        },
        "publishDiagnostics": {"relatedInformation": true, "versionSupport": true, "codeDescriptionSupport": true},
    });
    if setup.pull {
        text_document["diagnostic"] =
            json!({"dynamicRegistration": false, "relatedDocumentSupport": false});
    }
    let mut capabilities = json!({
        "textDocument": text_document,
        "workspace": {
            "workspaceEdit": {"documentChanges": setup.document_changes},
            "workspaceFolders": true,
            "didChangeWatchedFiles": {"dynamicRegistration": setup.watch_files},
            "diagnostics": {"refreshSupport": setup.pull},
        },
    });
    if let Some(encodings) = setup.position_encodings {
        capabilities["general"] = json!({"positionEncodings": encodings});
    }
    let root_uri = file_uri(root);
    let mut params = json!({
        "processId": std::process::id(),
        "clientInfo": {"name": "reflens-lsp-tests"},
        "rootUri": root_uri,
        "workspaceFolders": [{"uri": root_uri, "name": "workspace"}],
        "capabilities": capabilities,
    });
    if let Some(options) = &setup.initialization_options {
        params["initializationOptions"] = options.clone();
    }
    let result = server.call("initialize", params);
    server.encoding = Encoding::from_lsp(result["capabilities"]["positionEncoding"].as_str());
    server.notify("initialized", json!({}));
    (server, result)
}

fn workspace() -> TempDir {
    tempfile::tempdir().unwrap_or_else(|err| panic!("cannot create a temporary directory: {err}"))
}

/// The client's copy of an open document, kept in step with what it sends.
struct Doc {
    uri: String,
    text: String,
    version: i32,
}

impl Doc {
    fn open(server: &mut Server, uri: &str, text: &str) -> Self {
        server.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}),
        );
        Self {
            uri: uri.to_owned(),
            text: text.to_owned(),
            version: 1,
        }
    }

    fn identifier(&self) -> Value {
        json!({"uri": self.uri})
    }

    /// Sends the whole new text as the next version (full sync).
    fn replace(&mut self, server: &mut Server, text: &str) {
        text.clone_into(&mut self.text);
        self.send(server, vec![json!({"text": text})]);
    }

    /// Applies an incremental change to the client's copy and returns it, to be sent with
    /// `send` (a change's positions refer to the text after the changes before it).
    fn stage(&mut self, start: usize, end: usize, new_text: &str, encoding: Encoding) -> Value {
        let range = json!({
            "start": position(&self.text, start, encoding),
            "end": position(&self.text, end, encoding),
        });
        self.text.replace_range(start..end, new_text);
        json!({"range": range, "text": new_text})
    }

    /// Stages replacing the first occurrence of `needle`.
    fn stage_replace(&mut self, needle: &str, new_text: &str, encoding: Encoding) -> Value {
        let start = self.find(needle);
        self.stage(start, start + needle.len(), new_text, encoding)
    }

    /// Sends `changes` as the next version.
    fn send(&mut self, server: &mut Server, changes: Vec<Value>) {
        self.version += 1;
        server.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": self.uri, "version": self.version}, "contentChanges": changes}),
        );
    }

    /// Applies a code action's edit: to the client's copy, then to the server as `didChange`
    /// with the edits as incremental changes.
    fn apply_action(&mut self, server: &mut Server, action: &Value) {
        let edit = action
            .get("edit")
            .unwrap_or_else(|| panic!("a code action without an edit: {action}"));
        let (mut edits, version) = edits_for(edit, &self.uri);
        assert!(
            !edits.is_empty(),
            "the action does not edit {}: {action}",
            self.uri
        );
        if let Some(version) = version {
            assert_eq!(
                version,
                i64::from(self.version),
                "the edit is for another version: {action}"
            );
        }
        let expected = apply_edits(&self.text, &edits, server.encoding);
        // Sorted by position (stable, so inserts at one offset keep their order), then sent
        // from the last: each change leaves the positions before it untouched.
        edits.sort_by_key(|edit| text::byte_range(&self.text, &edit["range"], server.encoding));
        edits.reverse();
        let changes = edits
            .iter()
            .map(|edit| json!({"range": edit["range"], "text": edit["newText"]}))
            .collect();
        self.text = expected;
        self.send(server, changes);
    }

    fn find(&self, needle: &str) -> usize {
        self.text
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} is not in the document:\n{}", self.text))
    }
}

/// The diagnostics with this code.
fn with_code<'a>(diagnostics: &'a [Value], code: &str) -> Vec<&'a Value> {
    diagnostics.iter().filter(|d| d["code"] == code).collect()
}

/// The one diagnostic with this code (fails if there are none or several).
fn only<'a>(diagnostics: &'a [Value], code: &str) -> &'a Value {
    match with_code(diagnostics, code).as_slice() {
        [one] => one,
        other => panic!(
            "expected one {code} diagnostic, got {}: {diagnostics:#?}",
            other.len()
        ),
    }
}

/// (code, 0-based line) of each diagnostic, sorted: a compact picture of a report.
fn summary(diagnostics: &[Value]) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = diagnostics
        .iter()
        .map(|d| {
            let code = d["code"].as_str().unwrap_or("<no code>").to_owned();
            (
                code,
                d["range"]["start"]["line"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect();
    out.sort();
    out
}

fn code_actions(
    server: &mut Server,
    doc: &Doc,
    range: &Value,
    diagnostics: &[&Value],
    only: &[&str],
) -> Vec<Value> {
    let result = server.call(
        "textDocument/codeAction",
        json!({
            "textDocument": doc.identifier(),
            "range": range,
            "context": {"diagnostics": diagnostics, "only": only, "triggerKind": 1},
        }),
    );
    result.as_array().cloned().unwrap_or_default()
}

/// The action whose title contains `title` (fails with the titles on offer).
fn action<'a>(actions: &'a [Value], title: &str) -> &'a Value {
    actions
        .iter()
        .find(|a| a["title"].as_str().is_some_and(|t| t.contains(title)))
        .unwrap_or_else(|| {
            let titles: Vec<&Value> = actions.iter().map(|a| &a["title"]).collect();
            panic!("no code action titled {title:?}; offered: {titles:?}")
        })
}

fn hover(server: &mut Server, doc: &Doc, position: &Value) -> Value {
    server.call(
        "textDocument/hover",
        json!({"textDocument": doc.identifier(), "position": position}),
    )
}

fn shutdown_and_exit(mut server: Server) {
    assert_eq!(server.call("shutdown", Value::Null), Value::Null);
    server.notify("exit", Value::Null);
    let status = server.wait_exit();
    assert_eq!(
        status.code(),
        Some(0),
        "exit after shutdown must succeed: {status}"
    );
}

/// Runs `reflens check --output-format json` in `root` and returns (file name, code, 1-based row)
/// for every finding.
fn cli_findings(root: &Path) -> Vec<(String, String, u64)> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_reflens"));
    command
        .args(["check", "--output-format", "json", "."])
        .current_dir(root);
    let output = client::output_within_timeout(command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "`reflens check` failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let findings: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|err| panic!("`reflens check` printed no JSON ({err}):\n{stdout}"));
    let mut out: Vec<(String, String, u64)> = findings
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let file = Path::new(f["filename"].as_str().unwrap_or_default());
            let name = file
                .strip_prefix(root)
                .unwrap_or(file)
                .to_string_lossy()
                .into_owned();
            let code = f["code"].as_str().unwrap_or("<no code>").to_owned();
            (
                name,
                code,
                f["location"]["row"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

// ---- 1. a whole session with pushed diagnostics -----------------------------------------

#[test]
fn push_session_diagnose_hover_fix_and_exit() {
    let root = workspace();
    let setup = Setup {
        document_changes: true,
        ..Setup::default()
    };
    let (mut server, init) = start(&setup, root.path());
    let capabilities = &init["capabilities"];
    assert_eq!(
        capabilities["positionEncoding"], "utf-16",
        "UTF-16 unless the client offers more"
    );
    assert!(
        capabilities.get("diagnosticProvider").is_none(),
        "no pull diagnostics for a push client"
    );
    assert_eq!(init["serverInfo"]["name"], "reflens");

    let uri = file_uri(&root.path().join("load.py"));
    let mut doc = Doc::open(&mut server, &uri, LEAK);
    let diagnostics = server.diagnostics(&uri, 1);
    let leak = only(&diagnostics, "RL401");
    assert_eq!(leak["range"], range_of(LEAK, "open", server.encoding));
    assert_eq!(leak["message"], LEAK_MESSAGE);
    assert_eq!(leak["source"], "reflens");
    assert_eq!(leak["severity"], 2, "rule findings are warnings");
    let href = leak["codeDescription"]["href"].as_str().unwrap_or_default();
    assert!(
        href.starts_with("https://") && href.ends_with("/RL401.md"),
        "codeDescription must link the rule's page: {leak}"
    );
    let related = &leak["relatedInformation"][0];
    assert_eq!(related["location"]["uri"], uri.as_str());
    assert_eq!(
        related["location"]["range"]["start"]["line"], 6,
        "the `return` where `f` is still open"
    );

    // Hover on the finding explains it.
    let hovered = hover(&mut server, &doc, &leak["range"]["start"]);
    assert_eq!(hovered["contents"]["kind"], "markdown", "{hovered}");
    let markdown = hovered["contents"]["value"].as_str().unwrap_or_default();
    assert!(
        markdown.contains("RL401") && markdown.contains(LEAK_MESSAGE),
        "{markdown}"
    );
    assert_eq!(hovered["range"], leak["range"]);

    // The quick fix rewrites to a `with` block; applying it removes the finding.
    let actions = code_actions(&mut server, &doc, &leak["range"], &[leak], &["quickfix"]);
    let fix = action(&actions, "`with` block");
    assert_eq!(fix["kind"], "quickfix");
    assert_eq!(
        fix["isPreferred"], true,
        "a safe fix is the preferred action"
    );
    assert_eq!(fix["diagnostics"][0]["code"], "RL401");
    assert!(
        fix["edit"].get("documentChanges").is_some(),
        "the client accepts versioned edits: {fix}"
    );
    let (edits, version) = edits_for(&fix["edit"], &uri);
    assert_eq!(
        version,
        Some(1),
        "a versioned edit names the version it was computed for"
    );
    let fixed = apply_edits(&doc.text, &edits, server.encoding);
    assert_eq!(fixed, LEAK_FIXED);
    doc.replace(&mut server, &fixed);
    let diagnostics = server.diagnostics(&uri, 2);
    assert!(
        diagnostics.is_empty(),
        "the fixed text has no findings: {diagnostics:#?}"
    );

    let registrations = server
        .received()
        .iter()
        .filter(|m| m["method"] == "client/registerCapability")
        .count();
    assert_eq!(
        registrations, 0,
        "no dynamic registration unless the client supports it"
    );
    shutdown_and_exit(server);
}

// ---- 2. pull diagnostics ----------------------------------------------------------------

#[test]
fn pull_diagnostics_full_unchanged_and_after_a_fix() {
    let root = workspace();
    let setup = Setup {
        pull: true,
        ..Setup::default()
    };
    let (mut server, init) = start(&setup, root.path());
    let provider = &init["capabilities"]["diagnosticProvider"];
    assert!(
        provider.is_object(),
        "a pull client must be offered diagnosticProvider: {init}"
    );
    // Findings can depend on other modules (the workspace index).
    assert_eq!(provider["interFileDependencies"], true);
    assert_eq!(provider["workspaceDiagnostics"], false);

    let uri = file_uri(&root.path().join("load.py"));
    let mut doc = Doc::open(&mut server, &uri, LEAK);
    let pull = |server: &mut Server, previous: Option<&str>| {
        let mut params = json!({"textDocument": {"uri": uri}});
        if let Some(previous) = previous {
            params["previousResultId"] = json!(previous);
        }
        server.call("textDocument/diagnostic", params)
    };

    let report = pull(&mut server, None);
    assert_eq!(report["kind"], "full", "{report}");
    let result_id = report["resultId"].as_str().unwrap_or_default().to_owned();
    assert!(
        !result_id.is_empty(),
        "a full report carries a resultId: {report}"
    );
    let items = report["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        only(&items, "RL401")["range"],
        range_of(LEAK, "open", server.encoding)
    );
    assert_eq!(items.len(), 1, "{items:#?}");

    let again = pull(&mut server, Some(&result_id));
    assert_eq!(again, json!({"kind": "unchanged", "resultId": result_id}));

    doc.replace(&mut server, LEAK_FIXED);
    let after = pull(&mut server, Some(&result_id));
    assert_eq!(after["kind"], "full", "the document changed: {after}");
    assert_eq!(after["items"], json!([]), "{after}");
    assert_ne!(after["resultId"], json!(result_id));

    let pushed = server
        .received()
        .iter()
        .filter(|m| m["method"] == "textDocument/publishDiagnostics")
        .count();
    assert_eq!(pushed, 0, "a pull client gets no pushed diagnostics");
    shutdown_and_exit(server);
}

// ---- 3. a burst of edits ----------------------------------------------------------------

#[test]
fn rapid_incremental_changes_end_with_fresh_diagnostics() {
    const FIRST: &str = "def first(path):\n    f = open(path)\n    return f.read()\n";
    const LAST: i32 = 201;
    let root = workspace();
    let (mut server, _) = start(&Setup::default(), root.path());
    let encoding = server.encoding;
    let uri = file_uri(&root.path().join("burst.py"));
    let mut doc = Doc::open(&mut server, &uri, FIRST);

    // Versions 2..=200 each insert a comment line at the top: at version v the leak is on line v.
    for version in 2..LAST {
        let change = doc.stage(0, 0, &format!("# edit {version}\n"), encoding);
        doc.send(&mut server, vec![change]);
    }
    // The last version, in one notification: fix `first` and add a leak in a new `second`.
    let fix = doc.stage_replace(
        "    f = open(path)\n    return f.read()\n",
        "    with open(path) as f:\n        return f.read()\n",
        encoding,
    );
    let end = doc.text.len();
    let add = doc.stage(
        end,
        end,
        "\n\ndef second(path):\n    g = open(path)\n    return g.read()\n",
        encoding,
    );
    doc.send(&mut server, vec![fix, add]);
    assert_eq!(doc.version, LAST);

    let last = server.diagnostics(&uri, LAST);
    let leak = only(&last, "RL401");
    assert_eq!(last.len(), 1, "{last:#?}");
    let open_g = doc.find("open(path)\n    return g");
    assert_eq!(
        leak["range"],
        span(&doc.text, open_g, open_g + "open".len(), encoding)
    );
    assert!(
        leak["message"]
            .as_str()
            .is_some_and(|m| m.contains("`g`") && m.contains("second()")),
        "{leak}"
    );

    // Every publish matches the text of its version, and versions never go back.
    let mut previous = 0;
    let mut publishes = 0;
    for message in server.received() {
        if message["method"] != "textDocument/publishDiagnostics"
            || message["params"]["uri"] != uri.as_str()
        {
            continue;
        }
        publishes += 1;
        let version = message["params"]["version"]
            .as_i64()
            .unwrap_or_else(|| panic!("unversioned: {message}"));
        assert!(
            version >= previous,
            "version {version} published after version {previous}"
        );
        previous = version;
        let diagnostics = message["params"]["diagnostics"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if version == i64::from(LAST) {
            assert_eq!(
                summary(&diagnostics),
                summary(&last),
                "a stale publish for the last version"
            );
        } else {
            let expected = vec![(
                "RL401".to_owned(),
                u64::try_from(version).unwrap_or_default(),
            )];
            assert_eq!(
                summary(&diagnostics),
                expected,
                "the publish for version {version} is not of that text"
            );
        }
    }
    eprintln!("{publishes} publishes for {LAST} versions");
    shutdown_and_exit(server);
}

#[test]
fn closing_a_document_clears_its_diagnostics() {
    let root = workspace();
    let (mut server, _) = start(&Setup::default(), root.path());
    let encoding = server.encoding;
    let closed = file_uri(&root.path().join("closed.py"));
    let mut doc = Doc::open(&mut server, &closed, LEAK);
    server.diagnostics(&closed, 1);
    // Changes still being analysed when the document closes must not publish after the close.
    for _ in 0..5 {
        let change = doc.stage(0, 0, "# more\n", encoding);
        doc.send(&mut server, vec![change]);
    }
    server.notify(
        "textDocument/didClose",
        json!({"textDocument": doc.identifier()}),
    );
    let other = file_uri(&root.path().join("other.py"));
    Doc::open(&mut server, &other, LEAK);
    server.diagnostics(&other, 1);
    // The server publishes in order, so the close was published before `other.py`'s diagnostics.
    let last = server
        .received()
        .iter()
        .rfind(|m| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == closed.as_str()
        })
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        last["params"]["diagnostics"],
        json!([]),
        "a closed document keeps no diagnostics: {last}"
    );
    assert!(
        last["params"].get("version").is_none_or(Value::is_null),
        "{last}"
    );
    shutdown_and_exit(server);
}

// ---- 4. syntax errors -------------------------------------------------------------------

#[test]
fn syntax_error_and_findings_in_code_that_parses() {
    const BROKEN: &str = "\
import os


def broken(:
    pass


def leak(path):
    f = open(path)
    return f.read()
";
    let root = workspace();
    let (mut server, _) = start(&Setup::default(), root.path());
    let uri = file_uri(&root.path().join("broken.py"));
    Doc::open(&mut server, &uri, BROKEN);
    let diagnostics = server.diagnostics(&uri, 1);
    let errors: Vec<&Value> = diagnostics.iter().filter(|d| d["severity"] == 1).collect();
    assert!(
        !errors.is_empty(),
        "the syntax error is reported as an error: {diagnostics:#?}"
    );
    assert!(
        errors
            .iter()
            .all(|e| e["range"]["start"]["line"] == 3 && e["source"] == "reflens"),
        "syntax errors on the broken line: {errors:#?}"
    );
    let leak = only(&diagnostics, "RL401");
    assert_eq!(leak["range"], range_of(BROKEN, "open", server.encoding));
    assert_eq!(leak["severity"], 2);
    shutdown_and_exit(server);
}

// ---- 5. encodings and malformed traffic -------------------------------------------------

#[test]
fn latin1_file_opened_with_its_decoded_text() {
    let latin1: &[u8] = b"# -*- coding: latin-1 -*-\nGREETING = \"caf\xe9\"\n\n\ndef load(path):\n    f = open(path)\n    return f.read() + GREETING\n";
    let root = workspace();
    let path = root.path().join("legacy.py");
    std::fs::write(&path, latin1)
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
    // What an editor sends: the text decoded from latin-1 (each byte is the code point).
    let decoded: String = latin1.iter().map(|&b| char::from(b)).collect();

    let (mut server, _) = start(&Setup::default(), root.path());
    let uri = file_uri(&path);
    Doc::open(&mut server, &uri, &decoded);
    let diagnostics = server.diagnostics(&uri, 1);
    assert_eq!(
        only(&diagnostics, "RL401")["range"],
        range_of(&decoded, "open", server.encoding)
    );
    // The same findings as the CLI reading the latin-1 bytes from disk.
    let from_server: Vec<(String, String, u64)> = summary(&diagnostics)
        .into_iter()
        .map(|(code, line)| ("legacy.py".to_owned(), code, line + 1))
        .collect();
    assert_eq!(from_server, cli_findings(root.path()));
    shutdown_and_exit(server);
}

#[test]
fn invalid_utf8_in_a_message_does_not_stop_the_server() {
    let root = workspace();
    let (mut server, _) = start(&Setup::default(), root.path());
    let bad_uri = file_uri(&root.path().join("bad.py"));
    let body = json!({
        "jsonrpc": "2.0",
        "method": "textDocument/didOpen",
        "params": {"textDocument": {
            "uri": bad_uri, "languageId": "python", "version": 1,
            "text": "NAME = \"caf@@\"\n\n\ndef load(path):\n    f = open(path)\n    return f.read()\n",
        }},
    })
    .to_string();
    // Latin-1 `é` (0xE9) where UTF-8 is required.
    let body = body.replace("@@", "\u{0}").into_bytes();
    let body: Vec<u8> = body
        .into_iter()
        .map(|b| if b == 0 { 0xE9 } else { b })
        .collect();
    server.send_body(&body);

    // The invalid byte is replaced (U+FFFD) and the document opens, so it stays in step with
    // the editor's later changes.
    let diagnostics = server.diagnostics(&bad_uri, 1);
    assert_eq!(summary(&diagnostics), [("RL401".to_owned(), 4)]);
    // Still serving: a request gets its answer, and a valid document its diagnostics.
    let bad = Doc {
        uri: bad_uri,
        text: String::new(),
        version: 1,
    };
    let hovered = hover(&mut server, &bad, &json!({"line": 4, "character": 9}));
    assert!(
        hovered["contents"]["value"]
            .as_str()
            .is_some_and(|v| v.contains("RL401")),
        "{hovered}"
    );
    let uri = file_uri(&root.path().join("good.py"));
    Doc::open(&mut server, &uri, LEAK);
    let diagnostics = server.diagnostics(&uri, 1);
    assert_eq!(summary(&diagnostics), [("RL401".to_owned(), 4)]);
    shutdown_and_exit(server);
}

#[test]
fn malformed_traffic_gets_errors_and_the_server_keeps_serving() {
    let root = workspace();
    let (mut server, _) = start(&Setup::default(), root.path());
    let uri = file_uri(&root.path().join("load.py"));
    let doc = Doc::open(&mut server, &uri, LEAK);
    server.diagnostics(&uri, 1);
    let still_serving = |server: &mut Server, after: &str| {
        let hovered = hover(server, &doc, &json!({"line": 4, "character": 9}));
        assert!(
            hovered["contents"]["value"]
                .as_str()
                .is_some_and(|v| v.contains("RL401")),
            "after {after}, hover must still work: {hovered}"
        );
    };

    // A body that is not JSON: a parse error (with a null id, as JSON-RPC says).
    server.send_body(b"this is not json");
    let error = server.wait_for("a parse error", |m| {
        m["id"].is_null() && m.get("error").is_some()
    });
    assert_eq!(error["error"]["code"], PARSE_ERROR, "{error}");
    still_serving(&mut server, "a body that is not JSON");

    // JSON that is not a JSON-RPC message.
    server.send_body(br#"{"hello": "world"}"#);
    let error = server.wait_for("an invalid-request error", |m| {
        m["id"].is_null() && m.get("error").is_some()
    });
    assert_eq!(error["error"]["code"], -32600, "{error}");
    still_serving(&mut server, "JSON that is not a message");

    // A header block without Content-Length, followed by a proper message.
    server.send_bytes(b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}");
    still_serving(&mut server, "a frame without Content-Length");

    // A request with invalid params.
    let error = server.call_error("textDocument/hover", json!({"textDocument": 42}));
    assert_eq!(error["code"], INVALID_PARAMS, "{error}");
    still_serving(&mut server, "invalid params");

    // An unknown request, and an unknown notification.
    let error = server.call_error("reflens/noSuchMethod", json!({}));
    assert_eq!(error["code"], METHOD_NOT_FOUND, "{error}");
    server.notify("reflens/noSuchNotification", json!({"x": 1}));
    still_serving(&mut server, "unknown methods");

    // Notifications and requests for a document that was never opened.
    let ghost = file_uri(&root.path().join("ghost.py"));
    server.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": ghost, "version": 2}, "contentChanges": [{"text": "x = 1\n"}]}),
    );
    server.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": ghost}}),
    );
    let ghost_doc = Doc {
        uri: ghost,
        text: String::new(),
        version: 0,
    };
    assert_eq!(
        hover(&mut server, &ghost_doc, &json!({"line": 0, "character": 0})),
        Value::Null
    );
    still_serving(&mut server, "notifications for a document that is not open");
    shutdown_and_exit(server);
}

// ---- 6. cancellation --------------------------------------------------------------------

#[test]
fn cancelled_requests_are_answered_once() {
    const FUNCTIONS: usize = 2500; // 20,000 lines
    let big: String = (0..FUNCTIONS)
        .map(|i| format!("def read{i}(path):\n    f = open(path)\n    data = f.read()\n    for line in data:\n        print(line, {i})\n    return data\n\n\n"))
        .collect();
    let root = workspace();
    let setup = Setup {
        pull: true,
        ..Setup::default()
    };
    let (mut server, _) = start(&setup, root.path());
    let uri = file_uri(&root.path().join("big.py"));
    let doc = Doc::open(&mut server, &uri, &big);
    let leak_range = range_of(&big, "open", server.encoding);

    let requests = [
        (
            "textDocument/diagnostic",
            json!({"textDocument": doc.identifier()}),
        ),
        (
            "textDocument/codeAction",
            json!({"textDocument": doc.identifier(), "range": leak_range, "context": {"diagnostics": []}}),
        ),
        (
            "textDocument/hover",
            json!({"textDocument": doc.identifier(), "position": leak_range["start"]}),
        ),
    ];
    for (method, params) in requests {
        let id = server.request(method, params);
        server.notify("$/cancelRequest", json!({"id": id}));
        // Either outcome is right, depending on who wins the race: the result, or "cancelled".
        let response = server.response(id);
        if let Some(error) = response.get("error") {
            assert_eq!(error["code"], REQUEST_CANCELLED, "{method}: {response}");
            eprintln!("{method}: cancelled");
        } else {
            assert!(
                !response["result"].is_null(),
                "{method} answered without a result: {response}"
            );
            eprintln!("{method}: answered before the cancellation");
        }
        // A later request is answered; by then a second answer to `id` would have shown up.
        let report = server.call(
            "textDocument/diagnostic",
            json!({"textDocument": doc.identifier()}),
        );
        assert_eq!(
            report["items"].as_array().map(Vec::len),
            Some(FUNCTIONS),
            "{method}"
        );
        let answers = server
            .received()
            .iter()
            .filter(|m| m.get("method").is_none() && m["id"] == id)
            .count();
        assert_eq!(
            answers, 1,
            "{method} (request {id}) must be answered exactly once"
        );
    }
    shutdown_and_exit(server);
}

// ---- 7, 8. position encodings -----------------------------------------------------------

#[test]
fn utf8_positions_when_the_client_offers_them() {
    const TEXT: &str =
        "def load(path):\n    naïve = \"é\"; f = open(path)\n    return f.read() + naïve\n";
    let root = workspace();
    let setup = Setup {
        position_encodings: Some(&["utf-8", "utf-16"]),
        ..Setup::default()
    };
    let (mut server, init) = start(&setup, root.path());
    assert_eq!(init["capabilities"]["positionEncoding"], "utf-8");
    assert_eq!(server.encoding, Encoding::Utf8);
    let uri = file_uri(&root.path().join("naive.py"));
    let doc = Doc::open(&mut server, &uri, TEXT);
    let diagnostics = server.diagnostics(&uri, 1);
    let leak = only(&diagnostics, "RL401");
    // `open` starts at byte 23 of its line, character 21.
    assert_eq!(
        leak["range"],
        json!({"start": {"line": 1, "character": 23}, "end": {"line": 1, "character": 27}})
    );
    assert_eq!(leak["range"], range_of(TEXT, "open", Encoding::Utf8));
    // Byte column 26 is inside `open` only when counted in UTF-8.
    let hovered = hover(&mut server, &doc, &json!({"line": 1, "character": 26}));
    assert_eq!(
        hovered["range"], leak["range"],
        "hover at a UTF-8 column: {hovered}"
    );
    shutdown_and_exit(server);
}

#[test]
fn utf16_positions_with_an_emoji() {
    const TEXT: &str = "def load(path):\n    s = \"😀\"; f = open(path)\n    return f.read() + s\n";
    let root = workspace();
    // Offering only UTF-16 (and UTF-32, which reflens does not speak) keeps the default.
    let setup = Setup {
        position_encodings: Some(&["utf-32", "utf-16"]),
        ..Setup::default()
    };
    let (mut server, init) = start(&setup, root.path());
    assert_eq!(init["capabilities"]["positionEncoding"], "utf-16");
    let encoding = server.encoding;
    let uri = file_uri(&root.path().join("emoji.py"));
    let mut doc = Doc::open(&mut server, &uri, TEXT);
    let diagnostics = server.diagnostics(&uri, 1);
    let leak = only(&diagnostics, "RL401");
    // 17 characters precede `open`; the emoji counts 2 UTF-16 units.
    let open_range =
        json!({"start": {"line": 1, "character": 18}, "end": {"line": 1, "character": 22}});
    assert_eq!(leak["range"], open_range);
    let hovered = hover(&mut server, &doc, &json!({"line": 1, "character": 18}));
    assert_eq!(hovered["range"], open_range, "{hovered}");

    // Incremental edits after the emoji, in UTF-16 columns: `open` → `len` (no finding)...
    let change = doc.stage_replace("open", "len", encoding);
    assert_eq!(change["range"], open_range);
    doc.send(&mut server, vec![change]);
    let diagnostics = server.diagnostics(&uri, 2);
    assert!(
        diagnostics.is_empty(),
        "a misplaced edit would break the code: {diagnostics:#?}"
    );
    // ...and back (the finding returns exactly there).
    let change = doc.stage_replace("len(path)", "open(path)", encoding);
    doc.send(&mut server, vec![change]);
    assert_eq!(doc.text, TEXT);
    let diagnostics = server.diagnostics(&uri, 3);
    assert_eq!(only(&diagnostics, "RL401")["range"], open_range);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    shutdown_and_exit(server);
}

// ---- 9. fix all, and suppressions -------------------------------------------------------

#[test]
fn fix_all_and_suppress_on_this_line() {
    let root = workspace();
    let (mut server, _) = start(&Setup::default(), root.path());
    let encoding = server.encoding;
    let uri = file_uri(&root.path().join("mixed.py"));
    let mut doc = Doc::open(&mut server, &uri, MIXED);
    let diagnostics = server.diagnostics(&uri, 1);
    assert_eq!(
        summary(&diagnostics),
        [
            ("RL101".to_owned(), 5),
            ("RL401".to_owned(), 11),
            ("RL401".to_owned(), 16),
            ("RL401".to_owned(), 22)
        ]
    );

    // Fix all: only the safe fixes (the two `open`s); RL101 and `Popen` have unsafe fixes.
    let whole = json!({"start": {"line": 0, "character": 0}, "end": position(&doc.text, doc.text.len(), encoding)});
    let actions = code_actions(&mut server, &doc, &whole, &[], &["source.fixAll"]);
    assert!(
        actions.iter().all(|a| a["kind"] == "source.fixAll.reflens"),
        "only fix-all actions: {actions:#?}"
    );
    let fix_all = action(&actions, "fix all");
    assert!(
        fix_all["edit"].get("changes").is_some(),
        "unversioned edits for this client: {fix_all}"
    );
    doc.apply_action(&mut server, fix_all);
    assert!(
        doc.text
            .contains("    with open(path) as f:\n        return f.read()\n"),
        "{}",
        doc.text
    );
    assert!(
        doc.text
            .contains("    with open(path, encoding=\"utf-8\") as g:\n"),
        "{}",
        doc.text
    );
    let diagnostics = server.diagnostics(&uri, 2);
    let popen_line = u64::try_from(doc.text[..doc.find("subprocess.Popen(cmd")].lines().count())
        .unwrap_or_default();
    assert_eq!(
        summary(&diagnostics),
        [
            ("RL101".to_owned(), 5),
            ("RL401".to_owned(), popen_line - 1)
        ]
    );

    // Suppress the remaining RL401 with a comment on its line.
    let leak = only(&diagnostics, "RL401");
    let actions = code_actions(&mut server, &doc, &leak["range"], &[leak], &["quickfix"]);
    let suppress = action(&actions, "Suppress RL401 on this line");
    assert_eq!(suppress["kind"], "quickfix");
    doc.apply_action(&mut server, suppress);
    assert!(
        doc.text.contains(
            "proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)  # reflens: ignore[RL401]\n"
        ),
        "{}",
        doc.text
    );
    let diagnostics = server.diagnostics(&uri, 3);
    assert_eq!(summary(&diagnostics), [("RL101".to_owned(), 5)]);
    shutdown_and_exit(server);
}

// ---- 10. settings -----------------------------------------------------------------------

#[test]
fn initialization_options_select_rules() {
    let root = workspace();
    let setup = Setup {
        initialization_options: Some(json!({"select": ["RL101"]})),
        ..Setup::default()
    };
    let (mut server, _) = start(&setup, root.path());
    let uri = file_uri(&root.path().join("mixed.py"));
    Doc::open(&mut server, &uri, MIXED);
    let diagnostics = server.diagnostics(&uri, 1);
    assert_eq!(
        summary(&diagnostics),
        [("RL101".to_owned(), 5)],
        "only the selected rule"
    );
    shutdown_and_exit(server);
}

#[test]
fn configuration_files_are_honoured_like_the_cli() {
    let root = workspace();
    let write = |name: &str, text: &str| {
        let path = root.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|err| panic!("cannot create {}: {err}", parent.display()));
        }
        std::fs::write(&path, text)
            .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
    };
    write(
        "pyproject.toml",
        "[project]\nname = \"demo\"\n\n[tool.reflens]\nignore = [\"RL401\"]\n\n[tool.reflens.per-file-ignores]\n\"legacy/**\" = [\"RL101\"]\n",
    );
    write("app.py", MIXED);
    write("legacy/old.py", MIXED);
    // A nested reflens.toml wins over the pyproject.toml above it (no merging).
    write("tools/reflens.toml", "select = [\"RL401\"]\n");
    write("tools/run.py", MIXED);

    let setup = Setup {
        watch_files: true,
        ..Setup::default()
    };
    let (mut server, _) = start(&setup, root.path());
    let registration = server.wait_for("a registration of file watchers", |m| {
        m["method"] == "client/registerCapability"
    });
    let watchers = &registration["params"]["registrations"][0];
    assert_eq!(watchers["method"], "workspace/didChangeWatchedFiles");
    assert!(
        watchers.to_string().contains("pyproject.toml"),
        "{watchers}"
    );

    let mut from_server = Vec::new();
    for name in ["app.py", "legacy/old.py", "tools/run.py"] {
        let uri = file_uri(&root.path().join(name));
        Doc::open(&mut server, &uri, MIXED);
        for (code, line) in summary(&server.diagnostics(&uri, 1)) {
            from_server.push((name.to_owned(), code, line + 1));
        }
    }
    from_server.sort();
    let expected: Vec<(String, String, u64)> = [
        ("app.py", "RL101", 6),
        ("tools/run.py", "RL401", 12),
        ("tools/run.py", "RL401", 17),
        ("tools/run.py", "RL401", 23),
    ]
    .iter()
    .map(|&(file, code, row)| (file.to_owned(), code.to_owned(), row))
    .collect();
    assert_eq!(from_server, expected);
    assert_eq!(
        from_server,
        cli_findings(root.path()),
        "the server and `reflens check` disagree"
    );

    // Editing the configuration (reported by the editor's watcher) re-checks open documents.
    write("pyproject.toml", "[tool.reflens]\nignore = [\"RL101\"]\n");
    server.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": file_uri(&root.path().join("pyproject.toml")), "type": 2}]}),
    );
    let app = file_uri(&root.path().join("app.py"));
    let republished = server.notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == app.as_str()
    });
    let diagnostics = republished["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        summary(&diagnostics),
        [
            ("RL401".to_owned(), 11),
            ("RL401".to_owned(), 16),
            ("RL401".to_owned(), 22)
        ],
        "app.py under the new configuration"
    );
    let app_cli: Vec<(String, String, u64)> = cli_findings(root.path())
        .into_iter()
        .filter(|(file, _, _)| file == "app.py")
        .collect();
    let app_server: Vec<(String, String, u64)> = summary(&diagnostics)
        .into_iter()
        .map(|(code, line)| ("app.py".to_owned(), code, line + 1))
        .collect();
    assert_eq!(
        app_server, app_cli,
        "after the change, the server and `reflens check` disagree"
    );
    shutdown_and_exit(server);
}

// ---- 11. exit -----------------------------------------------------------------------------

#[test]
fn exit_without_shutdown_fails() {
    let root = workspace();
    let (mut server, _) = start(&Setup::default(), root.path());
    let uri = file_uri(&root.path().join("load.py"));
    Doc::open(&mut server, &uri, LEAK);
    server.diagnostics(&uri, 1);
    server.notify("exit", Value::Null);
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(1), "exit without shutdown: {status}");
}

#[test]
fn closing_stdin_stops_the_server() {
    let root = workspace();
    let (mut server, _) = start(&Setup::default(), root.path());
    let uri = file_uri(&root.path().join("load.py"));
    Doc::open(&mut server, &uri, LEAK);
    server.diagnostics(&uri, 1);
    server.close_stdin();
    server.wait_exit();
}

// ---- the workspace index ------------------------------------------------------------------

const SLOTTED_NODE: &str = "class Node:\n    __slots__ = (\"value\", \"children\")\n\n    def __init__(self, value):\n        self.value = value\n        self.children = []\n";
const WEAK_TRACKER: &str = "import weakref\n\nfrom pkg.nodes import Node\n\n\ndef track(node: Node):\n    return weakref.ref(node)\n";
const STRONG_TRACKER: &str =
    "from pkg.nodes import Node\n\n\ndef track(node: Node):\n    return node\n";

/// A finding that depends on another module (RL205: the class is weak-referenced elsewhere)
/// appears once the index has read that module, follows edits to it in an open buffer, and is
/// the same as what `reflens check` reports for the tree.
#[test]
fn workspace_facts_cross_files_and_follow_edits() {
    let dir = workspace();
    let root = dir.path();
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(root.join("pkg/__init__.py"), "").unwrap();
    std::fs::write(root.join("pkg/nodes.py"), SLOTTED_NODE).unwrap();
    std::fs::write(root.join("pkg/tracking.py"), WEAK_TRACKER).unwrap();

    let cli = cli_findings(root);
    let cli_rows: Vec<u64> = cli
        .iter()
        .filter(|(file, code, _)| file == "pkg/nodes.py" && code == "RL205")
        .map(|(_, _, row)| *row)
        .collect();
    assert_eq!(
        cli_rows.len(),
        1,
        "the CLI sees the cross-file finding: {cli:?}"
    );

    let (mut server, _) = start(&Setup::default(), root);
    let nodes_uri = file_uri(&root.join("pkg/nodes.py"));
    let nodes = Doc::open(&mut server, &nodes_uri, SLOTTED_NODE);
    // The first publish may come before the index has read `tracking.py`; wait for the one that
    // has the finding.
    let published = server.notification("textDocument/publishDiagnostics", |params| {
        params["uri"] == nodes_uri.as_str()
            && params["diagnostics"]
                .as_array()
                .is_some_and(|d| d.iter().any(|d| d["code"] == "RL205"))
    });
    let diagnostics = published["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let server_rows: Vec<u64> = with_code(&diagnostics, "RL205")
        .iter()
        .map(|d| d["range"]["start"]["line"].as_u64().unwrap_or_default() + 1)
        .collect();
    assert_eq!(server_rows, cli_rows, "the server and the CLI agree");

    // Editing the other module (not saved) so that it holds strong references only: the
    // finding goes away from the first file.
    let tracking_uri = file_uri(&root.join("pkg/tracking.py"));
    let mut tracking = Doc::open(&mut server, &tracking_uri, WEAK_TRACKER);
    server.diagnostics(&tracking_uri, 1);
    server.forget_unread();
    tracking.replace(&mut server, STRONG_TRACKER);
    server.diagnostics(&tracking_uri, tracking.version);
    server.notification("textDocument/publishDiagnostics", |params| {
        params["uri"] == nodes_uri.as_str()
            && params["version"] == nodes.version
            && params["diagnostics"]
                .as_array()
                .is_some_and(|d| !d.iter().any(|d| d["code"] == "RL205"))
    });
    // And back.
    server.forget_unread();
    tracking.replace(&mut server, WEAK_TRACKER);
    server.notification("textDocument/publishDiagnostics", |params| {
        params["uri"] == nodes_uri.as_str()
            && params["diagnostics"]
                .as_array()
                .is_some_and(|d| d.iter().any(|d| d["code"] == "RL205"))
    });
    shutdown_and_exit(server);
}

/// Opening a workspace of 10,000 files: the open file's diagnostics are published while the
/// index is still being built, and the build reports `$/progress` to its end.
#[test]
fn a_large_workspace_indexes_in_the_background() {
    let dir = workspace();
    let root = dir.path();
    for package in 0..100 {
        let pkg = root.join(format!("pkg{package}"));
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("__init__.py"), "").unwrap();
        for module in 0..100 {
            std::fs::write(
                pkg.join(format!("mod{module}.py")),
                format!(
                    "import weakref\n\n\nclass Item{module}:\n    __slots__ = ('x',)\n\n    def close(self):\n        self.x = None\n\n\ndef keep(item: Item{module}):\n    return weakref.ref(item)\n"
                ),
            )
            .unwrap();
        }
    }
    std::fs::write(root.join("app.py"), LEAK).unwrap();
    let (mut server, _) = start(&Setup::default(), root);
    let uri = file_uri(&root.join("app.py"));
    let _doc = Doc::open(&mut server, &uri, LEAK);
    let diagnostics = server.diagnostics(&uri, 1);
    assert!(
        !with_code(&diagnostics, "RL401").is_empty(),
        "{diagnostics:?}"
    );
    let end = server.notification("$/progress", |params| {
        params["value"]["kind"] == "end"
            && params["value"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("indexed"))
    });
    assert!(
        end["value"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("indexed 10101 files")),
        "{end}"
    );
    // The diagnostics came before the index was complete.
    let received = server.received();
    let position = |accept: &dyn Fn(&Value) -> bool| received.iter().position(accept);
    let published = position(&|m| {
        m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri.as_str()
    })
    .expect("published");
    let indexed =
        position(&|m| m["method"] == "$/progress" && m["params"]["value"]["kind"] == "end")
            .expect("indexed");
    assert!(published < indexed, "the open file waited for the index");
    shutdown_and_exit(server);
}
