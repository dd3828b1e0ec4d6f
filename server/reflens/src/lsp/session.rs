//! The language server's state and its LSP handlers.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use dashmap::DashMap;
use reflens_analysis::fix::fix_all_in;
use reflens_analysis::{
    Applicability, Diagnostic, FileContext, Settings, WorkspaceFacts, analyze_in, analyze_updating,
};
use reflens_config::{Overrides, Resolver};
use ruff_source_file::PositionEncoding;
use ruff_text_size::{TextRange, TextSize};
use serde::Deserialize;
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::{
    self as lsp, CodeAction, CodeActionKind, CodeActionOptions, CodeActionOrCommand,
    CodeActionParams, CodeActionProviderCapability, CodeActionResponse, DiagnosticOptions,
    DiagnosticServerCapabilities, DidChangeConfigurationParams, DidChangeTextDocumentParams,
    DidChangeWatchedFilesParams, DidChangeWatchedFilesRegistrationOptions,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, DocumentDiagnosticParams,
    DocumentDiagnosticReport, DocumentDiagnosticReportResult, FileSystemWatcher,
    FullDocumentDiagnosticReport, GlobPattern, Hover, HoverContents, HoverParams,
    HoverProviderCapability, InitializeParams, InitializeResult, InitializedParams, MarkupContent,
    MarkupKind, MessageType, PositionEncodingKind, Registration,
    RelatedFullDocumentDiagnosticReport, RelatedUnchangedDocumentDiagnosticReport,
    ServerCapabilities, ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind,
    TextDocumentSyncOptions, UnchangedDocumentDiagnosticReport, Uri, WorkDoneProgressOptions,
};
use tower_lsp_server::{Client, LanguageServer};

use super::convert;
use super::documents::Document;
use super::index::WorkspaceIndex;
use super::transport::{self, Malformed};
use crate::live::{self, Live, LiveSettings};
use crate::positions::IndexedText;
use reflens_protocol::{ObjectLocation, SessionState};

/// The code action kind of "fix everything reflens can fix safely".
const FIX_ALL_KIND: &str = "source.fixAll.reflens";

/// Settings an editor may send (initialization options, `workspace/configuration`).
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
struct ClientSettings {
    select: Option<Vec<String>>,
    #[serde(alias = "extend-select")]
    extend_select: Vec<String>,
    ignore: Vec<String>,
    /// `live.python`, `live.inlayHints`.
    live: Option<LiveSettings>,
}

impl ClientSettings {
    /// Accepts `{"select": …}` or `{"reflens": {"select": …}}`.
    fn from_value(value: &serde_json::Value) -> Option<Self> {
        let inner = value.get("reflens").unwrap_or(value);
        if inner.is_null() {
            return None;
        }
        serde_json::from_value(inner.clone()).ok()
    }
}

/// The result of analysing one version of one document.
#[derive(Debug)]
struct Analysis {
    version: i32,
    generation: u64,
    /// The workspace index's generation the analysis saw.
    facts_generation: u64,
    text: Arc<IndexedText>,
    settings: Settings,
    module: String,
    is_package: bool,
    workspace: Arc<WorkspaceFacts>,
    diagnostics: Vec<Diagnostic>,
}

impl Analysis {
    fn context(&self) -> FileContext<'_> {
        FileContext {
            module: &self.module,
            is_package: self.is_package,
            workspace: Some(&self.workspace),
        }
    }
}

/// State shared by the handlers and the background analysis task.
struct Shared {
    documents: DashMap<Uri, Document>,
    analyses: DashMap<Uri, Arc<Analysis>>,
    encoding: RwLock<PositionEncoding>,
    pull: AtomicBool,
    /// The client accepts `workspace/diagnostic/refresh`.
    refresh: AtomicBool,
    /// The client lets servers register file watchers dynamically.
    watch_files: AtomicBool,
    versioned_edits: AtomicBool,
    resolver: RwLock<Arc<Resolver>>,
    roots: RwLock<Vec<PathBuf>>,
    /// Bumped when settings change: analyses of an older generation are stale.
    generation: AtomicU64,
    dirty: mpsc::UnboundedSender<Uri>,
    shutdown: Arc<AtomicBool>,
    reported_config_error: RwLock<Option<String>>,
    /// The client accepts `workspace/inlayHint/refresh`.
    inlay_refresh: AtomicBool,
    /// The client accepts `workspace/codeLens/refresh`.
    code_lens_refresh: AtomicBool,
    /// Live sessions (started only by an explicit command).
    live: Arc<Live>,
    /// Cross-file facts of every Python file of the workspace.
    index: Arc<WorkspaceIndex>,
}

pub struct Backend {
    client: Client,
    shared: Arc<Shared>,
}

impl Backend {
    pub fn new(client: Client) -> Self {
        let (dirty, receiver) = mpsc::unbounded_channel();
        let (live_changed, live_changes) = mpsc::unbounded_channel();
        let live = Live::new(client.clone(), live_changed);
        let shared = Arc::new(Shared {
            documents: DashMap::new(),
            analyses: DashMap::new(),
            encoding: RwLock::new(PositionEncoding::Utf16),
            pull: AtomicBool::new(false),
            refresh: AtomicBool::new(false),
            watch_files: AtomicBool::new(false),
            versioned_edits: AtomicBool::new(false),
            resolver: RwLock::new(Arc::new(Resolver::new(Overrides::default()))),
            roots: RwLock::new(Vec::new()),
            generation: AtomicU64::new(0),
            dirty,
            shutdown: Arc::new(AtomicBool::new(false)),
            reported_config_error: RwLock::new(None),
            inlay_refresh: AtomicBool::new(false),
            code_lens_refresh: AtomicBool::new(false),
            live,
            index: Arc::new(WorkspaceIndex::default()),
        });
        tokio::spawn(analyse_in_background(
            client.clone(),
            shared.clone(),
            receiver,
        ));
        tokio::spawn(refresh_live_facts(
            client.clone(),
            shared.clone(),
            live_changes,
        ));
        Self { client, shared }
    }

