//! Live sessions end to end: the real `reflens server` over stdio, real CPython processes
//! running real programs (on every interpreter in `REFLENS_TEST_PYTHONS`: this machine's 3.11,
//! and 3.13 and 3.14 when `tests/setup.sh` could install them).

#[path = "../lsp/client.rs"]
#[allow(dead_code)]
mod client;
#[path = "../lsp/text.rs"]
#[allow(dead_code)]
mod text;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use client::{Server, file_uri};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The interpreters to run the programs with.
fn pythons() -> Vec<String> {
    let list = std::env::var("REFLENS_TEST_PYTHONS").unwrap_or_default();
    let found: Vec<String> = list
        .split(':')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    if found.is_empty() {
        vec!["python3".to_owned()]
    } else {
        found
    }
}

/// A workspace with a server started on it, with its own cache and runtime directories.
struct Workspace {
    server: Server,
    root: TempDir,
    _cache: TempDir,
    runtime: TempDir,
}

impl Workspace {
    fn new(files: &[(&str, &str)]) -> Self {
        let root = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let runtime = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = root.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let mut server = Server::start_with_env(&[
            ("XDG_CACHE_HOME", cache.path().as_os_str()),
            ("XDG_RUNTIME_DIR", runtime.path().as_os_str()),
        ]);
        let root_uri = file_uri(root.path());
        server.call(
            "initialize",
            json!({
                "processId": std::process::id(),
                "rootUri": root_uri,
                "workspaceFolders": [{"uri": root_uri, "name": "workspace"}],
                "capabilities": {
                    "textDocument": {
                        "hover": {"contentFormat": ["markdown"]},
                        "publishDiagnostics": {"versionSupport": true},
                        "inlayHint": {},
                        "codeLens": {},
                    },
                    "workspace": {"inlayHint": {"refreshSupport": true}, "codeLens": {"refreshSupport": true}},
                    "window": {"workDoneProgress": true},
                },
            }),
        );
        server.notify("initialized", json!({}));
        Self {
            server,
            root,
            _cache: cache,
            runtime,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    fn uri(&self, name: &str) -> String {
        file_uri(&self.path(name))
    }

    fn open(&mut self, name: &str) -> Vec<Value> {
        let text = std::fs::read_to_string(self.path(name)).unwrap();
        let uri = self.uri(name);
        self.server.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}),
        );
        self.server.diagnostics(&uri, 1)
    }

    /// Runs `workspace/executeCommand`; `Err` holds the JSON-RPC error.
    fn execute(&mut self, command: &str, argument: Value) -> Result<Value, Value> {
        let id = self.server.request(
            "workspace/executeCommand",
            json!({"command": command, "arguments": [argument]}),
        );
        let response = self.server.response(id);
        match response.get("result") {
            Some(result) => Ok(result.clone()),
            None => Err(response["error"].clone()),
        }
    }

    fn start(&mut self, target: &str, python: &str) -> Value {
        match self.execute(
            "reflens.live.start",
            json!({"target": target, "python": python}),
        ) {
            Ok(result) => result,
            Err(error) => self
                .server
                .fail(format!("reflens.live.start failed: {error}")),
        }
    }

    /// Waits for a `reflens/liveState` notification with `state`.
    fn state(&mut self, state: &str) -> Value {
        self.server
            .notification("reflens/liveState", |params| params["state"] == state)
    }

    fn hover(&mut self, name: &str, line: u32, character: u32) -> Value {
        let uri = self.uri(name);
        self.server.call(
            "textDocument/hover",
            json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}),
        )
    }
}

