//! The live-session protocol: what the language server and the `reflens_agent` process say to
//! each other. Both sides use these types (the server directly, the agent through its pyo3
//! module), so they cannot drift apart.
//!
//! Framing: one JSON object per line, UTF-8, over a Unix stream socket (a socketpair for
//! sessions the server spawns, a listening socket for `reflens_agent.listen()`).
//!
//! - server → agent: [`Request`] (`{"id": 1, "method": "inspect", "params": {...}}`);
//! - agent → server: [`Message::Response`] for each request (`{"id": 1, "result": ...}` or
//!   `{"id": 1, "error": {...}}`), and [`Message::Event`]s at any time (state changes).

use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change; the agent refuses a server that speaks another version.
pub const PROTOCOL_VERSION: u32 = 1;

/// A request from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    #[serde(flatten)]
    pub command: Command,
}

/// What the server asks of the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params", rename_all = "camelCase")]
pub enum Command {
    /// The first request on a connection. For an attached program, `token` must match the
    /// token in the endpoint file; sessions the server spawns pass theirs on the command line.
    Hello {
        protocol: u32,
        token: Option<String>,
    },
    /// Start running the target (once per session), pausing at any of `probes`.
    Run {
        target: Target,
        #[serde(default)]
        args: Vec<String>,
        #[serde(default)]
        cwd: Option<String>,
        #[serde(default)]
        probes: Vec<Probe>,
    },
    /// Replace the probes (lines to pause before).
    SetProbes { probes: Vec<Probe> },
    /// Resume a program paused at a probe.
    Continue,
    /// Facts about the object an expression refers to.
    Inspect { location: ObjectLocation },
    /// Refcounts of module-level names of one file (inlay hints).
    Refcounts { file: String, names: Vec<String> },
    /// Call a function several times and report what grows on every call.
    Growth {
        /// `module:function`, or `path/to/file.py:function`.
        target: String,
        iterations: u32,
    },
    /// What `gc.collect()` cannot free, and the cycles.
    Garbage,
    /// End the session (the agent exits).
    Stop,
}

/// What a session runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Target {
    /// A script, run as `__main__`.
    Script { path: String },
    /// `module` run as `python -m module`, or `module:function` called with no arguments.
    Module {
        module: String,
        function: Option<String>,
    },
    /// A pytest node id (`tests/test_app.py::test_order`), run with pytest in the session.
    Pytest { node_id: String },
}

impl Target {
    /// Parses what a user types: `app.py`, `package.module:function`, `tests/x.py::test_y`,
    /// `-m package.module`.
    pub fn parse(text: &str) -> Target {
        let text = text.trim();
        if text.contains("::") {
            return Target::Pytest {
                node_id: text.to_owned(),
            };
        }
        if let Some(module) = text.strip_prefix("-m ") {
            return Target::Module {
                module: module.trim().to_owned(),
                function: None,
            };
        }
        if let Some((module, function)) = text.rsplit_once(':') {
            // `C:\path` is a Windows path, not `module:function`.
            if !function.is_empty() && !function.contains(['\\', '/']) && module.len() > 1 {
                return Target::Module {
                    module: module.to_owned(),
                    function: Some(function.to_owned()),
                };
            }
        }
        if text.ends_with(".py") || text.contains('/') {
            Target::Script {
                path: text.to_owned(),
            }
        } else {
            Target::Module {
                module: text.to_owned(),
                function: None,
            }
        }
    }
}

/// A line to pause before (1-based), in a file given by absolute path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Probe {
    pub file: String,
    pub line: u32,
}

/// Which object to inspect: an expression (`name`, `self.items`, `cache['k']`) as written at a
/// place in a file. The place decides the scope: the locals of the paused frame when the
/// line is inside it, else the file's module globals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectLocation {
    pub file: String,
    /// 1-based line of the expression.
    pub line: u32,
    pub expression: Expression,
}