    pub fn shutdown_flag(&self) -> Arc<AtomicBool> {
        self.shared.shutdown.clone()
    }

    /// Answers a message the transport found malformed with its JSON-RPC error.
    pub async fn malformed(&self, params: Malformed) -> Result<()> {
        transport::malformed(params)
    }

    fn encoding(&self) -> PositionEncoding {
        *self
            .shared
            .encoding
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The analysis of the document's current version, computing it if the background task
    /// has not yet. `None` if the document is not open.
    async fn current_analysis(&self, uri: &Uri) -> Option<Arc<Analysis>> {
        let document = self.shared.documents.get(uri)?.clone();
        let generation = self.shared.generation.load(Ordering::SeqCst);
        if let Some(analysis) = self.shared.analyses.get(uri)
            && analysis.version == document.version
            && analysis.generation == generation
            && analysis.facts_generation == self.shared.index.generation()
        {
            return Some(analysis.clone());
        }
        let analysis = self.shared.analyse(&self.client, uri, &document).await?;
        if self
            .shared
            .documents
            .get(uri)
            .is_some_and(|d| d.version == document.version)
        {
            self.shared.analyses.insert(uri.clone(), analysis.clone());
        }
        Some(analysis)
    }

    /// The live facts about the object under `offset`, when a session can tell.
    async fn live_facts_at(
        &self,
        uri: &Uri,
        text: &IndexedText,
        offset: TextSize,
    ) -> Option<(String, TextRange)> {
        let path = uri.to_file_path()?.into_owned();
        let session = self.shared.live.session_for(&path)?;
        let snapshot = session.snapshot();
        let label = match (&snapshot.state, &snapshot.location) {
            (SessionState::Paused, Some(at)) => format!(
                "paused at {}:{}",
                std::path::Path::new(&at.file)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                at.line
            ),
            (SessionState::Finished, _) => "finished".to_owned(),
            (SessionState::Running, _) => "running".to_owned(),
            _ => return None,
        };
        let object = reflens_analysis::navigation::object_path_at(&text.text, offset)?;
        let location = ObjectLocation {
            file: path.display().to_string(),
            line: text.row_column(object.range.start()).row as u32,
            expression: live::expression_of(&object),
        };
        match self
            .shared
            .live
            .inspect(&session, location, live::QUICK)
            .await
        {
            Ok(facts) => Some((live::render::facts_markdown(&facts, &label), object.range)),
            // A name the program does not have (yet): nothing to add.
            Err(live::LiveError::Agent(body))
                if body.code == reflens_protocol::ErrorCode::NotFound =>
            {
                None
            }
            Err(err) => Some((format!("**live** ({label}): {err}"), object.range)),
        }
    }

    /// `reflens.live.inspect` with `{"uri", "position"}`: the same facts the hover shows.
    async fn inspect_command(
        &self,
        argument: serde_json::Value,
    ) -> std::result::Result<serde_json::Value, String> {
        #[derive(Deserialize)]
        struct Params {
            uri: Uri,
            position: lsp::Position,
        }
        let params: Params =
            serde_json::from_value(argument).map_err(|e| format!("bad arguments: {e}"))?;
        let analysis = self
            .current_analysis(&params.uri)
            .await
            .ok_or("the document is not open")?;
        let offset = convert::offset(&analysis.text, params.position, self.encoding());
        let object = reflens_analysis::navigation::object_path_at(&analysis.text.text, offset)
            .ok_or("there is no name, attribute or subscript at that position")?;
        let path = live::path_of(&params.uri)?;
        let session = self
            .shared
            .live
            .session_for(&path)
            .ok_or("no live session: start one first")?;
        let location = ObjectLocation {
            file: path.display().to_string(),
            line: analysis.text.row_column(object.range.start()).row as u32,
            expression: live::expression_of(&object),
        };
        let facts = self
            .shared
            .live
            .inspect(&session, location, std::time::Duration::from_secs(30))
            .await
            .map_err(|e| e.to_string())?;
        serde_json::to_value(facts).map_err(|e| e.to_string())
    }

    fn apply_settings(&self, settings: Option<ClientSettings>) {
        if let Some(live) = settings.as_ref().and_then(|s| s.live.clone()) {
            *self
                .shared
                .live
                .settings
                .write()
                .unwrap_or_else(|e| e.into_inner()) = live;
        }
        let overrides = match settings {
            Some(settings) => {
                match Overrides::parse(
                    settings.select.as_deref(),
                    &settings.extend_select,
                    &settings.ignore,
                ) {
                    Ok(overrides) => overrides,
                    Err(err) => {
                        let client = self.client.clone();
                        let message = format!(
                            "reflens: invalid settings: {err}; using the configuration files only"
                        );
                        tokio::spawn(async move {
                            client.show_message(MessageType::WARNING, message).await
                        });
                        Overrides::default()
                    }
                }
            }
            None => Overrides::default(),
        };
        *self
            .shared
            .resolver
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(Resolver::new(overrides));
        self.shared.settings_changed(&self.client);
    }
}

impl Shared {
    fn encoding(&self) -> PositionEncoding {
        *self.encoding.read().unwrap_or_else(|e| e.into_inner())
    }

    fn queue(&self, uri: Uri) {
        // The receiver lives as long as the server.
        let _ = self.dirty.send(uri);
    }

