//! The language server's state and its LSP handlers.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use dashmap::DashMap;
use reflens_analysis::fix::fix_all;
use reflens_analysis::{Applicability, Diagnostic, Settings, analyze};
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
use super::transport::{self, Malformed};
use crate::positions::IndexedText;

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
    text: Arc<IndexedText>,
    settings: Settings,
    diagnostics: Vec<Diagnostic>,
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
}

pub struct Backend {
    client: Client,
    shared: Arc<Shared>,
}

impl Backend {
    pub fn new(client: Client) -> Self {
        let (dirty, receiver) = mpsc::unbounded_channel();
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
        });
        tokio::spawn(analyse_in_background(
            client.clone(),
            shared.clone(),
            receiver,
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

    fn apply_settings(&self, settings: Option<ClientSettings>) {
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
        let text = document.text.clone();
        let version = document.version;
        let generation = self.generation.load(Ordering::SeqCst);
        let outcome = tokio::task::spawn_blocking(move || {
            let (settings, config_error) = match path {
                Some(path) => match resolver.settings_for_file(&path) {
                    Ok(settings) => (settings, None),
                    Err(err) => (Settings::default(), Some(err.to_string())),
                },
                None => (Settings::default(), None),
            };
            let diagnostics = analyze(&text.text, &settings);
            (
                Analysis {
                    version,
                    generation,
                    text,
                    settings,
                    diagnostics,
                },
                config_error,
            )
        })
        .await;
        match outcome {
            Ok((analysis, config_error)) => {
                if let Some(error) = config_error {
                    self.report_config_error(client, error);
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
        analysis
            .diagnostics
            .iter()
            .map(|d| convert::diagnostic(uri, &analysis.text, d, encoding))
            .collect()
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
            let fresh = shared
                .analyses
                .get(&uri)
                .is_some_and(|a| a.version == document.version && a.generation == generation);
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
        let pull = capabilities
            .text_document
            .as_ref()
            .is_some_and(|text| text.diagnostic.is_some());
        self.shared.pull.store(pull, Ordering::SeqCst);
        let workspace = capabilities.workspace.as_ref();
        let refresh = workspace
            .and_then(|w| w.diagnostics.as_ref())
            .and_then(|d| d.refresh_support)
            .unwrap_or(false);
        self.shared.refresh.store(refresh, Ordering::SeqCst);
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
        *self.shared.roots.write().unwrap_or_else(|e| e.into_inner()) = roots;
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
                        inter_file_dependencies: false,
                        workspace_diagnostics: false,
                        work_done_progress_options: WorkDoneProgressOptions::default(),
                    })
                }),
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
        // Watch configuration files, if the client lets us register watchers (LSP forbids it
        // otherwise); a request to the client, so spawned, never awaited here.
        if !self.shared.watch_files.load(Ordering::SeqCst) {
            return;
        }
        let client = self.client.clone();
        tokio::spawn(async move {
            let watchers = ["**/pyproject.toml", "**/reflens.toml", "**/.reflens.toml"]
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

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        if self.shared.documents.remove(&uri).is_none() {
            tracing::warn!("close of a document that is not open: {}", uri.as_str());
            return;
        }
        self.shared.analyses.remove(&uri);
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

    async fn did_change_watched_files(&self, _: DidChangeWatchedFilesParams) {
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
        let Some(first) = here.first() else {
            return Ok(None);
        };
        Ok(Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: convert::hover_markdown(&here),
            }),
            range: Some(convert::range(&analysis.text, first.range, encoding)),
        }))
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
            let settings = analysis.settings.clone();
            let fixed = tokio::task::spawn_blocking(move || {
                fix_all(&text.text, &settings, Applicability::Safe)
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