/// The 0-based (line, character) of the first occurrence of `needle` in a file.
fn position_of(text: &str, needle: &str) -> (u32, u32) {
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` is not in the file"));
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32;
    let column = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) as u32;
    (line, column)
}

fn markdown(hover: &Value) -> String {
    hover["contents"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

// ---- security and lifecycle ----------------------------------------------------------------

const MAIN_WITH_SIDE_EFFECT: &str = "\
import pathlib

pathlib.Path(__file__).with_name('ran.txt').write_text('yes')


def read(path):
    f = open(path)
    return f.read()


if __name__ == '__main__':
    data = [1, 2, 3]
";

#[test]
fn nothing_runs_until_the_user_starts_a_session() {
    let python = &pythons()[0];
    let mut workspace = Workspace::new(&[("app.py", MAIN_WITH_SIDE_EFFECT)]);
    workspace.open("app.py");
    let uri = workspace.uri("app.py");
    let lenses = workspace.server.call(
        "textDocument/codeLens",
        json!({"textDocument": {"uri": uri}}),
    );
    let lenses = lenses.as_array().cloned().unwrap_or_default();
    let run = lenses
        .iter()
        .find(|lens| lens["command"]["command"] == "reflens.live.start")
        .unwrap_or_else(|| workspace.server.fail(format!("no run lens: {lenses:?}")));
    assert_eq!(run["command"]["title"], "▶ Run live session");
    assert_eq!(
        run["range"]["start"]["line"], 10,
        "above `if __name__ == '__main__':`"
    );
    // Opening, hovering and showing lenses ran nothing of the workspace.
    workspace.hover("app.py", 6, 5);
    workspace
        .server
        .call("textDocument/inlayHint", json!({"textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 20, "character": 0}}}));
    assert!(
        !workspace.path("ran.txt").exists(),
        "workspace code ran before the user asked"
    );
    assert!(
        workspace
            .server
            .received()
            .iter()
            .all(|m| m["method"] != "reflens/liveState"),
        "a session started on its own"
    );

    // The lens's own command starts it.
    let argument = run["command"]["arguments"][0].clone();
    let target = argument["target"].as_str().unwrap().to_owned();
    workspace.start(&target, python);
    workspace.state("finished");
    assert_eq!(
        std::fs::read_to_string(workspace.path("ran.txt")).unwrap(),
        "yes"
    );
    workspace.execute("reflens.live.stop", json!({})).unwrap();
    workspace.state("exited");
}

/// Programs that crash, hang (with or without the GIL), exit or flood their output end at most
/// their session: the server answers the next hover within a second and keeps publishing
/// static diagnostics.
#[test]
fn program_failures_end_only_their_session() {
    for python in pythons() {
        program_failures_on(&python);
    }
}

fn program_failures_on(python: &str) {
    let cases: &[(&str, &str, &str)] = &[
        (
            "segfault",
            "import ctypes\nctypes.string_at(0)\n",
            "crashed",
        ),
        ("exit", "import sys\nsys.exit(3)\n", "finished"),
        ("loop", "while True:\n    pass\n", "running"),
        ("gil", "total = sum(range(10 ** 14))\n", "running"),
        (
            "flood",
            "import sys\nwhile True:\n    sys.stdout.write('x' * 65536 + '\\n')\n",
            "running",
        ),
        ("os_exit", "import os\nos._exit(7)\n", "crashed"),
    ];
    for (name, program, state) in cases {
        let leaky = "def read(path):\n    f = open(path)\n    return f.read()\n";
        let script = format!("{leaky}\n\n{program}");
        let file = format!("{name}.py");
        let mut workspace = Workspace::new(&[(file.as_str(), script.as_str())]);
        let diagnostics = workspace.open(&file);
        assert!(
            diagnostics.iter().any(|d| d["code"] == "RL401"),
            "{name}: {diagnostics:?}"
        );
        workspace.start(&file, python);
        let notification = workspace.state(state);
        if *state == "crashed" {
            let detail = notification["detail"].as_str().unwrap_or_default();
            assert!(
                detail.contains("signal") || detail.contains("status 7"),
                "{name}: {detail}"
            );
        }
        if *name == "exit" {
            assert!(
                notification["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("SystemExit(3)")
            );
        }

        // The next hover comes within a second, static findings included.
        let started = Instant::now();
        let hover = workspace.hover(&file, 1, 9);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "{name}: the hover took {took:?}"
        );
        assert!(markdown(&hover).contains("RL401"), "{name}: {hover}");

        // Static diagnostics still follow edits.
        let uri = workspace.uri(&file);
        workspace.server.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": "x = 1\n"}]}),
        );
        let fresh = workspace.server.diagnostics(&uri, 2);
        assert!(fresh.is_empty(), "{name}: {fresh:?}");
        let _ = workspace.execute("reflens.live.stop", json!({}));
    }
}

#[test]
fn attach_checks_the_token_and_keeps_the_endpoint_private() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixStream;

    let python = pythons()[0].clone();
    let program = "\
import json, sys, time
import reflens_agent

registry = {'answer': [42]}
endpoint = reflens_agent.listen()
print(json.dumps(endpoint), flush=True)
while True:
    time.sleep(0.05)
";
    let mut workspace = Workspace::new(&[("service.py", program)]);
    // The directory to import the agent from, as a user would get it.
    let agent_path = std::process::Command::new(env!("CARGO_BIN_EXE_reflens"))
        .arg("agent-path")
        .env("XDG_CACHE_HOME", workspace._cache.path())
        .output()
        .unwrap();
    assert!(
        agent_path.status.success(),
        "{}",
        String::from_utf8_lossy(&agent_path.stderr)
    );
    let agent_path = String::from_utf8(agent_path.stdout)
        .unwrap()
        .trim()
        .to_owned();
    let mut child = std::process::Command::new(&python)
        .arg(workspace.path("service.py"))
        .env("PYTHONPATH", &agent_path)
        .env("XDG_RUNTIME_DIR", workspace.runtime.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint: Value = serde_json::from_str(&line).unwrap_or_else(|err| panic!("{err}: {line}"));
    let socket = endpoint["socket"].as_str().unwrap().to_owned();

    // Only this user can connect or read the token; nothing listens on TCP.
    let mode = |path: &str| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600, "socket permissions");
    assert_eq!(
        mode(endpoint["endpoint_file"].as_str().unwrap()),
        0o600,
        "endpoint file permissions"
    );
    assert!(endpoint["tcp"].is_null());

    // A wrong token is refused and the connection closed.
    let mut stream = UnixStream::connect(&socket).unwrap();
    stream
        .write_all(b"{\"id\": 1, \"method\": \"hello\", \"params\": {\"protocol\": 1, \"token\": \"guess\"}}\n")
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut answer = String::new();
    reader.read_line(&mut answer).unwrap();
    assert!(answer.contains("\"unauthorized\""), "{answer}");
    let mut rest = String::new();
    assert_eq!(
        reader.read_line(&mut rest).unwrap_or(0),
        0,
        "the connection stays open: {rest}"
    );

    // The editor's attach reads the token from the endpoint file.
    let pid = endpoint["pid"].as_u64().unwrap();
    let attached = workspace
        .execute("reflens.live.attach", json!({"pid": pid}))
        .unwrap_or_else(|error| workspace.server.fail(format!("attach failed: {error}")));
    assert_eq!(attached["pid"], pid);
    workspace.state("running");
    let _ = workspace.execute("reflens.live.stop", json!({}));
    let _ = child.kill();
    let _ = child.wait();
}

// ---- what a session reports, against ground truth the programs build --------------------------

const TRUTH: &str = "\
a = object()
b = [a, a]
c = {'k': a}


class Node:
    def __init__(self):
        self.child = None


class Slot:
    __slots__ = ('inner',)


class Box:
    def __init__(self, data):
        self.data = data


def make_holder(value):
    def holder():
        return value

    return holder


# Nine steps from a module global to the bytearray, and no shorter way to it.
root = {'a': [None, Node()]}
root['a'][1].child = Slot()
root['a'][1].child.inner = (0, {'k': Box([bytearray(b'the target')])})

captured = bytearray(b'captured')
keep = make_holder(captured)

if False:
    print(root['a'][1].child.inner[1]['k'].data[0])
";

fn inspect_at(workspace: &mut Workspace, file: &str, needle: &str, extra: u32) -> Value {
    let text = std::fs::read_to_string(workspace.path(file)).unwrap();
    let (line, character) = position_of(&text, needle);
    let uri = workspace.uri(file);
    workspace
        .execute(
            "reflens.live.inspect",
            json!({"uri": uri, "position": {"line": line, "character": character + extra}}),
        )
        .unwrap_or_else(|error| {
            workspace
                .server
                .fail(format!("inspect at `{needle}` failed: {error}"))
        })
}

fn descriptions(steps: &Value) -> Vec<String> {
    steps
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["description"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn start_inspect_hover_and_stop_report_the_truth() {
    for python in pythons() {
        let mut workspace = Workspace::new(&[("truth.py", TRUTH)]);
        workspace.open("truth.py");
        workspace.start("truth.py", &python);
        workspace.state("finished");

        // `a` is held by the global, twice by `b`, once by `c`.
        let facts = inspect_at(&mut workspace, "truth.py", "a = object()", 0);
        assert_eq!(facts["refcount"], 4, "{python}: {facts}");
        assert_eq!(facts["type"], "builtins.object");
        assert_eq!(facts["weakrefable"], false);
        let referrers: Vec<(String, String, u64)> = facts["referrers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["kind"].as_str().unwrap().to_owned(),
                    r["description"].as_str().unwrap().to_owned(),
                    r["count"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            referrers,
            [
                ("global".into(), "global a in module __main__".into(), 1),
                ("listItem".into(), "items [0], [1] of list b".into(), 2),
                ("dictValue".into(), "value for key 'k' of dict c".into(), 1),
            ],
            "{python}"
        );

        // The nine-step chain, exactly as the program built it.
        let facts = inspect_at(&mut workspace, "truth.py", "data[0]", 5);
        assert_eq!(facts["type"], "builtins.bytearray", "{python}: {facts}");
        assert_eq!(
            descriptions(&facts["chain"]),
            [
                "module __main__",
                "global root",
                "key 'a'",
                "item [1]",
                "attribute child",
                "attribute inner",
                "item [1]",
                "key 'k'",
                "attribute data",
                "item [0]",
            ],
            "{python}"
        );
        assert_eq!(facts["refcount"], 1);

        // A closure cell is named as one.
        let facts = inspect_at(&mut workspace, "truth.py", "captured = ", 0);
        assert!(
            facts["referrers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["kind"] == "closureCell"
                    && r["description"].as_str().unwrap().contains("holder()")),
            "{python}: {facts}"
        );

        // The hover renders the same facts under the static ones.
        let hover = workspace.hover("truth.py", 0, 0);
        let text = markdown(&hover);
        assert!(
            text.contains("**live** (finished): `a`"),
            "{python}: {text}"
        );
        assert!(text.contains("**4** references"), "{python}: {text}");
        assert!(
            text.contains(r"items \[0\], \[1\] of list b ×2"),
            "{python}: {text}"
        );

        // Inlay hints put the count next to module-level names.
        let uri = workspace.uri("truth.py");
        let hints = workspace.server.call(
            "textDocument/inlayHint",
            json!({"textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 3, "character": 0}}}),
        );
        let labels: Vec<&str> = hints
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|h| h["label"].as_str())
            .collect();
        assert_eq!(labels, ["4 refs", "1 ref", "1 ref"], "{python}: {hints}");

        workspace.execute("reflens.live.stop", json!({})).unwrap();
        workspace.state("exited");
    }
}

const TRAIN: &str = "\
def train(epochs):
    model = bytearray(b'model weights')
    history = [model]
    for epoch in range(epochs):
        history.append(epoch)
    total = len(history)
    return total


result = train(2)
";

#[test]
fn probe_pauses_before_the_line_with_locals_and_the_frame_as_referrer() {
    for python in pythons() {
        let mut workspace = Workspace::new(&[("train.py", TRAIN)]);
        workspace.open("train.py");
        // Without a session, "run to this line" starts the file with a probe there.
        let uri = workspace.uri("train.py");
        let _ = python; // the probe's session uses the configured interpreter below
        workspace.server.notify(
            "workspace/didChangeConfiguration",
            json!({"settings": {"reflens": {"live": {"python": python}}}}),
        );
        workspace
            .execute("reflens.live.runToLine", json!({"uri": uri, "line": 5}))
            .unwrap_or_else(|error| workspace.server.fail(format!("runToLine failed: {error}")));
        let paused = workspace.state("paused");
        assert_eq!(paused["location"]["line"], 5, "{python}: {paused}");
        assert_eq!(paused["location"]["function"], "train");

        let facts = inspect_at(&mut workspace, "train.py", "model = ", 0);
        assert!(
            facts["scope"]
                .as_str()
                .unwrap()
                .starts_with("local of train()"),
            "{python}: {facts}"
        );
        assert_eq!(facts["refcount"], 2, "{python}: {facts}");
        let referrers = facts["referrers"].as_array().unwrap();
        assert!(
            referrers.iter().any(|r| r["kind"] == "local"
                && r["description"]
                    .as_str()
                    .unwrap()
                    .starts_with("local model of train()")),
            "{python}: {facts}"
        );
        assert!(
            referrers.iter().any(|r| r["kind"] == "listItem"),
            "{python}: {facts}"
        );
        // `total` is assigned on the probe's line, which has not run yet.
        let hover = workspace.hover("train.py", 5, 5);
        assert!(!markdown(&hover).contains("**live**"), "{python}: {hover}");

        workspace
            .execute("reflens.live.continue", json!({}))
            .unwrap();
        workspace.state("finished");
        let facts = inspect_at(&mut workspace, "train.py", "result = ", 0);
        assert_eq!(facts["repr"], "3", "{python}: {facts}");
        workspace.execute("reflens.live.stop", json!({})).unwrap();
    }
}

const LEAKS: &str = "\
import gc

LOG = []


class Resource:
    def __del__(self):
        pass


def make_cycle():
    resource = Resource()
    partner = [resource]
    resource.partner = partner


def handle():
    LOG.append((len(LOG), 2))
    LOG.append('request ' + str(len(LOG)))


gc.disable()
make_cycle()
";

#[test]
fn garbage_and_growth_reports() {
    for python in pythons() {
        let mut workspace = Workspace::new(&[("leaks.py", LEAKS)]);
        workspace.open("leaks.py");
        workspace.start("leaks.py", &python);
        workspace.state("finished");

        let garbage = workspace
            .execute("reflens.live.garbage", json!({}))
            .unwrap();
        let cycles = garbage["cycles"].as_array().unwrap();
        let cycle = cycles
            .iter()
            .find(|c| {
                c["members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m.as_str().unwrap().contains("Resource"))
            })
            .unwrap_or_else(|| {
                workspace
                    .server
                    .fail(format!("{python}: no Resource cycle in {garbage}"))
            });
        assert_eq!(cycle["has_finalizer"], true, "{python}: {cycle}");

        let path = workspace.path("leaks.py");
        let report = workspace
            .execute(
                "reflens.live.growth",
                json!({"target": format!("{}:handle", path.display()), "iterations": 5}),
            )
            .unwrap_or_else(|error| workspace.server.fail(format!("growth failed: {error}")));
        let per_call = |type_name: &str| -> u64 {
            report["types"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["type"] == type_name)
                .map(|t| t["per_call"].as_u64().unwrap())
                .unwrap_or_else(|| {
                    panic!("{python}: {type_name} not reported as growing: {report}")
                })
        };
        // Both are objects the cyclic GC does not track.
        assert_eq!(per_call("builtins.tuple"), 1, "{report}");
        assert_eq!(per_call("builtins.str"), 1, "{report}");
        let sites: Vec<(u64, String)> = report["sites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["line"].as_u64().unwrap(),
                    s["type"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(
            sites.contains(&(18, "builtins.tuple".to_owned())),
            "{python}: {sites:?}"
        );
        assert!(
            sites.contains(&(19, "builtins.str".to_owned())),
            "{python}: {sites:?}"
        );
        assert!(
            report["retainers"][0]["description"]
                .as_str()
                .unwrap()
                .contains("LOG"),
            "{python}: {report}"
        );
        // And on the open document, as diagnostics on those lines.
        let uri = workspace.uri("leaks.py");
        let published =
            workspace
                .server
                .notification("textDocument/publishDiagnostics", |params| {
                    params["uri"] == uri.as_str()
                        && params["diagnostics"]
                            .as_array()
                            .is_some_and(|d| d.iter().any(|d| d["source"] == "reflens-live"))
                });
        let lines: Vec<u64> = published["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["source"] == "reflens-live")
            .map(|d| d["range"]["start"]["line"].as_u64().unwrap())
            .collect();
        assert!(
            lines.contains(&17) && lines.contains(&18),
            "{python}: {published}"
        );
        workspace.execute("reflens.live.stop", json!({})).unwrap();
    }
}