    /// Analyses every open document again except `uri` (the workspace's facts changed), and
    /// asks pulling clients to pull again.
    fn requeue_except(&self, client: &Client, uri: Option<&Uri>) {
        for entry in &self.documents {
            if Some(entry.key()) != uri {
                self.queue(entry.key().clone());
            }
        }
        if self.pull.load(Ordering::SeqCst) && self.refresh.load(Ordering::SeqCst) {
            let client = client.clone();
            tokio::spawn(async move {
                let _ = client.workspace_diagnostic_refresh().await;
            });
        }
    }

    fn settings_changed(&self, client: &Client) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for entry in &self.documents {
            self.queue(entry.key().clone());
        }
        // LSP: only to clients that declared `refreshSupport`.
        if self.pull.load(Ordering::SeqCst) && self.refresh.load(Ordering::SeqCst) {
            let client = client.clone();
            tokio::spawn(async move {
                if let Err(err) = client.workspace_diagnostic_refresh().await {
                    tracing::debug!("diagnostic refresh not supported: {err}");
                }
            });
        }
    }

    /// Analyses one version of a document on a blocking thread.
    async fn analyse(
        &self,
        client: &Client,
        uri: &Uri,
        document: &Document,
    ) -> Option<Arc<Analysis>> {
        let resolver = self
            .resolver
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let path = uri.to_file_path().map(|p| p.into_owned()).or_else(|| {
            self.roots
                .read()
                .ok()?
                .first()
                .map(|root| root.join("untitled.py"))
        });
        let on_disk = uri.to_file_path().map(|p| p.into_owned());
        let text = document.text.clone();
        let version = document.version;
        let generation = self.generation.load(Ordering::SeqCst);
        let index = self.index.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let (settings, config_error) = match &path {
                Some(path) => match resolver.settings_for_file(path) {
                    Ok(settings) => (settings, None),
                    Err(err) => (Settings::default(), Some(err.to_string())),
                },
                None => (Settings::default(), None),
            };
            let (module, is_package) = path
                .as_deref()
                .map(crate::workspace::module_name)
                .unwrap_or_else(|| ("__main__".to_owned(), false));
            let mut facts_changed = false;
            let mut seen = None;
            let diagnostics = match &on_disk {
                // A file of the workspace: its buffer's facts replace what the index had for it,
                // from the same parse, before the rules read the workspace.
                Some(file) => {
                    analyze_updating(&text.text, &settings, &module, is_package, &mut |facts| {
                        facts_changed = index.update(file, facts);
                        let (snapshot, generation) = index.snapshot_with_generation();
                        seen = Some((snapshot.clone(), generation));
                        snapshot
                    })
                }
                None => {
                    let (snapshot, generation) = index.snapshot_with_generation();
                    seen = Some((snapshot.clone(), generation));
                    let context = FileContext {
                        module: &module,
                        is_package,
                        workspace: Some(&snapshot),
                    };
                    analyze_in(&text.text, &settings, &context)
                }
            };
            // Input too large or too deep to parse: the workspace was not consulted.
            let (workspace, facts_generation) =
                seen.unwrap_or_else(|| index.snapshot_with_generation());
            (
                Analysis {
                    version,
                    generation,
                    facts_generation,
                    text,
                    settings,
                    module,
                    is_package,
                    workspace,
                    diagnostics,
                },
                config_error,
                facts_changed,
            )
        })
        .await;
        match outcome {
            Ok((analysis, config_error, facts_changed)) => {
                if let Some(error) = config_error {
                    self.report_config_error(client, error);
                }
                if facts_changed {
                    // Other open documents may depend on what this one now says.
                    self.requeue_except(client, Some(uri));
                }
                Some(Arc::new(analysis))
            }
            Err(err) => {
                tracing::error!("analysis of {} failed: {err}", uri.as_str());
                None
            }
        }
    }

    /// Tells the user once about a broken configuration file (analysis goes on with defaults).
    fn report_config_error(&self, client: &Client, error: String) {
        let mut reported = self
            .reported_config_error
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if reported.as_deref() == Some(error.as_str()) {
            return;
        }
        *reported = Some(error.clone());
        let client = client.clone();
        tokio::spawn(async move {
            client
                .show_message(
                    MessageType::ERROR,
                    format!("reflens: {error}; using the default rules until it is fixed"),
                )
                .await;
        });
    }

    fn lsp_diagnostics(&self, uri: &Uri, analysis: &Analysis) -> Vec<lsp::Diagnostic> {
        let encoding = self.encoding();
        let mut diagnostics: Vec<lsp::Diagnostic> = analysis
            .diagnostics
            .iter()
            .map(|d| convert::diagnostic(uri, &analysis.text, d, encoding))
            .collect();
        // What the last live growth report found in this file.
        if let Some(live) = self.live.growth_diagnostics.get(uri) {
            diagnostics.extend(live.iter().cloned());
        }
        diagnostics
    }
}

/// Analyses documents as they change and publishes their diagnostics (push mode). A burst of
/// changes to one document costs one analysis: the queue is drained before each round, and a
/// result for a version that is no longer current is dropped.
async fn analyse_in_background(
    client: Client,
    shared: Arc<Shared>,
    mut receiver: mpsc::UnboundedReceiver<Uri>,
) {
    while let Some(first) = receiver.recv().await {
        let mut pending = vec![first];
        while let Ok(uri) = receiver.try_recv() {
            if !pending.contains(&uri) {
                pending.push(uri);
            }
        }
        for uri in pending {
            let Some(document) = shared.documents.get(&uri).map(|d| d.clone()) else {
                // Closed: clear its diagnostics. Done here rather than in `did_close` so that
                // it cannot overtake a publish of this task still on its way.
                if !shared.pull.load(Ordering::SeqCst) {
                    client.publish_diagnostics(uri, Vec::new(), None).await;
                }
                continue;
            };
            let generation = shared.generation.load(Ordering::SeqCst);
            let fresh = shared.analyses.get(&uri).is_some_and(|a| {
                a.version == document.version
                    && a.generation == generation
                    && a.facts_generation == shared.index.generation()
            });
            let analysis = if fresh {
                match shared.analyses.get(&uri) {
                    Some(analysis) => analysis.clone(),
                    None => continue,
                }
            } else {
                let Some(analysis) = shared.analyse(&client, &uri, &document).await else {
                    continue;
                };
                analysis
            };
            let current = shared
                .documents
                .get(&uri)
                .is_some_and(|d| d.version == analysis.version);
            if !current || analysis.generation != shared.generation.load(Ordering::SeqCst) {
                continue; // a newer change is queued
            }
            shared.analyses.insert(uri.clone(), analysis.clone());
            if !shared.pull.load(Ordering::SeqCst) {
                let diagnostics = shared.lsp_diagnostics(&uri, &analysis);
                client
                    .publish_diagnostics(uri, diagnostics, Some(analysis.version))
                    .await;
            }
        }
    }
}

