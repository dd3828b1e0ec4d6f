//! Live sessions in the language server: one per workspace, started only by an explicit
//! command (`reflens.live.start`, a "Run live session" code lens the user clicks, or attach).
//!
//! The manager spawns the agent with the user's interpreter, forwards its state and output to
//! the editor (`reflens/liveState`, `reflens/liveOutput`), answers the `reflens.live.*`
//! commands, and gives the hover, inlay hints and growth diagnostics their live facts.

pub mod assets;
pub mod python;
pub mod render;
pub mod session;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use dashmap::DashMap;
use reflens_protocol::{
    Command, Expression, GrowthReport, Key, ObjectFacts, ObjectLocation, Probe, Refcount,
    SessionState, StateChange, Step, Target,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tower_lsp_server::Client;
use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::{self as lsp, Uri};

pub use session::{LiveError, Session, SessionEvent};

/// How long a hover or an inlay hint waits for the program.
pub const QUICK: Duration = Duration::from_millis(700);

/// The commands of `workspace/executeCommand` (the live ones, and `reflens.rule`).
pub const COMMANDS: &[&str] = &[
    "reflens.live.start",
    "reflens.live.runToLine",
    "reflens.live.continue",
    "reflens.live.stop",
    "reflens.live.inspect",
    "reflens.live.growth",
    "reflens.live.garbage",
    "reflens.live.attach",
    "reflens.rule",
];

/// `reflens/liveState`: a session's state changed.
pub enum LiveStateNotification {}

impl Notification for LiveStateNotification {
    type Params = LiveStateParams;
    const METHOD: &'static str = "reflens/liveState";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveStateParams {
    pub session: u64,
    pub root: String,
    pub state: SessionState,
    pub target: Option<String>,
    pub pid: Option<u32>,
    pub python: Option<String>,
    /// Where a paused program stopped (0-based line, as LSP counts).
    pub location: Option<LiveLocation>,
    pub detail: Option<String>,
    /// The program's output log.
    pub log: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveLocation {
    pub uri: String,
    pub line: u32,
    pub function: String,
}

/// `reflens/liveOutput`: the program printed something.
pub enum LiveOutputNotification {}

impl Notification for LiveOutputNotification {
    type Params = LiveOutputParams;
    const METHOD: &'static str = "reflens/liveOutput";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveOutputParams {
    pub session: u64,
    pub text: String,
}

/// Settings of the live features (from the editor).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct LiveSettings {
    /// The interpreter to use when the workspace has no `.venv`/`venv`.
    pub python: Option<String>,
    /// Show refcounts next to module-level names while a session is paused or finished.
    pub inlay_hints: Option<bool>,
}

impl LiveSettings {
    pub fn inlay_hints(&self) -> bool {
        self.inlay_hints.unwrap_or(true)
    }
}

pub struct Live {
    client: Client,
    sessions: Mutex<HashMap<PathBuf, Arc<Session>>>,
    /// The last target run per workspace, to restart it for "run to this line".
    last_targets: Mutex<HashMap<PathBuf, StartParams>>,
    next_session: AtomicU64,
    pub settings: RwLock<LiveSettings>,
    roots: RwLock<Vec<PathBuf>>,
    /// Diagnostics from the last growth report, by document.
    pub growth_diagnostics: DashMap<Uri, Vec<lsp::Diagnostic>>,
    events: mpsc::UnboundedSender<SessionEvent>,
    /// Called when live facts change (inlay hints, growth diagnostics to republish).
    changed: mpsc::UnboundedSender<()>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StartParams {
    pub target: String,
    pub args: Vec<String>,
    pub cwd: Option<String>,
    pub python: Option<String>,
    /// The workspace folder (defaults to the one containing the target).
    pub root: Option<String>,
}

impl Live {
    /// `changed` receives a message whenever hints or growth diagnostics should be refreshed.
    pub fn new(client: Client, changed: mpsc::UnboundedSender<()>) -> Arc<Self> {
        let (events, receiver) = mpsc::unbounded_channel();
        let live = Arc::new(Live {
            client,
            sessions: Mutex::new(HashMap::new()),
            last_targets: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            settings: RwLock::new(LiveSettings::default()),
            roots: RwLock::new(Vec::new()),
            growth_diagnostics: DashMap::new(),
            events,
            changed,
        });
        tokio::spawn(forward_events(Arc::downgrade(&live), receiver));
        live
    }

    pub fn set_roots(&self, roots: Vec<PathBuf>) {
        *self.roots.write().unwrap_or_else(|e| e.into_inner()) = roots;
    }

    /// The workspace folder a path belongs to (the first one containing it, else its directory).
    pub fn root_of(&self, path: &Path) -> PathBuf {
        let roots = self.roots.read().unwrap_or_else(|e| e.into_inner());
        roots
            .iter()
            .filter(|root| path.starts_with(root))
            .max_by_key(|root| root.as_os_str().len())
            .cloned()
            .or_else(|| roots.first().cloned())
            .unwrap_or_else(|| path.parent().map(Path::to_owned).unwrap_or_default())
    }

    /// The session for the workspace of `path`, if one is alive.
    pub fn session_for(&self, path: &Path) -> Option<Arc<Session>> {
        let root = self.root_of(path);
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.get(&root).filter(|s| s.is_alive()).cloned()
    }

    fn session_by_id(&self, id: u64) -> Option<Arc<Session>> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.values().find(|s| s.id == id).cloned()
    }

    /// Stops every session (server shutdown).
    pub async fn stop_all(&self) {
        let sessions: Vec<Arc<Session>> = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, s)| s)
            .collect();
        for session in sessions {
            session.stop().await;
        }
    }

    // ---- commands ------------------------------------------------------------------------

    /// Runs a `reflens.live.*` command.
    pub async fn execute(
        self: &Arc<Self>,
        command: &str,
        argument: Value,
    ) -> Result<Value, String> {
        match command {
            "reflens.live.start" => {
                let params: StartParams = parse(argument)?;
                self.start(params, Vec::new()).await
            }
            "reflens.live.runToLine" => self.run_to_line(argument).await,
            "reflens.live.continue" => {
                let session = self.session_from(&argument)?;
                session
                    .request(Command::Continue, Duration::from_secs(5))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(json!({"state": "running"}))
            }
            "reflens.live.stop" => {
                let session = self.session_from(&argument)?;
                session.stop().await;
                self.sessions
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(|_, s| s.id != session.id);
                Ok(json!({"state": "exited"}))
            }
            "reflens.live.inspect" => {
                #[derive(Deserialize)]
                struct Params {
                    uri: Uri,
                    /// Filled in by the language server from the document (see `lsp::session`).
                    location: ObjectLocation,
                }
                let params: Params = parse(argument)?;
                let path = path_of(&params.uri)?;
                let session = self.session_for(&path).ok_or_else(no_session)?;
                let facts = self
                    .inspect(&session, params.location, Duration::from_secs(30))
                    .await
                    .map_err(|e| e.to_string())?;
                serde_json::to_value(facts).map_err(|e| e.to_string())
            }
            "reflens.live.growth" => {
                #[derive(Deserialize)]
                struct Params {
                    target: String,
                    iterations: Option<u32>,
                    root: Option<String>,
                    python: Option<String>,
                }
                let params: Params = parse(argument)?;
                self.growth(
                    params.target,
                    params.iterations.unwrap_or(5),
                    params.root,
                    params.python,
                )
                .await
            }
            "reflens.live.garbage" => {
                let session = self.session_from(&argument)?;
                session
                    .request(Command::Garbage, Duration::from_secs(120))
                    .await
                    .map_err(|e| e.to_string())
            }
            "reflens.live.attach" => self.attach(argument).await,
            // Not live, but served here with the other commands: a rule's documentation page.
            "reflens.rule" => {
                let code = argument
                    .get("code")
                    .and_then(Value::as_str)
                    .or_else(|| argument.as_str())
                    .ok_or("`code` is required")?;
                let rule = reflens_analysis::Rule::from_code(code)
                    .or_else(|| reflens_analysis::Rule::from_name(code))
                    .ok_or_else(|| format!("no rule `{code}`"))?;
                Ok(
                    json!({"code": rule.code(), "name": rule.name(), "markdown": rule.docs_page(), "url": rule.url()}),
                )
            }
            other => Err(format!("unknown command `{other}`")),
        }
    }

    /// Starts a session for `params.target`, replacing the workspace's current one.
    pub async fn start(
        self: &Arc<Self>,
        params: StartParams,
        probes: Vec<Probe>,
    ) -> Result<Value, String> {
        if params.target.trim().is_empty() {
            return Err(
                "`target` is required: a script, `module:function` or a pytest node id".into(),
            );
        }
        let (root, cwd, target) = self.resolve_target(&params)?;
        let session = self.spawn(&root, &cwd, params.python.as_deref()).await?;
        *session.target.lock().unwrap_or_else(|e| e.into_inner()) = Some(params.target.clone());
        self.last_targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(root.clone(), params.clone());
        let run = session
            .request(
                Command::Run {
                    target,
                    args: params.args.clone(),
                    cwd: Some(cwd.display().to_string()),
                    probes,
                },
                Duration::from_secs(20),
            )
            .await;
        match run {
            // A program that exits or crashes at once has still been started: its session's
            // state (finished or crashed, with the reason) is the answer, not an error.
            Ok(_) | Err(LiveError::Ended(_)) => {}
            Err(other) => return Err(other.to_string()),
        }
        let info = session
            .info
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let snapshot = session.snapshot();
        Ok(json!({
            "session": session.id,
            "state": snapshot.state,
            "detail": snapshot.detail,
            "pid": session.pid,
            "python": info.map(|i| i.python),
            "log": session.log.display().to_string(),
        }))
    }

    fn resolve_target(&self, params: &StartParams) -> Result<(PathBuf, PathBuf, Target), String> {
        let target = Target::parse(&params.target);
        let anchor: Option<PathBuf> = match &target {
            Target::Script { path } => Some(PathBuf::from(path)),
            Target::Pytest { node_id } => node_id.split("::").next().map(PathBuf::from),
            Target::Module { .. } => None,
        };
        let root = match (&params.root, &params.cwd, &anchor) {
            (Some(root), _, _) => PathBuf::from(root),
            (None, _, Some(path)) if path.is_absolute() => self.root_of(path),
            (None, Some(cwd), _) => self.root_of(Path::new(cwd)),
            _ => self
                .roots
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .first()
                .cloned()
                .ok_or("no workspace folder: give `cwd` or an absolute target")?,
        };
        let cwd = params
            .cwd
            .as_ref()
            .map(PathBuf::from)
            .unwrap_or_else(|| root.clone());
        let target = match target {
            Target::Script { path } => {
                let absolute = if Path::new(&path).is_absolute() {
                    PathBuf::from(&path)
                } else {
                    cwd.join(&path)
                };
                if !absolute.is_file() {
                    return Err(format!("no such script: {}", absolute.display()));
                }
                Target::Script {
                    path: absolute.display().to_string(),
                }
            }
            other => other,
        };
        Ok((root, cwd, target))
    }

    /// Spawns an agent for `root` (stopping the current session there) and says hello.
    async fn spawn(
        self: &Arc<Self>,
        root: &Path,
        cwd: &Path,
        python: Option<&str>,
    ) -> Result<Arc<Session>, String> {
        let previous = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(root);
        if let Some(previous) = previous {
            previous.stop().await;
        }
        let configured = self
            .settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .python
            .clone();
        let interpreter = python::choose(root, python, configured.as_deref());
        python::check(&interpreter).await?;
        let agent_path = assets::stage()?;
        let id = self.next_session.fetch_add(1, Ordering::SeqCst);
        let log = assets::cache_dir()
            .join("logs")
            .join(format!("session-{}-{id}.log", std::process::id()));
        let session = Session::spawn(
            session::SpawnOptions {
                id,
                python: &interpreter,
                root,
                cwd,
                agent_path: &agent_path,
                log,
            },
            self.events.clone(),
        )
        .await
        .map_err(|e| e.to_string())?;
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(root.to_owned(), session.clone());
        session.set_state(StateChange {
            state: SessionState::Starting,
            location: None,
            detail: Some(format!("starting {}", interpreter.display())),
        });
        let info = session.hello(None).await.map_err(|e| e.to_string())?;
        session.set_state(StateChange {
            state: SessionState::Ready,
            location: None,
            detail: Some(format!(
                "Python {}",
                info.python.split_whitespace().next().unwrap_or("")
            )),
        });
        Ok(session)
    }

    async fn run_to_line(self: &Arc<Self>, argument: Value) -> Result<Value, String> {
        #[derive(Deserialize)]
        struct Params {
            uri: Uri,
            /// 0-based, as in LSP positions.
            line: u32,
        }
        let params: Params = parse(argument)?;
        let path = path_of(&params.uri)?;
        let probe = Probe {
            file: path.display().to_string(),
            line: params.line + 1,
        };
        if let Some(session) = self.session_for(&path) {
            let state = session.snapshot().state;
            if matches!(state, SessionState::Running | SessionState::Paused) {
                session
                    .request(
                        Command::SetProbes {
                            probes: vec![probe],
                        },
                        Duration::from_secs(5),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                if state == SessionState::Paused {
                    session
                        .request(Command::Continue, Duration::from_secs(5))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                return Ok(json!({"session": session.id, "state": "running"}));
            }
        }
        // Nothing running: run the workspace's last target again (or this file) up to the line.
        let root = self.root_of(&path);
        let params = self
            .last_targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&root)
            .cloned()
            .unwrap_or_else(|| StartParams {
                target: path.display().to_string(),
                ..StartParams::default()
            });
        self.start(params, vec![probe]).await
    }

    async fn growth(
        self: &Arc<Self>,
        target: String,
        iterations: u32,
        root: Option<String>,
        python: Option<String>,
    ) -> Result<Value, String> {
        let anchor = target
            .rsplit_once(':')
            .map(|(module, _)| PathBuf::from(module))
            .filter(|p| p.is_absolute());
        let root = match (root, anchor) {
            (Some(root), _) => PathBuf::from(root),
            (None, Some(path)) => self.root_of(&path),
            (None, None) => self
                .roots
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .first()
                .cloned()
                .ok_or("no workspace folder: give `root`")?,
        };
        // A session that is not running user code can take the calls; else start a fresh one.
        let session = match self.session_for(&root.join("x")) {
            Some(session) if !matches!(session.snapshot().state, SessionState::Running) => session,
            _ => self.spawn(&root, &root, python.as_deref()).await?,
        };
        let value = session
            .request(
                Command::Growth {
                    target: target.clone(),
                    iterations,
                },
                Duration::from_secs(600),
            )
            .await
            .map_err(|e| e.to_string())?;
        if let Ok(report) = serde_json::from_value::<GrowthReport>(value.clone()) {
            self.publish_growth(&report);
        }
        Ok(value)
    }

    /// Turns a growth report into diagnostics on the allocating lines.
    fn publish_growth(&self, report: &GrowthReport) {
        self.growth_diagnostics.clear();
        for site in &report.sites {
            let Some(uri) = Uri::from_file_path(&site.file) else {
                continue;
            };
            let line = site.line.saturating_sub(1);
            let retainer = report
                .retainers
                .first()
                .map(|r| format!("; kept by {}", r.description))
                .unwrap_or_default();
            let diagnostic = lsp::Diagnostic {
                range: lsp::Range::new(
                    lsp::Position::new(line, 0),
                    lsp::Position::new(line, u32::MAX),
                ),
                severity: Some(lsp::DiagnosticSeverity::INFORMATION),
                code: Some(lsp::NumberOrString::String("growth".into())),
                source: Some("reflens-live".into()),
                message: format!(
                    "{} new `{}` per call of {} stay alive here (measured over {} calls){retainer}",
                    site.per_call, site.type_name, report.target, report.iterations
                ),
                ..lsp::Diagnostic::default()
            };
            self.growth_diagnostics
                .entry(uri)
                .or_default()
                .push(diagnostic);
        }
        let _ = self.changed.send(());
    }

    async fn attach(self: &Arc<Self>, argument: Value) -> Result<Value, String> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Params {
            /// The endpoint file the program wrote (`<runtime dir>/reflens/<pid>.json`).
            endpoint: Option<String>,
            pid: Option<u32>,
            root: Option<String>,
        }
        #[derive(Deserialize)]
        struct Endpoint {
            pid: u32,
            socket: String,
            token: String,
        }
        let params: Params = if argument.is_null() {
            Params::default()
        } else {
            parse(argument)?
        };
        let file = match (params.endpoint, params.pid) {
            (Some(path), _) => PathBuf::from(path),
            (None, Some(pid)) => endpoint_directory().join(format!("{pid}.json")),
            (None, None) => {
                let mut found: Vec<PathBuf> = std::fs::read_dir(endpoint_directory())
                    .map(|entries| {
                        entries
                            .flatten()
                            .map(|e| e.path())
                            .filter(|p| p.extension().is_some_and(|e| e == "json"))
                            .collect()
                    })
                    .unwrap_or_default();
                match found.len() {
                    1 => found.remove(0),
                    0 => {
                        return Err(
                            "no program is listening (call `reflens_agent.listen()` in it)".into(),
                        );
                    }
                    _ => {
                        return Err(
                            "several programs are listening: give `pid` or `endpoint`".into()
                        );
                    }
                }
            }
        };
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let endpoint: Endpoint =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        let root = params
            .root
            .map(PathBuf::from)
            .or_else(|| self.roots.read().ok()?.first().cloned())
            .unwrap_or_default();
        let id = self.next_session.fetch_add(1, Ordering::SeqCst);
        let log = assets::cache_dir()
            .join("logs")
            .join(format!("attach-{}.log", endpoint.pid));
        let session = Session::attach(
            id,
            &root,
            Path::new(&endpoint.socket),
            log,
            self.events.clone(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let info = session
            .hello(Some(endpoint.token))
            .await
            .map_err(|e| e.to_string())?;
        *session.target.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(format!("attached to process {}", info.pid));
        let previous = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(root, session.clone());
        if let Some(previous) = previous {
            previous.stop().await;
        }
        session.set_state(StateChange {
            state: SessionState::Running,
            location: None,
            detail: Some(format!("attached to process {}", info.pid)),
        });
        Ok(
            json!({"session": session.id, "state": "running", "pid": info.pid, "python": info.python}),
        )
    }

    fn session_from(&self, argument: &Value) -> Result<Arc<Session>, String> {
        if let Some(id) = argument.get("session").and_then(Value::as_u64) {
            return self.session_by_id(id).ok_or_else(no_session);
        }
        if let Some(uri) = argument.get("uri").and_then(Value::as_str) {
            let uri: Uri = uri.parse().map_err(|_| "bad `uri`".to_owned())?;
            return self.session_for(&path_of(&uri)?).ok_or_else(no_session);
        }
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let alive: Vec<&Arc<Session>> = sessions.values().filter(|s| s.is_alive()).collect();
        match alive.as_slice() {
            [only] => Ok((*only).clone()),
            [] => Err(no_session()),
            _ => Err("several live sessions: give `uri` or `session`".into()),
        }
    }

    // ---- facts for hover and hints -------------------------------------------------------

    pub async fn inspect(
        &self,
        session: &Session,
        location: ObjectLocation,
        timeout: Duration,
    ) -> Result<ObjectFacts, LiveError> {
        let value = session
            .request(Command::Inspect { location }, timeout)
            .await?;
        serde_json::from_value(value)
            .map_err(|e| LiveError::Start(format!("the agent's answer is not understood: {e}")))
    }

    pub async fn refcounts(
        &self,
        session: &Session,
        file: &Path,
        names: Vec<String>,
    ) -> Result<Vec<Refcount>, String> {
        let value = session
            .request(
                Command::Refcounts {
                    file: file.display().to_string(),
                    names,
                },
                QUICK,
            )
            .await
            .map_err(|e| e.to_string())?;
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    fn state_params(
        session: &session::SessionDescription,
        change: &StateChange,
    ) -> LiveStateParams {
        LiveStateParams {
            session: session.id,
            root: session.root.display().to_string(),
            state: change.state,
            target: session.target.clone(),
            pid: session.pid,
            python: session.python.clone(),
            location: change.location.as_ref().map(|at| LiveLocation {
                uri: Uri::from_file_path(&at.file)
                    .map(|u| u.as_str().to_owned())
                    .unwrap_or_else(|| at.file.clone()),
                line: at.line.saturating_sub(1),
                function: at.function.clone(),
            }),
            detail: change.detail.clone(),
            log: session.log.display().to_string(),
        }
    }
}

/// Sends sessions' state changes and output to the editor.
async fn forward_events(
    live: std::sync::Weak<Live>,
    mut receiver: mpsc::UnboundedReceiver<SessionEvent>,
) {
    while let Some(event) = receiver.recv().await {
        let Some(live) = live.upgrade() else {
            return;
        };
        match event {
            SessionEvent::State { session, change } => {
                let params = Live::state_params(&session, &change);
                tracing::info!(
                    "live session {}: {:?}{}",
                    session.id,
                    change.state,
                    change
                        .detail
                        .as_deref()
                        .map(|d| format!(" ({})", d.lines().next().unwrap_or("")))
                        .unwrap_or_default()
                );
                live.client
                    .send_notification::<LiveStateNotification>(params)
                    .await;
                if matches!(
                    change.state,
                    SessionState::Paused
                        | SessionState::Finished
                        | SessionState::Running
                        | SessionState::Exited
                        | SessionState::Crashed
                ) {
                    let _ = live.changed.send(());
                }
            }
            SessionEvent::Output { session, text } => {
                live.client
                    .send_notification::<LiveOutputNotification>(LiveOutputParams { session, text })
                    .await;
            }
        }
    }
}

fn no_session() -> String {
    "no live session: start one with `reflens.live.start` (\"reflens: start live session\")".into()
}

fn parse<T: for<'de> Deserialize<'de>>(argument: Value) -> Result<T, String> {
    serde_json::from_value(argument).map_err(|e| format!("bad arguments: {e}"))
}

pub fn path_of(uri: &Uri) -> Result<PathBuf, String> {
    uri.to_file_path()
        .map(|p| p.into_owned())
        .ok_or_else(|| format!("not a file: {}", uri.as_str()))
}

/// Where programs that called `reflens_agent.listen()` publish their endpoint.
pub fn endpoint_directory() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| Path::new(d).is_dir()) {
        Some(base) => PathBuf::from(base).join("reflens"),
        None => std::env::temp_dir().join(format!("reflens-{}", unsafe { libc::getuid() })),
    }
}

/// A protocol expression from a source path.
pub fn expression_of(path: &reflens_analysis::navigation::ObjectPath) -> Expression {
    use reflens_analysis::navigation::{KeyLiteral, PathStep};
    Expression {
        name: path.name.clone(),
        steps: path
            .steps
            .iter()
            .map(|step| match step {
                PathStep::Attribute(name) => Step::Attribute { name: name.clone() },
                PathStep::Index(index) => Step::Index { index: *index },
                PathStep::Key(key) => Step::Key {
                    key: match key {
                        KeyLiteral::Str(text) => Key::Str(text.clone()),
                        KeyLiteral::Int(value) => Key::Int(*value),
                        KeyLiteral::Bool(value) => Key::Bool(*value),
                        KeyLiteral::None => Key::None,
                    },
                },
            })
            .collect(),
    }
}