/// A name followed by attribute, index and key steps, evaluated without running user code
/// (no properties, no `__getattr__`, no `__getitem__` of user classes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expression {
    pub name: String,
    #[serde(default)]
    pub steps: Vec<Step>,
}

impl Expression {
    pub fn name(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            steps: Vec::new(),
        }
    }

    /// The expression as Python source (`cache['k'].items[0]`).
    pub fn to_source(&self) -> String {
        let mut out = self.name.clone();
        for step in &self.steps {
            match step {
                Step::Attribute { name } => {
                    out.push('.');
                    out.push_str(name);
                }
                Step::Index { index } => out.push_str(&format!("[{index}]")),
                Step::Key { key } => out.push_str(&format!("[{}]", key.to_source())),
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Step {
    Attribute { name: String },
    Index { index: i64 },
    Key { key: Key },
}

/// A literal dictionary key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Key {
    Int(i64),
    Str(String),
    Bool(bool),
    None,
}

impl Key {
    pub fn to_source(&self) -> String {
        match self {
            Key::Int(value) => value.to_string(),
            Key::Str(text) => format!("{text:?}").replace('"', "'"),
            Key::Bool(true) => "True".to_owned(),
            Key::Bool(false) => "False".to_owned(),
            Key::None => "None".to_owned(),
        }
    }
}

/// What the agent sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Message {
    Response(Response),
    Event(Event),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub id: u64,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Result(serde_json::Value),
    Error(ErrorBody),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorCode {
    /// The request could not be decoded.
    BadRequest,
    /// The token of an attach did not match.
    Unauthorized,
    /// The expression names nothing in that scope.
    NotFound,
    /// The expression would need user code to evaluate (a property, `__getitem__`, ...).
    NotEvaluable,
    /// The request needs a state the session is not in (e.g. `continue` when not paused).
    WrongState,
    /// The target could not be started (no such file or module).
    BadTarget,
    /// Anything else, with the Python exception in the message.
    Internal,
}

/// Something that happened in the agent, sent when it happens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum Event {
    /// Sent once after `hello`: who the agent is.
    Hello(AgentInfo),
    /// The program's state changed.
    State(StateChange),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub protocol: u32,
    pub pid: u32,
    /// `sys.version`.
    pub python: String,
    /// `(major, minor)`.
    pub python_version: (u32, u32),
    pub executable: String,
}

/// The life of a session, as the editors show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SessionState {
    /// The process is starting (server side only).
    Starting,
    /// The agent is connected and waits for `run`.
    Ready,
    /// The target is running.
    Running,
    /// Stopped before a probe's line.
    Paused,
    /// The target returned, raised or called `sys.exit`; its globals can still be inspected.
    Finished,
    /// The process ended normally (`stop`, or the program exited); nothing more can be asked.
    Exited,
    /// The process died unexpectedly (a signal, a segfault, `os._exit` while running).
    Crashed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    pub state: SessionState,
    /// Where a paused program stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<PausedAt>,
    /// How a finished program ended (`SystemExit(2)`, `ValueError: ...` with traceback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PausedAt {
    pub file: String,
    pub line: u32,
    /// The function whose frame is paused (`<module>` at module level).
    pub function: String,
}

// ---- results ------------------------------------------------------------------------------