fn result_id(diagnostics: &[lsp::Diagnostic]) -> String {
    let mut hasher = DefaultHasher::new();
    serde_json::to_string(diagnostics)
        .unwrap_or_default()
        .hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let capabilities = &params.capabilities;
        let utf8 = capabilities
            .general
            .as_ref()
            .and_then(|general| general.position_encodings.as_ref())
            .is_some_and(|encodings| encodings.contains(&PositionEncodingKind::UTF8));
        *self
            .shared
            .encoding
            .write()
            .unwrap_or_else(|e| e.into_inner()) = if utf8 {
            PositionEncoding::Utf8
        } else {
            PositionEncoding::Utf16
        };
        let workspace = capabilities.workspace.as_ref();
        let refresh = workspace
            .and_then(|w| w.diagnostics.as_ref())
            .and_then(|d| d.refresh_support)
            .unwrap_or(false);
        self.shared.refresh.store(refresh, Ordering::SeqCst);
        // Findings change without an edit to the document (settings, other modules, a live
        // session): a client that pulls but cannot be asked to pull again would show stale
        // ones, so such clients (Neovim 0.11) get pushed diagnostics instead.
        let pull = refresh
            && capabilities
                .text_document
                .as_ref()
                .is_some_and(|text| text.diagnostic.is_some());
        self.shared.pull.store(pull, Ordering::SeqCst);
        let watch_files = workspace
            .and_then(|w| w.did_change_watched_files.as_ref())
            .and_then(|w| w.dynamic_registration)
            .unwrap_or(false);
        self.shared.watch_files.store(watch_files, Ordering::SeqCst);
        let versioned = capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.workspace_edit.as_ref())
            .and_then(|e| e.document_changes)
            .unwrap_or(false);
        self.shared
            .versioned_edits
            .store(versioned, Ordering::SeqCst);

        let mut roots: Vec<PathBuf> = params
            .workspace_folders
            .iter()
            .flatten()
            .filter_map(|folder| folder.uri.to_file_path().map(|p| p.into_owned()))
            .collect();
        #[allow(deprecated)]
        if roots.is_empty()
            && let Some(root) = params.root_uri.as_ref().and_then(|uri| uri.to_file_path())
        {
            roots.push(root.into_owned());
        }
        self.shared.live.set_roots(roots.clone());
        *self.shared.roots.write().unwrap_or_else(|e| e.into_inner()) = roots;
        let inlay_refresh = workspace
            .and_then(|w| w.inlay_hint.as_ref())
            .and_then(|h| h.refresh_support)
            .unwrap_or(false);
        self.shared
            .inlay_refresh
            .store(inlay_refresh, Ordering::SeqCst);
        let code_lens_refresh = workspace
            .and_then(|w| w.code_lens.as_ref())
            .and_then(|c| c.refresh_support)
            .unwrap_or(false);
        self.shared
            .code_lens_refresh
            .store(code_lens_refresh, Ordering::SeqCst);
        let settings = params
            .initialization_options
            .as_ref()
            .and_then(ClientSettings::from_value);
        if settings.is_some() {
            self.apply_settings(settings);
        }
        tracing::info!(
            "initialize: client {:?}, positions {}, {} diagnostics",
            params.client_info.as_ref().map(|c| c.name.as_str()),
            if utf8 { "utf-8" } else { "utf-16" },
            if pull { "pull" } else { "push" },
        );

        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(if utf8 {
                    PositionEncodingKind::UTF8
                } else {
                    PositionEncodingKind::UTF16
                }),
                workspace: Some(lsp::WorkspaceServerCapabilities {
                    workspace_folders: None,
                    file_operations: Some(python_file_operations()),
                }),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        ..TextDocumentSyncOptions::default()
                    },
                )),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![
                            CodeActionKind::QUICKFIX,
                            CodeActionKind::from(FIX_ALL_KIND),
                        ]),
                        work_done_progress_options: WorkDoneProgressOptions::default(),
                        resolve_provider: Some(false),
                    },
                )),
                diagnostic_provider: pull.then(|| {
                    DiagnosticServerCapabilities::Options(DiagnosticOptions {
                        identifier: Some("reflens".to_owned()),
                        inter_file_dependencies: true,
                        workspace_diagnostics: false,
                        work_done_progress_options: WorkDoneProgressOptions::default(),
                    })
                }),
                execute_command_provider: Some(lsp::ExecuteCommandOptions {
                    commands: live::COMMANDS.iter().map(|c| (*c).to_owned()).collect(),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                }),
                code_lens_provider: Some(lsp::CodeLensOptions {
                    resolve_provider: Some(false),
                }),
                inlay_hint_provider: Some(lsp::OneOf::Left(true)),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo {
                name: "reflens".to_owned(),
                version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            }),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        // The workspace index builds in the background; diagnostics of open files do not wait.
        tokio::spawn(index_workspace(self.client.clone(), self.shared.clone()));
        // Watch configuration and Python files, if the client lets us register watchers (LSP
        // forbids it otherwise); a request to the client, so spawned, never awaited here.
        if !self.shared.watch_files.load(Ordering::SeqCst) {
            return;
        }
        let client = self.client.clone();
        tokio::spawn(async move {
            let watchers = [
                "**/pyproject.toml",
                "**/reflens.toml",
                "**/.reflens.toml",
                "**/*.py",
            ]
            .iter()
            .map(|pattern| FileSystemWatcher {
                glob_pattern: GlobPattern::String((*pattern).to_owned()),
                kind: None,
            })
            .collect();
            let registration = Registration {
                id: "reflens-config-files".to_owned(),
                method: "workspace/didChangeWatchedFiles".to_owned(),
                register_options: serde_json::to_value(DidChangeWatchedFilesRegistrationOptions {
                    watchers,
                })
                .ok(),
            };
            if let Err(err) = client.register_capability(vec![registration]).await {
                tracing::debug!("file watching not available: {err}");
            }
        });
    }

    async fn shutdown(&self) -> Result<()> {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.live.stop_all().await;
        tracing::info!("shutdown");
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let document = params.text_document;
        self.shared.documents.insert(
            document.uri.clone(),
            Document::new(document.text, document.version),
        );
        self.shared.queue(document.uri);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let encoding = self.encoding();
        match self.shared.documents.get_mut(&uri) {
            Some(mut document) => {
                document.apply(
                    params.content_changes,
                    params.text_document.version,
                    encoding,
                );
            }
            None => {
                tracing::warn!("change to a document that is not open: {}", uri.as_str());
                return;
            }
        }
        self.shared.queue(uri);
    }

    async fn did_create_files(&self, params: lsp::CreateFilesParams) {
        let changes = params
            .files
            .iter()
            .map(|file| (file_path(&file.uri), false))
            .collect();
        tokio::spawn(reindex_files(
            self.client.clone(),
            self.shared.clone(),
            changes,
        ));
    }

    async fn did_delete_files(&self, params: lsp::DeleteFilesParams) {
        let changes = params
            .files
            .iter()
            .map(|file| (file_path(&file.uri), true))
            .collect();
        tokio::spawn(reindex_files(
            self.client.clone(),
            self.shared.clone(),
            changes,
        ));
    }

    async fn did_rename_files(&self, params: lsp::RenameFilesParams) {
        let changes = params
            .files
            .iter()
            .flat_map(|file| {
                [
                    (file_path(&file.old_uri), true),
                    (file_path(&file.new_uri), false),
                ]
            })
            .collect();
        tokio::spawn(reindex_files(
            self.client.clone(),
            self.shared.clone(),
            changes,
        ));
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        if self.shared.documents.remove(&uri).is_none() {
            tracing::warn!("close of a document that is not open: {}", uri.as_str());
            return;
        }
        self.shared.analyses.remove(&uri);
        // Unsaved edits are gone: the file on disk is what the workspace says again.
        if let Some(path) = uri.to_file_path() {
            tokio::spawn(reindex_files(
                self.client.clone(),
                self.shared.clone(),
                vec![(path.into_owned(), false)],
            ));
        }
        // The background task clears its diagnostics, after any publish it has under way.
        self.shared.queue(uri);
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        match ClientSettings::from_value(&params.settings) {
            Some(settings) => self.apply_settings(Some(settings)),
            None => {
                // The client sent no settings in the notification: ask for them.
                let client = self.client.clone();
                let shared = self.shared.clone();
                tokio::spawn(async move {
                    let item = lsp::ConfigurationItem {
                        scope_uri: None,
                        section: Some("reflens".to_owned()),
                    };
                    if let Ok(values) = client.configuration(vec![item]).await {
                        let settings = values.first().and_then(ClientSettings::from_value);
                        let overrides = settings
                            .and_then(|s| {
                                Overrides::parse(s.select.as_deref(), &s.extend_select, &s.ignore)
                                    .ok()
                            })
                            .unwrap_or_default();
                        *shared.resolver.write().unwrap_or_else(|e| e.into_inner()) =
                            Arc::new(Resolver::new(overrides));
                        shared.settings_changed(&client);
                    }
                });
            }
        }
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        let (python, other): (Vec<_>, Vec<_>) = params
            .changes
            .into_iter()
            .partition(|change| change.uri.as_str().ends_with(".py"));
        if !python.is_empty() {
            let changes = python
                .into_iter()
                .filter_map(|change| {
                    let path = change.uri.to_file_path()?.into_owned();
                    Some((path, change.typ == lsp::FileChangeType::DELETED))
                })
                .collect();
            tokio::spawn(reindex_files(
                self.client.clone(),
                self.shared.clone(),
                changes,
            ));
        }
        if other.is_empty() {
            return;
        }
        self.shared
            .resolver
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .invalidate();
        *self
            .shared
            .reported_config_error
            .write()
            .unwrap_or_else(|e| e.into_inner()) = None;
        self.shared.settings_changed(&self.client);
    }

    async fn diagnostic(
        &self,
        params: DocumentDiagnosticParams,
    ) -> Result<DocumentDiagnosticReportResult> {
        let uri = params.text_document.uri;
        let items = match self.current_analysis(&uri).await {
            Some(analysis) => self.shared.lsp_diagnostics(&uri, &analysis),
            None => Vec::new(),
        };
        let id = result_id(&items);
        let report = if params.previous_result_id.as_deref() == Some(id.as_str()) {
            DocumentDiagnosticReport::Unchanged(RelatedUnchangedDocumentDiagnosticReport {
                related_documents: None,
                unchanged_document_diagnostic_report: UnchangedDocumentDiagnosticReport {
                    result_id: id,
                },
            })
        } else {
            DocumentDiagnosticReport::Full(RelatedFullDocumentDiagnosticReport {
                related_documents: None,
                full_document_diagnostic_report: FullDocumentDiagnosticReport {
                    result_id: Some(id),
                    items,
                },
            })
        };
        Ok(DocumentDiagnosticReportResult::Report(report))
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let uri = params.text_document_position_params.text_document.uri;
        let Some(analysis) = self.current_analysis(&uri).await else {
            return Ok(None);
        };
        let encoding = self.encoding();
        let offset = convert::offset(
            &analysis.text,
            params.text_document_position_params.position,
            encoding,
        );
        let covers = |range: TextRange| range.start() <= offset && offset <= range.end();
        let here: Vec<&Diagnostic> = analysis
            .diagnostics
            .iter()
            .filter(|d| covers(d.range) || d.related.iter().any(|r| covers(r.range)))
            .collect();
        // Static findings first, then what a live session knows about the object.
        let mut parts = Vec::new();
        let mut range = here.first().map(|d| d.range);
        if !here.is_empty() {
            parts.push(convert::hover_markdown(&here));
        }
        if let Some((markdown, object)) = self.live_facts_at(&uri, &analysis.text, offset).await {
            parts.push(markdown);
            range = range.or(Some(object));
        }
        if parts.is_empty() {
            return Ok(None);
        }
        Ok(Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: parts.join("\n---\n\n"),
            }),
            range: range.map(|r| convert::range(&analysis.text, r, encoding)),
        }))
    }

    async fn execute_command(
        &self,
        params: lsp::ExecuteCommandParams,
    ) -> Result<Option<serde_json::Value>> {
        let argument = params
            .arguments
            .into_iter()
            .next()
            .unwrap_or(serde_json::Value::Null);
        let title = match params.command.as_str() {
            "reflens.live.start" | "reflens.live.runToLine" => {
                Some("reflens: starting a live session")
            }
            "reflens.live.growth" => Some("reflens: measuring growth"),
            "reflens.live.garbage" => Some("reflens: collecting garbage"),
            _ => None,
        };
        let progress = title.map(|title| Progress::begin(&self.client, title));
        let outcome = if params.command == "reflens.live.inspect" {
            self.inspect_command(argument).await
        } else {
            self.shared.live.execute(&params.command, argument).await
        };
        if let Some(progress) = progress {
            progress.end(match &outcome {
                Ok(_) => "done".to_owned(),
                Err(message) => message.clone(),
            });
        }
        outcome
            .map(Some)
            .map_err(|message| tower_lsp_server::jsonrpc::Error {
                code: tower_lsp_server::jsonrpc::ErrorCode::ServerError(-32001),
                message: message.into(),
                data: None,
            })
    }

    async fn code_lens(&self, params: lsp::CodeLensParams) -> Result<Option<Vec<lsp::CodeLens>>> {
        let uri = params.text_document.uri;
        let Some(document) = self.shared.documents.get(&uri).map(|d| d.clone()) else {
            return Ok(None);
        };
        let Some(path) = uri.to_file_path().map(|p| p.into_owned()) else {
            return Ok(None);
        };
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let encoding = self.encoding();
        let text = &document.text;
        let lens = |range: TextRange, title: &str, command: &str, argument: serde_json::Value| {
            lsp::CodeLens {
                range: convert::range(text, range, encoding),
                command: Some(lsp::Command {
                    title: title.to_owned(),
                    command: command.to_owned(),
                    arguments: Some(vec![argument]),
                }),
                data: None,
            }
        };
        // Showing a lens runs nothing: only the user's click on it does.
        let mut lenses: Vec<lsp::CodeLens> =
            reflens_analysis::navigation::run_targets(&text.text, file_name)
                .into_iter()
                .map(|target| match target {
                    reflens_analysis::navigation::RunTarget::Main { range } => lens(
                        range,
                        "▶ Run live session",
                        "reflens.live.start",
                        serde_json::json!({"target": path.display().to_string()}),
                    ),
                    reflens_analysis::navigation::RunTarget::Test { range, node } => lens(
                        range,
                        "▶ Run test in a live session",
                        "reflens.live.start",
                        serde_json::json!({"target": format!("{}::{node}", path.display())}),
                    ),
                })
                .collect();
        if let Some(session) = self.shared.live.session_for(&path) {
            let snapshot = session.snapshot();
            if let (SessionState::Paused, Some(at)) = (snapshot.state, snapshot.location)
                && std::path::Path::new(&at.file) == path
            {
                let line = at.line.saturating_sub(1);
                let start = text.offset(line, 0, encoding);
                let range = TextRange::empty(start);
                let argument = serde_json::json!({"session": session.id});
                lenses.push(lens(
                    range,
                    "⏵ Continue",
                    "reflens.live.continue",
                    argument.clone(),
                ));
                lenses.push(lens(range, "■ Stop", "reflens.live.stop", argument));
            }
        }
        Ok(Some(lenses))
    }

    async fn inlay_hint(
        &self,
        params: lsp::InlayHintParams,
    ) -> Result<Option<Vec<lsp::InlayHint>>> {
        let enabled = self
            .shared
            .live
            .settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .inlay_hints();
        let uri = params.text_document.uri;
        let (Some(path), true) = (uri.to_file_path().map(|p| p.into_owned()), enabled) else {
            return Ok(None);
        };
        let Some(session) = self.shared.live.session_for(&path) else {
            return Ok(None);
        };
        if !matches!(
            session.snapshot().state,
            SessionState::Paused | SessionState::Finished
        ) {
            return Ok(None);
        }
        let Some(document) = self.shared.documents.get(&uri).map(|d| d.clone()) else {
            return Ok(None);
        };
        let encoding = self.encoding();
        let text = &document.text;
        let wanted = convert::to_lsp_range(text, params.range, encoding);
        let names: Vec<(String, TextRange)> =
            reflens_analysis::navigation::module_level_names(&text.text)
                .into_iter()
                .filter(|(_, range)| wanted.start() <= range.start() && range.end() <= wanted.end())
                .collect();
        if names.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let counts = match self
            .shared
            .live
            .refcounts(
                &session,
                &path,
                names.iter().map(|(n, _)| n.clone()).collect(),
            )
            .await
        {
            Ok(counts) => counts,
            Err(err) => {
                tracing::debug!("inlay hints: {err}");
                return Ok(None);
            }
        };
        let hints = names
            .iter()
            .filter_map(|(name, range)| {
                let count = counts.iter().find(|c| &c.name == name)?;
                let label = match count.refcount {
                    Some(n) => format!("{n} ref{}", if n == 1 { "" } else { "s" }),
                    None => "immortal".to_owned(),
                };
                let (line, character) = text.lsp_position(range.end(), encoding);
                Some(lsp::InlayHint {
                    position: lsp::Position::new(line, character),
                    label: lsp::InlayHintLabel::String(label),
                    kind: None,
                    text_edits: None,
                    tooltip: Some(lsp::InlayHintTooltip::String(format!(
                        "`{name}` ({}): references the program holds, from the live session",
                        count.type_name
                    ))),
                    padding_left: Some(true),
                    padding_right: None,
                    data: None,
                })
            })
            .collect();
        Ok(Some(hints))
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let Some(analysis) = self.current_analysis(&uri).await else {
            return Ok(None);
        };
        let encoding = self.encoding();
        let versioned = self.shared.versioned_edits.load(Ordering::SeqCst);
        let only = params.context.only.as_deref();
        let wants = |kind: &str| {
            only.is_none_or(|kinds| {
                kinds.iter().any(|k| {
                    let k = k.as_str();
                    k.is_empty() || kind == k || kind.starts_with(&format!("{k}."))
                })
            })
        };
        let requested = convert::to_lsp_range(&analysis.text, params.range, encoding);
        let touches =
            |range: TextRange| range.start() <= requested.end() && requested.start() <= range.end();
        let mut actions: Vec<CodeActionOrCommand> = Vec::new();

        if wants("quickfix") {
            for diagnostic in analysis.diagnostics.iter().filter(|d| touches(d.range)) {
                let lsp_diagnostic =
                    convert::diagnostic(&uri, &analysis.text, diagnostic, encoding);
                for (index, fix) in diagnostic.fixes().enumerate() {
                    let edits = fix
                        .edits()
                        .iter()
                        .map(|edit| convert::text_edit(&analysis.text, edit, encoding))
                        .collect();
                    actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                        title: convert::fix_title(fix),
                        kind: Some(CodeActionKind::QUICKFIX),
                        diagnostics: Some(vec![lsp_diagnostic.clone()]),
                        edit: Some(convert::workspace_edit(
                            &uri,
                            analysis.version,
                            edits,
                            versioned,
                        )),
                        is_preferred: Some(index == 0 && fix.applicability == Applicability::Safe),
                        ..CodeAction::default()
                    }));
                }
                if let (Some(rule), Some(edit)) = (
                    diagnostic.rule(),
                    convert::suppression_edit(&analysis.text, diagnostic),
                ) {
                    actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                        title: format!("Suppress {} on this line", rule.code()),
                        kind: Some(CodeActionKind::QUICKFIX),
                        diagnostics: Some(vec![lsp_diagnostic.clone()]),
                        edit: Some(convert::workspace_edit(
                            &uri,
                            analysis.version,
                            vec![convert::text_edit(&analysis.text, &edit, encoding)],
                            versioned,
                        )),
                        ..CodeAction::default()
                    }));
                }
            }
        }

        if wants(FIX_ALL_KIND) && analysis.diagnostics.iter().any(|d| d.fix.is_some()) {
            let text = analysis.text.clone();
            let for_fix = analysis.clone();
            let fixed = tokio::task::spawn_blocking(move || {
                fix_all_in(
                    &text.text,
                    &for_fix.settings,
                    Applicability::Safe,
                    &for_fix.context(),
                )
            })
            .await
            .ok();
            if let Some(fixed) = fixed.filter(|f| f.count() > 0) {
                let whole = TextRange::new(
                    TextSize::default(),
                    TextSize::try_from(analysis.text.text.len()).unwrap_or_default(),
                );
                let count = fixed.count();
                let edit = lsp::TextEdit::new(
                    convert::range(&analysis.text, whole, encoding),
                    fixed.source,
                );
                actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: format!("reflens: fix all safe problems ({count})"),
                    kind: Some(CodeActionKind::from(FIX_ALL_KIND)),
                    edit: Some(convert::workspace_edit(
                        &uri,
                        analysis.version,
                        vec![edit],
                        versioned,
                    )),
                    ..CodeAction::default()
                }));
            }
        }
        Ok(Some(actions))
    }
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend").finish_non_exhaustive()
    }
}