/// The facts about one object (the result of `inspect`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ObjectFacts {
    /// The expression, as resolved.
    pub expression: String,
    /// Where the name was found: `global in module app`, `local of train()`.
    pub scope: String,
    /// `module.QualName` of the type (`builtins.list`, `app.Session`).
    #[serde(rename = "type")]
    pub type_name: String,
    /// `repr`, at most a few hundred characters; the type's default repr when the object's own
    /// `__repr__` fails or is not called.
    pub repr: String,
    /// `sys.getrefcount(x) - 1` minus the agent's own references; `None` for immortal objects.
    pub refcount: Option<i64>,
    pub immortal: bool,
    /// Who refers to the object (each distinct referrer once, with how many references).
    pub referrers: Vec<Referrer>,
    /// The shortest chain of references from a root to the object; empty if none was found.
    pub chain: Vec<ChainStep>,
    /// `sys.getsizeof`.
    pub size: u64,
    /// The object and everything it refers to (not counting classes, modules and functions).
    pub deep_size: u64,
    /// What would be freed with the object: everything only it keeps alive.
    pub retained_size: u64,
    pub in_cycle: bool,
    /// In `gc.garbage` (found by the last garbage report).
    pub uncollectable: bool,
    pub weakrefable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensor: Option<TensorFacts>,
    pub heap: HeapStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReferrerKind {
    /// A module-level name.
    Global,
    /// A local variable of a frame.
    Local,
    /// A frame that refers to it otherwise (its value stack, `f_locals`).
    Frame,
    /// An item of a list.
    ListItem,
    /// An item of a tuple.
    TupleItem,
    /// A value in a dict.
    DictValue,
    /// A key of a dict.
    DictKey,
    /// A member of a set or frozenset.
    SetMember,
    /// An attribute of an instance.
    Attribute,
    /// An attribute of a class.
    ClassAttribute,
    /// A closure cell of a function.
    ClosureCell,
    /// A bound method (`obj.method`) whose `self` it is.
    BoundMethod,
    /// A function's defaults, globals or other field.
    Function,
    /// Something else (the type name says what).
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Referrer {
    pub kind: ReferrerKind,
    /// As a person would say it: `global _cache in module app`, `item [3] of list Foo.items`.
    pub description: String,
    #[serde(rename = "type")]
    pub type_name: String,
    /// How many references this referrer holds (a list that holds the object twice: 2).
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainStep {
    pub kind: ReferrerKind,
    /// `module app`, `global registry`, `item [0]`, `attribute items`, `key 'k'`.
    pub description: String,
    /// The type of the object this step reaches.
    #[serde(rename = "type")]
    pub type_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorFacts {
    pub device: String,
    pub dtype: String,
    pub shape: Vec<i64>,
    pub bytes: u64,
    pub requires_grad: bool,
    pub has_grad_fn: bool,
    /// `torch.cuda.memory_allocated()` when CUDA is available.
    pub cuda_memory_allocated: Option<u64>,
}

/// What the heap walk behind an answer cost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct HeapStats {
    pub objects: u64,
    pub edges: u64,
    /// Time to walk the heap and build the index; 0 when a cached index answered.
    pub index_ms: f64,
    pub query_ms: f64,
}

/// The result of `refcounts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refcount {
    pub name: String,
    pub refcount: Option<i64>,
    #[serde(rename = "type")]
    pub type_name: String,
}

/// The result of `growth`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GrowthReport {
    pub target: String,
    pub iterations: u32,
    /// Types whose live count grew on every call, most growth first.
    pub types: Vec<TypeGrowth>,
    /// Where the new objects were allocated (needs tracemalloc; on by default in `growth`).
    pub sites: Vec<SiteGrowth>,
    /// What keeps the new objects alive.
    pub retainers: Vec<Retainer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeGrowth {
    #[serde(rename = "type")]
    pub type_name: String,
    /// Live count after each call (the first entry is after the warm-up call).
    pub counts: Vec<u64>,
    /// Growth per call (the smallest increase between consecutive calls).
    pub per_call: u64,
    /// Whether the cyclic GC tracks objects of this type (`gc.get_objects()` sees them).
    pub gc_tracked: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteGrowth {
    pub file: String,
    pub line: u32,
    #[serde(rename = "type")]
    pub type_name: String,
    /// New objects of that type allocated there, per call.
    pub per_call: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retainer {
    /// The chain to the object that holds the new objects (`global _LOG in module app`).
    pub description: String,
    pub chain: Vec<ChainStep>,
    /// How many of the last call's new objects it holds.
    pub new_objects: u64,
}

/// The result of `garbage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GarbageReport {
    /// Objects `gc.collect()` found unreachable (kept for the report with `DEBUG_SAVEALL`).
    pub unreachable: u64,
    /// Counts by type.
    pub by_type: Vec<(String, u64)>,
    /// Reference cycles among them (strongly connected components with more than one object,
    /// or an object that refers to itself).
    pub cycles: Vec<Cycle>,
    /// Objects with a `__del__` or registered with `weakref.finalize`.
    pub with_finalizers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cycle {
    /// `type: short repr` of each member (at most 20).
    pub members: Vec<String>,
    pub size: u64,
    pub has_finalizer: bool,
}

/// Encodes one message as a line (no trailing newline).
pub fn to_line<T: Serialize>(message: &T) -> String {
    serde_json::to_string(message).unwrap_or_else(|err| {
        format!("{{\"event\":\"state\",\"state\":\"exited\",\"detail\":\"cannot encode a message: {err}\"}}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_a_stable_json_shape() {
        let request = Request {
            id: 7,
            command: Command::Inspect {
                location: ObjectLocation {
                    file: "/w/app.py".into(),
                    line: 3,
                    expression: Expression {
                        name: "cache".into(),
                        steps: vec![
                            Step::Key {
                                key: Key::Str("k".into()),
                            },
                            Step::Attribute {
                                name: "items".into(),
                            },
                        ],
                    },
                },
            },
        };
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": 7,
                "method": "inspect",
                "params": {"location": {"file": "/w/app.py", "line": 3, "expression": {
                    "name": "cache",
                    "steps": [{"kind": "key", "key": "k"}, {"kind": "attribute", "name": "items"}]
                }}}
            })
        );
        let back: Request = serde_json::from_value(json).unwrap();
        assert_eq!(back, request);
        assert_eq!(
            serde_json::to_value(Request {
                id: 1,
                command: Command::Continue
            })
            .unwrap(),
            serde_json::json!({"id": 1, "method": "continue"})
        );
    }

    #[test]
    fn messages_are_told_apart() {
        let response: Message = serde_json::from_str(r#"{"id": 3, "result": {"x": 1}}"#).unwrap();
        assert!(matches!(
            response,
            Message::Response(Response {
                id: 3,
                outcome: Outcome::Result(_)
            })
        ));
        let error: Message = serde_json::from_str(
            r#"{"id": 4, "error": {"code": "notFound", "message": "no name x"}}"#,
        )
        .unwrap();
        assert!(matches!(
            error,
            Message::Response(Response {
                outcome: Outcome::Error(_),
                ..
            })
        ));
        let event: Message = serde_json::from_str(
            r#"{"event": "state", "state": "paused", "location": {"file": "/a.py", "line": 4, "function": "f"}}"#,
        )
        .unwrap();
        assert!(matches!(
            event,
            Message::Event(Event::State(StateChange {
                state: SessionState::Paused,
                ..
            }))
        ));
    }

    #[test]
    fn targets_parse_like_a_user_writes_them() {
        assert_eq!(
            Target::parse("app.py"),
            Target::Script {
                path: "app.py".into()
            }
        );
        assert_eq!(
            Target::parse("shop.reports:export"),
            Target::Module {
                module: "shop.reports".into(),
                function: Some("export".into())
            }
        );
        assert_eq!(
            Target::parse("tests/test_app.py::test_order"),
            Target::Pytest {
                node_id: "tests/test_app.py::test_order".into()
            }
        );
        assert_eq!(
            Target::parse("-m shop"),
            Target::Module {
                module: "shop".into(),
                function: None
            }
        );
        assert_eq!(
            Target::parse("shop"),
            Target::Module {
                module: "shop".into(),
                function: None
            }
        );
    }

    #[test]
    fn expressions_print_as_python() {
        let expression = Expression {
            name: "cfg".into(),
            steps: vec![
                Step::Key {
                    key: Key::Str("db".into()),
                },
                Step::Index { index: 0 },
                Step::Attribute {
                    name: "conn".into(),
                },
            ],
        };
        assert_eq!(expression.to_source(), "cfg['db'][0].conn");
    }
}