/// Refreshes what depends on live sessions (inlay hints, code lenses, growth diagnostics) when
/// a session's state or a growth report changes.
async fn refresh_live_facts(
    client: Client,
    shared: Arc<Shared>,
    mut changes: mpsc::UnboundedReceiver<()>,
) {
    while changes.recv().await.is_some() {
        while changes.try_recv().is_ok() {}
        for entry in &shared.documents {
            shared.queue(entry.key().clone());
        }
        if !shared.pull.load(Ordering::SeqCst) {
            // Growth findings in files that are not open.
            let closed: Vec<(Uri, Vec<lsp::Diagnostic>)> = shared
                .live
                .growth_diagnostics
                .iter()
                .filter(|entry| !shared.documents.contains_key(entry.key()))
                .map(|entry| (entry.key().clone(), entry.value().clone()))
                .collect();
            for (uri, diagnostics) in closed {
                client.publish_diagnostics(uri, diagnostics, None).await;
            }
        } else if shared.refresh.load(Ordering::SeqCst) {
            let client = client.clone();
            tokio::spawn(async move {
                let _ = client.workspace_diagnostic_refresh().await;
            });
        }
        if shared.inlay_refresh.load(Ordering::SeqCst) {
            let client = client.clone();
            tokio::spawn(async move {
                let _ = client.inlay_hint_refresh().await;
            });
        }
        if shared.code_lens_refresh.load(Ordering::SeqCst) {
            let client = client.clone();
            tokio::spawn(async move {
                let _ = client.code_lens_refresh().await;
            });
        }
    }
}

/// `$/progress` for a long command. Creating the token is a request to the client, so it is
/// spawned; the handler never waits for it.
struct Progress {
    begun: tokio::task::JoinHandle<
        Option<
            tower_lsp_server::OngoingProgress<
                tower_lsp_server::Unbounded,
                tower_lsp_server::NotCancellable,
            >,
        >,
    >,
}

impl Progress {
    fn begin(client: &Client, title: &'static str) -> Self {
        let client = client.clone();
        let begun = tokio::spawn(async move {
            let token = lsp::ProgressToken::String(format!(
                "reflens-{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default()
            ));
            client.create_work_done_progress(token.clone()).await.ok()?;
            Some(client.progress(token, title).begin().await)
        });
        Self { begun }
    }

    fn end(self, message: String) {
        tokio::spawn(async move {
            if let Ok(Some(progress)) = self.begun.await {
                progress.finish_with_message(message).await;
            }
        });
    }
}

/// A path from a `file://` URI string (file operations carry URIs as strings).
fn file_path(uri: &str) -> PathBuf {
    uri.parse::<Uri>()
        .ok()
        .and_then(|uri| uri.to_file_path().map(|p| p.into_owned()))
        .unwrap_or_default()
}

/// File operations on Python files (creation, deletion, renames) keep the index current.
fn python_file_operations() -> lsp::WorkspaceFileOperationsServerCapabilities {
    let registration = || lsp::FileOperationRegistrationOptions {
        filters: vec![lsp::FileOperationFilter {
            scheme: Some("file".to_owned()),
            pattern: lsp::FileOperationPattern {
                glob: "**/*.py".to_owned(),
                matches: Some(lsp::FileOperationPatternKind::File),
                options: None,
            },
        }],
    };
    lsp::WorkspaceFileOperationsServerCapabilities {
        did_create: Some(registration()),
        did_rename: Some(registration()),
        did_delete: Some(registration()),
        ..Default::default()
    }
}

/// Builds the workspace index in the background, with `$/progress`, then analyses the open
/// documents again if what it found changes their findings.
async fn index_workspace(client: Client, shared: Arc<Shared>) {
    let roots = shared
        .roots
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if roots.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let token = lsp::ProgressToken::String(format!("reflens-index-{}", std::process::id()));
    let progress = match client.create_work_done_progress(token.clone()).await {
        Ok(()) => Some(
            client
                .progress(token, "reflens: indexing the workspace")
                .with_percentage(0)
                .begin()
                .await,
        ),
        Err(_) => None,
    };
    let resolver = shared
        .resolver
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let files = tokio::task::spawn_blocking(move || crate::check::discover(&roots, &resolver).0)
        .await
        .unwrap_or_default();
    let total = files.len().max(1);
    let mut done = 0;
    let mut changed = false;
    for chunk in files.chunks(512) {
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let chunk = chunk.to_vec();
        let count = chunk.len();
        let facts = tokio::task::spawn_blocking(move || crate::workspace::facts_of_files(&chunk))
            .await
            .unwrap_or_default();
        // What an open buffer says is newer than the file on disk.
        let open: std::collections::HashSet<PathBuf> = shared
            .documents
            .iter()
            .filter_map(|entry| entry.key().to_file_path().map(|p| p.into_owned()))
            .collect();
        changed |= shared.index.load(facts, |path| open.contains(path));
        done += count;
        if let Some(progress) = &progress {
            progress
                .report_with_message(
                    format!("{done}/{} files", files.len()),
                    (done * 100 / total) as u32,
                )
                .await;
        }
    }
    let message = format!(
        "indexed {} files in {:.1} s",
        shared.index.len(),
        started.elapsed().as_secs_f64()
    );
    tracing::info!("{message} (facts changed: {changed})");
    if let Some(progress) = progress {
        progress.finish_with_message(message).await;
    }
    if changed {
        shared.requeue_except(&client, None);
    }
}

/// Re-reads (or forgets) Python files the client says changed on disk; open buffers are
/// indexed from their text instead.
async fn reindex_files(client: Client, shared: Arc<Shared>, changes: Vec<(PathBuf, bool)>) {
    let open: std::collections::HashSet<PathBuf> = shared
        .documents
        .iter()
        .filter_map(|entry| entry.key().to_file_path().map(|p| p.into_owned()))
        .collect();
    let index = shared.index.clone();
    let changed = tokio::task::spawn_blocking(move || {
        let mut changed = false;
        for (path, deleted) in changes {
            if path.as_os_str().is_empty() || open.contains(&path) {
                continue;
            }
            changed |= if deleted || !path.is_file() {
                index.remove(&path)
            } else {
                index.update(&path, crate::workspace::facts_of_file(&path))
            };
        }
        changed
    })
    .await
    .unwrap_or(false);
    if changed {
        shared.requeue_except(&client, None);
    }
}
